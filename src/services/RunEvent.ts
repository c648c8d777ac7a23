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
import { Decision } from "./Decision.js"
import { Principal } from "./Policy.js"

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
  steps: Schema.Number,
  /** Model calls (present once the run made one). */
  modelCalls: Schema.optionalKey(Schema.Number),
  /** Input (prompt) tokens of every model call. */
  inputTokens: Schema.optionalKey(Schema.Number),
  /** Output tokens of every model call. */
  outputTokens: Schema.optionalKey(Schema.Number),
  /** Of the input tokens, those the providers read from their prompt cache (present once one did). */
  cachedInputTokens: Schema.optionalKey(Schema.Number),
  /** Of the input tokens, those the providers wrote to their prompt cache (present once one did). */
  cacheWriteInputTokens: Schema.optionalKey(Schema.Number),
  /** The cost of the model calls, from the price table; absent when no model of the run has a price. */
  cost: Schema.optionalKey(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * The edit a fork applied at its fork point (see `Replay.fork`): the result
 * of the step the fork starts at, the run's input, the text of the message a
 * model call answers (`EditMessage`), or the model's reply itself (`SetReply`).
 *
 * @since 0.2.0
 * @category models
 */
export const ForkEdit = Schema.Union([
  Schema.TaggedStruct("SetResult", {
    stepId: Schema.String,
    /** The step's result, as its tool's success Schema encodes it. */
    result: Schema.Unknown
  }),
  Schema.TaggedStruct("SetInput", { input: Schema.String }),
  Schema.TaggedStruct("EditMessage", {
    /**
     * The model call whose prompt is edited (1 is the run's first model call): the last message
     * of its prompt (the user's message, or the tool results it answers) says `text` instead.
     */
    call: Schema.Number,
    text: Schema.String
  }),
  Schema.TaggedStruct("SetReply", {
    /** The model call whose reply is replaced, with no tool calls (1 is the run's first model call). */
    call: Schema.Number,
    text: Schema.String
  })
])

/**
 * @since 0.2.0
 * @category models
 */
export type ForkEdit = typeof ForkEdit.Type

/**
 * Where a forked run comes from: its parent run, the fork point (`step:<id>`
 * or `turn:<n>`), and the edit applied there, if any.
 *
 * @since 0.2.0
 * @category models
 */
export const ForkedFrom = Schema.Struct({
  runId: Schema.String,
  at: Schema.String,
  edit: Schema.optionalKey(ForkEdit)
})

/**
 * @since 0.2.0
 * @category models
 */
export type ForkedFrom = typeof ForkedFrom.Type

/**
 * One item of the conversation a run hands over (see `Agent.handoff`): a
 * user's or the assistant's message, or a tool call with its outcome (the
 * result as its tool's success Schema encodes it, or the error).
 *
 * @since 0.3.0
 * @category models
 */
export const ConversationItem = Schema.Union([
  Schema.TaggedStruct("UserMessage", { text: Schema.String }),
  Schema.TaggedStruct("AssistantMessage", { text: Schema.String }),
  Schema.TaggedStruct("ToolCall", {
    id: Schema.String,
    tool: Schema.String,
    args: Schema.Unknown,
    result: Schema.optionalKey(Schema.Unknown),
    /** Set when the call failed or did not run: what the model would be told. */
    error: Schema.optionalKey(Schema.String)
  })
])

/**
 * @since 0.3.0
 * @category models
 */
export type ConversationItem = typeof ConversationItem.Type

/**
 * The first event of a run: the agent, its input, and who it runs for.
 *
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
  /** Who the run acts for (see `Policy`); a resumed run acts for the same principal. */
  principal: Schema.optionalKey(Principal),
  /** A forked run (`graphent fork`, `Replay.fork`): the run it was forked from, where, and with what edit. */
  forkedFrom: Schema.optionalKey(ForkedFrom),
  at: Schema.Number,
  /** A child run (a sub-agent called as a tool, or a handoff): the run that started it. */
  parentRunId: Schema.optionalKey(Schema.String),
  /** A child run: the step of the parent run that started it (`handoff-<turn>` for a handoff). */
  parentStepId: Schema.optionalKey(Schema.String),
  /** The conversation handed over with the run (a handoff's, see `Agent.handoff`), before its input. */
  conversation: Schema.optionalKey(Schema.Array(ConversationItem))
})

/**
 * The planner decided, at turn `turn`: steps to run, an answer, or a failure.
 *
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
 * A tool call started, with its resolved arguments (journaled before the tool runs).
 *
 * @since 0.1.0
 * @category events
 */
