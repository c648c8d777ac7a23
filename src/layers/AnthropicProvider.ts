/**
 * A `LanguageModel` for the Anthropic Messages API (`POST {baseUrl}/v1/messages`).
 *
 * - {@link make} / {@link layerNoDeps}: the model over the `HttpClient` in context.
 * - {@link layer}: the same, over `fetch`.
 * - {@link layerConfig}: reads `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` (optional).
 *
 * Supports text, tool use (parallel, streamed input), extended thinking (the
 * thinking blocks and their signatures are kept, so tool loops with thinking
 * work), images and PDFs in user messages, structured output (`generateObject`,
 * as a forced tool call) and streaming over server-sent events. System messages
 * become the top-level `system` prompt. HTTP 429, 5xx (529 "overloaded"
 * included), network errors and timeouts are retried with exponential backoff
 * (honouring `retry-after`); every failure is an `AiError`. The API key is
 * `Redacted` and never appears in errors.
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
import * as LanguageModel from "effect/ai/LanguageModel"
import type * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Telemetry from "effect/ai/Telemetry"
import * as Base64 from "effect/encoding/Base64"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import type * as Headers from "effect/http/Headers"
import type * as HttpClient from "effect/http/HttpClient"
import * as ModelHttp from "../internal/modelHttp.js"
import * as ModelTransport from "../services/ModelTransport.js"

/**
 * The model, key and endpoint of the Anthropic provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ModelHttp.TransportOptions {
  /** The model name, e.g. `claude-sonnet-4-5`. */
  readonly model: string
  /** Sent as `x-api-key`. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Default `https://api.anthropic.com` (the API paths start with `/v1`). */
  readonly baseUrl?: string | undefined
  /** Required by the API. Default 4096. */
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  /** Extra request headers (e.g. `anthropic-beta`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Extra fields merged into every request body (e.g. `thinking`, `top_k`, `metadata`). */
  readonly extraBody?: Readonly<Record<string, unknown>> | undefined
  /**
   * Prompt caching (default true): cache breakpoints (`cache_control`) on the
   * tools, the system prompt and the end of the conversation, so that the
   * next call of a run reads the prefix they share from Anthropic's cache
   * (`cache_read_input_tokens`, priced at the cached rate).
   */
  readonly promptCaching?: boolean | undefined
}

// =============================================================================
// Wire format
// =============================================================================

type ContentBlock =
  | { readonly type: "text"; readonly text: string }
  | {
    readonly type: "image"
    readonly source:
      | { readonly type: "base64"; readonly media_type: string; readonly data: string }
      | { readonly type: "url"; readonly url: string }
  }
  | {
    readonly type: "document"
    readonly source:
      | { readonly type: "base64"; readonly media_type: string; readonly data: string }
      | { readonly type: "text"; readonly media_type: "text/plain"; readonly data: string }
      | { readonly type: "url"; readonly url: string }
    readonly title?: string
  }
  | { readonly type: "tool_use"; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly type: "tool_result"; readonly tool_use_id: string; readonly content: string; readonly is_error?: true }
  | { readonly type: "thinking"; readonly thinking: string; readonly signature: string }
  | { readonly type: "redacted_thinking"; readonly data: string }

interface AnthropicMessage {
  readonly role: "user" | "assistant"
  readonly content: Array<ContentBlock>
}

interface AnthropicTool {
  readonly name: string
  readonly description?: string
  readonly input_schema: unknown
}

// =============================================================================
// Prompt caching
// =============================================================================

const ephemeral = { type: "ephemeral" } as const

/**
 * Sets Anthropic's cache breakpoints (at most 4 a request; 3 here): after the
 * tools, after the system prompt, and after the last block of the
 * conversation. The API caches the prefix up to each breakpoint; a run's
 * next call repeats that prefix (the conversation only grows), so it is read
 * from the cache. Thinking blocks cannot carry a breakpoint: the last other
 * block of the last message does.
 */
const markCacheBreakpoints = (body: Record<string, unknown>): void => {
  const tools = body.tools as Array<AnthropicTool> | undefined
  if (tools !== undefined && tools.length > 0) {
    tools[tools.length - 1] = { ...tools[tools.length - 1]!, cache_control: ephemeral } as AnthropicTool
  }
  if (typeof body.system === "string") body.system = [{ type: "text", text: body.system, cache_control: ephemeral }]
  const messages = body.messages as Array<AnthropicMessage>
  const content = messages[messages.length - 1]?.content
  if (content === undefined) return
  for (let i = content.length - 1; i >= 0; i--) {
    const block = content[i]!
    if (block.type === "thinking" || block.type === "redacted_thinking") continue
    content[i] = { ...block, cache_control: ephemeral } as unknown as ContentBlock
    return
  }
}

