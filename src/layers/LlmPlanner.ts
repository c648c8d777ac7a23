/**
 * A ReAct-style planner over Effect's `LanguageModel`.
 *
 * Each turn it sends the agent's instructions, the thread's earlier
 * conversation (from `Memory`, when the run has a thread), the input and
 * every tool call and result of the run so far to the model, with the
 * agent's tools, and turns the response into a decision: the tool calls to
 * run (several in one response run concurrently, through Graphent's own
 * executor, budgets and journal), or the answer.
 *
 * - The model's mistakes are fed back, not fatal: a call to an unknown tool or
 *   with arguments its Schema rejects comes back to the model as a failed
 *   tool result, and the model tries again (each attempt is a step of the
 *   budget). So does a tool's own failure when the tool is `recoverable`;
 *   any other failure ends the run with the tool's error.
 * - With an `output` Schema on the agent, the answer must be JSON that decodes
 *   with it; the model is told what is wrong and may repair its answer
 *   `agent.outputRepairs` times.
 * - On `stream()`, the model call streams: text deltas and tool calls reach the
 *   consumer as they arrive.
 * - Every model call goes through the run context: it is journaled with its
 *   request, response, tokens and cost, so replay needs no model and resume
 *   does not call it again.
 * - The conversation stays within the model's context window: before a call
 *   that would overflow it, older turns are summarized, dropped or compacted
 *   by a function ({@link ContextOptions}), and long tool results are cut in
 *   the prompt; each compaction is journaled (`ContextCompacted`) and replayed.
 *   So is the thread's history, once it outgrows half of what the instructions
 *   and the input leave: its summary is kept in the thread's memory, and the
 *   next run of the thread reads only the messages after it.
 *
 * The hot path stays lean: the services a run's model calls need are read
 * once per run, the conversation is extended by each turn's new messages
 * (never rebuilt), the toolkit is built once per agent, and tool calls are
 * resolved by the runtime rather than by `effect/ai`'s `Chat`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type * as AiError from "effect/ai/AiError"
import * as IdGenerator from "effect/ai/IdGenerator"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Model from "effect/ai/Model"
import * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as AiTelemetry from "effect/ai/Telemetry"
import * as AiTool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import { type Agent, type Compaction, decodeOutput, type RunAbort } from "../services/Agent.js"
import * as Memory from "../services/Memory.js"
import { ModelTransport, type ModelTransportShape } from "../services/ModelTransport.js"
import {
  type Decision,
  Planner,
  PlannerFailed,
  type PlannerShape,
  type PlanStep,
  type RunState,
  type StepOutcome
} from "../services/Planner.js"
import type { ConversationItem, ModelOutput, ModelToolCall, TokenUsage } from "../services/RunEvent.js"
import * as SubAgent from "../internal/subAgent.js"
import * as ThreadHistory from "../internal/threadHistory.js"
import { estimateTokens, removalToFit, removalWithSlack, tokensOf, truncateResult } from "../internal/compaction.js"
import * as Pricing from "../services/Pricing.js"
import { ContextWindows, contextWindowOf } from "../services/Pricing.js"

/**
 * How the planner names its model, instructs it, and what of the thread it remembers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The model's name in the journal and the price table, e.g.
   * `openai:gpt-4o-mini`. Default: from the provider layer (`effect/ai`'s
   * `Model.ProviderName` and `Model.ModelName`), else `"model"`.
   */
  readonly model?: string | undefined
  /** The system prompt when the agent has no `instructions`. */
  readonly instructions?: string | undefined
  /**
   * How many earlier messages of the run's thread to show the model (default 20; 0: none) when the model's
   * context window is unknown. With a known window (see {@link ContextOptions}), the thread's history goes
   * through the context policy instead, and only 0 (none) applies.
   */
  readonly history?: number | undefined
  /** Whether to append the input and the answer to the thread's history (default true). */
  readonly remember?: boolean | undefined
  /** How the conversation stays within the model's context window (see {@link ContextOptions}). */
  readonly context?: ContextOptions | undefined
}

/**
 * How the planner keeps its conversation within the model's context window.
 *
 * Before each model call the planner estimates the prompt's tokens (about 4
 * characters a token, on the safe side); when the prompt and `reserve` would
 * exceed `limit` it **compacts**: the oldest turns after the opening
 * (instructions, thread history, input) leave the prompt, summarized by the
 * model (`summarize`), dropped (`keep-last-n`) or as a custom function decides.
 * The thread's history in the opening is compacted the same way on the run's
 * first turn when it takes more than half of what the instructions and the
 * input leave of the window (the other half is the run's). Each compaction is
 * journaled (`ContextCompacted`); replay applies it from the journal, with no
 * model call.
 *
 * @since 0.2.0
 * @category models
 */
export interface ContextOptions {
  /**
   * The context window in tokens. Default: the `Pricing.ContextWindows` table
   * (`GRAPHENT_CONTEXT_WINDOWS`), then `Pricing.knownContextWindows`, by the
   * planner's model name; a model in neither is never compacted.
   */
  readonly limit?: number | undefined
  /** Tokens kept free for the answer (default: an eighth of the limit, at most 4096). */
  readonly reserve?: number | undefined
  /** How older turns leave the prompt (default `"summarize"`). */
  readonly policy?: "keep-last-n" | "summarize" | CustomCompaction | undefined
  /** With `keep-last-n`: how many of the latest turns (a tool call round each) to keep at most (default 4). */
  readonly keep?: number | undefined
  /**
   * Tool results whose JSON is longer (in characters) are cut in the prompt,
   * with a marker; the journal keeps them whole. Default: the limit's number
   * of tokens as characters (a quarter of the window); none when the window
   * is unknown.
   */
  readonly maxToolResult?: number | undefined
}

/**
 * What a custom compaction sees: the conversation's turns after its opening,
 * as JSON (each turn an assistant message with tool calls, then the tool
 * results) — or, for the thread's history, its messages (a turn: the user's
 * message and the answer) — the current summary, and the token figures.
 *
 * @since 0.2.0
 * @category models
 */
export interface CompactionInput {
  /** The messages after the opening and the current summary, oldest first (two per turn). */
  readonly messages: ReadonlyArray<unknown>
  /** The summary of earlier compactions, if any. */
  readonly summary: string | undefined
  /** The prompt's estimated tokens now, and the most it may have (the limit less the reserve). */
  readonly tokens: number
  readonly budget: number
}

