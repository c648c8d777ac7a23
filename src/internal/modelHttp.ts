/**
 * What the HTTP `LanguageModel` providers (`OpenAiProvider`,
 * `AnthropicProvider`) share, apart from their dialects: the transport (a JSON
 * POST with a timeout, retries with backoff, HTTP failures mapped to `AiError`,
 * the API key scrubbed from every error, server-sent events read into stream
 * parts) and a few helpers for tools, prompts and telemetry.
 *
 * A provider keeps its dialect: the request body, the response and its stream
 * events, and what an error body says ({@link Dialect}).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import type * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as AiError from "effect/ai/AiError"
import type * as LanguageModel from "effect/ai/LanguageModel"
import * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Telemetry from "effect/ai/Telemetry"
import * as Tool from "effect/ai/Tool"
import * as Sse from "effect/encoding/Sse"
import type * as Headers from "effect/http/Headers"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"

/** The transport options of every provider's `Options`. */
export interface TransportOptions {
  /** Retries after a 429, a 5xx, a network error or a timeout. Default 3. */
  readonly maxRetries?: number | undefined
  /**
   * Per attempt: until the whole answer is read (`generateText`), or until the
   * response starts and then between two chunks of the stream (`streamText`).
   * Default 10 minutes.
   */
  readonly timeout?: Duration.Input | undefined
  /** The first backoff delay, doubled on each retry. Default 500 ms. */
  readonly retryDelay?: Duration.Input | undefined
  /** Cap on one retry delay, including a server's `retry-after`. Default 60 s. */
  readonly maxRetryDelay?: Duration.Input | undefined
}

/** What a dialect reads from a failed response. */
export interface ErrorDetails {
  readonly message: string | undefined
  readonly errorCode?: string | null | undefined
  readonly errorType: string | null
  readonly requestId: string | null
  /** The `metadata` of the error, under the provider's key. */
  readonly metadata: AiError.ProviderMetadata
  /** The request parameter a 4xx blames. */
  readonly parameter?: string | undefined
  /** A 429 that waiting does not cure (out of credit): not retried. */
  readonly quotaExhausted?: boolean | undefined
  /** From a dialect's own header; takes precedence over `retry-after`. */
  readonly retryAfter?: Duration.Duration | undefined
}

