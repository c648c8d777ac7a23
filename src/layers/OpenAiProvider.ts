/**
 * A `LanguageModel` for the OpenAI Chat Completions API
 * (`POST {baseUrl}/chat/completions`), the dialect that OpenAI and most local
 * model servers speak (Ollama, vLLM, LM Studio, llama.cpp).
 *
 * - {@link make} / {@link layerNoDeps}: the model over the `HttpClient` in context.
 * - {@link layer}: the same, over `fetch`.
 * - {@link layerConfig}: reads `OPENAI_API_KEY` (optional, local servers need
 *   none) and `OPENAI_BASE_URL`.
 *
 * Supports text, tool calls (parallel, streamed arguments), reasoning text from
 * servers that return `reasoning_content`, images and files in user messages,
 * structured output (`generateObject`, as `response_format: json_schema`), and
 * streaming over server-sent events. HTTP 429, 5xx, network errors and timeouts
 * are retried with exponential backoff (honouring `retry-after`); every failure
 * is an `AiError`. The API key is `Redacted` and never appears in errors.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as AiError from "effect/ai/AiError"
import * as IdGenerator from "effect/ai/IdGenerator"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as OpenAiStructuredOutput from "effect/ai/OpenAiStructuredOutput"
import type * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Telemetry from "effect/ai/Telemetry"
import * as Base64 from "effect/encoding/Base64"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import type * as HttpClient from "effect/http/HttpClient"
import * as ModelHttp from "../internal/modelHttp.js"
import * as ModelTransport from "../services/ModelTransport.js"

/**
 * The model, key and endpoint of the OpenAI-compatible provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ModelHttp.TransportOptions {
  /** The model name, e.g. `gpt-4.1-mini`, or a local model such as `qwen3:8b`. */
  readonly model: string
  /** Sent as `Authorization: Bearer`. Optional: local servers usually need none. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Default `https://api.openai.com/v1`; e.g. `http://localhost:11434/v1` for Ollama. */
  readonly baseUrl?: string | undefined
  /** Sent as `max_tokens`. For OpenAI reasoning models use `extraBody: { max_completion_tokens }`. */
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  /** Extra request headers (e.g. `OpenAI-Organization`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Extra fields merged into every request body (e.g. `seed`, `reasoning_effort`). */
  readonly extraBody?: Readonly<Record<string, unknown>> | undefined
  /**
   * Structured output in OpenAI's strict mode (`strict: true`, schemas rewritten
   * to OpenAI's JSON Schema subset). Default `false`: plain JSON Schema, which
   * local servers accept too.
   */
  readonly strictJsonSchema?: boolean | undefined
}

// =============================================================================
// Wire format
// =============================================================================

type ChatContentPart =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "image_url"; readonly image_url: { readonly url: string } }
  | { readonly type: "input_audio"; readonly input_audio: { readonly data: string; readonly format: string } }
  | { readonly type: "file"; readonly file: { readonly filename?: string; readonly file_data: string } }

interface ChatToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

type ChatMessage =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string | ReadonlyArray<ChatContentPart> }
  | {
    readonly role: "assistant"
    readonly content: string | null
    readonly tool_calls?: ReadonlyArray<ChatToolCall>
  }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string }

interface ChatTool {
  readonly type: "function"
  readonly function: { readonly name: string; readonly description?: string; readonly parameters: unknown }
}

const optional = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireUsage = Schema.Struct({
  prompt_tokens: optional(Schema.Number),
  completion_tokens: optional(Schema.Number),
  prompt_tokens_details: optional(Schema.Struct({ cached_tokens: optional(Schema.Number) })),
  completion_tokens_details: optional(Schema.Struct({ reasoning_tokens: optional(Schema.Number) }))
})
type WireUsage = typeof WireUsage.Type

