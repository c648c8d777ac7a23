/**
 * Agents: a name, the tools it may use, how it plans, and its limits.
 *
 * An agent is plain data; {@link AgentRuntime} runs it. The type parameter `R`
 * is what its tools and planner need from the environment (for example
 * `Memory`).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SubAgent from "../internal/subAgent.js"
import * as Errors from "./Errors.js"
import type { Decision } from "./Decision.js"
import type { JournalError } from "./Journal.js"
import type { ReplayDivergence } from "./Replay.js"
import type { RateLimitUnavailable } from "./RateLimits.js"
import type { ConversationItem, ModelOutput, ModelRequest, ModelToolCall } from "./RunEvent.js"
import * as Tool from "./Tool.js"
import * as Tools from "./Tools.js"

/**
 * Limits that end a run with `BudgetExceeded`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Budget {
  /** Tool steps the run may execute (default 500). */
  readonly maxSteps: number
  /** Planner decisions the run may ask for (default 100). */
  readonly maxTurns: number
  /** Wall-clock limit for the whole run (default: none). */
  readonly maxWallTime: Duration.Input | undefined
  /** Input plus output tokens of all model calls (default: none). */
  readonly maxTokens: number | undefined
  /** Cost of all model calls, in the price table's currency (default: none). */
  readonly maxCost: number | undefined
}

/**
 * The limits of an agent that sets none: 500 steps, 100 turns, no time or cost limit.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultBudget: Budget = {
  maxSteps: 500,
  maxTurns: 100,
  maxWallTime: undefined,
  maxTokens: undefined,
  maxCost: undefined
}

/**
 * An agent definition. `R` is what its tools and planner need; `O` is the
 * type of its output: the answer text, or the value decoded from it with the
 * agent's `output` Schema.
 *
 * @since 0.1.0
 * @category models
 */
export interface Agent<R = never, O = string> {
  readonly name: string
  readonly description: string
  /** Instructions for model-driven planners (the system prompt). */
  readonly instructions: string | undefined
  readonly tools: ReadonlyArray<Tool.Any>
  /** The agent's own planner; when absent the `Planner` service is used. */
  readonly planner: PlannerShape<R> | undefined
  readonly budget: Budget
  /** How many independent steps may run at once (default 8). */
  readonly concurrency: number
  /** Time limit per tool attempt for tools that set none. */
  readonly stepTimeout: Duration.Input | undefined
  /** Retry policy for tools that set none. */
  readonly stepRetry: Schedule.Schedule<unknown, unknown> | undefined
  /** The compiled tools. */
  readonly registry: Tools.Registry
  /** Decodes the answer (JSON text) into the run's output; absent: the output is the answer. */
  readonly output: Schema.Codec<O, unknown> | undefined
  /** How often a planner may ask the model to repair an answer the output Schema rejects (default 2). */
  readonly outputRepairs: number
  /** Phantom: what the agent's tools and planner require. */
  readonly "~requirements"?: (_: never) => R
}

/**
 * Defines an agent.
 *
 * **Example** (An agent with one tool and a rule-based planner)
 *
 * ```ts
 * const agent = Agent.make({
 *   name: "echo",
 *   tools: [echo],
 *   planner: SequencePlanner.rules([
 *     { match: /.+/, steps: (input) => [{ id: "echo", tool: "echo", args: { text: input } }], answer: (r) => String(r.echo) }
 *   ])
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Tools extends ReadonlyArray<Tool.Any>, RP = never, O = string>(options: {
  readonly name: string
  readonly description?: string | undefined
  readonly instructions?: string | undefined
  readonly tools: Tools
  readonly planner?: PlannerShape<RP> | undefined
  readonly budget?: Partial<Budget> | undefined
  readonly concurrency?: number | undefined
  readonly stepTimeout?: Duration.Input | undefined
  readonly stepRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /** The Schema of the run's output: the answer must be JSON that decodes with it. */
  readonly output?: Schema.Codec<O, unknown> | undefined
  readonly outputRepairs?: number | undefined
}): Agent<Tool.Requirements<Tools> | RP, O> => {
  const concurrency = options.concurrency ?? 8
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`graphent: agent "${options.name}": concurrency must be a positive integer, got ${concurrency}`)
  }
  return {
    name: options.name,
    description: options.description ?? "",
    instructions: options.instructions,
    tools: options.tools,
    planner: options.planner,
    budget: { ...defaultBudget, ...options.budget },
    concurrency,
    stepTimeout: options.stepTimeout,
    stepRetry: options.stepRetry,
    registry: Tools.compile(options.tools),
    output: options.output,
    outputRepairs: options.outputRepairs ?? 2
  }
}

