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
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as Pull from "effect/Pull"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { type Agent, type Budget, decodeOutput } from "../services/Agent.js"
import {
  AgentRuntime,
  type AgentRuntimeShape,
  BudgetExceeded,
  Ids,
  OutputInvalid,
  type RunError,
  type RunOptions,
  type RunResult
} from "../services/AgentRuntime.js"
import { Journal, type JournalError, type JournalShape } from "../services/Journal.js"
import {
  type Decision,
  isRef,
  PlanInvalid,
  Planner,
  PlannerFailed,
  type PlannerShape,
  type PlanStep,
  type Ref,
  type RunAbort,
  type RunContext,
  type RunState,
  type StepOutcome
} from "../services/Planner.js"
import { cost as costOf, priceOf, type PriceTable, Pricing } from "../services/Pricing.js"
import type { ApprovalRequired, Principal } from "../services/Policy.js"
import type {
  ErrorInfo,
  ModelOutput,
  ModelRequest,
  ModelToolCall,
  RunEvent,
  Usage
} from "../services/RunEvent.js"
import { encodeStepError, type ReplayDivergence, type ResumeUnsafe, type Session } from "../services/Replay.js"
import * as Tool from "../services/Tool.js"
import { type CallDefaults, type ToolOutput, Tools, type ToolsShape } from "../services/Tools.js"
import * as Telemetry from "../internal/telemetry.js"
import * as JournalMemory from "./JournalMemory.js"

// ---------------------------------------------------------------------------
// plan validation and references
// ---------------------------------------------------------------------------

/** Adds the step ids that `value` references to `into`, which is created on the first one. */
const collectRefs = (value: unknown, into: Set<string> | undefined): Set<string> | undefined => {
  if (typeof value !== "object" || value === null) return into
  if (isRef(value)) return (into ?? new Set()).add(value.$ref)
  if (Array.isArray(value)) {
    for (const item of value) into = collectRefs(item, into)
    return into
  }
  for (const key in value) into = collectRefs((value as Record<string, unknown>)[key], into)
  return into
}

const noDependencies: ReadonlySet<string> = new Set()

/** A step's dependencies: explicit `dependsOn` plus every step its arguments reference. */
const dependenciesOf = (step: PlanStep): ReadonlySet<string> => {
  const explicit = step.dependsOn === undefined || step.dependsOn.length === 0 ? undefined : new Set(step.dependsOn)
  return collectRefs(step.args, explicit) ?? noDependencies
}

/**
 * Checks a plan against the run so far; returns each step's dependencies on
 * steps of this same plan.
 */
const validatePlan = (
  steps: ReadonlyArray<PlanStep>,
  outcomes: ReadonlyMap<string, StepOutcome>
): ReadonlyMap<string, ReadonlyArray<string>> | PlanInvalid => {
  const local = new Map<string, ReadonlyArray<string>>()
  for (const step of steps) {
    if (step.id === "") return new PlanInvalid({ reason: "a step has an empty id" })
    if (local.has(step.id)) return new PlanInvalid({ reason: "two steps share this id", stepId: step.id })
    if (outcomes.has(step.id)) {
      return new PlanInvalid({ reason: "an earlier step of this run already used this id", stepId: step.id })
    }
    local.set(step.id, [])
  }
  for (const step of steps) {
    const deps: Array<string> = []
    for (const dep of dependenciesOf(step)) {
      if (dep === step.id) return new PlanInvalid({ reason: "the step depends on itself", stepId: step.id })
      if (local.has(dep)) deps.push(dep)
      else if (!outcomes.has(dep)) return new PlanInvalid({ reason: `depends on unknown step "${dep}"`, stepId: step.id })
    }
    local.set(step.id, deps)
  }
  const cycle = findCycle(local)
  return cycle === undefined
    ? local
    : new PlanInvalid({ reason: `dependency cycle ${cycle.join(" -> ")}`, stepId: cycle[0]! })
}

/**
 * {@link validatePlan} for a plan of one step, the common case: the same
 * checks, in the same order, without the graph. Returns the step's
 * dependencies (all on earlier turns).
 */