const ChatCompletion = Schema.Struct({
  id: optional(Schema.String),
  model: optional(Schema.String),
  created: optional(Schema.Number),
  choices: Schema.Array(Schema.Struct({
    message: Schema.Struct({
      content: optional(Schema.String),
      // Reasoning text, from servers that expose it (DeepSeek, vLLM, Ollama, LM Studio).
      reasoning_content: optional(Schema.String),
      reasoning: optional(Schema.String),
      tool_calls: optional(Schema.Array(Schema.Struct({
        id: optional(Schema.String),
        function: Schema.Struct({ name: Schema.String, arguments: optional(Schema.Unknown) })
      })))
    }),
    finish_reason: optional(Schema.String)
  })),
  usage: optional(WireUsage)
})
const decodeChatCompletion = Schema.decodeUnknownEffect(ChatCompletion)

const ChatCompletionChunk = Schema.Struct({
  id: optional(Schema.String),
  model: optional(Schema.String),
  created: optional(Schema.Number),
  choices: optional(Schema.Array(Schema.Struct({
    delta: optional(Schema.Struct({
      content: optional(Schema.String),
      reasoning_content: optional(Schema.String),
      reasoning: optional(Schema.String),
      tool_calls: optional(Schema.Array(Schema.Struct({
        index: optional(Schema.Number),
        id: optional(Schema.String),
        function: optional(Schema.Struct({ name: optional(Schema.String), arguments: optional(Schema.String) }))
      })))
    })),
    finish_reason: optional(Schema.String)
  }))),
  usage: optional(WireUsage),
  // Some servers report a failure mid-stream as a chunk with an `error` member.
  error: optional(Schema.Unknown)
})
const decodeChatCompletionChunk = Schema.decodeUnknownEffect(ChatCompletionChunk)

// =============================================================================
// Prompt -> messages
// =============================================================================

const fileData = (part: Prompt.FilePart): { readonly url: string; readonly base64: string | undefined } => {
  const data = part.data
  if (data instanceof URL) return { url: data.href, base64: undefined }
  if (typeof data === "string") {
    if (/^(data:|https?:\/\/)/.test(data)) return { url: data, base64: undefined }
    return { url: `data:${part.mediaType};base64,${data}`, base64: data }
  }
  const base64 = Base64.encode(data)
  return { url: `data:${part.mediaType};base64,${base64}`, base64 }
}

const audioFormats: Readonly<Record<string, string>> = {
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3"
}

const userFilePart = (part: Prompt.FilePart): ChatContentPart | AiError.AiErrorReason => {
  const { base64, url } = fileData(part)
  if (part.mediaType.startsWith("image/")) return { type: "image_url", image_url: { url } }
  const audioFormat = audioFormats[part.mediaType]
  if (audioFormat !== undefined && base64 !== undefined) {
    return { type: "input_audio", input_audio: { data: base64, format: audioFormat } }
  }
  if (!url.startsWith("data:")) {
    return new AiError.InvalidUserInputError({
      description: `a ${part.mediaType} file can only be sent inline (base64 or bytes), not as a URL`
    })
  }
  return {
    type: "file",
    file: part.fileName === undefined ? { file_data: url } : { filename: part.fileName, file_data: url }
  }
}

const toMessages = (prompt: Prompt.Prompt): Effect.Effect<Array<ChatMessage>, AiError.AiErrorReason> =>
  Effect.suspend(() => {
    const messages: Array<ChatMessage> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system": {
          messages.push({ role: "system", content: message.content })
          break
        }
        case "user": {
          if (message.content.every((part) => part.type === "text")) {
            messages.push({ role: "user", content: message.content.map((part) => part.text).join("\n") })
            break
          }
          const content: Array<ChatContentPart> = []
          for (const part of message.content) {
            if (part.type === "text") {
              content.push({ type: "text", text: part.text })
            } else {
              const mapped = userFilePart(part)
              if (AiError.isAiErrorReason(mapped)) return Effect.fail(mapped)
              content.push(mapped)
            }
          }
          messages.push({ role: "user", content })
          break
        }
        case "assistant": {
          // Reasoning, files and provider-executed results have no Chat Completions form; they are dropped.
          let text = ""
          const toolCalls: Array<ChatToolCall> = []
          for (const part of message.content) {
            if (part.type === "text") {
              text += part.text
            } else if (part.type === "tool-call" && !part.providerExecuted) {
              toolCalls.push({
                id: part.id,
                type: "function",
                function: { name: part.name, arguments: JSON.stringify(part.params ?? {}) }
              })
            }
          }
          messages.push(
            toolCalls.length > 0
              ? { role: "assistant", content: text.length > 0 ? text : null, tool_calls: toolCalls }
              : { role: "assistant", content: text }
          )
          break
        }
        case "tool": {
          for (const part of message.content) {
            if (part.type === "tool-result") {
              messages.push({ role: "tool", tool_call_id: part.id, content: ModelHttp.toolResultText(part) })
            }
          }
          break
        }
      }
    }
    return Effect.succeed(messages)
  })