const optional = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const WireUsage = Schema.Struct({
  input_tokens: optional(Schema.Number),
  output_tokens: optional(Schema.Number),
  cache_creation_input_tokens: optional(Schema.Number),
  cache_read_input_tokens: optional(Schema.Number)
})
type WireUsage = typeof WireUsage.Type

const WireBlock = Schema.Struct({
  type: Schema.String,
  text: optional(Schema.String),
  id: optional(Schema.String),
  name: optional(Schema.String),
  input: optional(Schema.Unknown),
  thinking: optional(Schema.String),
  signature: optional(Schema.String),
  data: optional(Schema.String)
})
type WireBlock = typeof WireBlock.Type

const WireMessage = Schema.Struct({
  id: optional(Schema.String),
  model: optional(Schema.String),
  content: Schema.Array(WireBlock),
  stop_reason: optional(Schema.String),
  usage: optional(WireUsage)
})
const decodeMessage = Schema.decodeUnknownEffect(WireMessage)

const WireEvent = Schema.Struct({
  type: Schema.String,
  message: optional(Schema.Struct({ id: optional(Schema.String), model: optional(Schema.String), usage: optional(WireUsage) })),
  index: optional(Schema.Number),
  content_block: optional(WireBlock),
  delta: optional(Schema.Struct({
    type: optional(Schema.String),
    text: optional(Schema.String),
    partial_json: optional(Schema.String),
    thinking: optional(Schema.String),
    signature: optional(Schema.String),
    stop_reason: optional(Schema.String)
  })),
  usage: optional(WireUsage),
  error: optional(Schema.Unknown)
})
const decodeEvent = Schema.decodeUnknownEffect(WireEvent)

// =============================================================================
// Prompt -> system + messages
// =============================================================================

