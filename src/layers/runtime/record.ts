/**
 * The record of a run in progress: its events, outcomes and usage, written
 * through the run's ports, and the run context planners use to make model
 * calls and read journaled values. The loop (`loop.ts`) extends it.
 */
import * as Effect from "effect/Effect"
import {
  type Agent,
  type Budget,
  BudgetExceeded,
  type PlanInvalid,
  type Compaction,
  type RunAbort,
  type RunContext,
  type RunState,
  type StepOutcome
} from "../../services/Agent.js"
import type { RunError, RunOptions, RunResult } from "../../services/AgentRuntime.js"
import type { Decision } from "../../services/Decision.js"
import type { JournalError } from "../../services/Journal.js"
import type { Principal } from "../../services/Policy.js"
import { cost as costOf, priceOf, type PriceTable } from "../../services/Pricing.js"
import { acquireModel, type RateLimitsShape, unlimited } from "../../services/RateLimits.js"
import type { ModelOutput, ModelRequest, ModelToolCall, RunEvent, TokenUsage, Usage } from "../../services/RunEvent.js"
import type { ContextCompactedEvent, ModelCalledEvent, PortProvider, RunPorts } from "../../services/RunPorts.js"
import type * as Tool from "../../services/Tool.js"
import type { CallDefaults } from "../../services/Tools.js"
import type { ForwardedApproval } from "../../internal/subAgent.js"
import type { Tracing } from "../../internal/telemetry.js"

/** What a run is set up with (read from its context once, not per step). */
export interface RunSetup<R> {
  readonly agent: Agent<R, unknown>
  readonly input: string
  readonly options: RunOptions | undefined
  readonly ports: RunPorts
  /** Sees every event the run publishes (a stream, run observers). */
  readonly onEvent: ((event: RunEvent) => void) | undefined
  readonly runId: string
  readonly traceId: string
  readonly prices: PriceTable
  /** The rate limits live model calls wait for (`model:<provider>`). */
  readonly limits: RateLimitsShape
  /** Whether decisions, steps and tool calls get spans (only when a tracer exports them), and with payloads. */
  readonly tracing: Tracing | undefined
  /** Whether the run is consumed as a stream (planners then stream model calls). */
  readonly streaming: boolean
  /** Runs the child runs of sub-agent tools and handoffs; absent: the runtime has none. */
  readonly children?: ChildRunner | undefined
}

/**
 * Runs a child run (a sub-agent tool's call, a handoff) in the parent's
 * runtime: `parentReplay` is the parent's session, if any, which answers for
 * the child's section of the recording; `onUsage` sees the child's usage when
 * it ends, whatever the way.
 */
export type ChildRunner = (
  agent: Agent<unknown, unknown>,
  input: string,
  options: RunOptions & { readonly runId: string },
  parentReplay: PortProvider | undefined,
  approval: ForwardedApproval | undefined,
  onUsage: (usage: Usage) => void
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
) => Effect.Effect<RunResult<unknown>, RunError | JournalError, any>

/** The run state the planner sees; `turn` is updated in place as the run goes on. */
interface LiveRunState extends RunState {
  turn: number
}

/** A model's output without the name of the model that answered (journaled in the event instead). */
const withoutModel = ({ model: _, ...output }: ModelOutput): ModelOutput => output

/** The continuation of an event that nothing follows. */
const continueWithVoid = () => Effect.void

/**
 * A run's record and its run context. The loop and its helpers are methods
 * of one object rather than closures allocated per run: a run is mostly
 * short, and with many of them alive at once the closures were a large part
 * of each.
 */