/** What a provider tells the transport. */
export interface Dialect {
  /** The provider's module name, for errors and logs. */
  readonly module: string
  /** Every request is a POST here. */
  readonly url: string
  readonly options: TransportOptions & {
    readonly apiKey?: Redacted.Redacted<string> | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
  /** Sent unless `options.headers` overrides them. */
  readonly defaultHeaders?: Readonly<Record<string, string>> | undefined
  /** The headers that carry the API key (sent only when there is a key). */
  readonly authHeaders: (apiKey: string) => Record<string, string>
  /** Reads an error response: its body parsed as JSON (`undefined` when it is not JSON) and its headers. */
  readonly errorDetails: (body: any, headers: Headers.Headers) => ErrorDetails
}

/** Turns a response's server-sent events into stream parts. */
export interface EventReader<R> {
  /** The parts for the data of one event. */
  readonly onEvent: (data: string) => Effect.Effect<Iterable<Response.StreamPartEncoded>, AiError.AiError, R>
  /** The last parts, once the events end. */
  readonly onEnd: Effect.Effect<Iterable<Response.StreamPartEncoded>, AiError.AiError, R>
}

type Decode<A> = (input: unknown) => Effect.Effect<A, Schema.SchemaError>

/** The transport of a provider, over the `HttpClient` in context. */
export const make = Effect.fnUntraced(function*(dialect: Dialect) {
  const client = yield* HttpClient.HttpClient
  const { module, options, url } = dialect
  const maxRetries = Math.max(0, options.maxRetries ?? 3)
  const timeout = Duration.fromInputUnsafe(options.timeout ?? "10 minutes")
  const retryDelay = Duration.toMillis(options.retryDelay ?? "500 millis")
  const maxRetryDelay = Duration.toMillis(options.maxRetryDelay ?? "60 seconds")
  const apiKey = options.apiKey !== undefined && Redacted.value(options.apiKey).length > 0
    ? options.apiKey
    : undefined

  // Anything a server echoes back may contain the key; keep it out of every error.
  const scrub = (text: string): string => {
    if (apiKey === undefined) return text
    const secret = Redacted.value(apiKey)
    return text.split(secret).join("<redacted>")
  }

  const fail = (method: string, reason: AiError.AiErrorReason) => AiError.make({ module, method, reason })

  const headers: Record<string, string> = {
    ...dialect.defaultHeaders,
    ...options.headers,
    "content-type": "application/json",
    ...(apiKey !== undefined ? dialect.authHeaders(Redacted.value(apiKey)) : undefined)
  }

  /** A failure of the connection, retried like a network error. */
  const transportError = (description: string) =>
    new AiError.NetworkError({ reason: "TransportError", method: "POST", url: scrub(url), description })

  const timeoutError = () => transportError(`no response within ${Duration.format(timeout)}`)

  const networkError = (error: HttpClientError.HttpClientError, reading: boolean): AiError.NetworkError => {
    const reason = error.reason
    const cause = "cause" in reason ? reason.cause : undefined
    const detail = reason.description ??
      (cause instanceof Error
        ? `${cause.message}${cause.cause instanceof Error ? ` (${cause.cause.message})` : ""}`
        : undefined)
    const isRequestError = reason._tag === "EncodeError" || reason._tag === "InvalidUrlError"
    return new AiError.NetworkError({
      reason: isRequestError ? reason._tag : "TransportError",
      method: "POST",
      url: scrub(url),
      description: scrub(reading ? `reading the response failed: ${detail ?? reason._tag}` : detail ?? reason._tag)
    })
  }

  const errorReason = Effect.fnUntraced(function*(response: HttpClientResponse.HttpClientResponse) {
    const body = scrub(yield* Effect.orElseSucceed(response.text, () => ""))
    const now = yield* Clock.currentTimeMillis
    let parsed: unknown = undefined
    try {
      parsed = JSON.parse(body)
    } catch {
      // not JSON: the raw body goes into the description
    }
    const details = dialect.errorDetails(parsed, response.headers)
    const { metadata } = details
    const http = {
      response: { status: response.status, headers: { ...response.headers } },
      body: truncate(body, 2000)
    }
    const description = AiError.buildErrorDescription({
      status: response.status,
      message: details.message,
      method: "POST",
      url: scrub(url),
      errorCode: details.errorCode,
      errorType: details.errorType,
      requestId: details.requestId,
      body
    })
    const status = response.status
    if (status === 429) {
      if (details.quotaExhausted === true) return new AiError.QuotaExhaustedError({ metadata, http })
      const delay = details.retryAfter ?? retryAfter(response.headers, now)
      return new AiError.RateLimitError({ ...(delay !== undefined ? { retryAfter: delay } : undefined), metadata, http })
    }
    if (status === 401 || status === 403) {
      return new AiError.AuthenticationError({
        kind: status === 403 ? "InsufficientPermissions" : apiKey === undefined ? "MissingKey" : "InvalidKey",
        description,
        metadata,
        http
      })
    }
    if (status === 400 || status === 404 || status === 413 || status === 422) {
      return new AiError.InvalidRequestError({
        ...(details.parameter !== undefined ? { parameter: details.parameter } : undefined),
        description,
        metadata,
        http
      })
    }
    // Anthropic's 529 "overloaded" included.
    if (status >= 500) return new AiError.InternalProviderError({ description, metadata, http })
    return new AiError.UnknownError({ description, metadata, http })
  })

  /** One request: the response when its status is 2xx, then `read` on it, within the timeout. */
  const attempt = <A>(
    method: string,
    request: HttpClientRequest.HttpClientRequest,
    read: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, AiError.AiError>
  ): Effect.Effect<A, AiError.AiError> =>
    client.execute(request).pipe(
      Effect.mapError((error) => fail(method, networkError(error, false))),
      Effect.flatMap((response) =>
        response.status >= 200 && response.status < 300
          ? read(response)
          : Effect.flatMap(errorReason(response), (reason) => Effect.fail(fail(method, reason)))
      ),
      Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(fail(method, timeoutError())) })
    )

