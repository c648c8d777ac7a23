/**
 * The agent runtime: runs an agent on an input until it answers, fails, runs
 * out of budget or is interrupted.
 *
 * `run` returns a {@link RunResult}; `stream` exposes the same run as a
 * `Stream` of {@link RunEvent}s. The default implementation runs on local
 * fibers (`src/layers/LocalRuntime.ts`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Errors from "./Errors.js"
import type { Agent, Budget, BudgetExceeded, PlanInvalid, PlannerFailed, StepOutcome } from "./Agent.js"
import type { JournalError } from "./Journal.js"
import type { ApprovalRequired, Principal } from "./Policy.js"
import type { RateLimitUnavailable } from "./RateLimits.js"
import type { ReplayDivergence, ResumeUnsafe } from "./Replay.js"
import type { PortProvider } from "./RunPorts.js"
import type { ConversationItem, RunEvent, Usage } from "./RunEvent.js"
import type { ToolError } from "./Tool.js"

/** @since 0.1.0 */
export { BudgetExceeded } from "./Agent.js"

/**
 * The agent declares an output Schema and the final answer does not decode
 * with it (after the planner's repair attempts).
 *
 * What to do: tighten the agent's instructions toward its output Schema, or relax the Schema; the answer that
 * did not decode is in the journal.
 *
 * @since 0.1.0
 * @category errors
 */
export class OutputInvalid extends Schema.TaggedError<OutputInvalid>()("OutputInvalid", {
  /** What is wrong, as the Schema reports it (or why the answer is not JSON). */
  issue: Schema.String,
  /** The start of the rejected answer. */
  answer: Schema.String
}) {
  override get message(): string {
    return `the answer does not match the agent's output schema: ${this.issue}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * Every way a run can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type RunError =
  | ToolError
  | BudgetExceeded
  | PlanInvalid
  | PlannerFailed
  | JournalError
  | ReplayDivergence
  | ResumeUnsafe
  | OutputInvalid
  | ApprovalRequired
  | RateLimitUnavailable

/**
 * Options of one run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Use this id instead of generating one. */
  readonly runId?: string | undefined
  /** The conversation thread, passed to tools and planners. */
  readonly threadId?: string | undefined
  /** Facts recorded in the `RunStarted` event. */
  readonly metadata?: Readonly<Record<string, string>> | undefined
  /** Overrides the agent's budget for this run. */
  readonly budget?: Partial<Budget> | undefined
  /**
   * Wraps the run's ports (see `RunPorts`): a `Replay` session answers from a
   * recording what it holds (replay, resume, update).
   */
  readonly replay?: PortProvider | undefined
  /**
   * Who the run acts for: the tool executor checks each call against the
   * `Policy` for this principal (see `ToolGuard`). Journaled in `RunStarted`;
   * a resumed run acts for the recorded principal.
   */
  readonly principal?: Principal | undefined
  /**
   * Set for a child run (a sub-agent tool, a handoff): the run and step that
   * started it, journaled in `RunStarted`. The runtime sets it; see `Agent.asTool`.
   */
  readonly parent?: { readonly runId: string; readonly stepId: string } | undefined
  /**
   * The conversation so far, before the run's input (a handoff passes the
   * parent's; see `Agent.handoff`). Journaled in `RunStarted`; planners read
   * it as `RunState.conversation` (the LLM planner puts it in the prompt).
   */
  readonly conversation?: ReadonlyArray<ConversationItem> | undefined
}

/**
 * The outcome of a successful run.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult<O = string> {
  readonly runId: string
  readonly traceId: string
  readonly agent: string
  readonly input: string
  readonly answer: string
  /** The answer decoded with the agent's output Schema; without one, the answer itself. */
  readonly output: O
  /** Every step, in the order they finished. */
  readonly steps: ReadonlyArray<StepOutcome>
  readonly usage: Usage
  /** The run's events, as journaled. */
  readonly events: ReadonlyArray<RunEvent>
  readonly startedAt: number
  readonly finishedAt: number
  readonly durationMs: number
}

/**
 * The runtime interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentRuntimeShape {
  readonly run: <R, O>(agent: Agent<R, O>, input: string, options?: RunOptions) => Effect.Effect<RunResult<O>, RunError, R>
  readonly stream: <R, O>(agent: Agent<R, O>, input: string, options?: RunOptions) => Stream.Stream<RunEvent, RunError, R>
}

/**
 * Runs agents: `run` to the end, or `stream` its events as they happen.
 *
 * **Example** (Running an agent on the local runtime)
 *
 * ```ts
 * const result = await Effect.runPromise(
 *   AgentRuntime.run(agent, "hello").pipe(Effect.provide(LocalRuntime.layerMemory))
 * )
 * // result.answer, result.steps, result.usage, result.events
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class AgentRuntime extends Context.Service<AgentRuntime, AgentRuntimeShape>()("graphent/AgentRuntime") {}

/**
 * Runs an agent with the {@link AgentRuntime} in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const run = <R, O>(
  agent: Agent<R, O>,
  input: string,
  options?: RunOptions
): Effect.Effect<RunResult<O>, RunError, R | AgentRuntime> =>
  AgentRuntime.use((runtime) => runtime.run(agent, input, options))

/**
 * Streams a run's events with the {@link AgentRuntime} in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = <R, O>(
  agent: Agent<R, O>,
  input: string,
  options?: RunOptions
): Stream.Stream<RunEvent, RunError, R | AgentRuntime> =>
  Stream.unwrap(AgentRuntime.useSync((runtime) => runtime.stream(agent, input, options)))

/**
 * Generates the ids a run needs. Replaced in tests and by replay.
 *
 * @since 0.1.0
 * @category services
 */
export const Ids = Context.Reference<{ readonly runId: () => string }>("graphent/Ids", {
  defaultValue: () => ({ runId: () => crypto.randomUUID() })
})
