/**
 * The run loop: decide → validate → execute → journal → repeat.
 *
 * Each turn asks the planner for a decision, checks it through the run's
 * ports and journals it; an answer ends the run, a plan is validated against
 * the run so far and executed as a DAG (each step once the steps it depends
 * on are done, independent steps concurrently up to the agent's
 * `concurrency`, within the step budget), every outcome is journaled, and the
 * next turn begins — until an answer, a failure, a budget, an interruption or
 * a step that waits for a human.
 *
 * Everything nondeterministic goes through `this.ports` (see `RunPorts`): the
 * clock, the journal, the tools, decisions, model calls and values. Replay,
 * resume and update wrap those ports; the loop does not know whether it runs
 * live or re-runs a recording.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import {
  type Agent,
  BudgetExceeded,
  decodeOutput,
  PlanInvalid,
  PlannerFailed,
  type PlannerShape
} from "../../services/Agent.js"
import type { Decision, PlanStep, Ref } from "../../services/Decision.js"
import { OutputInvalid, type RunError, type RunResult } from "../../services/AgentRuntime.js"
import type { JournalError } from "../../services/Journal.js"
import type { ApprovalRequired } from "../../services/Policy.js"
import type { RateLimitUnavailable } from "../../services/RateLimits.js"
import type { ReplayDivergence, ResumeUnsafe } from "../../services/Replay.js"
import type { ErrorInfo } from "../../services/RunEvent.js"
import * as Tool from "../../services/Tool.js"
import type { ToolOutput } from "../../services/Tools.js"
import { encodeStepError } from "../../internal/stepError.js"
import * as Telemetry from "../../internal/telemetry.js"
import { dependenciesOf, MissingPath, resolveRefs, validatePlan, validateStep } from "./plan.js"
import { RunRecord, type RunSetup } from "./record.js"

/** What ends a run from inside a step: the journal failing, or a port refusing the call. */
type StepAbort = JournalError | ReplayDivergence | ResumeUnsafe | RateLimitUnavailable

/** Errors of the ports that end the run rather than fail the step (a rate-limit store down: the call did not go out). */
const isPortAbort = (
  error: { readonly _tag: string }
): error is ReplayDivergence | ResumeUnsafe | RateLimitUnavailable =>
  error._tag === "ReplayDivergence" || error._tag === "ResumeUnsafe" || error._tag === "RateLimitUnavailable"

/** Ends a run without an outcome (no `RunFailed`): the journal stays resumable. */
const isSuspension = (error: { readonly _tag: string }): boolean =>
  isPortAbort(error) || error._tag === "ApprovalRequired"

const errorInfo = (error: { readonly _tag: string; readonly message: string }): ErrorInfo => ({
  _tag: error._tag,
  message: error.message
})

/** One run in progress: its record (see `RunRecord`) and the loop over it. */
export class Run<R> extends RunRecord<R> {
  readonly planner: PlannerShape<R> | undefined
  readonly tracing: Telemetry.Tracing | undefined
  /** The first step that waits for a human's approval: the run pauses once its plan has settled. */
  paused: ApprovalRequired | undefined = undefined
  /** Steps waiting for approval, and the steps of their plan that depend on them (left out, not skipped). */
  awaiting: Set<string> | undefined = undefined
  /** Every turn from the current one on; suspended, so it is one value reused each turn. */
  readonly turns: Effect.Effect<string, RunError, R> = Effect.suspend(() => this.nextTurn())

  constructor(setup: RunSetup<R>, planner: PlannerShape<R> | undefined) {
    super(setup)
    this.planner = planner
    this.tracing = setup.tracing
  }

  // -- the run as a whole ---------------------------------------------------

