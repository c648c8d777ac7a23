/**
 * The events of a run.
 *
 * Every event is Schema-defined: the same values are streamed to live viewers,
 * appended to the journal, and decoded back from a journal file. Each carries
 * its `runId` and the clock reading `at` (epoch milliseconds) that the run used.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Decision } from "./Planner.js"

/**
 * A failure, as it is journaled: its tag and a readable message.
 *
 * @since 0.1.0
 * @category models
 */
export const ErrorInfo = Schema.Struct({
  _tag: Schema.String,
  message: Schema.String,
  /** The error's own fields, encoded, where its class can rebuild it (replay uses them). */
  data: Schema.optionalKey(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorInfo = typeof ErrorInfo.Type

/**
 * What a run consumed.
 *
 * @since 0.1.0
 * @category models
 */
export const Usage = Schema.Struct({
  /** Planner decisions. */
  turns: Schema.Number,
  /** Tool steps executed (succeeded or failed). */
  steps: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * @since 0.1.0
 * @category events
 */
export const RunStarted = Schema.TaggedStruct("RunStarted", {
  runId: Schema.String,
  traceId: Schema.String,
  agent: Schema.String,
  input: Schema.String,
  threadId: Schema.optionalKey(Schema.String),
  /** Free-form facts about the run, e.g. the agent's file for the CLI. */
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category events
 */
export const DecisionMade = Schema.TaggedStruct("DecisionMade", {
  runId: Schema.String,
  turn: Schema.Number,
  decision: Decision,
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category events
 */
export const StepStarted = Schema.TaggedStruct("StepStarted", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  /** The arguments with references to earlier steps resolved. */
  args: Schema.Unknown,
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category events
 */
export const StepSucceeded = Schema.TaggedStruct("StepSucceeded", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  /** The output, encoded with the tool's success Schema (absent when it encodes to `undefined`, e.g. `Schema.Void`). */
  result: Schema.optionalKey(Schema.Unknown),
  durationMs: Schema.Number,
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category events
 */
export const StepFailed = Schema.TaggedStruct("StepFailed", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  error: ErrorInfo,
  durationMs: Schema.Number,
  at: Schema.Number
})

/**
 * A step that did not run because a step it depends on did not succeed.
 *
 * @since 0.1.0
 * @category events
 */
export const StepSkipped = Schema.TaggedStruct("StepSkipped", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  blockedBy: Schema.String,
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category events
 */
export const RunCompleted = Schema.TaggedStruct("RunCompleted", {
  runId: Schema.String,
  answer: Schema.String,
  usage: Usage,
  durationMs: Schema.Number,
  at: Schema.Number
})

/**
 * @since 0.1.0
 * @category events
 */
export const RunFailed = Schema.TaggedStruct("RunFailed", {
  runId: Schema.String,
  error: ErrorInfo,
  usage: Usage,
  durationMs: Schema.Number,
  at: Schema.Number
})

/**
 * The run's fiber was interrupted (cancelled) before it finished.
 *
 * @since 0.1.0
 * @category events
 */
export const RunInterrupted = Schema.TaggedStruct("RunInterrupted", {
  runId: Schema.String,
  usage: Usage,
  durationMs: Schema.Number,
  at: Schema.Number
})

/**
 * The run was resumed from its journal (after a crash or an interruption);
 * the events before this one were recorded by the earlier process.
 *
 * @since 0.1.0
 * @category events
 */
export const RunResumed = Schema.TaggedStruct("RunResumed", {
  runId: Schema.String,
  at: Schema.Number
})

/**
 * Any event of a run.
 *
 * @since 0.1.0
 * @category events
 */
export const RunEvent = Schema.Union([
  RunStarted,
  DecisionMade,
  StepStarted,
  StepSucceeded,
  StepFailed,
  StepSkipped,
  RunCompleted,
  RunFailed,
  RunInterrupted,
  RunResumed
])

/**
 * @since 0.1.0
 * @category events
 */
export type RunEvent = typeof RunEvent.Type

/**
 * Whether the event ends its run.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTerminal = (event: RunEvent): boolean =>
  event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunInterrupted"