// =============================================================================
// Tools
// =============================================================================

const toolDefinition = ModelHttp.toolDefinitions(
  "provider-defined tools are not supported by the Chat Completions API",
  (name, description, parameters): ChatTool => ({
    type: "function",
    function: { name, ...(description !== undefined ? { description } : undefined), parameters }
  })
)

const toolChoice = (choice: LanguageModel.ProviderOptions["toolChoice"]): unknown => {
  if (choice === "auto" || choice === "none" || choice === "required") return choice
  if ("tool" in choice) return { type: "function", function: { name: choice.tool } }
  // `oneOf`: LanguageModel already narrowed the tools to that subset.
  return choice.mode === "required" ? "required" : "auto"
}

// =============================================================================
// Response -> parts
// =============================================================================

const usageOf = (usage: WireUsage | null | undefined): typeof Response.Usage.Encoded => {
  const input = usage?.prompt_tokens ?? undefined
  const cached = usage?.prompt_tokens_details?.cached_tokens ?? undefined
  const output = usage?.completion_tokens ?? undefined
  const reasoning = usage?.completion_tokens_details?.reasoning_tokens ?? undefined
  return {
    inputTokens: {
      ...(input !== undefined ? { total: input } : undefined),
      ...(input !== undefined && cached !== undefined ? { uncached: input - cached, cacheRead: cached } : undefined)
    },
    outputTokens: {
      ...(output !== undefined ? { total: output } : undefined),
      ...(output !== undefined && reasoning !== undefined ? { reasoning, text: output - reasoning } : undefined)
    }
  }
}

/**
 * `LanguageModel` runs tool handlers only after a complete finish ("stop",
 * "tool-calls"), so a response with tool calls finishes with "tool-calls" even
 * when a server says "stop" (older Ollama) or nothing at all.
 */
const finishReason = (reason: string | null | undefined, hasToolCalls: boolean): Response.FinishReason => {
  switch (reason) {
    case "length":
      return "length"
    case "content_filter":
      return "content-filter"
    case "tool_calls":
    case "function_call":
      return "tool-calls"
    case "stop":
    case null:
    case undefined:
      return hasToolCalls ? "tool-calls" : "stop"
    default:
      return hasToolCalls ? "tool-calls" : "other"
  }
}

const metadataPart = (
  chunk: {
    readonly id?: string | null | undefined
    readonly model?: string | null | undefined
    readonly created?: number | null | undefined
  }
): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  ...(chunk.id ? { id: chunk.id } : undefined),
  ...(chunk.model ? { modelId: chunk.model } : undefined),
  ...(typeof chunk.created === "number" ? { timestamp: new Date(chunk.created * 1000).toISOString() } : undefined)
})

/**
 * Parses a tool call's JSON arguments. With deferred validation (the caller
 * validates, e.g. Graphent's planner, which shows the model its mistake)
 * arguments that are not JSON are passed on as the raw string; otherwise they
 * fail the call.
 */