export class RunRecord<R> implements RunContext {
  readonly events: Array<RunEvent> = []
  readonly decisions: Array<Decision> = []
  readonly steps: Array<StepOutcome> = []
  readonly outcomes = new Map<string, StepOutcome>()
  /** The errors of failed steps, for a Fail decision that names one; made on the first failure. */
  stepErrors: Map<string, Tool.ToolError | PlanInvalid> | undefined = undefined
  readonly state: LiveRunState
  readonly agent: Agent<R, unknown>
  readonly input: string
  readonly ports: RunPorts
  readonly onEvent: ((event: RunEvent) => void) | undefined
  readonly runId: string
  readonly traceId: string
  readonly options: RunOptions | undefined
  readonly prices: PriceTable
  readonly limits: RateLimitsShape
  readonly streaming: boolean
  readonly children: ChildRunner | undefined
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
  /** Of the input tokens, those read from a prompt cache (reported once a call had some). */
  cachedInputTokens = 0
  /** Of the input tokens, those written to a prompt cache (reported once a call had some). */
  cacheWriteInputTokens = 0
  /** Undefined until a model call with a price. */
  cost: number | undefined = undefined
  /** Model calls of the run's child runs (counted in its usage, not in its own call numbers). */
  childModelCalls = 0
  /** The decoded output, once the run answered. */
  output: unknown = undefined

  constructor(setup: RunSetup<R>) {
    const { agent, options } = setup
    this.agent = agent
    this.options = options
    this.traceId = setup.traceId
    this.prices = setup.prices
    this.limits = setup.limits
    this.input = setup.input
    this.ports = setup.ports
    this.onEvent = setup.onEvent
    this.runId = setup.runId
    this.streaming = setup.streaming
    this.children = setup.children
    this.budget = options?.budget === undefined ? agent.budget : { ...agent.budget, ...options.budget }
    this.threadId = options?.threadId
    this.principal = options?.principal
    this.defaults = { timeout: agent.stepTimeout, retry: agent.stepRetry }
    this.startedAt = setup.ports.now()
    this.state = {
      runId: setup.runId,
      agent: agent as Agent<unknown>,
      input: setup.input,
      threadId: this.threadId,
      turn: 0,
      steps: this.steps,
      outcomes: this.outcomes,
      decisions: this.decisions,
      context: this,
      conversation: options?.conversation
    }
  }

  /** Adds what a child run used to this run's usage (its steps, tokens and cost count against this run's budget). */
  addChildUsage(usage: Usage): void {
    this.stepsUsed += usage.steps
    this.childModelCalls += usage.modelCalls ?? 0
    this.inputTokens += usage.inputTokens ?? 0
    this.outputTokens += usage.outputTokens ?? 0
    this.cachedInputTokens += usage.cachedInputTokens ?? 0
    this.cacheWriteInputTokens += usage.cacheWriteInputTokens ?? 0
    if (usage.cost !== undefined) this.cost = (this.cost ?? 0) + usage.cost
  }

  now(): number {
    return this.ports.now()
  }

  usage(): Usage {
    if (this.modelCalls === 0 && this.childModelCalls === 0) return { turns: this.turn, steps: this.stepsUsed }
    const usage = {
      turns: this.turn,
      steps: this.stepsUsed,
      modelCalls: this.modelCalls + this.childModelCalls,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      ...(this.cachedInputTokens > 0 ? { cachedInputTokens: this.cachedInputTokens } : {}),
      ...(this.cacheWriteInputTokens > 0 ? { cacheWriteInputTokens: this.cacheWriteInputTokens } : {})
    }
    return this.cost === undefined ? usage : { ...usage, cost: this.cost }
  }