const validateStep = (step: PlanStep, outcomes: ReadonlyMap<string, StepOutcome>): ReadonlySet<string> | PlanInvalid => {
  if (step.id === "") return new PlanInvalid({ reason: "a step has an empty id" })
  if (outcomes.has(step.id)) {
    return new PlanInvalid({ reason: "an earlier step of this run already used this id", stepId: step.id })
  }
  const deps = dependenciesOf(step)
  for (const dep of deps) {
    if (dep === step.id) return new PlanInvalid({ reason: "the step depends on itself", stepId: step.id })
    if (!outcomes.has(dep)) return new PlanInvalid({ reason: `depends on unknown step "${dep}"`, stepId: step.id })
  }
  return deps
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

/** The continuation of an event that nothing follows. */
const continueWithVoid = () => Effect.void

/** What ends a run from inside a step: the journal failing, or replay finding a difference. */
type StepAbort = JournalError | ReplayDivergence | ResumeUnsafe

const isReplayAbort = (error: { readonly _tag: string }): error is ReplayDivergence | ResumeUnsafe =>
  error._tag === "ReplayDivergence" || error._tag === "ResumeUnsafe"

/** Ends a run without an outcome (no `RunFailed`): the journal stays resumable. */
const isSuspension = (error: { readonly _tag: string }): boolean =>
  isReplayAbort(error) || error._tag === "ApprovalRequired"

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

/** The run state the planner sees; `turn` is updated in place as the run goes on. */
interface LiveRunState extends RunState {
  turn: number
}

/**
 * One run in progress. The loop and its helpers are methods of this one
 * object rather than closures allocated per run: a run is mostly short, and
 * with many of them alive at once the closures were a large part of each.
 */
class Run<R> implements RunContext {
  readonly events: Array<RunEvent> = []
  readonly decisions: Array<Decision> = []
  readonly steps: Array<StepOutcome> = []
  readonly outcomes = new Map<string, StepOutcome>()
  /** The errors of failed steps, for a Fail decision that names one; made on the first failure. */
  stepErrors: Map<string, Tool.ToolError | PlanInvalid> | undefined = undefined
  readonly state: LiveRunState
  readonly session: Session | undefined
  readonly budget: Budget
  readonly threadId: string | undefined
  /** Who the run acts for (see `Policy`). */
  readonly principal: Principal | undefined
  readonly defaults: CallDefaults
  readonly startedAt: number
  turn = 0
  stepsUsed = 0
  modelCalls = 0
  inputTokens = 0
  outputTokens = 0
  /** Undefined until a model call with a price. */
  cost: number | undefined = undefined
  /** The decoded output, once the run answered. */
  output: unknown = undefined
  /** The first step that waits for a human's approval: the run pauses once its plan has settled. */
  paused: ApprovalRequired | undefined = undefined
  /** Steps waiting for approval, and the steps of their plan that depend on them (left out, not skipped). */
  awaiting: Set<string> | undefined = undefined
  /** Every turn from the current one on; suspended, so it is one value reused each turn. */
  readonly turns: Effect.Effect<string, RunError, R> = Effect.suspend(() => this.nextTurn())

  constructor(
    readonly agent: Agent<R, unknown>,
    readonly input: string,
    readonly options: RunOptions | undefined,
    readonly journal: JournalShape,
    readonly onEvent: ((event: RunEvent) => void) | undefined,
    readonly clock: Clock.Clock,
    readonly tools: ToolsShape,
    readonly planner: PlannerShape<R> | undefined,
    /** Whether decisions, steps and tool calls get spans (only when a tracer exports them), and with payloads. */
    readonly tracing: Telemetry.Tracing | undefined,
    readonly runId: string,
    readonly traceId: string,
    readonly prices: PriceTable,
    /** Whether the run is consumed as a stream (planners then stream model calls). */
    readonly streaming: boolean
  ) {
    this.session = options?.replay
    this.budget = options?.budget === undefined ? agent.budget : { ...agent.budget, ...options.budget }
    this.threadId = options?.threadId
    this.principal = options?.principal
    this.defaults = { timeout: agent.stepTimeout, retry: agent.stepRetry }
    this.startedAt = clock.currentTimeMillisUnsafe()
    this.state = {
      runId,
      agent: agent as Agent<unknown>,
      input,
      threadId: this.threadId,
      turn: 0,
      steps: this.steps,
      outcomes: this.outcomes,
      decisions: this.decisions,
      context: this
    }
  }

  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  usage(): Usage {
    if (this.modelCalls === 0) return { turns: this.turn, steps: this.stepsUsed }
    const usage = {
      turns: this.turn,
      steps: this.stepsUsed,
      modelCalls: this.modelCalls,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens
    }
    return this.cost === undefined ? usage : { ...usage, cost: this.cost }
  }

  // -- the planner's run context (model calls, journaled values, deltas) ------

  textDelta(text: string): void {
    this.onEvent?.({ _tag: "TextDelta", runId: this.runId, turn: this.turn, text, at: this.now() })
  }

  toolCallDelta(toolCall: ModelToolCall): void {
    this.onEvent?.({ _tag: "ToolCallDelta", runId: this.runId, turn: this.turn, toolCall, at: this.now() })
  }

  callModel<E, R2>(
    model: string,
    request: ModelRequest,
    live: Effect.Effect<ModelOutput, E, R2>
  ): Effect.Effect<ModelOutput, E | RunAbort, R2> {
    const call = this.modelCalls + 1
    const { runId, turn } = this
    const made = (startedAt: number) => (response: ModelOutput) => {
      const at = this.now()
      const price = priceOf(this.prices, model)
      const cost = price === undefined ? undefined : costOf(price, response.usage)
      return this.modelCalled({
        _tag: "ModelCalled",
        runId,
        turn,
        call,
        model,
        request,
        response,
        ...(cost === undefined ? {} : { cost }),
        durationMs: at - startedAt,
        at
      })
    }
    const callLive = Effect.suspend(() => Effect.flatMap(live, made(this.now())))
    const session = this.session
    if (session === undefined) return callLive
    return Effect.flatMap(session.model(call, request), (recorded) =>
      // The recording answers: the same event again, with the recorded model, timing and cost.
      recorded === undefined ? callLive : this.modelCalled(recorded))
  }

  /** Journals a model call, counts its tokens and cost, and checks the budgets. */
  modelCalled(event: Extract<RunEvent, { readonly _tag: "ModelCalled" }>): Effect.Effect<ModelOutput, RunAbort> {
    this.modelCalls = event.call
    this.inputTokens += event.response.usage.inputTokens
    this.outputTokens += event.response.usage.outputTokens
    if (event.cost !== undefined) this.cost = (this.cost ?? 0) + event.cost
    return this.emitThen(event, () => {
      const { maxCost, maxTokens } = this.budget
      const tokens = this.inputTokens + this.outputTokens
      if (maxTokens !== undefined && tokens > maxTokens) {
        return Effect.fail(new BudgetExceeded({ budget: "tokens", limit: maxTokens, used: tokens }))
      }
      if (maxCost !== undefined && this.cost !== undefined && this.cost > maxCost) {
        return Effect.fail(new BudgetExceeded({ budget: "cost", limit: maxCost, used: this.cost }))
      }
      return Effect.succeed(event.response)
    })
  }

  journaled<A, E, R2>(key: string, effect: Effect.Effect<A, E, R2>): Effect.Effect<A, E | RunAbort, R2> {
    const { runId, turn } = this
    const live = Effect.flatMap(effect, (value) =>
      this.emitThen(
        value === undefined
          ? { _tag: "ValueRecorded", runId, turn, key, at: this.now() }
          : { _tag: "ValueRecorded", runId, turn, key, value, at: this.now() },
        () => Effect.succeed(value)
      ))
    const session = this.session
    if (session === undefined) return live
    return Effect.flatMap(session.value(turn, key), (recorded) =>
      recorded === undefined
        ? live
        : this.emitThen(recorded, () => Effect.succeed(recorded.value as A)))
  }

  publish(event: RunEvent): void {
    this.events.push(event)
    if (this.onEvent !== undefined) this.onEvent(event)
  }

  /** Journals `event`, then publishes it (to the result and the stream). */
  emit(event: RunEvent): Effect.Effect<void, JournalError> {
    return this.emitThen(event, continueWithVoid)
  }

  /** {@link emit}, then `next()`: one continuation for both, on the paths every step takes. */
  emitThen<A, E, R2>(event: RunEvent, next: () => Effect.Effect<A, E, R2>): Effect.Effect<A, E | JournalError, R2> {
    const session = this.session
    if (session !== undefined) {
      const recorded = session.recorded(event)
      if (recorded !== undefined) {
        // The recording stands in for the clock: a re-run event carries the recorded time.
        const timed = withTiming(event, recorded)
        // On resume the journal already holds it.
        if (session.mode === "resume") {
          return Effect.suspend(() => {
            this.publish(timed)
            return next()
          })
        }
        event = timed
      }
    }
    const journaled = event
    return Effect.flatMap(this.journal.append(journaled), () => {
      this.publish(journaled)
      return next()
    })
  }

  record(outcome: StepOutcome): void {
    this.steps.push(outcome)
    this.outcomes.set(outcome.id, outcome)
  }

  keepError(stepId: string, error: Tool.ToolError | PlanInvalid): void {
    const errors = this.stepErrors ??= new Map()
    errors.set(stepId, error)
  }

  // -- turns ----------------------------------------------------------------

  nextTurn(): Effect.Effect<string, RunError, R> {
    const { budget, planner } = this
    if (planner === undefined) {
      return Effect.fail(
        new PlannerFailed({ reason: `agent "${this.agent.name}" has no planner and no Planner service was provided` })
      )
    }
    if (this.paused !== undefined) return Effect.fail(this.paused)
    if (this.turn >= budget.maxTurns) {
      return Effect.fail(new BudgetExceeded({ budget: "turns", limit: budget.maxTurns, used: this.turn + 1 }))
    }
    this.state.turn = ++this.turn
    const decide = planner.decide(this.state)
    return Effect.flatMap(
      this.tracing === undefined ? decide : Telemetry.traceDecision(decide, this.turn, this.tracing),
      (decision) => this.decided(decision)
    )
  }

  decided(decision: Decision): Effect.Effect<string, RunError, R> {
    const { session } = this
    // A session checks the decision before its event is emitted (the check may take the session live).
    return session === undefined
      ? this.emitDecision(decision)
      : Effect.flatMap(session.decision(this.turn, decision), () => this.emitDecision(decision))
  }

  emitDecision(decision: Decision): Effect.Effect<string, RunError, R> {
    this.decisions.push(decision)
    return this.emitThen(
      { _tag: "DecisionMade", runId: this.runId, turn: this.turn, decision, at: this.now() },
      () => this.act(decision)
    )
  }

  act(decision: Decision): Effect.Effect<string, RunError, R> {
    switch (decision._tag) {
      case "Answer": {
        const output = decodeOutput(this.agent as Agent<unknown, unknown>, decision.answer)
        if (output._tag === "Failure") {
          return Effect.fail(new OutputInvalid({ issue: output.issue, answer: decision.answer.slice(0, 200) }))
        }
        this.output = output.value
        return this.session === undefined
          ? Effect.succeed(decision.answer)
          : Effect.as(this.session.outcome({ answer: decision.answer }), decision.answer)
      }
      case "Fail": {
        const stepError = decision.stepId === undefined ? undefined : this.stepErrors?.get(decision.stepId)
        return Effect.fail(stepError ?? new PlannerFailed({ reason: decision.reason }))
      }
      case "RunSteps": {
        const { steps } = decision
        // One step (the common case) needs no dependency graph.
        const checked = steps.length === 1 ? validateStep(steps[0]!, this.outcomes) : validatePlan(steps, this.outcomes)
        if (checked instanceof PlanInvalid) return Effect.fail(checked)
        const needed = this.stepsUsed + steps.length
        if (needed > this.budget.maxSteps) {
          return Effect.fail(new BudgetExceeded({ budget: "steps", limit: this.budget.maxSteps, used: needed }))
        }
        let executed: Effect.Effect<void, StepAbort, R>
        if (steps.length === 1) {
          const step = steps[0]!
          const blockedBy = this.blockedBy(checked as ReadonlySet<string>)
          executed = blockedBy === undefined ? this.executeStep(step) : this.skip(step, blockedBy)
        } else {
          executed = this.executePlan(steps, checked as ReadonlyMap<string, ReadonlyArray<string>>)
        }
        return Effect.andThen(executed, this.turns)
      }
    }
  }

  // -- steps ----------------------------------------------------------------

  /** Runs the steps of a plan, each once the steps it depends on are done, `agent.concurrency` at a time. */
  executePlan(
    plan: ReadonlyArray<PlanStep>,
    deps: ReadonlyMap<string, ReadonlyArray<string>>
  ): Effect.Effect<void, StepAbort, R> {
    const done = new Map(plan.map((step) => [step.id, Deferred.makeUnsafe<void>()]))
    const permits = Semaphore.makeUnsafe(this.agent.concurrency)
    const run = this
    return Effect.forEach(plan, (step) =>
      Effect.gen(function*() {
        for (const dep of deps.get(step.id)!) yield* Deferred.await(done.get(dep)!)
        const stepDeps = dependenciesOf(step)
        if (run.awaiting !== undefined && [...stepDeps].some((dep) => run.awaiting!.has(dep))) {
          // It depends on a step waiting for approval: it runs when the run resumes, not now.
          run.awaiting.add(step.id)
        } else {
          // A step to skip is recorded now; a step to run starts (and reads the clock) once it has a permit.
          const blockedBy = run.blockedBy(stepDeps)
          yield* permits.withPermit(
            blockedBy === undefined ? Effect.suspend(() => run.executeStep(step)) : run.skip(step, blockedBy)
          )
        }
        Deferred.doneUnsafe(done.get(step.id)!, Effect.void)
      }), { concurrency: "unbounded", discard: true })
  }

  /** The first of a step's (finished) dependencies that did not succeed: the step is skipped. */
  blockedBy(deps: ReadonlySet<string>): string | undefined {
    for (const dep of deps) {
      if (this.outcomes.get(dep)?._tag !== "Succeeded") return dep
    }
    return undefined
  }

  skip(step: PlanStep, blockedBy: string): Effect.Effect<void, JournalError> {
    this.record({ _tag: "Skipped", id: step.id, tool: step.tool, args: step.args, blockedBy })
    return this.emit({
      _tag: "StepSkipped",
      runId: this.runId,
      stepId: step.id,
      tool: step.tool,
      blockedBy,
      at: this.now()
    })
  }

  executeStep(step: PlanStep): Effect.Effect<void, StepAbort, R> {
    const at = this.now()
    let args: unknown
    try {
      args = resolveRefs(step.args, this.outcomes)
    } catch (error) {
      if (!(error instanceof MissingPath)) throw error
      return this.unresolved(step, error.ref, at)
    }
    const { agent, runId } = this
    // Under replay the order matters: the session looks StepStarted up (emitThen), then checks the call
    // (execute, which may take it live), and only then is StepStarted journaled.
    const attempt = this.emitThen(
      { _tag: "StepStarted", runId, stepId: step.id, tool: step.tool, args, at },
      () =>
        Effect.flatMap(Effect.exit(execution), (exit) =>
          exit._tag === "Success"
            ? this.succeeded(step, args, at, exit.value)
            : this.failed(step, args, at, exit.cause))
    )
    const call = this.tools.execute(
      agent.registry,
      { stepId: step.id, tool: step.tool, args },
      this.principal === undefined && this.session === undefined
        ? { runId, agent: agent.name, stepId: step.id, threadId: this.threadId }
        : this.toolContext(step.id),
      this.defaults
    )
    const execution = this.tracing === undefined ? call : Telemetry.traceTool(call, step, args, this.tracing)
    const traced = this.tracing === undefined ? attempt : Telemetry.traceStep(attempt, step)
    return Effect.annotateLogs(traced, "step", step.id) as Effect.Effect<void, StepAbort, R>
  }

  /** A reference in the step's arguments points at nothing: the step fails without running. */
  unresolved(step: PlanStep, ref: Ref, at: number): Effect.Effect<void, JournalError> {
    const invalid = new PlanInvalid({
      reason: `reference ${JSON.stringify(ref)}: no such path in the output of step "${ref.$ref}"`,
      stepId: step.id
    })
    this.keepError(step.id, invalid)
    const info = encodeStepError(invalid)
    this.record({ _tag: "Failed", id: step.id, tool: step.tool, args: step.args, error: info, durationMs: 0 })
    return this.emit({ _tag: "StepFailed", runId: this.runId, stepId: step.id, tool: step.tool, error: info, durationMs: 0, at })
  }

  succeeded(step: PlanStep, args: unknown, at: number, output: ToolOutput): Effect.Effect<void, JournalError> {
    const end = this.now()
    this.stepsUsed++
    const durationMs = end - at
    const { result, value } = output
    const { runId } = this
    this.record({ _tag: "Succeeded", id: step.id, tool: step.tool, args, value, result, durationMs })
    return this.emit(
      result === undefined
        ? { _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, durationMs, at: end }
        : { _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, result, durationMs, at: end }
    )
  }

  failed(
    step: PlanStep,
    args: unknown,
    at: number,
    cause: Cause.Cause<Tool.ToolError | ReplayDivergence | ResumeUnsafe | ApprovalRequired>
  ): Effect.Effect<void, StepAbort> {
    const end = this.now()
    const error = Cause.findErrorOption(cause)
    if (error._tag === "None") return Effect.failCause(cause as Cause.Cause<never>)
    // Replay problems end the run; they are not the step's failure.
    if (isReplayAbort(error.value)) return Effect.fail(error.value)
    if (error.value._tag === "ApprovalRequired") return this.awaitApproval(step, error.value, end)
    this.stepsUsed++
    this.keepError(step.id, error.value)
    const info = encodeStepError(error.value)
    const durationMs = end - at
    this.record({ _tag: "Failed", id: step.id, tool: step.tool, args, error: info, durationMs })
    return this.emit({ _tag: "StepFailed", runId: this.runId, stepId: step.id, tool: step.tool, error: info, durationMs, at: end })
  }

  /** What a tool call gets to know beyond the run and step: the principal, and a human's decision on the step. */
  toolContext(stepId: string): Tool.ToolContext {
    const approval = this.session?.recording.approvals.get(stepId)
    return {
      runId: this.runId,
      agent: this.agent.name,
      stepId,
      threadId: this.threadId,
      ...(this.principal === undefined ? {} : { principal: this.principal }),
      ...(approval === undefined ? {} : { approval })
    }
  }

  /** The step did not run: it waits for a human. Its plan finishes, then the run pauses (see `nextTurn`). */
  awaitApproval(step: PlanStep, required: ApprovalRequired, at: number): Effect.Effect<void, JournalError> {
    ;(this.awaiting ??= new Set()).add(step.id)
    this.paused ??= required
    return this.emit({
      _tag: "ApprovalRequested",
      runId: this.runId,
      stepId: step.id,
      tool: step.tool,
      capability: required.capability,
      principal: required.principal,
      at
    })
  }

  // -- the run as a whole ---------------------------------------------------

  /** The whole run: RunStarted (and RunResumed), the turns, then RunCompleted. */
  main(): Effect.Effect<RunResult<unknown>, RunError, R> {
    const { agent, input, options, runId, threadId } = this
    const started = this.emit({
      _tag: "RunStarted",
      runId,
      traceId: this.traceId,
      agent: agent.name,
      input,
      ...(threadId === undefined ? {} : { threadId }),
      ...(options?.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
      ...(this.principal === undefined ? {} : { principal: this.principal }),
      at: this.startedAt
    })
    const opened = this.session?.mode === "resume"
      ? Effect.flatMap(started, () => this.emit({ _tag: "RunResumed", runId, at: this.now() }))
      : started
    return Effect.flatMap(Effect.andThen(opened, this.answer()), (answer) => this.complete(answer))
  }

  /** The turns, under the wall-time budget; a run that ends otherwise than with an answer is journaled. */
  answer(): Effect.Effect<string, RunError, R> {
    const { runId, session, startedAt } = this
    const wallTime = this.budget.maxWallTime
    const bounded = wallTime === undefined ? this.turns : Effect.timeoutOrElse(this.turns, {
      duration: wallTime,
      orElse: () =>
        Effect.fail(
          new BudgetExceeded({
            budget: "wallTime",
            limit: Duration.toMillis(Duration.fromInputUnsafe(wallTime)),
            used: this.now() - startedAt
          })
        )
    })
    const checked: Effect.Effect<string, RunError, R> = session === undefined ? bounded : bounded.pipe(
      Effect.catch((error: RunError): Effect.Effect<never, RunError> =>
        isSuspension(error)
          ? Effect.fail(error)
          : Effect.andThen(session.outcome({ error: errorInfo(error) }), Effect.fail(error))
      )
    )
    return checked.pipe(
      Effect.tapCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        const failure = Cause.findErrorOption(cause)
        // A replay that stops, or a run that waits for approval, has no outcome yet: the journal stays resumable.
        if (failure._tag === "Some" && isSuspension(failure.value)) return Effect.void
        const at = this.now()
        const error = failure._tag === "Some"
          ? errorInfo(failure.value)
          : { _tag: "Defect", message: Tool.describeFailure(Cause.squash(cause)) }
        return Effect.ignore(
          this.emit({ _tag: "RunFailed", runId, error, usage: this.usage(), durationMs: at - startedAt, at })
        )
      }),
      Effect.onInterrupt(() => {
        const at = this.now()
        return Effect.ignore(
          this.emit({ _tag: "RunInterrupted", runId, usage: this.usage(), durationMs: at - startedAt, at })
        )
      })
    )
  }

  complete(answer: string): Effect.Effect<RunResult<unknown>, JournalError> {
    const { runId, startedAt } = this
    const finishedAt = this.now()
    const completed = this.emit({
      _tag: "RunCompleted",
      runId,
      answer,
      usage: this.usage(),
      durationMs: finishedAt - startedAt,
      at: finishedAt
    })
    return Effect.map(completed, (): RunResult<unknown> => {
      // The times as journaled: under replay, the recorded ones.
      const { events } = this
      const first = events[0]!.at
      const last = events[events.length - 1]!.at
      return {
        runId,
        traceId: this.traceId,
        agent: this.agent.name,
        input: this.input,
        answer,
        output: this.output,
        steps: this.steps,
        usage: this.usage(),
        events,
        startedAt: first,
        finishedAt: last,
        durationMs: last - first
      }
    })
  }
}

