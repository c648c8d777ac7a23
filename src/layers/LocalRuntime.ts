/**
 * The local {@link AgentRuntime}: runs agents on fibers of this process.
 *
 * The loop is: ask the planner for a decision, journal it, run the decided
 * steps (a DAG: each step waits for the steps it depends on, independent steps
 * run concurrently up to the agent's `concurrency`), journal every outcome,
 * and ask again — until an answer, a failure, a budget or an interruption.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type { Agent } from "../services/Agent.js"
import {
  AgentRuntime,
  type AgentRuntimeShape,
  BudgetExceeded,
  Ids,
  type RunError,
  type RunOptions,
  type RunResult
} from "../services/AgentRuntime.js"
import { Journal, type JournalError, type JournalShape } from "../services/Journal.js"
import {
  isRef,
  PlanInvalid,
  Planner,
  PlannerFailed,
  type PlannerShape,
  type PlanStep,
  type Ref,
  type RunState,
  type StepOutcome
} from "../services/Planner.js"
import type { ErrorInfo, RunEvent } from "../services/RunEvent.js"
import { encodeStepError, type ReplayDivergence, type ResumeUnsafe } from "../services/Replay.js"
import * as Tool from "../services/Tool.js"
import { type CallDefaults, Tools } from "../services/Tools.js"
import * as JournalMemory from "./JournalMemory.js"

// ---------------------------------------------------------------------------
// plan validation and references
// ---------------------------------------------------------------------------

const collectRefs = (value: unknown, into: Set<string>): void => {
  if (typeof value !== "object" || value === null) return
  if (isRef(value)) {
    into.add(value.$ref)
    return
  }
  if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, into)
    return
  }
  for (const key in value) collectRefs((value as Record<string, unknown>)[key], into)
}

/** A step's dependencies: explicit `dependsOn` plus every step its arguments reference. */
const dependenciesOf = (step: PlanStep): ReadonlySet<string> => {
  const deps = new Set<string>(step.dependsOn)
  collectRefs(step.args, deps)
  return deps
}

/**
 * Checks a plan against the run so far; returns each step's dependencies on
 * steps of this same plan.
 */
const validatePlan = (
  steps: ReadonlyArray<PlanStep>,
  outcomes: ReadonlyMap<string, StepOutcome>
): Effect.Effect<ReadonlyMap<string, ReadonlyArray<string>>, PlanInvalid> => {
  const local = new Map<string, ReadonlyArray<string>>()
  for (const step of steps) {
    if (step.id === "") return Effect.fail(new PlanInvalid({ reason: "a step has an empty id" }))
    if (local.has(step.id)) {
      return Effect.fail(new PlanInvalid({ reason: "two steps share this id", stepId: step.id }))
    }
    if (outcomes.has(step.id)) {
      return Effect.fail(new PlanInvalid({ reason: "an earlier step of this run already used this id", stepId: step.id }))
    }
    local.set(step.id, [])
  }
  for (const step of steps) {
    const deps: Array<string> = []
    for (const dep of dependenciesOf(step)) {
      if (dep === step.id) return Effect.fail(new PlanInvalid({ reason: "the step depends on itself", stepId: step.id }))
      if (local.has(dep)) deps.push(dep)
      else if (!outcomes.has(dep)) {
        return Effect.fail(new PlanInvalid({ reason: `depends on unknown step "${dep}"`, stepId: step.id }))
      }
    }
    local.set(step.id, deps)
  }
  const cycle = findCycle(local)
  return cycle === undefined
    ? Effect.succeed(local)
    : Effect.fail(new PlanInvalid({ reason: `dependency cycle ${cycle.join(" -> ")}`, stepId: cycle[0]! }))
}

const findCycle = (deps: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<string> | undefined => {
  const state = new Map<string, "visiting" | "done">()
  const path: Array<string> = []
  const visit = (id: string): ReadonlyArray<string> | undefined => {
    const mark = state.get(id)
    if (mark === "done") return undefined
    if (mark === "visiting") return [...path.slice(path.indexOf(id)), id]
    state.set(id, "visiting")
    path.push(id)
    for (const dep of deps.get(id) ?? []) {
      const cycle = visit(dep)
      if (cycle !== undefined) return cycle
    }
    path.pop()
    state.set(id, "done")
    return undefined
  }
  for (const id of deps.keys()) {
    const cycle = visit(id)
    if (cycle !== undefined) return cycle
  }
  return undefined
}

class MissingPath {
  constructor(readonly ref: Ref) {}
}

/** Replaces every reference in `args` with the (encoded) output it points at. */
const resolveRefs = (value: unknown, outcomes: ReadonlyMap<string, StepOutcome>): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (isRef(value)) {
    const outcome = outcomes.get(value.$ref)
    let current: unknown = outcome?._tag === "Succeeded" ? outcome.result : undefined
    for (const segment of value.path ?? []) {
      if (typeof current !== "object" || current === null || !(segment in current)) throw new MissingPath(value)
      current = (current as Record<string | number, unknown>)[segment]
    }
    return current
  }
  if (Array.isArray(value)) return value.map((item) => resolveRefs(item, outcomes))
  const out: Record<string, unknown> = {}
  for (const key in value) out[key] = resolveRefs((value as Record<string, unknown>)[key], outcomes)
  return out
}