/**
 * Whether `u` is an agent made by `Agent.make` (checked by shape, e.g. for a loaded module's export).
 *
 * @since 0.1.0
 * @category guards
 */
export const isAgent = (u: unknown): u is Agent<unknown, unknown> =>
  typeof u === "object" && u !== null && typeof (u as Agent<unknown, unknown>).name === "string" &&
  Array.isArray((u as Agent<unknown, unknown>).tools) && typeof (u as Agent<unknown, unknown>).registry === "object"

/**
 * Decodes an answer with the agent's output Schema: the answer must be JSON
 * (a fenced code block around it is accepted). Without an output Schema the
 * output is the answer itself.
 *
 * @since 0.1.0
 * @category output
 */
export const decodeOutput = <O>(
  agent: Agent<unknown, O>,
  answer: string
): { readonly _tag: "Success"; readonly value: O } | { readonly _tag: "Failure"; readonly issue: string } => {
  if (agent.output === undefined) return { _tag: "Success", value: answer as O }
  const fenced = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/.exec(answer)
  let json: unknown
  try {
    json = JSON.parse(fenced === null ? answer : fenced[1]!)
  } catch (error) {
    return { _tag: "Failure", issue: `the answer is not JSON (${(error as Error).message})` }
  }
  const decoded = Schema.decodeUnknownExit(agent.output)(json)
  if (decoded._tag === "Success") return { _tag: "Success", value: decoded.value }
  const failure = decoded.cause.reasons.find((reason) => reason._tag === "Fail")
  return { _tag: "Failure", issue: failure === undefined ? "the output schema rejected it" : String(failure.error) }
}

// ---------------------------------------------------------------------------
// agents that call agents
// ---------------------------------------------------------------------------

/** The parameters of a sub-agent tool that declares none: the child's input text. */
const InputText = Schema.Struct({
  input: Schema.String.annotate({ description: "What to ask the agent: its whole input" })
})

/** A retry policy that never retries: a child run resumes from its journal rather than starting over. */
const noRetry: Schedule.Schedule<unknown, unknown> = Schedule.recurs(0)

/** The child's input from the tool's (decoded) parameters. */
const inputOf = (params: unknown, encode: ((value: unknown) => unknown) | undefined): string => {
  if (encode === undefined) return (params as { readonly input: string }).input
  const encoded = encode(params)
  return typeof encoded === "string" ? encoded : JSON.stringify(encoded) ?? ""
}

/** Options of {@link asTool}. */
export interface AsToolOptions<I, O> {
  /** The tool's name (default: the agent's name). */
  readonly name?: string | undefined
  /** What the parent (its model) is told the tool does (default: the agent's description). */
  readonly description?: string | undefined
  /**
   * The tool's parameters (default `{ input: string }`, the child's input).
   * With a Schema, the child's input is the parameters encoded as JSON text
   * (a string stays as it is).
   */
  readonly input?: Schema.Codec<I, unknown> | undefined
  /**
   * The tool's result: the child's output (default: the agent's output
   * Schema, or its answer text when it has none).
   */
  readonly output?: Schema.Codec<O, unknown> | undefined
}

const subAgentTool = <R, O, I>(
  agent: Agent<R, O>,
  name: string,
  description: string,
  handoff: boolean,
  options: AsToolOptions<I, O> | undefined,
  inputFilter?: HandoffOptions["inputFilter"]
): Tool.Tool<string, Schema.Codec<I, unknown>, Schema.Codec<O, unknown>, unknown, R> => {
  const parameters = (options?.input ?? InputText) as Schema.Codec<I, unknown>
  const encode = options?.input === undefined
    ? undefined
    : Schema.encodeUnknownSync(options.input as Schema.Codec<I, unknown>)
  const success = (options?.output ?? agent.output ?? Schema.String) as Schema.Codec<O, unknown>
  const tool = Tool.make(name, {
    description,
    parameters,
    success,
    // A child run is resumed from its own journal: running the tool again repeats none of its effects.
    idempotent: true,
    retry: noRetry,
    handler: (params, context) =>
      Effect.flatMap(Effect.service(SubAgent.CurrentParent), (parent) =>
        parent === undefined
          ? Effect.die(new Error(`graphent: the sub-agent tool "${name}" runs only as a step of a run`))
          : Effect.map(
            parent.spawn(agent, inputOf(params, encode), context.approval),
            (result) => result.output as O
          )) as Effect.Effect<O, unknown, R>
  })
  return SubAgent.mark(tool, inputFilter === undefined ? { agent, handoff } : { agent, handoff, inputFilter })
}