const fileSource = (part: Prompt.FilePart) => {
  const data = part.data
  if (data instanceof URL) return { type: "url", url: data.href } as const
  if (typeof data === "string") {
    if (/^https?:\/\//.test(data)) return { type: "url", url: data } as const
    const inline = /^data:[^;,]*;base64,(.*)$/s.exec(data)
    return { type: "base64", media_type: part.mediaType, data: inline?.[1] ?? data } as const
  }
  return { type: "base64", media_type: part.mediaType, data: Base64.encode(data) } as const
}

const userFileBlock = (part: Prompt.FilePart): ContentBlock | AiError.AiErrorReason => {
  const source = fileSource(part)
  const title = part.fileName !== undefined ? { title: part.fileName } : undefined
  if (part.mediaType.startsWith("image/")) return { type: "image", source }
  if (part.mediaType === "application/pdf") return { type: "document", source, ...title }
  if (part.mediaType === "text/plain" && source.type === "base64") {
    const text = Base64.decodeString(source.data)
    if (text._tag === "Success") {
      return { type: "document", source: { type: "text", media_type: "text/plain", data: text.success }, ...title }
    }
  }
  return new AiError.InvalidUserInputError({ description: `files of type ${part.mediaType} are not supported` })
}

/** Thinking blocks can only be sent back with the signature they came with. */
const thinkingBlock = (part: Prompt.ReasoningPart): ContentBlock | undefined => {
  const anthropic: any = part.options.anthropic
  if (typeof anthropic?.redactedData === "string") return { type: "redacted_thinking", data: anthropic.redactedData }
  if (typeof anthropic?.signature === "string") {
    return { type: "thinking", thinking: part.text, signature: anthropic.signature }
  }
  return undefined
}

const toRequestMessages = (
  prompt: Prompt.Prompt
): Effect.Effect<{ system: string | undefined; messages: Array<AnthropicMessage> }, AiError.AiErrorReason> =>
  Effect.suspend(() => {
    const system: Array<string> = []
    const messages: Array<AnthropicMessage> = []
    // Consecutive messages of one role (a tool result, then the user's next words) become one message.
    const push = (role: AnthropicMessage["role"], content: Array<ContentBlock>) => {
      if (content.length === 0) return
      const last = messages[messages.length - 1]
      if (last !== undefined && last.role === role) last.content.push(...content)
      else messages.push({ role, content })
    }
    for (const message of prompt.content) {
      switch (message.role) {
        case "system": {
          // The API takes one system prompt; system messages later in the history join it.
          system.push(message.content)
          break
        }
        case "user": {
          const content: Array<ContentBlock> = []
          for (const part of message.content) {
            if (part.type === "text") {
              if (part.text.length > 0) content.push({ type: "text", text: part.text })
            } else {
              const block = userFileBlock(part)
              if (AiError.isAiErrorReason(block)) return Effect.fail(block)
              content.push(block)
            }
          }
          push("user", content)
          break
        }
        case "assistant": {
          const content: Array<ContentBlock> = []
          for (const part of message.content) {
            if (part.type === "text") {
              // The API rejects empty text blocks.
              if (part.text.length > 0) content.push({ type: "text", text: part.text })
            } else if (part.type === "reasoning") {
              const block = thinkingBlock(part)
              if (block !== undefined) content.push(block)
            } else if (part.type === "tool-call" && !part.providerExecuted) {
              content.push({ type: "tool_use", id: part.id, name: part.name, input: part.params ?? {} })
            }
          }
          push("assistant", content)
          break
        }
        case "tool": {
          const content: Array<ContentBlock> = []
          for (const part of message.content) {
            if (part.type === "tool-result") {
              content.push({
                type: "tool_result",
                tool_use_id: part.id,
                content: ModelHttp.toolResultText(part),
                ...(part.isFailure ? { is_error: true as const } : undefined)
              })
            }
          }
          push("user", content)
          break
        }
      }
    }
    return Effect.succeed({ system: system.length > 0 ? system.join("\n\n") : undefined, messages })
  })

// =============================================================================
// Tools
// =============================================================================

const toolDefinition = ModelHttp.toolDefinitions(
  "provider-defined tools are not supported by this provider",
  (name, description, input_schema): AnthropicTool => ({
    name,
    ...(description !== undefined ? { description } : undefined),
    input_schema
  })
)

const toolChoice = (choice: LanguageModel.ProviderOptions["toolChoice"]): unknown => {
  if (choice === "auto") return { type: "auto" }
  if (choice === "none") return { type: "none" }
  if (choice === "required") return { type: "any" }
  if ("tool" in choice) return { type: "tool", name: choice.tool }
  // `oneOf`: LanguageModel already narrowed the tools to that subset.
  return { type: choice.mode === "required" ? "any" : "auto" }
}

// =============================================================================
// Response -> parts
// =============================================================================

const usageOf = (usage: WireUsage | null | undefined): typeof Response.Usage.Encoded => {
  const uncached = usage?.input_tokens ?? undefined
  const cacheRead = usage?.cache_read_input_tokens ?? undefined
  const cacheWrite = usage?.cache_creation_input_tokens ?? undefined
  const output = usage?.output_tokens ?? undefined
  return {
    inputTokens: {
      ...(uncached !== undefined ? { uncached, total: uncached + (cacheRead ?? 0) + (cacheWrite ?? 0) } : undefined),
      ...(cacheRead !== undefined ? { cacheRead } : undefined),
      ...(cacheWrite !== undefined ? { cacheWrite } : undefined)
    },
    outputTokens: output !== undefined ? { total: output } : {}
  }
}

/** Later usage reports (`message_delta`) complete the first (`message_start`). */
const mergeUsage = (left: WireUsage | undefined, right: WireUsage | null | undefined): WireUsage | undefined => {
  if (right === null || right === undefined) return left
  const merged: Record<string, number> = {}
  for (const source of [left, right]) {
    for (const [key, value] of Object.entries(source ?? {})) {
      if (typeof value === "number") merged[key] = value
    }
  }
  return merged
}

/**
 * `LanguageModel` runs tool handlers only after a complete finish ("stop",
 * "tool-calls"), so a response with tool calls finishes with "tool-calls".
 */
const finishReason = (reason: string | null | undefined, hasToolCalls: boolean): Response.FinishReason => {
  switch (reason) {
    case "tool_use":
      return "tool-calls"
    case "end_turn":
    case "stop_sequence":
    case null:
    case undefined:
      return hasToolCalls ? "tool-calls" : "stop"
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length"
    case "pause_turn":
      return "pause"
    case "refusal":
      return "content-filter"
    default:
      return hasToolCalls ? "tool-calls" : "other"
  }
}

const metadataPart = (
  message: { readonly id?: string | null | undefined; readonly model?: string | null | undefined }
): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  ...(message.id ? { id: message.id } : undefined),
  ...(message.model ? { modelId: message.model } : undefined)
})