export const StepStarted = Schema.TaggedStruct("StepStarted", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  /** The arguments with references to earlier steps resolved. */
  args: Schema.Unknown,
  at: Schema.Number,
  /** A sub-agent's step (`Agent.asTool`, a handoff): the child run it starts, journaled under that id. */
  childRunId: Schema.optionalKey(Schema.String)
})

/**
 * A tool call succeeded, with its encoded result.
 *
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
  at: Schema.Number,
  /** A sub-agent's step: what its child run used, counted in this run's usage (a resume counts it again from here). */
  childUsage: Schema.optionalKey(Usage)
})

/**
 * A tool call failed, with its error.
 *
 * @since 0.1.0
 * @category events
 */
export const StepFailed = Schema.TaggedStruct("StepFailed", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  error: ErrorInfo,
  durationMs: Schema.Number,
  at: Schema.Number,
  /** A sub-agent's step: what its child run used, counted in this run's usage (a resume counts it again from here). */
  childUsage: Schema.optionalKey(Usage)
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
 * Tokens of one model call.
 *
 * @since 0.1.0
 * @category models
 */
export const TokenUsage = Schema.Struct({
  /** Every input (prompt) token, cached or not. */
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  /** Of `inputTokens`, those read from the provider's prompt cache (priced at the cached rate). */
  cachedInputTokens: Schema.optionalKey(Schema.Number),
  /**
   * Of `inputTokens`, those written to the provider's prompt cache (Anthropic's `cache_creation_input_tokens`;
   * priced at the cache-write rate).
   */
  cacheWriteInputTokens: Schema.optionalKey(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type TokenUsage = typeof TokenUsage.Type

/**
 * A tool call a model asked for.
 *
 * @since 0.1.0
 * @category models
 */
export const ModelToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  /** The arguments as the model sent them (not validated yet). */
  params: Schema.Unknown
})

/**
 * @since 0.1.0
 * @category models
 */
export type ModelToolCall = typeof ModelToolCall.Type

/**
 * What a model answered: its text and its tool calls.
 *
 * @since 0.1.0
 * @category models
 */
export const ModelOutput = Schema.Struct({
  text: Schema.String,
  toolCalls: Schema.Array(ModelToolCall),
  /** Why the model stopped: "stop", "tool-calls", "length", ... */
  finishReason: Schema.String,
  usage: TokenUsage,
  /**
   * The model that answered, when a model list (fallback) chose another than
   * the planner's first; the run journals it as `ModelCalled.model`, not here.
   */
  model: Schema.optionalKey(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ModelOutput = typeof ModelOutput.Type

/**
 * What was sent to a model: the prompt, as the messages after the `prefix`
 * ones it shares with the run's previous model call (the whole prompt on the
 * first call), and the names of the tools offered.
 *
 * @since 0.1.0
 * @category models
 */
export const ModelRequest = Schema.Struct({
  /** How many leading messages of the previous call's prompt this prompt repeats (not journaled again). */
  prefix: Schema.Number,
  /** The prompt's messages after those, as JSON (role, content, tool calls, tool results). */
  messages: Schema.Array(Schema.Unknown),
  tools: Schema.Array(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ModelRequest = typeof ModelRequest.Type

/**
 * A model call of a planner: the request, the response, its tokens and cost.
 * Replay answers the call from this event instead of calling the model.
 *
 * @since 0.1.0
 * @category events
 */
export const ModelCalled = Schema.TaggedStruct("ModelCalled", {
  runId: Schema.String,
  turn: Schema.Number,
  /** The n-th model call of the run, from 1. */
  call: Schema.Number,
  /** `provider:model`, e.g. `openai:gpt-4o-mini`. */
  model: Schema.String,
  request: ModelRequest,
  response: ModelOutput,
  cost: Schema.optionalKey(Schema.Number),
  durationMs: Schema.Number,
  at: Schema.Number
})

/**
 * The LLM planner compacted its conversation before model call `call`, so
 * that the prompt stays within the model's context window: the `removed`
 * oldest messages after the run's opening (instructions, thread history,
 * input) left the prompt, replaced by `summary` when there is one. Replay and
 * resume apply the recorded compaction instead of computing it again (no
 * model is asked for the summary). Older journals have none.
 *
 * @since 0.2.0
 * @category events
 */
export const ContextCompacted = Schema.TaggedStruct("ContextCompacted", {
  runId: Schema.String,
  turn: Schema.Number,
  /** The model call the compaction prepared (the run's next call). */
  call: Schema.Number,
  /** The policy that chose: `keep-last-n`, `summarize` or `custom`. */
  policy: Schema.String,
  /** How many conversation messages (after the opening and any earlier summary) left the prompt. */
  removed: Schema.Number,
  /** The summary that replaces them (with `summarize`, or a custom policy that gave one). */
  summary: Schema.optionalKey(Schema.String),
  /** The estimated prompt tokens before and after, and the limit they had to fit. */
  tokensBefore: Schema.Number,
  tokensAfter: Schema.Number,
  limit: Schema.Number,
  /** The model that wrote the summary, and its tokens and cost (counted in the run's usage and budgets). */
  model: Schema.optionalKey(Schema.String),
  usage: Schema.optionalKey(TokenUsage),
  cost: Schema.optionalKey(Schema.Number),
  /**
   * `true`: the compaction was of the thread's earlier messages (the opening's history, before the run's
   * first model call); `removed` counts those, and `summary` is the thread's summary, kept in its memory.
   */
  history: Schema.optionalKey(Schema.Boolean),
  at: Schema.Number
})

/**
 * A value a planner read from the world (e.g. a conversation's history from
 * Memory) or the fact that it did something to it, journaled so that replay
 * and resume get the same value without doing it again.
 *
 * @since 0.1.0
 * @category events
 */
export const ValueRecorded = Schema.TaggedStruct("ValueRecorded", {
  runId: Schema.String,
  turn: Schema.Number,
  key: Schema.String,
  value: Schema.optionalKey(Schema.Unknown),
  at: Schema.Number
})

/**
 * A piece of a model's text, as it streams. Only on `stream()`; the journal
 * keeps the whole response in {@link ModelCalled}.
 *
 * @since 0.1.0
 * @category events
 */
export const TextDelta = Schema.TaggedStruct("TextDelta", {
  runId: Schema.String,
  turn: Schema.Number,
  text: Schema.String,
  at: Schema.Number
})

/**
 * A tool call, as soon as the streaming model has sent it whole (before the
 * turn's decision). Only on `stream()`.
 *
 * @since 0.1.0
 * @category events
 */
export const ToolCallDelta = Schema.TaggedStruct("ToolCallDelta", {
  runId: Schema.String,
  turn: Schema.Number,
  toolCall: ModelToolCall,
  at: Schema.Number
})

/**
 * The run ended with an answer.
 *
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
 * The run ended with an error.
 *
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
  /** The process that continues the run (`pid`, `host`), as `RunStarted.metadata` names the one that started it; absent before 0.2. */
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  at: Schema.Number
})

/**
 * A step needs a human's approval (the policy said `approve`): the tool did
 * not run, and the run pauses after the steps running beside it; it ends
 * with `ApprovalRequired`, with no `RunFailed`, so its journal stays
 * resumable.
 *
 * @since 0.1.0
 * @category events
 */
export const ApprovalRequested = Schema.TaggedStruct("ApprovalRequested", {
  runId: Schema.String,
  stepId: Schema.String,
  tool: Schema.String,
  capability: Schema.String,
  principal: Schema.String,
  at: Schema.Number
})

/**
 * Someone approved or rejected a step that waited for approval; written to
 * the journal before the run is resumed, which then runs the step (or fails
 * it with `ToolDenied`).
 *
 * @since 0.1.0
 * @category events
 */
export const ApprovalDecided = Schema.TaggedStruct("ApprovalDecided", {
  runId: Schema.String,
  stepId: Schema.String,
  approved: Schema.Boolean,
  by: Schema.String,
  reason: Schema.optionalKey(Schema.String),
  /** The hash (`Audit.hashArgs`) of the arguments the decision is about: it holds for that call only. */
  argsHash: Schema.optionalKey(Schema.String),
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
  RunResumed,
  ModelCalled,
  ValueRecorded,
  TextDelta,
  ToolCallDelta,
  ApprovalRequested,
  ApprovalDecided,
  ContextCompacted
])

/**
 * @since 0.1.0
 * @category events
 */
export type RunEvent = typeof RunEvent.Type

/**
 * Whether the event is only streamed, never journaled (deltas of a streaming model).
 *
 * @since 0.1.0
 * @category guards
 */
export const isEphemeral = (event: RunEvent): boolean => event._tag === "TextDelta" || event._tag === "ToolCallDelta"

/**
 * Whether the event ends its run.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTerminal = (event: RunEvent): boolean =>
  event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunInterrupted"