/**
 * A sub-agent as a tool of its parent. Each call runs `agent` as a **child
 * run** of the calling step: its own run id (`<parentRunId>/<stepId>`), its
 * own section of the journal (its `RunStarted` names the parent run and step),
 * the parent's principal and policy, and the budget the parent has left (a
 * child never spends more; running out ends the parent with a
 * `BudgetExceeded` naming both runs). A child that waits for approval pauses
 * the whole tree (approve the parent's step to continue it); replay re-runs
 * the child against its recording, resume continues it where it stopped.
 *
 * **Example** (A coordinator that delegates to a searcher)
 *
 * ```ts
 * const coordinator = Agent.make({
 *   name: "coordinator",
 *   tools: [Agent.asTool(searcher, { description: "Finds sources on a topic" })],
 *   planner: SequencePlanner.plan({ steps: [{ id: "search", tool: "searcher", args: { input: "effect" } }] })
 * })
 * ```
 *
 * @since 0.3.0
 * @category sub-agents
 */
export const asTool = <R, O, I = { readonly input: string }>(
  agent: Agent<R, O>,
  options?: AsToolOptions<I, O>
): Tool.Tool<string, Schema.Codec<I, unknown>, Schema.Codec<O, unknown>, unknown, R> =>
  subAgentTool(agent, options?.name ?? agent.name, options?.description ?? agent.description, false, options)

/**
 * Options of {@link handoff}.
 *
 * @since 0.3.0
 * @category sub-agents
 */
export interface HandoffOptions {
  /** What the parent (its model) is told the handoff does (default: from the agent's description). */
  readonly description?: string | undefined
  /**
   * Trims the conversation handed over (default: all of it): e.g.
   * {@link removeToolCalls}, or keep the last items only. A pure function of
   * the items: replay and resume hand over the same.
   */
  readonly inputFilter?: ((conversation: ReadonlyArray<ConversationItem>) => ReadonlyArray<ConversationItem>) | undefined
}

/**
 * A handoff's `inputFilter` that keeps the messages and drops the tool calls
 * (the OpenAI Agents SDK's `remove_all_tools`).
 *
 * @since 0.3.0
 * @category sub-agents
 */
export const removeToolCalls = (conversation: ReadonlyArray<ConversationItem>): ReadonlyArray<ConversationItem> =>
  conversation.filter((item) => item._tag !== "ToolCall")

/**
 * The tool that hands a run over to `agent` (`transfer_to_<name>`): declare
 * it among the parent's tools. A planner hands over with a `Handoff`
 * decision (`Planner.handoff("writer")`); the LLM planner offers it to the
 * model as a tool, and a call of it becomes that decision. The agent then runs
 * as a child run and its answer is the parent's answer.
 *
 * The agent gets the **conversation so far**: the parent's input, its
 * model's messages, and its tool calls with their results
 * (`RunState.conversation`, journaled in the child's `RunStarted`; the LLM
 * planner puts it in the prompt before the input). `inputFilter` trims it.
 *
 * **Example** (Hand over without the tool calls)
 *
 * ```ts
 * const desk = Agent.make({
 *   name: "desk",
 *   tools: [Agent.handoff(writer, { inputFilter: Agent.removeToolCalls })],
 *   planner: LlmPlanner.make()
 * })
 * ```
 *
 * @since 0.3.0
 * @category sub-agents
 */
