/**
 * A scripted `LanguageModel`: for tests, benchmarks, and running examples
 * offline with no provider configured.
 *
 * {@link layer} answers the calls it receives with the replies of a script,
 * in order; {@link layerFunction} computes each reply from the request.
 * {@link layer} records every call (the prompt, the tools offered, the tool
 * choice, whether it streamed) for {@link calls}: at most one per reply of
 * its script. {@link layerFunction} answers any number of calls, so it keeps
 * none unless told `{ record: true }`. {@link assertUsedUp} fails when
 * replies were left over.
 * A reply is text, tool calls, an error, or raw response / stream parts; a
 * streamed text reply arrives in several deltas, as from a real provider.
 *
 * Token usage is estimated (4 characters a token) unless the reply gives it,
 * so budgets and costs can be tested with no provider; each message of a
 * prompt is measured once, however many calls re-send it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as AiError from "effect/ai/AiError"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Model from "effect/ai/Model"
import * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Errors from "../services/Errors.js"
import * as ModelTransport from "../services/ModelTransport.js"

/**
 * Tokens of one reply, when the script wants exact figures.
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenUsage {
  readonly inputTokens: number
  readonly outputTokens: number
}

/**
 * A tool call the scripted model makes.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptedToolCall {
  readonly name: string
  readonly params: unknown
  /** Default: `call_<n>`, numbered across the whole script. */
  readonly id?: string | undefined
}

/**
 * One reply of the script.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply =
  | { readonly _tag: "Text"; readonly text: string; readonly usage?: TokenUsage | undefined }
  | {
    readonly _tag: "ToolCalls"
    readonly toolCalls: ReadonlyArray<ScriptedToolCall>
    readonly text?: string | undefined
    readonly usage?: TokenUsage | undefined
  }
  | { readonly _tag: "Error"; readonly error: AiError.AiError }
  | { readonly _tag: "Parts"; readonly parts: ReadonlyArray<Response.PartEncoded> }
  | { readonly _tag: "Chunks"; readonly chunks: ReadonlyArray<Response.StreamPartEncoded> }

/**
 * A text answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const text = (text: string, usage?: TokenUsage): Reply => ({ _tag: "Text", text, usage })

/**
 * One tool call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolCall = (name: string, params: unknown, id?: string): Reply => ({
  _tag: "ToolCalls",
  toolCalls: [{ name, params, id }]
})

/**
 * Several tool calls in one reply (the runtime runs them concurrently), with optional text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toolCalls = (calls: ReadonlyArray<ScriptedToolCall>, options?: {
  readonly text?: string | undefined
  readonly usage?: TokenUsage | undefined
}): Reply => ({ _tag: "ToolCalls", toolCalls: calls, text: options?.text, usage: options?.usage })

/**
 * The call fails with this error (a string becomes an `UnknownError` reason).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fail = (error: AiError.AiError | string): Reply => ({
  _tag: "Error",
  error: typeof error === "string"
    ? AiError.make({ module: "ScriptedModel", method: "reply", reason: new AiError.UnknownError({ description: error }) })
    : error
})

/**
 * Raw response parts, exactly as a provider would return them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parts = (parts: ReadonlyArray<Response.PartEncoded>): Reply => ({ _tag: "Parts", parts })

/**
 * Raw stream parts (deltas, tool calls, finish), exactly as a provider would stream them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chunks = (chunks: ReadonlyArray<Response.StreamPartEncoded>): Reply => ({ _tag: "Chunks", chunks })

/**
 * A call the scripted model received.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly method: "generateText" | "streamText"
  readonly prompt: Prompt.Prompt
  /** The names of the tools offered. */
  readonly tools: ReadonlyArray<string>
  readonly toolChoice: LanguageModel.ProviderOptions["toolChoice"]
  /** Whether a JSON response with a schema was asked for. */
  readonly responseFormat: "text" | "json"
}

/**
 * Replies were left in the script when the test ended.
 *
 * What to do: the agent made fewer model calls than the test scripted: remove the extra replies, or find why
 * the agent stopped early (`ScriptedModel.calls` lists what it sent).
 *
 * @since 0.1.0
 * @category errors
 */
