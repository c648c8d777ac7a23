/**
 * Decisions: what a planner returns each turn — run some steps (one, or many
 * with dependencies: a DAG), answer, or fail. Schema-defined, so they can be
 * journaled and sent over the wire. Re-exported by `Planner`.
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"

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
 * Hand the run over to another agent for the rest of it (a handoff, as in the
 * OpenAI Agents SDK): the agent, declared among the run's tools with
 * `Agent.handoff`, runs as a child run on `input` (default: the run's own
 * input), and its answer is the run's answer. The child's run is journaled
 * under `<runId>/handoff-<turn>`, linked from this decision's turn.
 *
 * @since 0.3.0
 * @category models
 */
export const Handoff = Schema.TaggedStruct("Handoff", {
  agent: Schema.String,
  input: Schema.optionalKey(Schema.String)
})

/**
 * What the planner wants next.
 *
 * @since 0.1.0
 * @category models
 */
export const Decision = Schema.Union([RunSteps, Answer, Fail, Handoff])

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = typeof Decision.Type

/**
 * A decision to run `steps` (a plan, run as a DAG by their references and `dependsOn`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const runSteps = (steps: ReadonlyArray<PlanStep>): Decision => ({ _tag: "RunSteps", steps })

/**
 * A decision to end the run with `text` as its answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const answer = (text: string): Decision => ({ _tag: "Answer", answer: text })

/**
 * A decision to end the run as failed, for `reason` (naming the step that caused it, if any).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fail = (reason: string, stepId?: string): Decision =>
  stepId === undefined ? { _tag: "Fail", reason } : { _tag: "Fail", reason, stepId }

/**
 * A decision to hand the rest of the run over to `agent` (see {@link Handoff}),
 * with `input` as its input (default: the run's own input).
 *
 * @since 0.3.0
 * @category constructors
 */
export const handoff = (agent: string, input?: string): Decision =>
  input === undefined ? { _tag: "Handoff", agent } : { _tag: "Handoff", agent, input }

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
 * Whether `u` is a reference to an earlier step's result (`Planner.ref`).
 *
 * @since 0.1.0
 * @category guards
 */
export const isRef = (u: unknown): u is Ref =>
  typeof u === "object" && u !== null && typeof (u as Record<string, unknown>).$ref === "string"
