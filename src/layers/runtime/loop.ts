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
  type Budget,
  BudgetExceeded,
  decodeOutput,
  PlanInvalid,
  PlannerFailed,
  type PlannerShape,
  type StepOutcome
} from "../../services/Agent.js"
import type { Decision, PlanStep, Ref } from "../../services/Decision.js"
import { OutputInvalid, type RunError, type RunResult } from "../../services/AgentRuntime.js"
import type { JournalError } from "../../services/Journal.js"
import { ApprovalRequired } from "../../services/Policy.js"
import type { RateLimitUnavailable } from "../../services/RateLimits.js"
import type { ReplayDivergence, ResumeUnsafe } from "../../services/Replay.js"
import type { ConversationItem, ErrorInfo, RunEvent, Usage } from "../../services/RunEvent.js"
import * as Tool from "../../services/Tool.js"
import type { ToolOutput } from "../../services/Tools.js"
import { encodeStepError } from "../../internal/stepError.js"
import * as SubAgent from "../../internal/subAgent.js"
import * as Telemetry from "../../internal/telemetry.js"
import { dependenciesOf, MissingPath, resolveRefs, validatePlan, validateStep } from "./plan.js"
import { RunRecord, type RunSetup } from "./record.js"

/**
 * What ends a run from inside a step: the journal failing, a port refusing the
 * call (a shared rate limit unavailable included), or a child run that spent
 * the budget the run had left.
 */
type StepAbort = JournalError | ReplayDivergence | ResumeUnsafe | RateLimitUnavailable | BudgetExceeded

/** What a child run's error does to its parent: nothing (the step fails), or it ends the parent too. */
type ChildStop = ApprovalRequired | ReplayDivergence | ResumeUnsafe | JournalError | BudgetExceeded

/** An agent's sub-agent tools (by name) and handoffs (tool name by agent name), found once per agent. */
interface SubAgents {
  readonly tools: ReadonlySet<string>
  readonly handoffs: ReadonlyMap<string, string>
}

const subAgentsByAgent = new WeakMap<object, SubAgents | null>()

const subAgentsOf = (agent: Agent<unknown, unknown>): SubAgents | undefined => {
  let found = subAgentsByAgent.get(agent)
  if (found === undefined) {
    const tools = new Set<string>()
    const handoffs = new Map<string, string>()
    for (const tool of agent.tools) {
      const spec = SubAgent.specOf(tool)
      if (spec === undefined) continue
      tools.add(tool.name)
      if (spec.handoff) handoffs.set(spec.agent.name, tool.name)
    }
    found = tools.size === 0 ? null : { tools, handoffs }
    subAgentsByAgent.set(agent, found)
  }
  return found ?? undefined
}

/** Errors of the ports that end the run rather than fail the step (a rate-limit store down: the call did not go out). */
const isPortAbort = (
  error: { readonly _tag: string }
): error is ReplayDivergence | ResumeUnsafe | RateLimitUnavailable =>
  error._tag === "ReplayDivergence" || error._tag === "ResumeUnsafe" || error._tag === "RateLimitUnavailable"

/** Ends a run without an outcome (no `RunFailed`): the journal stays resumable. */
const isSuspension = (error: { readonly _tag: string }): boolean =>
  isPortAbort(error) || error._tag === "ApprovalRequired"