export const handoff = <R, O>(
  agent: Agent<R, O>,
  options?: HandoffOptions
): Tool.Tool<string, Schema.Codec<{ readonly input: string }, unknown>, Schema.Codec<O, unknown>, unknown, R> =>
  subAgentTool(
    agent,
    SubAgent.handoffToolName(agent.name),
    options?.description ?? `Hands the conversation over to the agent "${agent.name}"` +
      (agent.description === "" ? "" : `: ${agent.description}`),
    true,
    undefined,
    options?.inputFilter
  )

/**
 * The agent a tool runs, when it is a sub-agent tool ({@link asTool}) or a
 * handoff ({@link handoff}).
 *
 * @since 0.3.0
 * @category sub-agents
 */
export const subAgentOf = (tool: Tool.Any): { readonly agent: Agent<unknown, unknown>; readonly handoff: boolean } | undefined =>
  SubAgent.specOf(tool) as { readonly agent: Agent<unknown, unknown>; readonly handoff: boolean } | undefined

// ---------------------------------------------------------------------------
// the planner and the run state it sees (re-exported by `Planner`)
// ---------------------------------------------------------------------------

/**
 * What happened to one step.
 *
 * @since 0.1.0
 * @category models
 */
export type StepOutcome =
  | {
    readonly _tag: "Succeeded"
    readonly id: string
    readonly tool: string
    readonly args: unknown
    /** The decoded (typed) output of the tool. */
    readonly value: unknown
    /** The output encoded with the tool's success Schema (JSON), as journaled. */
    readonly result: unknown
    readonly durationMs: number
  }
  | {
    readonly _tag: "Failed"
    readonly id: string
    readonly tool: string
    readonly args: unknown
    /** The error as journaled; `data` holds its fields where its class can rebuild it. */
    readonly error: { readonly _tag: string; readonly message: string; readonly data?: unknown }
    readonly durationMs: number
  }
  | {
    readonly _tag: "Skipped"
    readonly id: string
    readonly tool: string
    readonly args: unknown
    /** The dependency that did not succeed. */
    readonly blockedBy: string
  }

/**
 * What ends a run from inside a planner's journaled work: a budget, the
 * journal failing, or replay finding a difference.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunAbort = BudgetExceeded | JournalError | ReplayDivergence | RateLimitUnavailable

/**
 * What a planner's compaction of its conversation did (see the
 * `ContextCompacted` event): journaled, so that replay and resume apply the
 * same compaction without computing it again.
 *
 * @since 0.2.0
 * @category models
 */
export interface Compaction {
  readonly policy: string
  readonly removed: number
  readonly summary?: string
  readonly tokensBefore: number
  readonly tokensAfter: number
  readonly limit: number
  /** The model that wrote the summary, and its tokens (counted in the run's usage and budgets). */
  readonly model?: string
  readonly usage?: {
    readonly inputTokens: number
    readonly outputTokens: number
    readonly cachedInputTokens?: number
    readonly cacheWriteInputTokens?: number
  }
  /** Whether it compacted the thread's earlier messages rather than the run's turns. */
  readonly history?: boolean
}

/**
 * The run's services for planners that talk to the world: model calls and
 * values read from outside are journaled through it, so that replay answers
 * them from the recording and resume does not repeat them.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunContext {
  /** Whether the run is streamed: a planner then streams its model calls and reports deltas. */
  readonly streaming: boolean
  /**
   * Makes a model call through the run: `live` runs unless the recording
   * (replay, resume) has the call; the call is journaled as a `ModelCalled`
   * event with its tokens and cost, and counted against the token and cost
   * budgets.
   */
  readonly callModel: <E, R>(
    model: string,
    request: ModelRequest,
    live: Effect.Effect<ModelOutput, E, R>
  ) => Effect.Effect<ModelOutput, E | RunAbort, R>
  /**
   * Runs `effect` once per run: its (JSON) value is journaled under `key`
   * (unique within the turn), and replay and resume return the recorded value
   * without running it again.
   */
  readonly journaled: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | RunAbort, R>
  /**
   * Journals a compaction of the planner's conversation before the run's next
   * model call as a `ContextCompacted` event: `live` runs unless the recording
   * (replay, resume) has that compaction, whose record is then returned.
   * Optional: a context without it (e.g. a unit test's) runs `live`.
   */
  readonly compacted?: <E, R>(live: Effect.Effect<Compaction, E, R>) => Effect.Effect<Compaction, E | RunAbort, R>
  /**
   * The text that replaces the last message of the prompt of the run's next model call (the user's message or
   * the tool results it answers), when a fork edits that message (`Replay.editMessage`); else `undefined`.
   * Optional: a planner that keeps no conversation ignores it.
   */
  readonly messageEdit?: () => string | undefined
  /** Streams a piece of model text to the run's consumer. */
  readonly textDelta: (text: string) => void
  /** Streams a whole tool call to the run's consumer, before the turn's decision. */
  readonly toolCallDelta: (toolCall: ModelToolCall) => void
}