const parseToolArguments = (
  name: string,
  args: unknown,
  options: LanguageModel.ProviderOptions
): Effect.Effect<unknown, AiError.AiErrorReason> => {
  if (typeof args !== "string") return Effect.succeed(args ?? {})
  if (args.trim() === "") return Effect.succeed({})
  if (options.toolCallValidation === "deferred") {
    try {
      return Effect.succeed(JSON.parse(args) as unknown)
    } catch {
      return Effect.succeed(args)
    }
  }
  return Effect.try({
    try: () => JSON.parse(args) as unknown,
    catch: () =>
      new AiError.InvalidOutputError({
        description: `the model called "${name}" with arguments that are not JSON: ${ModelHttp.truncate(args, 200)}`
      })
  })
}

// =============================================================================
// Errors
// =============================================================================

// The error bodies of the OpenAI dialect are read by `ModelHttp.openAiErrorDetails` (shared with the embeddings).

// =============================================================================
// Constructor
// =============================================================================

/**
 * The model over the `HttpClient` in context: its `LanguageModel`, and its
 * `ModelTransport` for the planner's direct path.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const baseUrl = (options.baseUrl ?? "https://api.openai.com/v1").replace(/\/+$/, "")
  const http = yield* ModelHttp.make({
    module: "OpenAiProvider",
    url: `${baseUrl}/chat/completions`,
    options,
    authHeaders: (apiKey) => ({ authorization: `Bearer ${apiKey}` }),
    errorDetails: ModelHttp.openAiErrorDetails
  })
  const { fail } = http
  const codecTransformer = options.strictJsonSchema === true
    ? OpenAiStructuredOutput.toCodecOpenAI
    : LanguageModel.defaultCodecTransformer

  // ---------------------------------------------------------------------------
  // Request body
  // ---------------------------------------------------------------------------

  const requestBody = Effect.fnUntraced(function*(providerOptions: LanguageModel.ProviderOptions, method: string) {
    const messages = yield* Effect.mapError(toMessages(providerOptions.prompt), (reason) => fail(method, reason))
    const body: Record<string, unknown> = { model: options.model, messages }
    if (providerOptions.tools.length > 0) {
      body.tools = yield* Effect.forEach(providerOptions.tools, toolDefinition).pipe(
        Effect.mapError((reason) => fail(method, reason))
      )
      body.tool_choice = toolChoice(providerOptions.toolChoice)
    }
    const format = providerOptions.responseFormat
    if (format.type === "json") {
      const { jsonSchema } = yield* Effect.try({
        try: () => codecTransformer(format.schema),
        catch: (cause) =>
          fail(
            method,
            new AiError.UnsupportedSchemaError({ description: cause instanceof Error ? cause.message : String(cause) })
          )
      })
      body.response_format = {
        type: "json_schema",
        json_schema: {
          // OpenAI allows [a-zA-Z0-9_-]{1,64} here.
          name: format.objectName.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64) || "response",
          schema: jsonSchema,
          strict: options.strictJsonSchema === true
        }
      }
    }
    if (options.maxTokens !== undefined) body.max_tokens = options.maxTokens
    if (options.temperature !== undefined) body.temperature = options.temperature
    Object.assign(body, options.extraBody)
    Telemetry.addGenAIAnnotations(providerOptions.span, {
      provider: { name: "openai" },
      operation: { name: "chat" },
      request: { model: options.model, maxTokens: options.maxTokens, temperature: options.temperature }
    })
    return body
  })

  // For servers that leave out the id of a tool call.
  const newToolCallId = Effect.gen(function*() {
    const ids = yield* IdGenerator.IdGenerator
    return yield* ids.generateId()
  })

  // ---------------------------------------------------------------------------
  // generateText
  // ---------------------------------------------------------------------------

  const generateText = Effect.fn("OpenAiProvider.generateText")(function*(providerOptions: LanguageModel.ProviderOptions) {
    const method = "generateText"
    const body = yield* requestBody(providerOptions, method)
    const completion = yield* http.request(method, body, decodeChatCompletion)
    const choice = completion.choices[0]
    if (choice === undefined) {
      return yield* fail(method, new AiError.InvalidResponseError({ description: "the response has no choices" }))
    }
    const parts: Array<Response.PartEncoded> = [metadataPart(completion)]
    const reasoning = choice.message.reasoning_content ?? choice.message.reasoning
    if (reasoning) parts.push({ type: "reasoning", text: reasoning })
    if (choice.message.content) parts.push({ type: "text", text: choice.message.content })
    const toolCalls = choice.message.tool_calls ?? []
    for (const call of toolCalls) {
      const params = yield* Effect.mapError(
        parseToolArguments(call.function.name, call.function.arguments, providerOptions),
        (reason) => fail(method, reason)
      )
      parts.push({ type: "tool-call", id: call.id || (yield* newToolCallId), name: call.function.name, params })
    }
    const reason = finishReason(choice.finish_reason, toolCalls.length > 0)
    const usage = usageOf(completion.usage)
    parts.push({ type: "finish", reason, usage })
    ModelHttp.annotateResponse(providerOptions.span, completion, reason, usage)
    return parts
  })

  // ---------------------------------------------------------------------------
  // streamText
  // ---------------------------------------------------------------------------

  /** Turns chunks into stream parts: text and reasoning blocks, tool-call arguments assembled by index. */
  const makeChunkReader = (providerOptions: LanguageModel.ProviderOptions) => {
    const method = "streamText"
    const toolCalls = new Map<number, { id: string; name: string; args: string; started: boolean }>()
    let text: string | undefined
    let reasoning: string | undefined
    let blocks = 0
    let sentMetadata = false
    let finish: string | null | undefined = undefined
    let finished = false
    let done = false
    let usage: WireUsage | null | undefined
    let response: { readonly id?: string | null | undefined; readonly model?: string | null | undefined } = {}

    const closeText = (parts: Array<Response.StreamPartEncoded>) => {
      if (text !== undefined) parts.push({ type: "text-end", id: text })
      text = undefined
    }
    const closeReasoning = (parts: Array<Response.StreamPartEncoded>) => {
      if (reasoning !== undefined) parts.push({ type: "reasoning-end", id: reasoning })
      reasoning = undefined
    }
    const flushToolCalls = Effect.fnUntraced(function*(parts: Array<Response.StreamPartEncoded>) {
      for (const call of [...toolCalls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call)) {
        if (!call.started) {
          parts.push({ type: "tool-params-start", id: call.id, name: call.name })
          if (call.args.length > 0) parts.push({ type: "tool-params-delta", id: call.id, delta: call.args })
        }
        parts.push({ type: "tool-params-end", id: call.id })
        const params = yield* Effect.mapError(parseToolArguments(call.name, call.args, providerOptions), (reason) => fail(method, reason))
        parts.push({ type: "tool-call", id: call.id, name: call.name, params })
      }
    })
    const complete = Effect.fnUntraced(function*(parts: Array<Response.StreamPartEncoded>) {
      if (finished) return
      finished = true
      closeReasoning(parts)
      closeText(parts)
      yield* flushToolCalls(parts)
    })

    const onEvent = Effect.fnUntraced(function*(data: string) {
      const parts: Array<Response.StreamPartEncoded> = []
      if (data.trim() === "[DONE]") {
        done = true
        return parts
      }
      const chunk = yield* http.decodeEvent(method, data, decodeChatCompletionChunk)
      if (chunk.error !== undefined && chunk.error !== null) {
        const error: any = chunk.error
        const message = typeof error === "string" ? error : typeof error?.message === "string" ? error.message : "error"
        return yield* fail(
          method,
          new AiError.InternalProviderError({ description: http.scrub(`the stream reported an error: ${message}`) })
        )
      }
      if (!sentMetadata && (chunk.id || chunk.model)) {
        sentMetadata = true
        response = chunk
        parts.push(metadataPart(chunk))
      }
      if (chunk.usage) usage = chunk.usage
      const choice = chunk.choices?.[0]
      if (choice === undefined || finished) return parts
      const delta = choice.delta
      const reasoningDelta = delta?.reasoning_content ?? delta?.reasoning
      if (reasoningDelta) {
        if (reasoning === undefined) {
          reasoning = `reasoning-${blocks++}`
          parts.push({ type: "reasoning-start", id: reasoning })
        }
        parts.push({ type: "reasoning-delta", id: reasoning, delta: reasoningDelta })
      }
      if (delta?.content) {
        closeReasoning(parts)
        if (text === undefined) {
          text = `text-${blocks++}`
          parts.push({ type: "text-start", id: text })
        }
        parts.push({ type: "text-delta", id: text, delta: delta.content })
      }
      for (const [position, toolCall] of (delta?.tool_calls ?? []).entries()) {
        // Arguments arrive in pieces; the index says which call a piece belongs to.
        const index = toolCall.index ?? position
        const call = toolCalls.get(index) ??
          { id: toolCall.id || (yield* newToolCallId), name: "", args: "", started: false }
        toolCalls.set(index, call)
        if (toolCall.function?.name) call.name = toolCall.function.name
        const args = toolCall.function?.arguments ?? ""
        call.args += args
        if (!call.started && call.name !== "") {
          call.started = true
          parts.push({ type: "tool-params-start", id: call.id, name: call.name })
          if (call.args.length > 0) parts.push({ type: "tool-params-delta", id: call.id, delta: call.args })
        } else if (call.started && args.length > 0) {
          parts.push({ type: "tool-params-delta", id: call.id, delta: args })
        }
      }
      if (choice.finish_reason) {
        finish = choice.finish_reason
        // The usage chunk may still follow; the tool calls are complete now.
        yield* complete(parts)
      }
      return parts
    })

    const onEnd = Effect.suspend(() => {
      if (!done && finish === undefined) {
        return Effect.fail(fail(method, http.transportError("the response stream ended before the model finished")))
      }
      return Effect.gen(function*() {
        const parts: Array<Response.StreamPartEncoded> = []
        yield* complete(parts)
        const reason = finishReason(finish, toolCalls.size > 0)
        const finalUsage = usageOf(usage)
        parts.push({ type: "finish", reason, usage: finalUsage })
        ModelHttp.annotateResponse(providerOptions.span, response, reason, finalUsage)
        return parts
      })
    })

    return { onEvent, onEnd }
  }

  const streamText = (providerOptions: LanguageModel.ProviderOptions) => {
    const method = "streamText"
    return Stream.unwrap(Effect.gen(function*() {
      const body = yield* requestBody(providerOptions, method)
      return yield* http.stream(
        method,
        { ...body, stream: true, stream_options: { include_usage: true } },
        makeChunkReader(providerOptions)
      )
    }).pipe(Effect.withSpan("OpenAiProvider.streamText")))
  }

  return yield* ModelTransport.make({
    generateText,
    streamText,
    codecTransformer,
    supportsSystemMessagesInHistory: Effect.succeed(true)
  })
})

// =============================================================================
// Layers
// =============================================================================

/**
 * The model over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = (
  options: Options
): Layer.Layer<ModelTransport.Provides, never, HttpClient.HttpClient> =>
  ModelTransport.layer("openai", options.model, make(options))

/**
 * The model over `fetch`.
 *
 * **Example** (A local Ollama server)
 *
 * ```ts
 * OpenAiProvider.layer({ model: "qwen3:8b", baseUrl: "http://localhost:11434/v1" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ModelTransport.Provides> =>
  layerNoDeps(options).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * Like {@link layer}, with the API key from `OPENAI_API_KEY` (optional: local
 * servers need none) and the base URL from `OPENAI_BASE_URL` (optional).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "apiKey" | "baseUrl">
): Layer.Layer<ModelTransport.Provides, Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const apiKey = yield* Config.option(Config.Redacted("OPENAI_API_KEY"))
    const baseUrl = yield* Config.option(Config.String("OPENAI_BASE_URL"))
    return layer({
      ...options,
      apiKey: Option.getOrUndefined(apiKey),
      baseUrl: Option.getOrUndefined(Option.filter(baseUrl, (url) => url.trim() !== ""))
    })
  }))