/**
 * A custom compaction: how many of the oldest turns leave the prompt, and the
 * summary that replaces the current one (none: the current one stays). When
 * the prompt still does not fit, further oldest turns are dropped.
 *
 * @since 0.2.0
 * @category models
 */
export type CustomCompaction = (
  input: CompactionInput
) => Effect.Effect<{ readonly removeTurns: number; readonly summary?: string | undefined }, PlannerFailed>

// ---------------------------------------------------------------------------
// the conversation
// ---------------------------------------------------------------------------

/**
 * The messages of a run, in two forms kept side by side: `effect/ai` messages
 * for the model, and plain JSON for the journal (and for replay to compare).
 */
interface Conversation {
  messages: Array<Prompt.Message>
  json: Array<unknown>
  /** Estimated tokens of each message, when the planner knows its model's window (else empty). */
  sizes: Array<number>
  /** Their sum. */
  tokens: number
  /** How many leading messages a compaction never removes: instructions, history, input (and the summary). */
  opening: number
  /** The summary of the turns compacted so far (the message at `opening - 1`), if any. */
  summary: string | undefined
  /** How many of the run's decisions are folded in. */
  decisions: number
  /** The JSON prompt of the run's last model call: an append-only array and how much of it was sent. */
  sent: { readonly json: ReadonlyArray<unknown>; readonly length: number } | undefined
}

/**
 * What a model call journals of its prompt: the messages after the ones it
 * shares with the previous call of the run (`prefix` of them). A
 * conversation re-sent every turn is then journaled once, not once per turn.
 * The arrays only grow, so a shared message is the same object at the same
 * index; only after a repair exchange (another array) are they compared.
 */
const promptDelta = (conversation: Conversation, json: ReadonlyArray<unknown>, length: number) => {
  const sent = conversation.sent
  let prefix = 0
  if (sent !== undefined) {
    const shared = Math.min(sent.length, length)
    if (sent.json === json) prefix = shared
    else while (prefix < shared && sent.json[prefix] === json[prefix]) prefix++
  }
  conversation.sent = { json, length }
  return { prefix, messages: json.slice(prefix, length) }
}


/** Appends a message in both forms, measured when the conversation is. */
const push = (conversation: Conversation, message: Prompt.Message, json: unknown, measure: boolean) => {
  conversation.messages.push(message)
  conversation.json.push(json)
  if (measure) {
    const size = estimateTokens(json)
    conversation.sizes.push(size)
    conversation.tokens += size
  }
}

const textMessage = (role: "system" | "user" | "assistant", text: string) =>
  role === "system"
    ? Prompt.makeMessage("system", { content: text })
    : Prompt.makeMessage(role, { content: [Prompt.makePart("text", { text })] })

const addText = (conversation: Conversation, role: "system" | "user" | "assistant", text: string, measure = false) =>
  push(conversation, textMessage(role, text), { role, content: text }, measure)

const newConversation = (): Conversation => ({
  messages: [],
  json: [],
  sizes: [],
  tokens: 0,
  opening: 0,
  summary: undefined,
  decisions: 0,
  sent: undefined
})

/**
 * Replaces the conversation's last message with `text` (a fork's `EditMessage`): a user message says it; of
 * a tool message, the last result is `text` (the calls and the other results stay, so the prompt stays
 * well formed for providers that pair each call with its result). The message was added after the last call,
 * so no prompt sent before holds it.
 */
const editLast = (conversation: Conversation, text: string, measure: boolean) => {
  const last = conversation.messages.length - 1
  const message = conversation.messages[last]
  if (message === undefined) return
  let json: unknown = { role: "user", content: text }
  let edited: Prompt.Message = textMessage("user", text)
  const part = message.role === "tool" ? message.content[message.content.length - 1] : undefined
  if (message.role === "tool" && part?.type === "tool-result") {
    const parts = message.content.slice()
    parts[parts.length - 1] = Prompt.makePart("tool-result", {
      id: part.id,
      name: part.name,
      isFailure: false,
      result: text,
      providerExecuted: false
    })
    edited = Prompt.makeMessage("tool", { content: parts })
    const results = (conversation.json[last] as { readonly results: ReadonlyArray<unknown> }).results.slice()
    results[results.length - 1] = { id: part.id, name: part.name, isFailure: false, result: text }
    json = { role: "tool", results }
  } else if (message.role === "system") {
    edited = textMessage("system", text)
    json = { role: "system", content: text }
  }
  conversation.messages[last] = edited
  conversation.json[last] = json
  if (measure) {
    const size = estimateTokens(json)
    conversation.tokens += size - conversation.sizes[last]!
    conversation.sizes[last] = size
  }
}

/** A failed tool call, as the model sees it. */
const failureText = (outcome: Extract<StepOutcome, { readonly _tag: "Failed" | "Skipped" }>): string =>
  outcome._tag === "Skipped"
    ? `not run: step "${outcome.blockedBy}" did not succeed`
    : `${outcome.error._tag}: ${outcome.error.message}`

/** A tool call and what the model is told of its outcome. */
interface CallAndResult {
  readonly id: string
  readonly tool: string
  readonly args: unknown
  readonly isFailure: boolean
  readonly result: unknown
}

/** Folds a decision's tool calls and their outcomes into the conversation. */
const addTurn = (
  conversation: Conversation,
  steps: ReadonlyArray<PlanStep>,
  text: string | undefined,
  outcomes: ReadonlyMap<string, StepOutcome>,
  window: Window | undefined
) =>
  addCalls(
    conversation,
    text,
    steps.map((step): CallAndResult => {
      const outcome = outcomes.get(step.id)
      return {
        id: step.id,
        tool: step.tool,
        args: step.args,
        isFailure: outcome?._tag !== "Succeeded",
        result: outcome === undefined
          ? "not run"
          : outcome._tag === "Succeeded"
          ? truncateResult(outcome.result ?? null, window?.maxToolResult)
          : failureText(outcome)
      }
    }),
    window !== undefined
  )

/**
 * Folds a conversation handed over (a handoff's) into the prompt: its
 * messages as they are, each run of tool calls as one assistant message and
 * one tool message.
 */