  const backoff = (reason: AiError.AiErrorReason, retry: number): Effect.Effect<Duration.Duration> => {
    if (reason._tag === "RateLimitError" && reason.retryAfter !== undefined) {
      return Effect.succeed(Duration.millis(Math.min(Duration.toMillis(reason.retryAfter), maxRetryDelay)))
    }
    // Exponential, with jitter so that clients that failed together do not retry together.
    return Effect.map(
      Random.next,
      (jitter) => Duration.millis(Math.min(retryDelay * 2 ** retry, maxRetryDelay) * (0.75 + jitter * 0.25))
    )
  }

  const send = <A>(
    method: string,
    body: object,
    read: (response: HttpClientResponse.HttpClientResponse) => Effect.Effect<A, AiError.AiError>
  ): Effect.Effect<A, AiError.AiError> => {
    const request = HttpClientRequest.post(url).pipe(
      HttpClientRequest.setHeaders(headers),
      HttpClientRequest.bodyText(JSON.stringify(body), "application/json")
    )
    const loop = (retry: number): Effect.Effect<A, AiError.AiError> =>
      Effect.catch(attempt(method, request, read), (error) => {
        if (retry >= maxRetries || !isRetryable(error.reason)) return Effect.fail(error)
        return backoff(error.reason, retry).pipe(
          Effect.tap((delay) =>
            Effect.logDebug(`${module}: retrying after ${error.reason._tag}`).pipe(
              Effect.annotateLogs({ retry: retry + 1, delay: Duration.format(delay) })
            )
          ),
          Effect.tap(() => Effect.annotateCurrentSpan("graphent.model.retries", retry + 1)),
          Effect.flatMap(Effect.sleep),
          Effect.andThen(loop(retry + 1))
        )
      })
    return loop(0)
  }

  /** Sends `body` and decodes the whole JSON response with `decode`. */
  const request = <A>(method: string, body: object, decode: Decode<A>): Effect.Effect<A, AiError.AiError> =>
    send(method, body, (response) =>
      response.text.pipe(
        Effect.mapError((error) => fail(method, networkError(error, true))),
        Effect.flatMap((text) =>
          Effect.try({
            try: () => JSON.parse(text) as unknown,
            catch: () =>
              fail(
                method,
                new AiError.InvalidResponseError({
                  description: `the response body is not JSON: ${scrub(truncate(text, 200))}`,
                  http: { response: { status: response.status, headers: { ...response.headers } } }
                })
              )
          })
        ),
        Effect.flatMap((json) =>
          Effect.mapError(decode(json), (error) => fail(method, AiError.InvalidResponseError.fromSchemaError(error)))
        )
      ))

  /** Sends `body` and reads the response's server-sent events with `reader`. */
  const stream = <R>(
    method: string,
    body: object,
    reader: EventReader<R>
  ): Effect.Effect<Stream.Stream<Response.StreamPartEncoded, AiError.AiError, R>, AiError.AiError> =>
    Effect.map(send(method, body, Effect.succeed), (response) =>
      response.stream.pipe(
        Stream.mapError((error) => fail(method, networkError(error, true))),
        // An idle timeout: a stalled stream fails instead of hanging.
        Stream.timeoutOrElse({ duration: timeout, orElse: () => Stream.fail(fail(method, timeoutError())) }),
        Stream.decodeText(),
        Stream.pipeThroughChannel(Sse.decode<AiError.AiError, unknown>()),
        Stream.mapError((error) =>
          AiError.isAiError(error) ? error : fail(
            method,
            new AiError.InvalidResponseError({
              description: error._tag === "SseError"
                ? `the event stream is malformed: ${error.message}`
                : "the event stream asked to reconnect"
            })
          )
        ),
        Stream.mapEffect((event) => reader.onEvent(event.data)),
        Stream.concat(Stream.fromEffect(reader.onEnd)),
        Stream.flattenIterable
      ))

  /** Parses the data of one stream event as JSON and decodes it with `decode`. */
  const decodeEvent = <A>(method: string, data: string, decode: Decode<A>): Effect.Effect<A, AiError.AiError> =>
    Effect.try({
      try: () => JSON.parse(data) as unknown,
      catch: () =>
        fail(
          method,
          new AiError.InvalidResponseError({ description: `a stream event is not JSON: ${scrub(truncate(data, 200))}` })
        )
    }).pipe(
      Effect.flatMap((json) =>
        Effect.mapError(decode(json), (error) => fail(method, AiError.InvalidResponseError.fromSchemaError(error)))
      )
    )