  /** The whole run: RunStarted (and what the ports add after it), the turns, then RunCompleted. */
  main(): Effect.Effect<RunResult<unknown>, RunError, R> {
    const { agent, options, runId, threadId } = this
    const started = this.emit({
      _tag: "RunStarted",
      runId,
      traceId: this.traceId,
      agent: agent.name,
      input: this.input,
      ...(threadId === undefined ? {} : { threadId }),
      ...(options?.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
      ...(this.principal === undefined ? {} : { principal: this.principal }),
      at: this.startedAt
    })
    const opening = this.ports.opening(runId, this.now())
    const opened = opening.length === 0
      ? started
      : Effect.andThen(started, Effect.forEach(opening, (event) => this.emit(event), { discard: true }))
    return Effect.flatMap(Effect.andThen(opened, this.answer()), (answer) => this.complete(answer))
  }

  /** The turns, under the wall-time budget; a run that ends otherwise than with an answer is journaled. */
  answer(): Effect.Effect<string, RunError, R> {
    const { runId, startedAt } = this
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
    return bounded.pipe(
      // A failure is an outcome too: the ports check it (a recording compares it with its own).
      Effect.catch((error: RunError): Effect.Effect<never, RunError> =>
        isSuspension(error)
          ? Effect.fail(error)
          : Effect.andThen(this.ports.outcome({ error: errorInfo(error) }), Effect.fail(error))
      ),
      Effect.tapCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        const failure = Cause.findErrorOption(cause)
        // A run that stops at a port, or waits for approval, has no outcome yet: the journal stays resumable.
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
      // The times as journaled (a recording's, when the ports answer from one).
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

  // -- turns: decide, check, journal, act -------------------------------------

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
      (decision) => Effect.flatMap(this.ports.decision(this.turn, decision), () => this.decided(decision))
    )
  }

  decided(decision: Decision): Effect.Effect<string, RunError, R> {
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
        return Effect.as(this.ports.outcome({ answer: decision.answer }), decision.answer)
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
    return this.emit({ _tag: "StepSkipped", runId: this.runId, stepId: step.id, tool: step.tool, blockedBy, at: this.now() })
  }

  /** Journals the step's start, calls its tool through the tool port, journals the outcome. */
  executeStep(step: PlanStep): Effect.Effect<void, StepAbort, R> {
    const at = this.now()
    let args: unknown
    try {
      args = resolveRefs(step.args, this.outcomes)
    } catch (error) {
      if (!(error instanceof MissingPath)) throw error
      return this.unresolved(step, error.ref, at)
    }
    const { agent, runId, threadId } = this
    const context: Tool.ToolContext = this.principal === undefined
      ? { runId, agent: agent.name, stepId: step.id, threadId }
      : { runId, agent: agent.name, stepId: step.id, threadId, principal: this.principal }
    // The journal port sees StepStarted before the tool port sees the call: a recording matches the start
    // first, then decides the call (which, in update mode, may end the recording's answers).
    const attempt = this.emitThen(
      { _tag: "StepStarted", runId, stepId: step.id, tool: step.tool, args, at },
      () =>
        Effect.flatMap(Effect.exit(execution), (exit) =>
          exit._tag === "Success"
            ? this.succeeded(step, args, at, exit.value)
            : this.failed(step, args, at, exit.cause))
    )
    const call = this.ports.tools.execute(agent.registry, { stepId: step.id, tool: step.tool, args }, context, this.defaults)
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
    cause: Cause.Cause<Tool.ToolError | ReplayDivergence | ResumeUnsafe | ApprovalRequired | RateLimitUnavailable>
  ): Effect.Effect<void, StepAbort> {
    const end = this.now()
    const error = Cause.findErrorOption(cause)
    if (error._tag === "None") return Effect.failCause(cause as Cause.Cause<never>)
    // A port that refuses the call ends the run; it is not the step's failure.
    if (isPortAbort(error.value)) return Effect.fail(error.value)
    if (error.value._tag === "ApprovalRequired") return this.awaitApproval(step, error.value, end)
    this.stepsUsed++
    this.keepError(step.id, error.value)
    const info = encodeStepError(error.value)
    const durationMs = end - at
    this.record({ _tag: "Failed", id: step.id, tool: step.tool, args, error: info, durationMs })
    return this.emit({ _tag: "StepFailed", runId: this.runId, stepId: step.id, tool: step.tool, error: info, durationMs, at: end })
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
}