/** Parses streamed tool input; with deferred validation, input that is not JSON is passed on as the raw string. */
const parseToolInput = (
  name: string,
  json: string,
  options: LanguageModel.ProviderOptions
): Effect.Effect<unknown, AiError.AiErrorReason> => {
  if (json.trim() === "") return Effect.succeed({})
  if (options.toolCallValidation === "deferred") {
    try {
      return Effect.succeed(JSON.parse(json) as unknown)
    } catch {
      return Effect.succeed(json)
    }
  }
  return Effect.try({
    try: () => JSON.parse(json) as unknown,
    catch: () =>
      new AiError.InvalidOutputError({
        description: `the model called "${name}" with input that is not JSON: ${ModelHttp.truncate(json, 200)}`
      })
  })
}

// =============================================================================
// Errors
// =============================================================================

/** `{type:"error", error:{type:"rate_limit_error", message:"..."}}` */
const errorDetails = (body: any, headers: Headers.Headers): ModelHttp.ErrorDetails => {
  const error = body?.error
  const message: string | undefined = typeof error?.message === "string" ? error.message : undefined
  const errorType: string | null = typeof error?.type === "string" ? error.type : null
  const requestId = headers["request-id"] ?? null
  return { message, errorType, requestId, metadata: { anthropic: { errorType, requestId } } }
}

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
  const baseUrl = (options.baseUrl ?? "https://api.anthropic.com").replace(/\/+$/, "")
  const http = yield* ModelHttp.make({
    module: "AnthropicProvider",
    url: `${baseUrl}/v1/messages`,
    options,
    defaultHeaders: { "anthropic-version": "2023-06-01" },
    authHeaders: (apiKey) => ({ "x-api-key": apiKey }),
    errorDetails
  })
  const { fail } = http
  const maxTokens = options.maxTokens ?? 4096

  // ---------------------------------------------------------------------------
  // Request body
  // ---------------------------------------------------------------------------

  /** The tool that carries structured output (`generateObject`), if any. */
  const objectToolName = (providerOptions: LanguageModel.ProviderOptions): string | undefined =>
    providerOptions.responseFormat.type === "json"
      ? providerOptions.responseFormat.objectName.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64) || "response"
      : undefined

  const requestBody = Effect.fnUntraced(function*(providerOptions: LanguageModel.ProviderOptions, method: string) {
    const { messages, system } = yield* Effect.mapError(
      toRequestMessages(providerOptions.prompt),
      (reason) => fail(method, reason)
    )
    const body: Record<string, unknown> = { model: options.model, max_tokens: maxTokens, messages }
    if (system !== undefined) body.system = system
    const tools: Array<AnthropicTool> = []
    if (providerOptions.tools.length > 0) {
      tools.push(
        ...yield* Effect.forEach(providerOptions.tools, toolDefinition).pipe(
          Effect.mapError((reason) => fail(method, reason))
        )
      )
      body.tool_choice = toolChoice(providerOptions.toolChoice)
    }
    const objectTool = objectToolName(providerOptions)
    const format = providerOptions.responseFormat
    if (objectTool !== undefined && format.type === "json") {
      // The Messages API has no JSON mode: a forced call of a tool whose input is the object does the job.
      const { jsonSchema } = yield* Effect.try({
        try: () => LanguageModel.defaultCodecTransformer(format.schema),
        catch: (cause) =>
          fail(
            method,
            new AiError.UnsupportedSchemaError({ description: cause instanceof Error ? cause.message : String(cause) })
          )
      })
      tools.push({ name: objectTool, description: "Respond with the requested object.", input_schema: jsonSchema })
      body.tool_choice = { type: "tool", name: objectTool }
    }
    if (tools.length > 0) body.tools = tools
    if (options.temperature !== undefined) body.temperature = options.temperature
    if (options.promptCaching !== false) markCacheBreakpoints(body)
    Object.assign(body, options.extraBody)
    Telemetry.addGenAIAnnotations(providerOptions.span, {
      provider: { name: "anthropic" },
      operation: { name: "chat" },
      request: { model: options.model, maxTokens, temperature: options.temperature }
    })
    return body
  })

  const streamError = (method: string, error: unknown): AiError.AiError => {
    const e: any = error
    const type = typeof e?.type === "string" ? e.type : undefined
    const description = http.scrub(`the stream reported ${type ?? "an error"}: ${typeof e?.message === "string" ? e.message : ""}`)
    switch (type) {
      case "rate_limit_error":
        return fail(method, new AiError.RateLimitError({}))
      case "invalid_request_error":
        return fail(method, new AiError.InvalidRequestError({ description }))
      case "authentication_error":
        return fail(method, new AiError.AuthenticationError({ kind: "InvalidKey", description }))
      case "permission_error":
        return fail(method, new AiError.AuthenticationError({ kind: "InsufficientPermissions", description }))
      case "overloaded_error":
      case "api_error":
        return fail(method, new AiError.InternalProviderError({ description }))
      default:
        return fail(method, new AiError.UnknownError({ description }))
    }
  }

  // ---------------------------------------------------------------------------
  // generateText
  // ---------------------------------------------------------------------------

  const reasoningPart = (block: WireBlock): Response.ReasoningPartEncoded =>
    block.type === "redacted_thinking"
      ? { type: "reasoning", text: "", metadata: { anthropic: { redactedData: block.data ?? "" } } }
      : {
        type: "reasoning",
        text: block.thinking ?? "",
        ...(block.signature ? { metadata: { anthropic: { signature: block.signature } } } : undefined)
      }

  const generateText = Effect.fn("AnthropicProvider.generateText")(
    function*(providerOptions: LanguageModel.ProviderOptions) {
      const method = "generateText"
      const body = yield* requestBody(providerOptions, method)
      const message = yield* http.request(method, body, decodeMessage)
      const objectTool = objectToolName(providerOptions)
      const parts: Array<Response.PartEncoded> = [metadataPart(message)]
      let toolCalls = 0
      for (const block of message.content) {
        switch (block.type) {
          case "text": {
            if (block.text) parts.push({ type: "text", text: block.text })
            break
          }
          case "thinking":
          case "redacted_thinking": {
            parts.push(reasoningPart(block))
            break
          }
          case "tool_use": {
            if (block.name === objectTool) {
              parts.push({ type: "text", text: JSON.stringify(block.input ?? {}) })
              break
            }
            if (!block.id || !block.name) {
              return yield* fail(
                method,
                new AiError.InvalidResponseError({ description: "a tool_use block has no id or name" })
              )
            }
            toolCalls++
            parts.push({ type: "tool-call", id: block.id, name: block.name, params: block.input ?? {} })
            break
          }
        }
      }
      const reason = objectTool !== undefined && message.stop_reason === "tool_use"
        ? "stop"
        : finishReason(message.stop_reason, toolCalls > 0)
      const usage = usageOf(message.usage)
      parts.push({ type: "finish", reason, usage })
      ModelHttp.annotateResponse(providerOptions.span, message, reason, usage)
      return parts
    }
  )

  // ---------------------------------------------------------------------------
  // streamText
  // ---------------------------------------------------------------------------

  type Block =
    | { readonly kind: "text"; readonly id: string }
    | { readonly kind: "reasoning"; readonly id: string; signature: string | undefined }
    | { readonly kind: "tool"; readonly id: string; readonly name: string; input: string }

  /** Turns the Messages API's stream events into stream parts. */
  const makeEventReader = (providerOptions: LanguageModel.ProviderOptions) => {
    const method = "streamText"
    const blocks = new Map<number, Block>()
    let response: { readonly id?: string | null | undefined; readonly model?: string | null | undefined } = {}
    let usage: WireUsage | undefined
    let stopReason: string | null | undefined
    let toolCalls = 0
    let stopped = false

    const onEvent = Effect.fnUntraced(function*(data: string) {
      const parts: Array<Response.StreamPartEncoded> = []
      const event = yield* http.decodeEvent(method, data, decodeEvent)
      const index = event.index ?? 0
      switch (event.type) {
        case "message_start": {
          response = event.message ?? {}
          usage = mergeUsage(usage, event.message?.usage)
          parts.push(metadataPart(response))
          break
        }
        case "content_block_start": {
          const block = event.content_block
          if (block?.type === "text") {
            const id = `text-${index}`
            blocks.set(index, { kind: "text", id })
            parts.push({ type: "text-start", id })
            if (block.text) parts.push({ type: "text-delta", id, delta: block.text })
          } else if (block?.type === "thinking") {
            const id = `reasoning-${index}`
            blocks.set(index, { kind: "reasoning", id, signature: block.signature ?? undefined })
            parts.push({ type: "reasoning-start", id })
            if (block.thinking) parts.push({ type: "reasoning-delta", id, delta: block.thinking })
          } else if (block?.type === "redacted_thinking") {
            const id = `reasoning-${index}`
            parts.push({ type: "reasoning-start", id })
            parts.push({ type: "reasoning-end", id, metadata: { anthropic: { redactedData: block.data ?? "" } } })
          } else if (block?.type === "tool_use" && block.id && block.name) {
            // The input arrives as JSON pieces (input_json_delta); a non-empty `input` here is complete already.
            const input = block.input !== null && typeof block.input === "object" && Object.keys(block.input).length > 0
              ? JSON.stringify(block.input)
              : ""
            blocks.set(index, { kind: "tool", id: block.id, name: block.name, input })
            parts.push({ type: "tool-params-start", id: block.id, name: block.name })
            if (input.length > 0) parts.push({ type: "tool-params-delta", id: block.id, delta: input })
          }
          break
        }
        case "content_block_delta": {
          const block = blocks.get(index)
          const delta = event.delta
          if (block === undefined || delta === undefined || delta === null) break
          if (block.kind === "text" && delta.text) {
            parts.push({ type: "text-delta", id: block.id, delta: delta.text })
          } else if (block.kind === "reasoning") {
            if (delta.thinking) parts.push({ type: "reasoning-delta", id: block.id, delta: delta.thinking })
            if (delta.signature) block.signature = (block.signature ?? "") + delta.signature
          } else if (block.kind === "tool" && delta.partial_json) {
            block.input += delta.partial_json
            parts.push({ type: "tool-params-delta", id: block.id, delta: delta.partial_json })
          }
          break
        }
        case "content_block_stop": {
          const block = blocks.get(index)
          blocks.delete(index)
          if (block?.kind === "text") {
            parts.push({ type: "text-end", id: block.id })
          } else if (block?.kind === "reasoning") {
            parts.push({
              type: "reasoning-end",
              id: block.id,
              ...(block.signature !== undefined ? { metadata: { anthropic: { signature: block.signature } } } : undefined)
            })
          } else if (block?.kind === "tool") {
            parts.push({ type: "tool-params-end", id: block.id })
            const params = yield* Effect.mapError(parseToolInput(block.name, block.input, providerOptions), (reason) => fail(method, reason))
            toolCalls++
            parts.push({ type: "tool-call", id: block.id, name: block.name, params })
          }
          break
        }
        case "message_delta": {
          if (event.delta?.stop_reason) stopReason = event.delta.stop_reason
          usage = mergeUsage(usage, event.usage)
          break
        }
        case "message_stop": {
          stopped = true
          break
        }
        case "error": {
          return yield* streamError(method, event.error)
        }
        // "ping" and event types added later: nothing to do.
      }
      return parts
    })

    const onEnd = Effect.suspend(() => {
      if (!stopped) {
        return Effect.fail(fail(method, http.transportError("the response stream ended before message_stop")))
      }
      const reason = finishReason(stopReason, toolCalls > 0)
      const finalUsage = usageOf(usage)
      ModelHttp.annotateResponse(providerOptions.span, response, reason, finalUsage)
      return Effect.succeed<Array<Response.StreamPartEncoded>>([{ type: "finish", reason, usage: finalUsage }])
    })

    return { onEvent, onEnd }
  }

  const streamText = (providerOptions: LanguageModel.ProviderOptions) => {
    const method = "streamText"
    return Stream.unwrap(Effect.gen(function*() {
      const body = yield* requestBody(providerOptions, method)
      return yield* http.stream(method, { ...body, stream: true }, makeEventReader(providerOptions))
    }).pipe(Effect.withSpan("AnthropicProvider.streamText")))
  }

  return yield* ModelTransport.make({
    generateText,
    streamText,
    // System messages are hoisted into the top-level `system` prompt.
    supportsSystemMessagesInHistory: Effect.succeed(false)
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
  ModelTransport.layer("anthropic", options.model, make(options))

/**
 * The model over `fetch`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<ModelTransport.Provides> =>
  layerNoDeps(options).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * Like {@link layer}, with the API key from `ANTHROPIC_API_KEY` and the base
 * URL from `ANTHROPIC_BASE_URL` (optional).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "apiKey" | "baseUrl">
): Layer.Layer<ModelTransport.Provides, Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const apiKey = yield* Config.Redacted("ANTHROPIC_API_KEY")
    const baseUrl = yield* Config.option(Config.String("ANTHROPIC_BASE_URL"))
    return layer({
      ...options,
      apiKey,
      baseUrl: Option.getOrUndefined(Option.filter(baseUrl, (url) => url.trim() !== ""))
    })
  }))