  return { scrub, fail, transportError, request, stream, decodeEvent } as const
})

/** A failure the provider retries, and after its retries a model list falls back on: 429, 5xx, network errors, timeouts. */
export const isRetryable = (reason: AiError.AiErrorReason): boolean =>
  reason._tag === "RateLimitError" ||
  reason._tag === "InternalProviderError" ||
  (reason._tag === "NetworkError" && reason.reason === "TransportError")

/** `retry-after`: seconds or an HTTP date. */
const retryAfter = (headers: Headers.Headers, now: number): Duration.Duration | undefined => {
  const value = headers["retry-after"]
  if (value === undefined || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Duration.seconds(Math.max(0, seconds))
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Duration.millis(Math.max(0, date - now))
}

// =============================================================================
// Helpers for the dialects
// =============================================================================

/**
 * What an error body of the OpenAI dialect says (chat completions and
 * embeddings): OpenAI `{error:{message,type,code,param}}`, vLLM
 * `{message,type}`, Ollama `{error:"..."}`.
 */
export const openAiErrorDetails = (body: any, headers: Headers.Headers): ErrorDetails => {
  const error = body?.error ?? body
  const message: string | undefined = typeof error === "string"
    ? error
    : typeof error?.message === "string"
    ? error.message
    : typeof body?.detail === "string"
    ? body.detail
    : undefined
  const errorCode = typeof error?.code === "string" || typeof error?.code === "number" ? String(error.code) : null
  const errorType = typeof error?.type === "string" ? error.type : null
  const requestId = headers["x-request-id"] ?? null
  // OpenAI's `retry-after-ms` goes before `retry-after`.
  const retryAfterMillis = Number(headers["retry-after-ms"]?.trim() || undefined)
  return {
    message,
    errorCode,
    errorType,
    requestId,
    metadata: { openai: { errorCode, errorType, requestId } },
    parameter: typeof error?.param === "string" ? error.param : undefined,
    // Out of credit is not a rate limit: waiting does not help.
    quotaExhausted: errorCode === "insufficient_quota" || errorType === "insufficient_quota",
    retryAfter: Number.isFinite(retryAfterMillis) ? Duration.millis(Math.max(0, retryAfterMillis)) : undefined
  }
}


/**
 * A provider's tool definitions, cached per tool: they depend only on the tool,
 * and `LanguageModel` hands over a fresh tools array on every call.
 */
export const toolDefinitions = <D>(
  providerDefinedUnsupported: string,
  define: (name: string, description: string | undefined, jsonSchema: unknown) => D
) => {
  const cache = new WeakMap<Tool.Any, D>()
  return (tool: Tool.Any): Effect.Effect<D, AiError.AiErrorReason> =>
    Effect.suspend(() => {
      const cached = cache.get(tool)
      if (cached !== undefined) return Effect.succeed(cached)
      if (Tool.isProviderDefined(tool)) {
        return Effect.fail(
          new AiError.ToolConfigurationError({ toolName: tool.name, description: providerDefinedUnsupported })
        )
      }
      return Effect.try({
        try: () => {
          const definition = define(tool.name, Tool.getDescription(tool), Tool.getJsonSchema(tool))
          cache.set(tool, definition)
          return definition
        },
        catch: (cause) =>
          new AiError.ToolConfigurationError({
            toolName: tool.name,
            description: `its parameters have no JSON Schema: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })
    })
}

export const truncate = (text: string, max: number) => text.length > max ? `${text.slice(0, max)}...` : text

/** What the model reads back for a tool result: the tool's model output, else the encoded result as JSON. */
export const toolResultText = (part: Prompt.ToolResultPart): string => {
  if (part.modelOutput !== undefined) return Prompt.toolModelOutputToText(part.modelOutput)
  if (typeof part.result === "string") return part.result
  return JSON.stringify(part.result) ?? "null"
}

export const annotateResponse = (
  span: LanguageModel.ProviderOptions["span"],
  response: { readonly id?: string | null | undefined; readonly model?: string | null | undefined },
  reason: string,
  usage: typeof Response.Usage.Encoded
) =>
  Telemetry.addGenAIAnnotations(span, {
    response: { id: response.id, model: response.model, finishReasons: [reason] },
    usage: { inputTokens: usage.inputTokens.total, outputTokens: usage.outputTokens.total }
  })