/** Sets a run up from what its context provides (read once, not per step). */
const makeRun = <R>(
  agent: Agent<R, unknown>,
  input: string,
  options: RunOptions | undefined,
  journal: JournalShape,
  onEvent: ((event: RunEvent) => void) | undefined,
  context: Context.Context<never>,
  span: Tracer.Span
): Run<R> => {
  const tools = options?.replay?.tools ?? Context.get(context, Tools)
  const planner: PlannerShape<R> | undefined = agent.planner ?? Context.getOrUndefined(context, Planner)
  // A span per step costs more than the rest of the step: create them only when a tracer exports them.
  const tracing = Telemetry.tracingOf(context)
  const runId = options?.runId ?? Context.get(context, Ids).runId()
  span.attribute("graphent.run_id", runId)
  span.attribute("graphent.agent", agent.name)
  const clock = Context.get(context, Clock.Clock)
  const publish = Telemetry.observed(context, agent.name, options?.replay, onEvent)
  return new Run(agent, input, options, journal, publish, clock, tools, planner, tracing, runId, span.traceId,
    Context.get(context, Pricing), onEvent !== undefined)
}

const runLoop = <R, O>(
  agent: Agent<R, O>,
  input: string,
  options: RunOptions | undefined,
  journal: JournalShape,
  onEvent: ((event: RunEvent) => void) | undefined
): Effect.Effect<RunResult<O>, RunError, R> =>
  Effect.flatMap(Effect.orDie(Effect.currentSpan), (span) =>
    Effect.contextWith((context: Context.Context<never>) => {
      const run = makeRun(agent, input, options, journal, onEvent, context, span)
      const main = run.tracing === undefined
        ? run.main()
        : Telemetry.traceRun(run.main(), span, { runId: run.runId, agent: agent.name, input, threadId: run.threadId }, run.tracing)
      // One annotation for the whole run (a tool's logs also get its step, see executeStep).
      // The output was decoded with the agent's own output Schema.
      return Effect.annotateLogs(main, { agent: agent.name, runId: run.runId, traceId: run.traceId }) as Effect.Effect<
        RunResult<O>,
        RunError,
        R
      >
    })).pipe(Effect.withSpan("graphent.run", undefined, { captureStackTrace: false }))