const addHandedOver = (conversation: Conversation, items: ReadonlyArray<ConversationItem>, window: Window | undefined) => {
  const measure = window !== undefined
  let calls: Array<CallAndResult> = []
  const flush = () => {
    if (calls.length > 0) addCalls(conversation, undefined, calls, measure)
    calls = []
  }
  for (const item of items) {
    if (item._tag === "ToolCall") {
      calls.push({
        id: item.id,
        tool: item.tool,
        args: item.args,
        isFailure: item.error !== undefined,
        result: item.error ?? truncateResult(item.result ?? null, window?.maxToolResult)
      })
      continue
    }
    flush()
    addText(conversation, item._tag === "UserMessage" ? "user" : "assistant", item.text, measure)
  }
  flush()
}

/** Appends an assistant message with tool calls (and its text, if any), then the tool message with their results. */
const addCalls = (conversation: Conversation, text: string | undefined, calls: ReadonlyArray<CallAndResult>, measure: boolean) => {
  const content: Array<Prompt.AssistantMessagePart> = []
  if (text !== undefined && text !== "") content.push(Prompt.makePart("text", { text }))
  const results: Array<Prompt.ToolResultPart> = []
  const callsJson: Array<unknown> = []
  const resultsJson: Array<unknown> = []
  for (const { args, id, isFailure, result, tool } of calls) {
    content.push(Prompt.makePart("tool-call", { id, name: tool, params: args, providerExecuted: false }))
    callsJson.push({ id, name: tool, params: args })
    results.push(Prompt.makePart("tool-result", { id, name: tool, isFailure, result, providerExecuted: false }))
    resultsJson.push({ id, name: tool, isFailure, result })
  }
  push(
    conversation,
    Prompt.makeMessage("assistant", { content }),
    text === undefined || text === "" ? { role: "assistant", toolCalls: callsJson } : {
      role: "assistant",
      content: text,
      toolCalls: callsJson
    },
    measure
  )
  push(conversation, Prompt.makeMessage("tool", { content: results }), { role: "tool", results: resultsJson }, measure)
}

const defaultInstructions = (agent: Agent<unknown, unknown>) =>
  `You are ${agent.name}${agent.description === "" ? "" : `: ${agent.description}`}. ` +
  `Use the tools when they help; call several at once when they do not depend on each other. ` +
  `When you have what you need, answer the user directly.`

const outputInstructions = (schema: Schema.Top): string => {
  const document = Schema.toJsonSchemaDocument(schema)
  const jsonSchema = Object.keys(document.definitions).length > 0
    ? { ...document.schema, $defs: document.definitions }
    : document.schema
  return `\n\nYour final answer must be only JSON (no prose around it) that matches this JSON Schema:\n${
    JSON.stringify(jsonSchema)
  }`
}

// ---------------------------------------------------------------------------
// the model's mistakes
// ---------------------------------------------------------------------------

/**
 * Failures the model can act on, always shown to it: its own mistakes, and a
 * tool the policy denies to the run's principal (the model may find another way).
 */
const modelMistakes = new Set(["ToolNotFound", "ToolArgumentsInvalid", "PlanInvalid", "ToolDenied"])
/** Failures of the tool itself: shown to the model when the tool is `recoverable`. */
const toolFailures = new Set(["ToolFailed", "ToolTimeout"])

/** The first failure of the last turn that the model may not see and retry, if any. */
const fatalFailure = (state: RunState, steps: ReadonlyArray<PlanStep>): StepOutcome | undefined => {
  for (const step of steps) {
    const outcome = state.outcomes.get(step.id)
    if (outcome?._tag !== "Failed") continue
    const tag = outcome.error._tag
    if (modelMistakes.has(tag)) continue
    const recoverable = state.agent.registry.entries.get(step.tool)?.tool.recoverable === true
    const defect = (outcome.error.data as { readonly defect?: unknown } | undefined)?.defect === true
    if (recoverable && toolFailures.has(tag) && !defect) continue
    return outcome
  }
  return undefined
}

// ---------------------------------------------------------------------------
// model calls
// ---------------------------------------------------------------------------

/** The agent's tools for the model. Their handlers never run: the runtime executes tool calls. */
type AgentToolkit = Toolkit.WithHandler<Record<string, AiTool.Any>>

const toolkits = new WeakMap<Agent<unknown, unknown>, AgentToolkit>()

const toolkitOf = (agent: Agent<unknown, unknown>): AgentToolkit => {
  let toolkit = toolkits.get(agent)
  if (toolkit === undefined) {
    toolkit = Toolkit.make(...agent.tools.map((tool) => tool.ai)) as unknown as AgentToolkit
    toolkits.set(agent, toolkit)
  }
  return toolkit
}

const toolNames = new WeakMap<Agent<unknown, unknown>, ReadonlyArray<string>>()

const toolNamesOf = (agent: Agent<unknown, unknown>): ReadonlyArray<string> => {
  let names = toolNames.get(agent)
  if (names === undefined) {
    names = agent.tools.map((tool) => tool.name)
    toolNames.set(agent, names)
  }
  return names
}

const modelFailed = (error: AiError.AiError | Schema.SchemaError) =>
  new PlannerFailed({ reason: `the model call failed: ${error.message}`, cause: error })

const tokens = (usage: {
  readonly inputTokens: {
    readonly total?: number | undefined
    readonly cacheRead?: number | undefined
    readonly cacheWrite?: number | undefined
  }
  readonly outputTokens: { readonly total?: number | undefined }
}): TokenUsage => {
  const { cacheRead, cacheWrite } = usage.inputTokens
  const counted: { -readonly [K in keyof TokenUsage]: TokenUsage[K] } = {
    inputTokens: usage.inputTokens.total ?? 0,
    outputTokens: usage.outputTokens.total ?? 0
  }
  if (cacheRead !== undefined && cacheRead !== 0) counted.cachedInputTokens = cacheRead
  if (cacheWrite !== undefined && cacheWrite !== 0) counted.cacheWriteInputTokens = cacheWrite
  return counted
}

/** The model that answered, when a model list (fallback, see `ModelConfig`) says so on the finish part. */
const answeredBy = (metadata: unknown): string | undefined => {
  const model = (metadata as { readonly graphent?: { readonly model?: unknown } } | undefined)?.graphent?.model
  return typeof model === "string" ? model : undefined
}

/** A response's output, with the model that answered when a model list names it. */
const withModel = (output: ModelOutput, model: string | undefined): ModelOutput =>
  model === undefined ? output : { ...output, model }