export class ScriptNotUsedUp extends Schema.TaggedError<ScriptNotUsedUp>()("ScriptNotUsedUp", {
  remaining: Schema.Number,
  calls: Schema.Number
}) {
  override get message(): string {
    return `the model script was not used up: ${this.remaining} replies left after ${this.calls} calls`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * What a test can ask the scripted model.
 *
 * @since 0.1.0
 * @category services
 */
export class ScriptedModel extends Context.Service<ScriptedModel, {
  /** Every call received so far, in order; a defect when the model does not record them (see {@link layerFunction}). */
  readonly calls: Effect.Effect<ReadonlyArray<Call>>
  /** How many calls the model received, recorded or not. */
  readonly received: Effect.Effect<number>
  /** Replies not used yet (always 0 for a function-driven model). */
  readonly remaining: Effect.Effect<number>
}>()("graphent/ScriptedModel") {}

/**
 * Fails with {@link ScriptNotUsedUp} when replies are left.
 *
 * @since 0.1.0
 * @category accessors
 */
export const assertUsedUp: Effect.Effect<void, ScriptNotUsedUp, ScriptedModel> = Effect.gen(function*() {
  const model = yield* ScriptedModel
  const remaining = yield* model.remaining
  if (remaining > 0) {
    return yield* new ScriptNotUsedUp({ remaining, calls: yield* model.received })
  }
})

/**
 * Every call received so far.
 *
 * @since 0.1.0
 * @category accessors
 */
export const calls: Effect.Effect<ReadonlyArray<Call>, never, ScriptedModel> = ScriptedModel.use((model) => model.calls)

// ---------------------------------------------------------------------------
// turning replies into response parts
// ---------------------------------------------------------------------------

const estimateTokens = (chars: number): number => Math.max(1, Math.ceil(chars / 4))

const messageChars = (message: Prompt.Message): number => {
  if (typeof message.content === "string") return message.content.length
  let chars = 0
  for (const part of message.content) {
    if (part.type === "text") chars += part.text.length
    else if (part.type === "tool-call") chars += part.name.length + (JSON.stringify(part.params)?.length ?? 0)
    else if (part.type === "tool-result") chars += JSON.stringify(part.result)?.length ?? 0
  }
  return chars
}

/**
 * The characters of each message measured so far. A conversation re-sends its
 * earlier messages (the same objects) every turn: measuring the whole prompt
 * each call would serialise a run's tool calls and results once per turn.
 */
const measured = new WeakMap<Prompt.Message, number>()

const promptChars = (prompt: Prompt.Prompt): number => {
  let chars = 0
  for (const message of prompt.content) {
    let size = measured.get(message)
    if (size === undefined) {
      size = messageChars(message)
      measured.set(message, size)
    }
    chars += size
  }
  return chars
}

/** The reply's usage, or an estimate: the text and tool calls are measured only when the reply gives no figure. */
const usageOf = (reply: Exclude<Reply, { readonly _tag: "Error" | "Parts" | "Chunks" }>, prompt: Prompt.Prompt) => {
  const input = reply.usage?.inputTokens ?? estimateTokens(promptChars(prompt))
  const output = reply.usage?.outputTokens ?? estimateTokens(replyChars(reply))
  return { inputTokens: { total: input, uncached: input }, outputTokens: { total: output } }
}

const replyChars = (reply: Exclude<Reply, { readonly _tag: "Error" | "Parts" | "Chunks" }>): number => {
  if (reply._tag === "Text") return reply.text.length
  let chars = reply.text?.length ?? 0
  for (const call of reply.toolCalls) chars += call.name.length + (JSON.stringify(call.params)?.length ?? 0)
  return chars
}

type Numbering = { next: number }

const callId = (call: ScriptedToolCall, numbering: Numbering) => call.id ?? `call_${++numbering.next}`

const responseParts = (
  reply: Exclude<Reply, { readonly _tag: "Error" }>,
  prompt: Prompt.Prompt,
  numbering: Numbering
): Array<Response.PartEncoded> => {
  switch (reply._tag) {
    case "Parts":
      return [...reply.parts]
    case "Chunks":
      return partsOfChunks(reply.chunks)
    case "Text":
      return [
        { type: "text", text: reply.text },
        { type: "finish", reason: "stop", usage: usageOf(reply, prompt) }
      ]
    case "ToolCalls": {
      const out: Array<Response.PartEncoded> = []
      if (reply.text !== undefined && reply.text !== "") out.push({ type: "text", text: reply.text })
      for (const call of reply.toolCalls) {
        out.push({ type: "tool-call", id: callId(call, numbering), name: call.name, params: call.params })
      }
      out.push({ type: "finish", reason: "tool-calls", usage: usageOf(reply, prompt) })
      return out
    }
  }
}

/** What a non-streaming call returns for a reply scripted as stream chunks. */
const partsOfChunks = (chunks: ReadonlyArray<Response.StreamPartEncoded>): Array<Response.PartEncoded> => {
  const out: Array<Response.PartEncoded> = []
  let textSoFar = ""
  for (const chunk of chunks) {
    if (chunk.type === "text-delta") textSoFar += chunk.delta
    else if (chunk.type === "text-end") {
      out.push({ type: "text", text: textSoFar })
      textSoFar = ""
    } else if (chunk.type === "tool-call" || chunk.type === "finish") out.push(chunk as Response.PartEncoded)
  }
  if (textSoFar !== "") out.splice(out.length - 1, 0, { type: "text", text: textSoFar })
  return out
}

/** Splits text into word-sized deltas, as providers stream it. */
const deltasOf = (text: string): Array<string> => text.match(/\S+\s*|\s+/g) ?? [text]

const streamParts = (
  reply: Exclude<Reply, { readonly _tag: "Error" }>,
  prompt: Prompt.Prompt,
  numbering: Numbering
): Array<Response.StreamPartEncoded> => {
  if (reply._tag === "Chunks") return [...reply.chunks]
  const out: Array<Response.StreamPartEncoded> = []
  let textIds = 0
  for (const part of responseParts(reply, prompt, numbering)) {
    if (part.type === "text") {
      const id = `text_${textIds++}`
      out.push({ type: "text-start", id })
      for (const delta of deltasOf(part.text)) out.push({ type: "text-delta", id, delta })
      out.push({ type: "text-end", id })
    } else {
      out.push(part as Response.StreamPartEncoded)
    }
  }
  return out
}

// ---------------------------------------------------------------------------
// layers
// ---------------------------------------------------------------------------

/**
 * What a function-driven model receives.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  /** The prompt, to read during the call: a reply function that keeps it keeps a copy (see `ModelTransport`). */
  readonly prompt: Prompt.Prompt
  readonly tools: ReadonlyArray<string>
  /** How many calls the model received before this one. */
  readonly index: number
}

/** The names of the tools offered; a planner offers one array for a whole run. */
const toolNames = new WeakMap<ReadonlyArray<{ readonly name: string }>, ReadonlyArray<string>>()

const toolNamesOf = (tools: ReadonlyArray<{ readonly name: string }>): ReadonlyArray<string> => {
  let names = toolNames.get(tools)
  if (names === undefined) {
    names = tools.map((tool) => tool.name)
    toolNames.set(tools, names)
  }
  return names
}

const make = (
  next: (request: Request) => Effect.Effect<Reply, AiError.AiError>,
  remaining: () => number,
  record: boolean
) =>
  Effect.gen(function*() {
    const received: Array<Call> = []
    let count = 0
    const numbering: Numbering = { next: 0 }
    const receive = (method: Call["method"], options: LanguageModel.ProviderOptions): Effect.Effect<Reply, AiError.AiError> => {
      const tools = toolNamesOf(options.tools)
      const index = count++
      if (record) {
        received.push({
          method,
          // The planner extends the prompt's messages after the call (see `ModelTransport`): keep a copy.
          prompt: Prompt.fromMessages(options.prompt.content.slice()),
          tools,
          toolChoice: options.toolChoice,
          responseFormat: options.responseFormat.type
        })
      }
      return next({ prompt: options.prompt, tools, index })
    }
    const model = yield* ModelTransport.make({
      generateText: (options) =>
        Effect.flatMap(receive("generateText", options), (reply) =>
          reply._tag === "Error" ? Effect.fail(reply.error) : Effect.succeed(responseParts(reply, options.prompt, numbering))),
      streamText: (options) =>
        Stream.unwrap(Effect.map(receive("streamText", options), (reply) =>
          reply._tag === "Error"
            ? Stream.fail(reply.error)
            : Stream.fromIterable(streamParts(reply, options.prompt, numbering))))
    })
    const recorder = ScriptedModel.of({
      calls: record
        ? Effect.sync(() => received.slice())
        : Effect.die(
          new Error("ScriptedModel: this model does not record its calls; make it with { record: true } to read them")
        ),
      received: Effect.sync(() => count),
      remaining: Effect.sync(remaining)
    })
    return model.pipe(
      Context.add(ScriptedModel, recorder),
      Context.add(Model.ProviderName, "scripted"),
      Context.add(Model.ModelName, "scripted")
    )
  })

const exhausted = (index: number) =>
  AiError.make({
    module: "ScriptedModel",
    method: "reply",
    reason: new AiError.UnknownError({ description: `the model script has no reply for call ${index + 1}` })
  })

/**
 * A model that answers with the script's replies, in order; a call past the
 * end fails with an `AiError`. A reply may be a function of the request.
 *
 * **Example** (A tool call, then an answer)
 *
 * ```ts
 * const model = ScriptedModel.layer([
 *   ScriptedModel.toolCall("add", { a: 1, b: 2 }),
 *   ScriptedModel.text("1 + 2 = 3")
 * ])
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  script: ReadonlyArray<Reply | ((request: Request) => Reply)>,
  options?: {
    /** Keep every call for {@link calls} (default true: at most one per reply of the script). */
    readonly record?: boolean | undefined
  }
): Layer.Layer<
  LanguageModel.LanguageModel | ModelTransport.ModelTransport | ScriptedModel | Model.ProviderName | Model.ModelName