/**
 * The state of a run, as a planner sees it.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunState {
  readonly runId: string
  readonly agent: Agent<unknown, unknown>
  readonly input: string
  readonly threadId: string | undefined
  /** 1 for the first decision of the run. */
  readonly turn: number
  /** Every step finished so far, in the order they finished. */
  readonly steps: ReadonlyArray<StepOutcome>
  /** Outcomes by step id. */
  readonly outcomes: ReadonlyMap<string, StepOutcome>
  /** The decisions of the earlier turns, in order. */
  readonly decisions: ReadonlyArray<Decision>
  readonly context: RunContext
  /** The conversation handed over with the run, before its input (a handoff's; see {@link handoff}). */
  readonly conversation?: ReadonlyArray<ConversationItem> | undefined
}

// ---------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------

/**
 * The planner could not decide (its model call failed, its rules match nothing...).
 *
 * What to do: read the `cause`: a model call that failed after its retries (see the provider's error), rules
 * that match nothing (add a rule or a `fallback`), or a remote planner that is down.
 *
 * @since 0.1.0
 * @category errors
 */
export class PlannerFailed extends Schema.TaggedError<PlannerFailed>()("PlannerFailed", {
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `planner failed: ${this.reason}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * The planner returned a plan that cannot run: duplicate or reused step ids,
 * references to unknown steps, or a dependency cycle.
 *
 * What to do: fix the planner (a `SequencePlanner` rule or a `Planner` of your own): step ids must be unique
 * within a run and `dependsOn` must name earlier steps of the same decision, without cycles.
 *
 * @since 0.1.0
 * @category errors
 */
export class PlanInvalid extends Schema.TaggedError<PlanInvalid>()("PlanInvalid", {
  reason: Schema.String,
  stepId: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    return this.stepId === undefined ? `invalid plan: ${this.reason}` : `invalid plan at step "${this.stepId}": ${this.reason}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The planner interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface PlannerShape<R = never> {
  readonly decide: (state: RunState) => Effect.Effect<Decision, PlannerFailed | RunAbort, R>
}

/** The `Budget` field that sets each budget: what a `BudgetExceeded` tells the user to raise. */
const budgetFields = {
  steps: "maxSteps",
  turns: "maxTurns",
  wallTime: "maxWallTime",
  tokens: "maxTokens",
  cost: "maxCost"
} as const

/**
 * A budget ran out.
 *
 * What to do: raise the field the message names in the agent's `budget` (`maxSteps`, `maxTurns`,
 * `maxWallTime`, `maxTokens`, `maxCost`; or per run, the `budget` option of `AgentRuntime.run`), or find why
 * the run loops with `graphent trace show`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>()("BudgetExceeded", {
  budget: Schema.Literals(["steps", "turns", "wallTime", "tokens", "cost"]),
  limit: Schema.Number,
  /** What the run used, or would have used had it continued. */
  used: Schema.Number,
  /** A child run that ran out of what its parent had left: the child's id. */
  runId: Schema.optionalKey(Schema.String),
  /** A child run that ran out of what its parent had left: the parent's id (whose budget it was). */
  parentRunId: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const unit = this.budget === "wallTime" ? " ms" : ""
    if (this.runId !== undefined && this.parentRunId !== undefined) {
      return `budget exceeded: child run ${this.runId} needed ${this.used}${unit} ${this.budget}, but its parent run ` +
        `${this.parentRunId} had only ${this.limit}${unit} left; raise budget.${budgetFields[this.budget]} of the parent`
    }
    return `budget exceeded: ${this.budget} limit is ${this.limit}${unit}, the run needed ${this.used}${unit}; ` +
      `raise budget.${budgetFields[this.budget]} in Agent.make or in the run's options`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}