const toolCallOf = (part: { readonly id: string; readonly name: string; readonly params: unknown }): ModelToolCall => ({
  id: part.id,
  name: part.name,
  params: part.params
})

const generate = (
  model: LanguageModel.LanguageModel,
  prompt: Prompt.Prompt,
  toolkit: AgentToolkit
): Effect.Effect<ModelOutput, PlannerFailed> =>
  model.generateText({
    prompt,
    toolkit,
    disableToolCallResolution: true,
    toolCallValidation: "deferred"
  }).pipe(
    Effect.map((response): ModelOutput =>
      withModel({
        text: response.text,
        toolCalls: response.toolCalls.map(toolCallOf),
        finishReason: response.finishReason,
        usage: tokens(response.usage)
      }, answeredBy(response.content.find((part) => part.type === "finish")?.metadata))
    ),
    Effect.mapError(modelFailed)
  ) as Effect.Effect<ModelOutput, PlannerFailed> // tool handlers never run, so nothing they require is needed

/** The same call, streamed: deltas go to the run's consumer as they arrive. */
const generateStreaming = (
  model: LanguageModel.LanguageModel,
  prompt: Prompt.Prompt,
  toolkit: AgentToolkit,
  state: RunState
): Effect.Effect<ModelOutput, PlannerFailed> =>
  Effect.suspend(() => {
    let text = ""
    const toolCalls: Array<ModelToolCall> = []
    let finishReason = "unknown"
    let usage: TokenUsage = { inputTokens: 0, outputTokens: 0 }
    let answered: string | undefined
    return model.streamText({
      prompt,
      toolkit,
      disableToolCallResolution: true,
      toolCallValidation: "deferred"
    }).pipe(
      Stream.runForEach((part) =>
        Effect.sync(() => {
          switch (part.type) {
            case "text-delta":
              text += part.delta
              state.context.textDelta(part.delta)
              break
            case "tool-call": {
              const call = toolCallOf(part)
              toolCalls.push(call)
              state.context.toolCallDelta(call)
              break
            }
            case "finish":
              finishReason = part.reason
              usage = tokens(part.usage)
              answered = answeredBy(part.metadata)
              break
          }
        })
      ),
      Effect.map((): ModelOutput => withModel({ text, toolCalls, finishReason, usage }, answered)),
      Effect.mapError(modelFailed)
    ) as Effect.Effect<ModelOutput, PlannerFailed> // as in generate
  })

// -- the direct path -----------------------------------------------------------

/**
 * The provider's own transport, when the planner may call it directly: it is
 * there, and nothing observes model spans (no exporting tracer, no `effect/ai`
 * span transformer), so skipping `LanguageModel`'s per-call work is invisible.
 * A run's direct calls share its offered tools and one span: the transport
 * needs a span to annotate, and none of them is ever seen.
 */
interface Direct {
  readonly transport: ModelTransportShape
  readonly tools: ReadonlyArray<AiTool.Any>
  readonly span: Tracer.Span
}

const directOf = (toolkit: AgentToolkit) =>
  Effect.map(Effect.context<never>(), (context): Direct | undefined => {
    const transport = Context.getOrUndefined(context, ModelTransport)
    if (transport === undefined) return undefined
    if (Context.get(context, Tracer.Tracer) !== Tracer.nativeTracer) return undefined
    if (Context.getOrUndefined(context, AiTelemetry.CurrentSpanTransformer) !== undefined) return undefined
    const span = new Tracer.NativeSpan({
      name: "LanguageModel",
      parent: Option.fromUndefinedOr(Context.getOrUndefined(context, Tracer.ParentSpan)),
      annotations: Context.empty(),
      links: [],
      startTime: 0n,
      kind: "client",
      sampled: false
    })
    return { transport, tools: Object.values(toolkit.tools), span }
  })

const textFormat = { type: "text" } as const

const providerOptions = (prompt: Prompt.Prompt, direct: Direct): LanguageModel.ProviderOptions => ({
  prompt,
  tools: direct.tools,
  responseFormat: textFormat,
  toolChoice: "auto",
  span: direct.span,
  previousResponseId: undefined,
  incrementalPrompt: undefined,
  toolCallValidation: "deferred"
})

const usageOf = (usage: typeof Response.Usage.Encoded): TokenUsage => tokens(usage)

/**
 * {@link generate} through the provider's transport: its encoded parts are read
 * directly. Suspended: a transport may start the call when asked for it, and a
 * recording may answer the call instead.
 */
const generateDirect = (direct: Direct, prompt: Prompt.Prompt) =>
  Effect.suspend(() => direct.transport.generateText(providerOptions(prompt, direct))).pipe(
    Effect.map((parts): ModelOutput => {
      let text = ""
      const toolCalls: Array<ModelToolCall> = []
      let finishReason = "unknown"
      let usage: TokenUsage = { inputTokens: 0, outputTokens: 0 }
    let answered: string | undefined
      for (const part of parts) {
        if (part.type === "text") text += part.text
        else if (part.type === "tool-call" && part.providerExecuted !== true) toolCalls.push(toolCallOf(part))
        else if (part.type === "finish") {
          finishReason = part.reason
          usage = usageOf(part.usage)
          answered = answeredBy(part.metadata)
        }
      }
      return withModel({ text, toolCalls, finishReason, usage }, answered)
    }),
    Effect.provideService(IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator),
    Effect.mapError(modelFailed)
  )

/** {@link generateStreaming} through the provider's transport. */
const generateStreamingDirect = (direct: Direct, prompt: Prompt.Prompt, state: RunState) =>
  Effect.suspend(() => {
    let text = ""
    const toolCalls: Array<ModelToolCall> = []
    let finishReason = "unknown"
    let usage: TokenUsage = { inputTokens: 0, outputTokens: 0 }
    let answered: string | undefined
    return direct.transport.streamText(providerOptions(prompt, direct)).pipe(
      Stream.runForEach((part) =>
        Effect.sync(() => {
          if (part.type === "text-delta") {
            text += part.delta
            state.context.textDelta(part.delta)
          } else if (part.type === "tool-call" && part.providerExecuted !== true) {
            const call = toolCallOf(part)
            toolCalls.push(call)
            state.context.toolCallDelta(call)
          } else if (part.type === "finish") {
            finishReason = part.reason
            usage = usageOf(part.usage)
            answered = answeredBy(part.metadata)
          }
        })
      ),
      Effect.map((): ModelOutput => withModel({ text, toolCalls, finishReason, usage }, answered)),
      Effect.provideService(IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator),
      Effect.mapError(modelFailed)
    )
  })