  // -- events ---------------------------------------------------------------

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
    return Effect.flatMap(this.ports.journal(event), (journaled) => {
      this.publish(journaled ?? event)
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
    const timed = () => {
      const startedAt = this.now()
      return Effect.map(live, (output): ModelCalledEvent => {
        const at = this.now()
        // A model list (fallback) names the model that answered.
        const answeredBy = output.model ?? model
        const response = output.model === undefined ? output : withoutModel(output)
        const price = priceOf(this.prices, answeredBy)
        const cost = price === undefined ? undefined : costOf(price, response.usage)
        return {
          _tag: "ModelCalled",
          runId,
          turn,
          call,
          model: answeredBy,
          request,
          response,
          ...(cost === undefined ? {} : { cost }),
          durationMs: at - startedAt,
          at
        }
      })
    }
    // A live call waits for its rate-limit slots (none without limits); a recorded one does not.
    const made = this.limits === unlimited ? Effect.suspend(timed) : Effect.andThen(acquireModel(this.limits, model), timed)
    return Effect.flatMap(this.ports.model(call, request, made), (event) => this.modelCalled(event))
  }

  /** Journals a model call, counts its tokens and cost, and checks the budgets. */
  modelCalled(event: ModelCalledEvent): Effect.Effect<ModelOutput, JournalError | BudgetExceeded> {
    this.modelCalls = event.call
    this.countTokens(event.response.usage, event.cost)
    return this.emitThen(event, () => this.checkTokenBudgets(event.response))
  }

  /** Counts a model's tokens and cost in the run's usage. */
  countTokens(usage: TokenUsage, cost: number | undefined): void {
    this.inputTokens += usage.inputTokens
    this.outputTokens += usage.outputTokens
    if (usage.cachedInputTokens !== undefined) this.cachedInputTokens += usage.cachedInputTokens
    if (usage.cacheWriteInputTokens !== undefined) this.cacheWriteInputTokens += usage.cacheWriteInputTokens
    if (cost !== undefined) this.cost = (this.cost ?? 0) + cost
  }

  /** Fails when the tokens or the cost spent so far exceed the budget; else succeeds with `value`. */
  checkTokenBudgets<A>(value: A): Effect.Effect<A, BudgetExceeded> {
    const { maxCost, maxTokens } = this.budget
    const tokens = this.inputTokens + this.outputTokens
    if (maxTokens !== undefined && tokens > maxTokens) {
      return Effect.fail(new BudgetExceeded({ budget: "tokens", limit: maxTokens, used: tokens }))
    }
    if (maxCost !== undefined && this.cost !== undefined && this.cost > maxCost) {
      return Effect.fail(new BudgetExceeded({ budget: "cost", limit: maxCost, used: this.cost }))
    }
    return Effect.succeed(value)
  }

  compacted<E, R2>(live: Effect.Effect<Compaction, E, R2>): Effect.Effect<Compaction, E | RunAbort, R2> {
    const call = this.modelCalls + 1
    const { runId, turn } = this
    const made = Effect.map(live, (compaction): ContextCompactedEvent => {
      const price = compaction.model === undefined || compaction.usage === undefined
        ? undefined
        : priceOf(this.prices, compaction.model)
      const cost = price === undefined ? undefined : costOf(price, compaction.usage!)
      return {
        _tag: "ContextCompacted",
        runId,
        turn,
        call,
        ...compaction,
        ...(cost === undefined ? {} : { cost }),
        at: this.now()
      }
    })
    return Effect.flatMap(this.ports.compaction(call, made), (event) => {
      if (event.usage !== undefined) this.countTokens(event.usage, event.cost)
      const { _tag: _, at: _at, call: _call, cost: _cost, runId: _runId, turn: _turn, ...compaction } = event
      return this.emitThen(event, () => this.checkTokenBudgets(compaction))
    })
  }

  messageEdit(): string | undefined {
    return this.ports.messageEdit?.(this.modelCalls + 1)
  }

  journaled<A, E, R2>(key: string, effect: Effect.Effect<A, E, R2>): Effect.Effect<A, E | RunAbort, R2> {
    const { runId, turn } = this
    const read = Effect.map(effect, (value): Extract<RunEvent, { readonly _tag: "ValueRecorded" }> =>
      value === undefined
        ? { _tag: "ValueRecorded", runId, turn, key, at: this.now() }
        : { _tag: "ValueRecorded", runId, turn, key, value, at: this.now() })
    return Effect.flatMap(this.ports.value(turn, key, read), (event) =>
      this.emitThen(event, () => Effect.succeed(event.value as A)))
  }
}