// ---------------------------------------------------------------------------
// streaming
// ---------------------------------------------------------------------------

/**
 * A streamed run's events on their way to the consumer: the run publishes
 * them here, the consumer pulls all those published since its last pull, or
 * waits for the next. A waiting consumer is woken in a microtask, once the
 * run's current synchronous stretch is over, so events published together
 * (a step's outcome, the next decision, the next step's start) arrive as one
 * chunk instead of one wake-up each. The buffer is unbounded, like the
 * journal: a slow consumer never holds the run up.
 */
class Mailbox {
  private pending: Array<RunEvent> = []
  private exit: Exit.Exit<unknown, RunError> | undefined = undefined
  private waiting: ((wake: Effect.Effect<void>) => void) | undefined = undefined
  private wakeScheduled = false

  publish(event: RunEvent): void {
    this.pending.push(event)
    this.wake()
  }

  close(exit: Exit.Exit<unknown, RunError>): void {
    this.exit = exit
    this.wake()
  }

  private wake(): void {
    if (this.waiting === undefined || this.wakeScheduled) return
    this.wakeScheduled = true
    queueMicrotask(() => {
      this.wakeScheduled = false
      const resume = this.waiting
      this.waiting = undefined
      resume?.(Effect.void)
    })
  }

  /** Waits for the next event or the end of the run; a consumer interrupted while waiting leaves no trace. */
  private readonly wait: Effect.Effect<void> = Effect.callback<void>((resume) => {
    this.waiting = resume
    return Effect.sync(() => {
      this.waiting = undefined
    })
  })

  /** The events published since the last pull; then the run's end: done, or its failure. */
  readonly pull: Pull.Pull<Arr.NonEmptyReadonlyArray<RunEvent>, RunError> = Effect.suspend(() => {
    const pending = this.pending
    if (Arr.isReadonlyArrayNonEmpty(pending)) {
      this.pending = []
      return Effect.succeed(pending)
    }
    const exit = this.exit
    if (exit !== undefined) return exit._tag === "Success" ? Cause.done() : Effect.failCause(exit.cause)
    return Effect.andThen(this.wait, this.pull)
  })
}

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
      Stream.fromChannel(Channel.fromTransform((_, scope) =>
        Effect.suspend(() => {
          const mailbox = new Mailbox()
          const run = runLoop(agent, input, options, journal, (event) => mailbox.publish(event)).pipe(
            Effect.onExit((exit) => Effect.sync(() => mailbox.close(exit))),
            // As with Stream.callback, what the run adds to a Scope lasts as long as the stream.
            Scope.provide(scope)
          )
          // The run is a fiber of the stream's scope: a consumer that stops interrupts it.
          return Effect.as(Effect.forkIn(run, scope, { startImmediately: true }), mailbox.pull)
        })
      ))
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