/** The decision to run a response's tool calls. */
const runSteps = (state: RunState, output: ModelOutput): Decision => {
  const handoff = handoffOf(state, output.toolCalls)
  if (handoff !== undefined) return handoff
  const steps = stepsOf(state, output.toolCalls)
  return output.text === "" ? { _tag: "RunSteps", steps } : { _tag: "RunSteps", steps, text: output.text }
}

/** A call of a `transfer_to_<agent>` tool (`Agent.handoff`): the model hands the run over (other calls are dropped). */
const handoffOf = (state: RunState, calls: ReadonlyArray<ModelToolCall>): Decision | undefined => {
  for (const call of calls) {
    const spec = SubAgent.specOf(state.agent.registry.entries.get(call.name)?.tool)
    if (spec === undefined || !spec.handoff) continue
    const input = (call.params as { readonly input?: unknown } | null)?.input
    return typeof input === "string" && input !== ""
      ? { _tag: "Handoff", agent: spec.agent.name, input }
      : { _tag: "Handoff", agent: spec.agent.name }
  }
  return undefined
}

/** The context window a run's conversation must fit, resolved from the options and the model's name. */
interface Window {
  readonly limit: number
  /** The most tokens the prompt's messages may take: the limit less the reserve and the tools' definitions. */
  readonly budget: number
  /** The estimated tokens of the tools' definitions. */
  readonly tools: number
  readonly maxToolResult: number | undefined
  readonly policy: NonNullable<ContextOptions["policy"]>
  readonly keep: number
}

/** The estimated tokens of the tools' definitions the model is offered, per agent. */
const toolTokens = new WeakMap<Agent<unknown, unknown>, number>()

const toolTokensOf = (agent: Agent<unknown, unknown>): number => {
  let total = toolTokens.get(agent)
  if (total === undefined) {
    total = 0
    for (const tool of agent.tools) {
      total += estimateTokens({
        name: tool.name,
        description: AiTool.getDescription(tool.ai),
        parameters: AiTool.getJsonSchema(tool.ai)
      })
    }
    toolTokens.set(agent, total)
  }
  return total
}

/** What a run's turns share, read from its context on the first turn. */
interface Session {
  readonly model: LanguageModel.LanguageModel
  readonly direct: Direct | undefined
  readonly memory: Memory.MemoryShape | undefined
  readonly label: string
  readonly toolkit: AgentToolkit
  readonly tools: ReadonlyArray<string>
  readonly window: Window | undefined
  conversation: Conversation
}

/** Each run's session, for as long as its state lives. */
const sessions = new WeakMap<RunState, Session>()

/** Step ids for a response's tool calls: the call ids, made unique within the run. */
const stepsOf = (state: RunState, calls: ReadonlyArray<ModelToolCall>): Array<PlanStep> => {
  const used = new Set<string>()
  return calls.map((call, index) => {
    let id = call.id === "" ? `call_${state.turn}_${index}` : call.id
    if (state.outcomes.has(id) || used.has(id)) id = `${id}~${state.turn}.${index}`
    used.add(id)
    return { id, tool: call.name, args: call.params }
  })
}

// ---------------------------------------------------------------------------
// compaction
// ---------------------------------------------------------------------------

const summaryText = (summary: string) =>
  `Summary of the earlier conversation (older turns were compacted to fit the context window):\n${summary}`

const summaryJson = (summary: string) => ({ role: "user", content: summaryText(summary) })

const threadSummaryText = (summary: string) =>
  `Summary of this thread's earlier conversation (older messages were compacted to fit the context window):\n${summary}`

const threadSummaryJson = (summary: string) => ({ role: "user", content: threadSummaryText(summary) })

/**
 * What a compaction works on: the messages it may remove (oldest first), what stays, and the summary that
 * stands for earlier ones — the run's turns after its opening, or the thread's earlier messages in the opening.
 */
interface Compactable {
  /** The removable messages as JSON, and their estimated tokens. */
  readonly json: ReadonlyArray<unknown>
  readonly sizes: ReadonlyArray<number>
  /** The estimated tokens of what stays (the current summary's included). */
  readonly fixed: number
  /** The most tokens `fixed` and the messages kept may take. */
  readonly budget: number
  /** The current summary, and the tokens of its message (0 without). */
  readonly summary: string | undefined
  readonly summaryTokens: number
  /** The prompt's messages' estimated tokens now. */
  readonly tokens: number
  /** The JSON of the message a new summary becomes. */
  readonly summaryJson: (summary: string) => unknown
  /** Whether these are the thread's earlier messages. */
  readonly history: boolean
}

/** The run's turns after its opening, as a compaction sees them. */
const turnsBody = (conversation: Conversation, window: Window): Compactable => ({
  json: conversation.json.slice(conversation.opening),
  sizes: conversation.sizes.slice(conversation.opening),
  fixed: tokensOf(conversation.sizes, conversation.opening),
  budget: window.budget,
  summary: conversation.summary,
  summaryTokens: conversation.summary === undefined ? 0 : conversation.sizes[conversation.opening - 1]!,
  tokens: conversation.tokens,
  summaryJson,
  history: false
})

/** A new conversation without the `removed` oldest messages after the opening, under a new summary if any. */
const compacted = (conversation: Conversation, compaction: Compaction): Conversation => {
  const { opening } = conversation
  const from = opening + compaction.removed
  const next: Conversation = {
    ...conversation,
    messages: conversation.messages.slice(0, opening),
    json: conversation.json.slice(0, opening),
    sizes: conversation.sizes.slice(0, opening)
  }
  if (compaction.summary !== undefined) {
    if (conversation.summary !== undefined) {
      // The new summary covers the old one: it takes its place.
      next.messages.pop()
      next.json.pop()
      next.sizes.pop()
    }
    push(next, textMessage("user", summaryText(compaction.summary)), summaryJson(compaction.summary), true)
    next.summary = compaction.summary
  }
  next.opening = next.messages.length
  for (let i = from; i < conversation.messages.length; i++) {
    next.messages.push(conversation.messages[i]!)
    next.json.push(conversation.json[i])
    next.sizes.push(conversation.sizes[i]!)
  }
  let tokens = 0
  for (const size of next.sizes) tokens += size
  next.tokens = tokens
  return next
}