> =>
  // Each build of the layer starts the script from the top.
  Layer.effectContext(Effect.suspend(() => {
    let position = 0
    return make((request) => {
      const entry = script[position]
      if (entry === undefined) return Effect.fail(exhausted(request.index))
      position++
      return Effect.succeed(typeof entry === "function" ? entry(request) : entry)
    }, () => script.length - position, options?.record ?? true)
  }))

/**
 * A model whose every reply is computed from the request. It answers any
 * number of calls, so it keeps none of them (nor their prompts) unless told
 * `{ record: true }`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFunction = <E = never>(
  reply: (request: Request) => Reply | Effect.Effect<Reply, AiError.AiError>,
  options?: {
    /** Keep every call for {@link calls} (default false: a long-running model would keep every prompt). */
    readonly record?: boolean | undefined
  }
): Layer.Layer<
  LanguageModel.LanguageModel | ModelTransport.ModelTransport | ScriptedModel | Model.ProviderName | Model.ModelName,
  E
> =>
  Layer.effectContext(make((request) => {
    const out = reply(request)
    return Effect.isEffect(out) ? out : Effect.succeed(out)
  }, () => 0, options?.record ?? false))

/**
 * The text of the last user message of a prompt, for function-driven models.
 *
 * @since 0.1.0
 * @category utils
 */
export const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const message = prompt.content[i]!
    if (message.role !== "user") continue
    return message.content.map((part) => part.type === "text" ? part.text : "").join("")
  }
  return ""
}

/**
 * The tool results of the last tool message of a prompt (what the model
 * receives after its tool calls ran), by tool call id.
 *
 * @since 0.1.0
 * @category utils
 */
export const lastToolResults = (prompt: Prompt.Prompt): ReadonlyArray<Prompt.ToolResultPart> => {
  const last = prompt.content[prompt.content.length - 1]
  return last?.role === "tool" ? last.content.filter((part): part is Prompt.ToolResultPart => part.type === "tool-result") : []
}