/** A step and its outcome as an item of a conversation handed over. */
const toolCallItem = (step: PlanStep, outcome: StepOutcome | undefined): ConversationItem => {
  const base = { _tag: "ToolCall" as const, id: step.id, tool: step.tool, args: outcome?.args ?? step.args }
  if (outcome === undefined) return { ...base, error: "not run" }
  switch (outcome._tag) {
    case "Succeeded":
      return outcome.result === undefined ? base : { ...base, result: outcome.result }
    case "Failed":
      return { ...base, error: `${outcome.error._tag}: ${outcome.error.message}` }
    case "Skipped":
      return { ...base, error: `not run: step "${outcome.blockedBy}" did not succeed` }
  }
}

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
  /** The agent's sub-agent tools and handoffs, if it has any. */
  readonly subAgents: SubAgents | undefined
  /** Child runs that ended this run too, by the step that started them (read when the step's tool fails). */
  childStops: Map<string, ChildStop> | undefined = undefined
  /** Steps of every plan so far (finished ones included): what is not finished is spoken for. */
  plannedSteps = 0
  /** What the child run of each step used, journaled with the step's outcome (see `StepSucceeded.childUsage`). */
  childUsages: Map<string, Usage> | undefined = undefined
  /** The conversation a handoff passes to its agent, for the handoff's step. */
  handedOver: { readonly stepId: string; readonly conversation: ReadonlyArray<ConversationItem> } | undefined = undefined
  /** What running child runs were granted of this run's budgets. */
  readonly granted = { steps: 0, tokens: 0, cost: 0 }

  constructor(setup: RunSetup<R>, planner: PlannerShape<R> | undefined) {
    super(setup)
    this.planner = planner
    this.tracing = setup.tracing
    this.subAgents = subAgentsOf(setup.agent as Agent<unknown, unknown>)
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
      at: this.startedAt,
      ...(options?.parent === undefined ? {} : { parentRunId: options.parent.runId, parentStepId: options.parent.stepId }),
      ...(options?.conversation === undefined ? {} : { conversation: options.conversation })
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
        this.plannedSteps += steps.length
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
      case "Handoff":
        return this.handOver(decision.agent, decision.input ?? this.input)
    }
  }

  // -- agents that call agents ------------------------------------------------

  /** A handoff: step `handoff-<turn>` runs the agent as a child run; its answer is this run's answer. */
  handOver(agent: string, input: string): Effect.Effect<string, RunError, R> {
    const tool = this.subAgents?.handoffs.get(agent)
    if (tool === undefined) {
      const known = [...(this.subAgents?.handoffs.keys() ?? [])]
      return Effect.fail(
        new PlanInvalid({
          reason: `no handoff to agent "${agent}": declare Agent.handoff(${agent}) among the tools of "${this.agent.name}"` +
            ` (handoffs: ${known.length === 0 ? "none" : known.join(", ")})`
        })
      )
    }
    const step: PlanStep = { id: `handoff-${this.turn}`, tool, args: { input } }
    const checked = validateStep(step, this.outcomes)
    if (checked instanceof PlanInvalid) return Effect.fail(checked)
    // The receiving agent gets the conversation so far, trimmed by the handoff's filter: a function of the
    // run's (journaled) record, so replay and resume hand over the same.
    const conversation = this.conversationSoFar()
    const filter = SubAgent.specOf(this.agent.registry.entries.get(tool)?.tool)?.inputFilter
    this.handedOver = { stepId: step.id, conversation: filter === undefined ? conversation : filter(conversation) }
    if (this.stepsUsed + 1 > this.budget.maxSteps) {
      return Effect.fail(new BudgetExceeded({ budget: "steps", limit: this.budget.maxSteps, used: this.stepsUsed + 1 }))
    }
    this.plannedSteps++
    return Effect.andThen(
      this.executeStep(step),
      Effect.suspend((): Effect.Effect<string, RunError, R> => {
        const outcome = this.outcomes.get(step.id)
        if (outcome?._tag === "Succeeded") {
          const answer = typeof outcome.result === "string" ? outcome.result : JSON.stringify(outcome.result) ?? ""
          return this.act({ _tag: "Answer", answer })
        }
        // Paused (the child waits for approval): the next turn ends the run as paused.
        if (this.paused !== undefined) return this.turns
        return Effect.fail(
          this.stepErrors?.get(step.id) ?? new PlannerFailed({ reason: `the handoff to "${agent}" did not answer` })
        )
      })
    )
  }

  /**
   * The conversation of this run so far: the one it was handed (if any), its input, and each turn's text
   * and tool calls with their outcomes.
   */
  conversationSoFar(): Array<ConversationItem> {
    const items: Array<ConversationItem> = [...(this.options?.conversation ?? [])]
    items.push({ _tag: "UserMessage", text: this.input })
    for (const decision of this.decisions) {
      if (decision._tag !== "RunSteps") continue
      if (decision.text !== undefined && decision.text !== "") items.push({ _tag: "AssistantMessage", text: decision.text })
      for (const step of decision.steps) items.push(toolCallItem(step, this.outcomes.get(step.id)))
    }
    return items
  }

  /** What the parent has left of each budget a child shares: the child's budget is capped by it. */
  childBudget(agent: Agent<unknown, unknown>): { readonly budget: Partial<Budget>; readonly inherited: ReadonlySet<string> } {
    const own = agent.budget
    const { budget } = this
    const capped: { -readonly [K in keyof Budget]?: Budget[K] } = {}
    const inherited = new Set<string>()
    // The steps of the parent's plans that have not finished (the child's own step among them) are spoken for,
    // and so is what running children were granted.
    const pending = this.plannedSteps - this.steps.length
    const steps = Math.max(0, budget.maxSteps - this.stepsUsed - pending - this.granted.steps)
    if (steps < own.maxSteps) {
      capped.maxSteps = steps
      inherited.add("steps")
    }
    if (budget.maxTokens !== undefined) {
      const tokens = Math.max(0, budget.maxTokens - this.inputTokens - this.outputTokens - this.granted.tokens)
      if (own.maxTokens === undefined || tokens < own.maxTokens) {
        capped.maxTokens = tokens
        inherited.add("tokens")
      }
    }
    if (budget.maxCost !== undefined) {
      const cost = Math.max(0, budget.maxCost - (this.cost ?? 0) - this.granted.cost)
      if (own.maxCost === undefined || cost < own.maxCost) {
        capped.maxCost = cost
        inherited.add("cost")
      }
    }
    // The wall time needs no cap: the child runs inside the parent, whose time limit interrupts both.
    return { budget: capped, inherited }
  }

  /** Adds (`sign` 1) or returns (-1) what a child was granted of this run's budgets. */
  grant(budget: Partial<Budget>, sign: 1 | -1): void {
    const granted = this.granted
    if (budget.maxSteps !== undefined) granted.steps += sign * budget.maxSteps
    if (budget.maxTokens !== undefined) granted.tokens += sign * budget.maxTokens
    if (budget.maxCost !== undefined) granted.cost += sign * budget.maxCost
  }

  /** The handle a sub-agent tool's handler gets for step `step` (see `SubAgent.ParentRun`). */
  parentOf(step: PlanStep): SubAgent.ParentRun {
    return {
      runId: this.runId,
      stepId: step.id,
      spawn: (agent, input, approval) => this.spawn(step, agent as Agent<unknown, unknown>, input, approval),
      answered: (usage) => this.childEnded(step, usage)
    }
  }

  /** Counts what the child run of `step` used, and keeps it for the step's outcome event. */
  childEnded(step: PlanStep, usage: Usage): void {
    this.addChildUsage(usage)
    ;(this.childUsages ??= new Map()).set(step.id, usage)
  }

  /** The `childUsage` of a sub-agent step's outcome event, taken once. */
  takeChildUsage(stepId: string): { readonly childUsage?: Usage } {
    const usage = this.childUsages?.get(stepId)
    if (usage === undefined) return {}
    this.childUsages!.delete(stepId)
    return { childUsage: usage }
  }

  /** Runs `agent` as the child run of `step`. */
  spawn(
    step: PlanStep,
    agent: Agent<unknown, unknown>,
    input: string,
    approval: SubAgent.ForwardedApproval | undefined
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Effect.Effect<SubAgent.ChildResult, unknown, any> {
    const runner = this.children
    if (runner === undefined) {
      return Effect.die(new Error(`graphent: this runtime does not run sub-agents (step "${step.id}")`))
    }
    const runId = SubAgent.childRunId(this.runId, step.id)
    const { budget, inherited } = this.childBudget(agent)
    // Granted up front: children running side by side never share what is left.
    this.grant(budget, 1)
    // The decision holds for the parent's call: the child takes it for the step it waits on, whatever its arguments.
    const forwarded = approval === undefined
      ? undefined
      : approval.reason === undefined
      ? { approved: approval.approved, by: approval.by }
      : { approved: approval.approved, by: approval.by, reason: approval.reason }
    const handedOver = this.handedOver?.stepId === step.id ? this.handedOver.conversation : undefined
    const options = {
      runId,
      threadId: this.threadId,
      budget,
      principal: this.principal,
      parent: { runId: this.runId, stepId: step.id },
      ...(handedOver === undefined ? {} : { conversation: handedOver })
    }
    const ended = (usage: Usage) => {
      this.grant(budget, -1)
      this.childEnded(step, usage)
    }
    return runner(agent, input, options, this.options?.replay, forwarded, ended).pipe(
      Effect.map((result): SubAgent.ChildResult => ({ runId, answer: result.answer, output: result.output })),
      Effect.catch((error) => {
        const stop = this.childStop(step, runId, error, inherited)
        if (stop === undefined) return Effect.fail(error)
        ;(this.childStops ??= new Map()).set(step.id, stop)
        return Effect.fail(stop)
      })
    )
  }

  /** Whether a child's error ends this run too (and as what), or only fails the step. */
  childStop(
    step: PlanStep,
    runId: string,
    error: RunError,
    inherited: ReadonlySet<string>
  ): ChildStop | undefined {
    switch (error._tag) {
      case "ApprovalRequired":
        // The tree pauses at this run's step: approving it approves what the child waits for.
        return new ApprovalRequired({
          stepId: step.id,
          tool: step.tool,
          capability: error.capability,
          principal: error.principal
        })
      case "ReplayDivergence":
        return error.inChildRun(runId)
      case "ResumeUnsafe":
      case "JournalError":
        return error
      case "BudgetExceeded":
        return inherited.has(error.budget) && error.parentRunId === undefined
          ? new BudgetExceeded({ budget: error.budget, limit: error.limit, used: error.used, runId, parentRunId: this.runId })
          : error.parentRunId === undefined
          ? undefined
          : error
      default:
        return undefined
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
    const subAgent = this.subAgents !== undefined && this.subAgents.tools.has(step.tool)
    const attempt = this.emitThen(
      subAgent
        ? { _tag: "StepStarted", runId, stepId: step.id, tool: step.tool, args, at, childRunId: SubAgent.childRunId(runId, step.id) }
        : { _tag: "StepStarted", runId, stepId: step.id, tool: step.tool, args, at },
      () =>
        Effect.flatMap(Effect.exit(execution), (exit) =>
          exit._tag === "Success"
            ? this.succeeded(step, args, at, exit.value)
            : this.failed(step, args, at, exit.cause))
    )
    const executed = this.ports.tools.execute(agent.registry, { stepId: step.id, tool: step.tool, args }, context, this.defaults)
    const call = subAgent
      ? Effect.provideService(executed, SubAgent.CurrentParent, this.parentOf(step))
      : executed
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
    const child = this.childUsages === undefined ? undefined : this.takeChildUsage(step.id)
    const event: RunEvent = result === undefined
      ? { _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, durationMs, at: end }
      : { _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, result, durationMs, at: end }
    return this.emit(child === undefined ? event : { ...event, ...child })
  }

  failed(
    step: PlanStep,
    args: unknown,
    at: number,
    cause: Cause.Cause<Tool.ToolError | ReplayDivergence | ResumeUnsafe | ApprovalRequired | RateLimitUnavailable>
  ): Effect.Effect<void, StepAbort> {
    const end = this.now()
    const stop = this.childStops?.get(step.id)
    if (stop !== undefined) {
      // A child run ended this run too: its step has no outcome (a resume runs the child on).
      this.childStops!.delete(step.id)
      return stop._tag === "ApprovalRequired" ? this.awaitApproval(step, stop, end) : Effect.fail(stop)
    }
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
    const child = this.childUsages === undefined ? undefined : this.takeChildUsage(step.id)
    return this.emit({
      _tag: "StepFailed",
      runId: this.runId,
      stepId: step.id,
      tool: step.tool,
      error: info,
      durationMs,
      at: end,
      ...child
    })
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