/** What ends a run from inside a step: the journal failing, or replay finding a difference. */
type StepAbort = JournalError | ReplayDivergence | ResumeUnsafe

const isReplayAbort = (error: { readonly _tag: string }): error is ReplayDivergence | ResumeUnsafe =>
  error._tag === "ReplayDivergence" || error._tag === "ResumeUnsafe"

const errorInfo = (error: { readonly _tag: string; readonly message: string }): ErrorInfo => ({
  _tag: error._tag,
  message: error.message
})

/** `event` with the clock readings of its recorded copy. */
const withTiming = (event: RunEvent, recorded: RunEvent): RunEvent => {
  const timed = { ...event, at: recorded.at }
  if ("durationMs" in timed && "durationMs" in recorded) timed.durationMs = recorded.durationMs
  return timed as RunEvent
}

// ---------------------------------------------------------------------------
// the run loop
// ---------------------------------------------------------------------------

const runLoop = <R>(
  agent: Agent<R>,
  input: string,
  options: RunOptions | undefined,
  journal: JournalShape,
  onEvent: ((event: RunEvent) => void) | undefined
): Effect.Effect<RunResult, RunError, R> =>
  Effect.gen(function*() {
    const clock = yield* Clock.Clock
    const session = options?.replay
    const tools = session?.tools ?? (yield* Tools)
    const planner: PlannerShape<R> | undefined = agent.planner ?? Option.getOrUndefined(yield* Effect.serviceOption(Planner))
    const span = yield* Effect.currentSpan.pipe(Effect.orDie)
    // A span per step costs more than the rest of the step: create them only when a tracer exports them.
    const traceSteps = (yield* Effect.tracer) !== Tracer.nativeTracer
    const runId = options?.runId ?? (yield* Ids).runId()
    const traceId = span.traceId
    span.attribute("graphent.run_id", runId)
    span.attribute("graphent.agent", agent.name)

    const budget = options?.budget === undefined ? agent.budget : { ...agent.budget, ...options.budget }
    const threadId = options?.threadId
    const defaults: CallDefaults = { timeout: agent.stepTimeout, retry: agent.stepRetry }
    const startedAt = clock.currentTimeMillisUnsafe()

    const events: Array<RunEvent> = []
    const steps: Array<StepOutcome> = []
    const outcomes = new Map<string, StepOutcome>()
    const stepErrors = new Map<string, Tool.ToolError | PlanInvalid>()
    let turn = 0
    let stepsUsed = 0
    const state: RunState = {
      runId,
      agent: agent as Agent<unknown>,
      input,
      threadId,
      get turn() {
        return turn
      },
      steps,
      outcomes
    }

    const publish = (event: RunEvent) => {
      events.push(event)
      if (onEvent !== undefined) onEvent(event)
    }
    const emit = (event: RunEvent): Effect.Effect<void, JournalError> => {
      if (session !== undefined) {
        const recorded = session.recorded(event)
        if (recorded !== undefined) {
          // The recording stands in for the clock: a re-run event carries the recorded time.
          event = withTiming(event, recorded)
          // On resume the journal already holds it.
          if (session.mode === "resume") return Effect.sync(() => publish(event))
        }
      }
      return Effect.map(journal.append(event), () => publish(event))
    }

    const record = (outcome: StepOutcome) => {
      steps.push(outcome)
      outcomes.set(outcome.id, outcome)
    }

    const executeStep = (step: PlanStep): Effect.Effect<void, StepAbort, R> =>
      Effect.suspend(() => {
        const at = clock.currentTimeMillisUnsafe()
        let args: unknown
        try {
          args = resolveRefs(step.args, outcomes)
        } catch (error) {
          if (!(error instanceof MissingPath)) throw error
          const invalid = new PlanInvalid({
            reason: `reference ${JSON.stringify(error.ref)}: no such path in the output of step "${error.ref.$ref}"`,
            stepId: step.id
          })
          stepErrors.set(step.id, invalid)
          const info = encodeStepError(invalid)
          record({ _tag: "Failed", id: step.id, tool: step.tool, args: step.args, error: info, durationMs: 0 })
          return emit({
            _tag: "StepFailed",
            runId,
            stepId: step.id,
            tool: step.tool,
            error: info,
            durationMs: 0,
            at
          })
        }
        const context: Tool.ToolContext = { runId, agent: agent.name, stepId: step.id, threadId }
        const call = { stepId: step.id, tool: step.tool, args }
        const attempt = emit({ _tag: "StepStarted", runId, stepId: step.id, tool: step.tool, args, at }).pipe(
          Effect.andThen(Effect.exit(tools.execute(agent.registry, call, context, defaults))),
          Effect.flatMap((exit): Effect.Effect<void, StepAbort> => {
            const end = clock.currentTimeMillisUnsafe()
            const durationMs = end - at
            if (exit._tag === "Success") {
              stepsUsed++
              const { result, value } = exit.value
              record({ _tag: "Succeeded", id: step.id, tool: step.tool, args, value, result, durationMs })
              return emit(
                result === undefined
                  ? { _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, durationMs, at: end }
                  : { _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, result, durationMs, at: end }
              )
            }
            const error = Cause.findErrorOption(exit.cause)
            if (error._tag === "None") return Effect.failCause(exit.cause as Cause.Cause<never>)
            // Replay problems end the run; they are not the step's failure.
            if (isReplayAbort(error.value)) return Effect.fail(error.value)
            stepsUsed++
            stepErrors.set(step.id, error.value)
            const info = encodeStepError(error.value)
            record({ _tag: "Failed", id: step.id, tool: step.tool, args, error: info, durationMs })
            return emit({ _tag: "StepFailed", runId, stepId: step.id, tool: step.tool, error: info, durationMs, at: end })
          })
        )
        const traced = traceSteps
          ? Effect.withSpan(attempt, "graphent.step", {
            attributes: { "graphent.step_id": step.id, "graphent.tool": step.tool },
            captureStackTrace: false
          })
          : attempt
        return Effect.annotateLogs(traced, "step", step.id) as Effect.Effect<void, StepAbort, R>
      })

    const skip = (step: PlanStep, blockedBy: string) => {
      record({ _tag: "Skipped", id: step.id, tool: step.tool, args: step.args, blockedBy })
      return emit({
        _tag: "StepSkipped",
        runId,
        stepId: step.id,
        tool: step.tool,
        blockedBy,
        at: clock.currentTimeMillisUnsafe()
      })
    }

    const succeeded = (id: string) => outcomes.get(id)?._tag === "Succeeded"

    /** Steps whose dependencies all come from earlier plans. */
    const runDetached = (step: PlanStep) => {
      for (const dep of dependenciesOf(step)) {
        if (!succeeded(dep)) return skip(step, dep)
      }
      return executeStep(step)
    }

    const executePlan = (
      plan: ReadonlyArray<PlanStep>,
      deps: ReadonlyMap<string, ReadonlyArray<string>>
    ): Effect.Effect<void, StepAbort, R> => {
      if (plan.length === 1) return runDetached(plan[0]!)
      const done = new Map(plan.map((step) => [step.id, Deferred.makeUnsafe<void>()]))
      const permits = Semaphore.makeUnsafe(agent.concurrency)
      return Effect.forEach(plan, (step) =>
        Effect.gen(function*() {
          for (const dep of deps.get(step.id)!) yield* Deferred.await(done.get(dep)!)
          yield* permits.withPermit(runDetached(step))
          Deferred.doneUnsafe(done.get(step.id)!, Effect.void)
        }), { concurrency: "unbounded", discard: true })
    }

    const usage = () => ({ turns: turn, steps: stepsUsed })

    const loop: Effect.Effect<string, RunError, R> = Effect.gen(function*() {
      if (planner === undefined) {
        return yield* new PlannerFailed({
          reason: `agent "${agent.name}" has no planner and no Planner service was provided`
        })
      }
      while (true) {
        if (turn >= budget.maxTurns) {
          return yield* new BudgetExceeded({ budget: "turns", limit: budget.maxTurns, used: turn + 1 })
        }
        turn++
        const decision = yield* planner.decide(state)
        if (session !== undefined) yield* session.decision(turn, decision)
        yield* emit({ _tag: "DecisionMade", runId, turn, decision, at: clock.currentTimeMillisUnsafe() })
        switch (decision._tag) {
          case "Answer":
            if (session !== undefined) yield* session.outcome({ answer: decision.answer })
            return decision.answer
          case "Fail": {
            const stepError = decision.stepId === undefined ? undefined : stepErrors.get(decision.stepId)
            return yield* (stepError ?? new PlannerFailed({ reason: decision.reason }))
          }
          case "RunSteps": {
            const deps = yield* validatePlan(decision.steps, outcomes)
            if (stepsUsed + decision.steps.length > budget.maxSteps) {
              return yield* new BudgetExceeded({
                budget: "steps",
                limit: budget.maxSteps,
                used: stepsUsed + decision.steps.length
              })
            }
            yield* executePlan(decision.steps, deps)
          }
        }
      }
    })

    const wallTime = budget.maxWallTime
    const bounded = wallTime === undefined ? loop : Effect.timeoutOrElse(loop, {
      duration: wallTime,
      orElse: () =>
        Effect.fail(
          new BudgetExceeded({
            budget: "wallTime",
            limit: Duration.toMillis(Duration.fromInputUnsafe(wallTime)),
            used: clock.currentTimeMillisUnsafe() - startedAt
          })
        )
    })

    yield* emit({
      _tag: "RunStarted",
      runId,
      traceId,
      agent: agent.name,
      input,
      ...(threadId === undefined ? {} : { threadId }),
      ...(options?.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
      at: startedAt
    })
    if (session?.mode === "resume") {
      yield* emit({ _tag: "RunResumed", runId, at: clock.currentTimeMillisUnsafe() })
    }

    const checked: Effect.Effect<string, RunError, R> = session === undefined ? bounded : bounded.pipe(
      Effect.catch((error: RunError): Effect.Effect<never, RunError> =>
        isReplayAbort(error)
          ? Effect.fail(error)
          : Effect.andThen(session.outcome({ error: errorInfo(error) }), Effect.fail(error))
      )
    )

    const answer = yield* checked.pipe(
      Effect.tapCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        const failure = Cause.findErrorOption(cause)
        // A replay that stops is not the run's outcome: the journal stays resumable.
        if (failure._tag === "Some" && isReplayAbort(failure.value)) return Effect.void
        const at = clock.currentTimeMillisUnsafe()
        const error = failure._tag === "Some"
          ? errorInfo(failure.value)
          : { _tag: "Defect", message: Tool.describeFailure(Cause.squash(cause)) }
        return Effect.ignore(
          emit({ _tag: "RunFailed", runId, error, usage: usage(), durationMs: at - startedAt, at })
        )
      }),
      Effect.onInterrupt(() => {
        const at = clock.currentTimeMillisUnsafe()
        return Effect.ignore(emit({ _tag: "RunInterrupted", runId, usage: usage(), durationMs: at - startedAt, at }))
      }),
      Effect.annotateLogs({ runId, traceId })
    )
    const finishedAt = clock.currentTimeMillisUnsafe()
    yield* emit({
      _tag: "RunCompleted",
      runId,
      answer,
      usage: usage(),
      durationMs: finishedAt - startedAt,
      at: finishedAt
    })
    // The times as journaled: under replay, the recorded ones.
    const completed = events[events.length - 1]!
    return {
      runId,
      traceId,
      agent: agent.name,
      input,
      answer,
      steps,
      usage: usage(),
      events,
      startedAt: events[0]!.at,
      finishedAt: completed.at,
      durationMs: completed.at - events[0]!.at
    }
  }).pipe(
    Effect.withSpan("graphent.run", undefined, { captureStackTrace: false }),
    Effect.annotateLogs("agent", agent.name)
  )

/**
 * Builds a local runtime over the {@link Journal} in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<AgentRuntimeShape, never, Journal> = Effect.gen(function*() {
  const journal = yield* Journal
  return AgentRuntime.of({
    run: (agent, input, options) => runLoop(agent, input, options, journal, undefined),
    stream: (agent, input, options) =>
      Stream.callback((queue) =>
        runLoop(agent, input, options, journal, (event) => Queue.offerUnsafe(queue, event)).pipe(
          Effect.andThen(Queue.end(queue))
        )
      )
  })
})

/**
 * The local runtime; needs a {@link Journal}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AgentRuntime, never, Journal> = Layer.effect(AgentRuntime, make)

/**
 * The local runtime with an in-memory journal: everything a run needs, with no
 * external service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<AgentRuntime | Journal> = layer.pipe(
  Layer.provideMerge(JournalMemory.layer())
)
