/**
 * The planner decides what an agent does next.
 *
 * Given the state of a run it returns a {@link Decision}: run some steps (one,
 * or many with dependencies — a DAG), answer, or fail. A ReAct-style LLM
 * planner returns one `RunSteps` per model turn (its tool calls, no
 * dependencies) and an `Answer` at the end; a fixed plan returns its whole DAG
 * at once. Decisions are Schema-defined so they can be journaled and sent over
 * the wire.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { Agent } from "./Agent.js"
import type { BudgetExceeded } from "./AgentRuntime.js"
import type { JournalError } from "./Journal.js"
import type { ReplayDivergence } from "./Replay.js"
import type { ModelOutput, ModelRequest, ModelToolCall } from "./RunEvent.js"

// ---------------------------------------------------------------------------
// decisions
// ---------------------------------------------------------------------------

/**
 * One step of a plan: call `tool` with `args`. `args` is JSON in which
 * {@link ref} markers stand for (a part of) an earlier step's output; a step
 * runs after every step it references or lists in `dependsOn`.
 *
 * @since 0.1.0
 * @category models
 */
export const PlanStep = Schema.Struct({
  id: Schema.String,
  tool: Schema.String,
  args: Schema.Unknown,
  dependsOn: Schema.optionalKey(Schema.Array(Schema.String))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface PlanStep extends Schema.Schema.Type<typeof PlanStep> {}

/**
 * Run these steps, then ask the planner again.
 *
 * @since 0.1.0
 * @category models
 */
export const RunSteps = Schema.TaggedStruct("RunSteps", {
  steps: Schema.Array(PlanStep),
  /** What a model said along with its tool calls (kept so the conversation can be rebuilt from the journal). */
  text: Schema.optionalKey(Schema.String)
})

/**
 * Finish the run with this answer.
 *
 * @since 0.1.0
 * @category models
 */
export const Answer = Schema.TaggedStruct("Answer", { answer: Schema.String })

/**
 * Give up. With `stepId`, the run fails with that step's own error.
 *
 * @since 0.1.0
 * @category models
 */
export const Fail = Schema.TaggedStruct("Fail", { reason: Schema.String, stepId: Schema.optionalKey(Schema.String) })

/**
 * What the planner wants next.
 *
 * @since 0.1.0
 * @category models
 */
export const Decision = Schema.Union([RunSteps, Answer, Fail])

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = typeof Decision.Type

/**
 * @since 0.1.0
 * @category constructors
 */
export const runSteps = (steps: ReadonlyArray<PlanStep>): Decision => ({ _tag: "RunSteps", steps })

/**
 * @since 0.1.0
 * @category constructors
 */
export const answer = (text: string): Decision => ({ _tag: "Answer", answer: text })

/**
 * @since 0.1.0
 * @category constructors
 */
export const fail = (reason: string, stepId?: string): Decision =>
  stepId === undefined ? { _tag: "Fail", reason } : { _tag: "Fail", reason, stepId }

// ---------------------------------------------------------------------------
// references between steps
// ---------------------------------------------------------------------------

/**
 * A reference to (a part of) an earlier step's output, used inside `args`.
 * Serialised as `{ "$ref": "stepId", "path": ["a", 0] }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ref {
  readonly $ref: string
  readonly path?: ReadonlyArray<string | number>
}

/**
 * Refers to the output of step `stepId`, or to a field inside it.
 *
 * **Example** (Passing one step's output to the next)
 *
 * ```ts
 * const steps = [
 *   { id: "fetch", tool: "http_get", args: { url: "https://example.com" } },
 *   { id: "count", tool: "word_count", args: { text: Planner.ref("fetch", "body") } }
 * ]
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const ref = (stepId: string, ...path: ReadonlyArray<string | number>): Ref =>
  path.length === 0 ? { $ref: stepId } : { $ref: stepId, path }

/**
 * @since 0.1.0
 * @category guards
 */
export const isRef = (u: unknown): u is Ref =>
  typeof u === "object" && u !== null && typeof (u as Record<string, unknown>).$ref === "string"

// ---------------------------------------------------------------------------
// run state
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
export type RunAbort = BudgetExceeded | JournalError | ReplayDivergence

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
}

// ---------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------

/**
 * The planner could not decide (its model call failed, its rules match nothing...).
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
}

/**
 * The planner returned a plan that cannot run: duplicate or reused step ids,
 * references to unknown steps, or a dependency cycle.
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

/**
 * The planner used for agents that do not bring their own (an LLM planner is
 * provided this way).
 *
 * @since 0.1.0
 * @category services
 */
export class Planner extends Context.Service<Planner, PlannerShape>()("graphent/Planner") {}

/**
 * A planner that replays a fixed list of decisions, one per turn; after the
 * last it fails. For tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const scripted = (decisions: ReadonlyArray<Decision>): PlannerShape => ({
  decide: (state) => {
    const next = decisions[state.turn - 1]
    return next === undefined
      ? Effect.fail(new PlannerFailed({ reason: `scripted planner has no decision for turn ${state.turn}` }))
      : Effect.succeed(next)
  }
})

/**
 * A test layer: the {@link Planner} answers from a fixed list of decisions.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (decisions: ReadonlyArray<Decision>): Layer.Layer<Planner> =>
  Layer.succeed(Planner, scripted(decisions))