const summaryInstructions = "You condense conversations between a user, an assistant and its tools. " +
  "Summarize the conversation you are given so that the assistant can continue without it: keep every fact, " +
  "tool result, decision and open question it needs, and drop the rest. Reply with the summary only."

/** Two calls' tokens together. */
const addUsage = (a: TokenUsage | undefined, b: TokenUsage): TokenUsage => {
  if (a === undefined) return b
  const sum: { -readonly [K in keyof TokenUsage]: TokenUsage[K] } = {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens
  }
  const cached = (a.cachedInputTokens ?? 0) + (b.cachedInputTokens ?? 0)
  const written = (a.cacheWriteInputTokens ?? 0) + (b.cacheWriteInputTokens ?? 0)
  if (cached > 0) sum.cachedInputTokens = cached
  if (written > 0) sum.cacheWriteInputTokens = written
  return sum
}

/** The last `room` characters of `text` (its start cut, with a marker), or all of it when it fits. */
const tail = (text: string, room: number) => text.length <= room ? text : "…" + text.slice(text.length - Math.max(0, room))

/**
 * Asks the model to summarize the earlier summary and the `removed` oldest messages of `body`. The
 * summarizer's own prompt must fit the window: when the messages do not fit in one prompt with the summary so
 * far, they go in chunks, oldest first, each summarized together with the summary of the chunks before — so
 * every removed message, and every fact of the earlier summary, reaches the summary (a single message longer
 * than a prompt is shown by its end).
 */
const summarize = (
  session: Session,
  body: Compactable,
  removed: number,
  summaryLimit: number,
  window: Window
) =>
  Effect.gen(function*() {
    const room = Math.max(0, (window.limit - summaryLimit - 512) * 4)
    let summary = body.summary
    let usage: TokenUsage | undefined
    let model = session.label
    let next = 0
    do {
      const head = summary === undefined ? "" : tail(`Earlier summary: ${summary}`, room) + "\n"
      const lines: Array<string> = []
      let length = head.length
      while (next < removed) {
        const line = JSON.stringify(body.json[next])
        if (lines.length > 0 && length + line.length + 1 > room) break
        lines.push(tail(line, room - length))
        length += line.length + 1
        next++
      }
      const prompt = Prompt.fromMessages([
        textMessage("system", summaryInstructions),
        textMessage("user", `Summarize in at most ${Math.floor(summaryLimit * 3 / 4)} words:\n\n${head}${lines.join("\n")}`)
      ])
      const response = yield* Effect.mapError(session.model.generateText({ prompt }), modelFailed)
      usage = addUsage(usage, tokens(response.usage))
      model = answeredBy(response.content.find((part) => part.type === "finish")?.metadata) ?? session.label
      // A summary longer than its room is cut: the prompt must fit.
      summary = response.text.length > summaryLimit * 3 ? response.text.slice(0, summaryLimit * 3) + "…" : response.text
    } while (next < removed)
    return { summary: summary!, usage: usage!, model }
  })

// ---------------------------------------------------------------------------
// the planner
// ---------------------------------------------------------------------------

const modelLabel = Effect.gen(function*() {
  const provider = yield* Effect.serviceOption(Model.ProviderName)
  const name = yield* Effect.serviceOption(Model.ModelName)
  if (Option.isNone(name)) return "model"
  return Option.isSome(provider) && provider.value !== name.value ? `${provider.value}:${name.value}` : name.value
})

/**
 * Makes an LLM planner; it needs a `LanguageModel` (and uses `Memory` when one
 * is provided and the run has a thread).
 *
 * **Example** (An assistant with a calculator)
 *
 * ```ts
 * const assistant = Agent.make({
 *   name: "assistant",
 *   instructions: "You are a concise assistant.",
 *   tools: [calculator],
 *   planner: LlmPlanner.make()
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): PlannerShape<LanguageModel.LanguageModel> => {
  const historySize = options?.history ?? 20
  const remember = options?.remember ?? true
  const contextOptions = options?.context

  /** The window for the run's model, or `undefined` when its size is unknown (no compaction then). */
  const windowOf = (agent: Agent<unknown, unknown>, label: string, table: Pricing.ContextWindowTable) => {
    const limit = contextOptions?.limit ?? contextWindowOf(table, label)
    if (limit === undefined) return undefined
    const reserve = contextOptions?.reserve ?? Math.min(4096, Math.floor(limit / 8))
    const tools = toolTokensOf(agent)
    return {
      limit,
      budget: limit - reserve - tools,
      tools,
      maxToolResult: contextOptions?.maxToolResult ?? limit,
      policy: contextOptions?.policy ?? "summarize",
      keep: Math.max(0, contextOptions?.keep ?? 4)
    } satisfies Window
  }

  /**
   * The conversation of the run's first turn: instructions, the thread's
   * summary and history, what a handoff passed, the input.
   */
  const openConversation = (
    state: RunState,
    summary: string | undefined,
    history: ReadonlyArray<Memory.Message>,
    window: Window | undefined
  ): Conversation => {
    const measure = window !== undefined
    const conversation = newConversation()
    const agent = state.agent
    const instructions = (agent.instructions ?? options?.instructions ?? defaultInstructions(agent)) +
      (agent.output === undefined ? "" : outputInstructions(agent.output))
    addText(conversation, "system", instructions, measure)
    if (summary !== undefined) push(conversation, textMessage("user", threadSummaryText(summary)), threadSummaryJson(summary), measure)
    for (const message of history) {
      if (message.role === "user" || message.role === "assistant") {
        addText(conversation, message.role, message.content, measure)
      }
    }
    const handedOver = state.conversation ?? []
    addHandedOver(conversation, handedOver, window)
    // A handoff that passes the user's request on as the input: it is in the conversation already.
    if (!handedOver.some((item) => item._tag === "UserMessage" && item.text === state.input)) {
      addText(conversation, "user", state.input, measure)
    }
    conversation.opening = conversation.messages.length
    return conversation
  }

  const historyFailed = (error: Memory.MemoryError) =>
    new PlannerFailed({ reason: `cannot read the thread's history: ${error.message}` })

  /**
   * The thread's earlier messages, read once per run and journaled (replay sees the same history). Without a
   * known window, the last `history` of them. With one, as the policy needs them: under `keep-last-n`, the
   * most it keeps; else the thread's summary and every message after it (compacted next, to fit).
   */
  const threadOf = (
    state: RunState,
    memory: Memory.MemoryShape | undefined,
    window: Window | undefined
  ): Effect.Effect<ThreadHistory.ThreadHistory, PlannerFailed | RunAbort> => {
    if (state.turn !== 1 || historySize === 0 || state.threadId === undefined || memory === undefined) {
      return Effect.succeed({ from: 0, messages: [] })
    }
    const namespace = Memory.thread(state.threadId)
    if (window === undefined || window.policy === "keep-last-n") {
      const last = window === undefined ? historySize : 2 * window.keep
      if (last === 0) return Effect.succeed({ from: 0, messages: [] })
      return Effect.map(
        state.context.journaled("history", Effect.mapError(memory.history(namespace, { last }), historyFailed)),
        (messages) => ({ from: 0, messages })
      )
    }
    return state.context.journaled("thread", Effect.mapError(ThreadHistory.read(memory, namespace), historyFailed))
  }

  /**
   * Compacts the thread's history in the run's opening when it takes more than its share of the window: half
   * of what the instructions and the input leave (the rest is the run's turns'). Journaled as a
   * `ContextCompacted` event before the first model call; a new summary (or a custom policy's cut) is kept in
   * the thread's memory, so that the next run reads only what came after it.
   */
  const compactHistory = (state: RunState, session: Session, window: Window, thread: ThreadHistory.ThreadHistory) =>
    Effect.gen(function*() {
      const conversation = session.conversation
      const shown: Array<number> = []
      thread.messages.forEach((message, index) => {
        if (message.role === "user" || message.role === "assistant") shown.push(index)
      })
      const end = conversation.opening - 1
      const start = end - shown.length
      const sizes = conversation.sizes.slice(start, end)
      const summaryTokens = thread.summary === undefined ? 0 : conversation.sizes[1]!
      const budget = Math.floor((window.budget - conversation.sizes[0]! - conversation.sizes[end]!) / 2)
      // Nothing to compact, or an opening too big whatever the history (the first turn fails on it).
      if (shown.length === 0 || budget <= 0 || summaryTokens + tokensOf(sizes, sizes.length) <= budget) return
      const live = decideCompaction(session, window, {
        json: conversation.json.slice(start, end),
        sizes,
        fixed: summaryTokens,
        budget,
        summary: thread.summary,
        summaryTokens,
        tokens: conversation.tokens,
        summaryJson: threadSummaryJson,
        history: true
      })
      const compaction = yield* (state.context.compacted === undefined ? live : state.context.compacted(live))
      const summary = compaction.summary ?? thread.summary
      const kept = shown.slice(compaction.removed).map((index) => thread.messages[index]!)
      session.conversation = openConversation(state, summary, kept, window)
      if (window.policy === "keep-last-n" || compaction.removed === 0 || session.memory === undefined) return
      const stored = ThreadHistory.storedAfter(thread, shown, compaction.removed, summary)
      yield* state.context.journaled(
        "thread-summary",
        session.memory.set(Memory.thread(state.threadId!), ThreadHistory.summaryKey, stored).pipe(
          Effect.mapError((error) => new PlannerFailed({ reason: `cannot save the thread's summary: ${error.message}` }))
        )
      )
    })

  /** Reads the run's services and its thread's history once, on the run's first turn. */
  const openSession = (state: RunState) =>
    Effect.gen(function*() {
      const model = yield* LanguageModel.LanguageModel
      const toolkit = toolkitOf(state.agent)
      const direct = yield* directOf(toolkit)
      const memory = Option.getOrUndefined(yield* Effect.serviceOption(Memory.Memory))
      const label = options?.model ?? (yield* modelLabel)
      const window = windowOf(state.agent, label, yield* ContextWindows)
      const thread = yield* threadOf(state, memory, window)
      const session: Session = {
        model,
        direct,
        memory,
        label,
        toolkit,
        tools: toolNamesOf(state.agent),
        window,
        conversation: openConversation(state, thread.summary, thread.messages, window)
      }
      if (window !== undefined) yield* compactHistory(state, session, window, thread)
      sessions.set(state, session)
      return session
    })

  const rememberAnswer = (state: RunState, memory: Memory.MemoryShape | undefined, answer: string) =>
    !remember || state.threadId === undefined || memory === undefined
      ? Effect.void
      : state.context.journaled(
        "remember",
        memory.append(Memory.thread(state.threadId), [
          { role: "user", content: state.input },
          { role: "assistant", content: answer }
        ]).pipe(Effect.mapError((error) => new PlannerFailed({ reason: `cannot save the conversation: ${error.message}` })))
      )

  /** One model call of the turn, with the messages of `from` (the conversation, or a repair exchange). */
  const call = (state: RunState, session: Session, from: Conversation) => {
    // A fork's edit of a repair call's prompt (the run's conversation is edited by `turn`, before it is measured).
    const edit = from === session.conversation ? undefined : state.context.messageEdit?.()
    if (edit !== undefined) editLast(from, edit, false)
    const { messages, prefix } = promptDelta(session.conversation, from.json, from.json.length)
    const { direct, model, toolkit } = session
    // A transport reads the prompt during the call, and the conversation grows only after it (see
    // `ModelTransport`): the direct path passes the messages uncopied, which keeps a turn's cost flat as the
    // run grows. `LanguageModel` and what observes it may keep the prompt: it gets a copy.
    const prompt = Prompt.fromMessages(direct === undefined ? from.messages.slice() : from.messages)
    const live = direct === undefined
      ? state.context.streaming ? generateStreaming(model, prompt, toolkit, state) : generate(model, prompt, toolkit)
      : state.context.streaming
      ? generateStreamingDirect(direct, prompt, state)
      : generateDirect(direct, prompt)
    return state.context.callModel(session.label, { prefix, messages, tools: session.tools }, live)
  }

  /** Turns the model's response into a decision; an answer that does not decode is repaired first. */
  const decideOn = (state: RunState, session: Session, output: ModelOutput) => {
    if (output.toolCalls.length > 0) return Effect.succeed(runSteps(state, output))
    return Effect.gen(function*() {
      // A repair exchange is part of this turn only: later turns do not need it.
      let repair: Conversation | undefined
      for (let attempt = 0; output.toolCalls.length === 0; attempt++) {
        const decoded = decodeOutput(state.agent, output.text)
        if (decoded._tag === "Success" || attempt >= state.agent.outputRepairs) break
        repair ??= {
          ...newConversation(),
          messages: session.conversation.messages.slice(),
          json: session.conversation.json.slice()
        }
        addText(repair, "assistant", output.text)
        addText(
          repair,
          "user",
          `Your answer does not match the required output: ${decoded.issue}. Reply with only the corrected JSON.`
        )
        output = yield* call(state, session, repair)
      }
      if (output.toolCalls.length > 0) return runSteps(state, output)
      yield* rememberAnswer(state, session.memory, output.text)
      return { _tag: "Answer", answer: output.text } satisfies Decision
    })
  }

  /** A turn: the conversation extended by the turns since the last call, one model call, its decision. */
  const turn = (state: RunState, session: Session) => {
    const { conversation, window } = session
    const { decisions } = state
    for (; conversation.decisions < decisions.length; conversation.decisions++) {
      const decision = decisions[conversation.decisions]!
      if (decision._tag === "RunSteps") addTurn(conversation, decision.steps, decision.text, state.outcomes, window)
    }
    const edit = state.context.messageEdit?.()
    if (edit !== undefined) editLast(conversation, edit, window !== undefined)
    if (window === undefined || conversation.tokens <= window.budget) {
      return Effect.flatMap(call(state, session, conversation), (output) => decideOn(state, session, output))
    }
    // The compaction replaces the conversation: the call reads it after.
    return Effect.andThen(
      compact(state, session, window),
      Effect.flatMap(Effect.suspend(() => call(state, session, session.conversation)), (output) => decideOn(state, session, output))
    )
  }

  // -- compaction ----------------------------------------------------------------

  /**
   * Decides a compaction of `body` (the live side: replay and resume take the journaled one instead). Removals
   * go in whole turns: a tool call and its results, or a user's message and the answer.
   */
  const decideCompaction = (session: Session, window: Window, body: Compactable): Effect.Effect<Compaction, PlannerFailed> =>
    Effect.gen(function*() {
      const { sizes } = body
      const tooBig = () =>
        new PlannerFailed({
          reason: body.history
            ? `the thread's summary does not fit the share of the model's context window of ${window.limit} tokens ` +
              `kept for the thread's history (about ${body.budget} tokens)`
            : `the prompt does not fit the model's context window of ${window.limit} tokens even with every ` +
              `earlier turn compacted: the instructions, history, input and tools take about ${body.fixed + window.tools} tokens`
        })
      const result = (policy: string, removed: number, summary?: string, model?: string, usage?: TokenUsage) => {
        const summaryTokens = summary === undefined ? 0 : estimateTokens(body.summaryJson(summary)) - body.summaryTokens
        return {
          policy,
          removed,
          ...(summary === undefined ? {} : { summary }),
          tokensBefore: window.tools + body.tokens,
          tokensAfter: window.tools + body.tokens - tokensOf(sizes, removed) + summaryTokens,
          limit: window.limit,
          ...(model === undefined ? {} : { model }),
          ...(usage === undefined ? {} : { usage }),
          ...(body.history ? { history: true } : {})
        } satisfies Compaction
      }
      const policy = window.policy
      if (policy === "keep-last-n") {
        const removed = removalToFit(body, Math.max(0, sizes.length - 2 * window.keep), 0)
        if (removed === undefined) return yield* tooBig()
        return result("keep-last-n", removed)
      }
      if (policy === "summarize") {
        // Room for the summary: a quarter of the budget, at most 1024 tokens.
        const summaryLimit = Math.max(16, Math.min(1024, Math.floor(body.budget / 4)))
        const removed = removalWithSlack(body, 0, summaryLimit - body.summaryTokens, 0.6)
        if (removed === undefined) return yield* tooBig()
        const { model, summary, usage } = yield* summarize(session, body, removed, summaryLimit, window)
        return result("summarize", removed, summary, model, usage)
      }
      const decided = yield* policy({
        messages: body.json,
        summary: body.summary,
        tokens: body.tokens,
        budget: body.budget
      })
      const turns = decided.removeTurns
      if (!Number.isInteger(turns) || turns < 0 || 2 * turns > sizes.length + 1) {
        return yield* new PlannerFailed({
          reason: `the custom compaction asked to remove ${turns} turns of ${Math.ceil(sizes.length / 2)}`
        })
      }
      const reserved = decided.summary === undefined
        ? 0
        : estimateTokens(body.summaryJson(decided.summary)) - body.summaryTokens
      const removed = removalToFit(body, Math.min(2 * turns, sizes.length), reserved)
      if (removed === undefined) return yield* tooBig()
      return result("custom", removed, decided.summary)
    })

  /** Compacts the conversation before the next model call, as decided live or as the journal recorded. */
  const compact = (state: RunState, session: Session, window: Window) => {
    const live = decideCompaction(session, window, turnsBody(session.conversation, window))
    const journaled = state.context.compacted === undefined ? live : state.context.compacted(live)
    return Effect.map(journaled, (compaction) => {
      session.conversation = compacted(session.conversation, compaction)
    })
  }


  return {
    decide: (state) => {
      const last = state.decisions[state.decisions.length - 1]
      if (last?._tag === "RunSteps") {
        const fatal = fatalFailure(state, last.steps)
        if (fatal !== undefined && fatal._tag === "Failed") {
          return Effect.succeed<Decision>({ _tag: "Fail", reason: fatal.error.message, stepId: fatal.id })
        }
      }
      const session = sessions.get(state)
      return session === undefined
        ? Effect.flatMap(openSession(state), (opened) => turn(state, opened))
        : turn(state, session)
    }
  }
}

/**
 * The {@link Planner} service as an LLM planner over the `LanguageModel` in
 * context, for agents that bring no planner of their own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Planner, never, LanguageModel.LanguageModel> =>
  Layer.effect(
    Planner,
    Effect.map(Effect.context<LanguageModel.LanguageModel>(), (context): PlannerShape => {
      const planner = make(options)
      return { decide: (state) => Effect.provide(planner.decide(state), context) }
    })
  )
