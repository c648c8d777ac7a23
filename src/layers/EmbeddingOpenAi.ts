/**
 * An effect/ai `EmbeddingModel` for the OpenAI embeddings API
 * (`POST {baseUrl}/embeddings`), which OpenAI and the OpenAI-compatible local
 * servers speak (Ollama, vLLM, LM Studio, llama.cpp), configured like
 * {@link OpenAiProvider}.
 *
 * - Batching: concurrent `embed` calls are grouped by `EmbeddingModel`'s
 *   request resolver into one `embedMany`, and an `embedMany` is sent as
 *   requests of at most `maxBatchSize` inputs (default 128), `concurrency` at
 *   a time (default 2). The vectors come back in the inputs' order (the
 *   response's `index` is honoured).
 * - Failures: the transport is the chat provider's (`internal/modelHttp`):
 *   429, 5xx, network errors and timeouts are retried with exponential backoff,
 *   honouring `retry-after` / `retry-after-ms`; out-of-quota 429s, 4xx and
 *   malformed responses are not. Every failure is an `AiError` (e.g.
 *   `RateLimitError`, `InvalidRequestError`, `InvalidResponseError` when the
 *   server returns the wrong number of vectors or vectors of unequal sizes).
 * - The API key is `Redacted` and never appears in errors.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as AiError from "effect/ai/AiError"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import type * as HttpClient from "effect/http/HttpClient"
import * as ModelHttp from "../internal/modelHttp.js"

/**
 * The model, key and endpoint of the OpenAI-compatible embeddings API.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends ModelHttp.TransportOptions {
  /** The model name, e.g. `text-embedding-3-small`, or a local one such as `nomic-embed-text`. */
  readonly model: string
  /** Sent as `Authorization: Bearer`. Optional: local servers usually need none. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Default `https://api.openai.com/v1`; e.g. `http://localhost:11434/v1` for Ollama. */
  readonly baseUrl?: string | undefined
  /**
   * Sent as `dimensions`: models that support it (OpenAI's `text-embedding-3-*`)
   * return vectors this long. pgvector's HNSW index takes at most 2,000.
   */
  readonly dimensions?: number | undefined
  /** Inputs per request (default 128; OpenAI accepts up to 2,048). */
  readonly maxBatchSize?: number | undefined
  /** Requests in flight at once for one large `embedMany` (default 2). */
  readonly concurrency?: number | undefined
  /** Extra request headers (e.g. `OpenAI-Organization`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Extra fields merged into every request body. */
  readonly extraBody?: Readonly<Record<string, unknown>> | undefined
}

const optional = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

const EmbeddingsResponse = Schema.Struct({
  data: Schema.Array(Schema.Struct({
    index: optional(Schema.Number),
    embedding: Schema.Array(Schema.Number)
  })),
  model: optional(Schema.String),
  usage: optional(Schema.Struct({ prompt_tokens: optional(Schema.Number), total_tokens: optional(Schema.Number) }))
})
const decodeEmbeddingsResponse = Schema.decodeUnknownEffect(EmbeddingsResponse)

const module = "EmbeddingOpenAi"
const method = "embedMany"

const invalidOption = (description: string) =>
  AiError.make({ module, method: "make", reason: new AiError.InvalidRequestError({ description }) })

/**
 * The embedding model over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(options: Options) {
  const maxBatchSize = options.maxBatchSize ?? 128
  const concurrency = options.concurrency ?? 2
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    return yield* invalidOption(`maxBatchSize must be an integer >= 1, got ${maxBatchSize}`)
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    return yield* invalidOption(`concurrency must be an integer >= 1, got ${concurrency}`)
  }
  if (options.dimensions !== undefined && (!Number.isInteger(options.dimensions) || options.dimensions < 1)) {
    return yield* invalidOption(`dimensions must be an integer >= 1, got ${options.dimensions}`)
  }
  const baseUrl = (options.baseUrl ?? "https://api.openai.com/v1").replace(/\/+$/, "")
  const http = yield* ModelHttp.make({
    module,
    url: `${baseUrl}/embeddings`,
    options,
    authHeaders: (apiKey) => ({ authorization: `Bearer ${apiKey}` }),
    errorDetails: ModelHttp.openAiErrorDetails
  })
  const invalid = (description: string) =>
    Effect.fail(http.fail(method, new AiError.InvalidResponseError({ description })))

  /** One request: the vectors of `inputs`, in their order. */
  const embedBatch = Effect.fnUntraced(function*(inputs: ReadonlyArray<string>) {
    const body: Record<string, unknown> = { model: options.model, input: inputs, encoding_format: "float" }
    if (options.dimensions !== undefined) body.dimensions = options.dimensions
    Object.assign(body, options.extraBody)
    const response = yield* http.request(method, body, decodeEmbeddingsResponse)
    if (response.data.length !== inputs.length) {
      return yield* invalid(`the server returned ${response.data.length} embeddings for ${inputs.length} inputs`)
    }
    const vectors = new Array<Array<number>>(inputs.length)
    for (const [position, item] of response.data.entries()) {
      const index = item.index ?? position
      if (!Number.isInteger(index) || index < 0 || index >= inputs.length || vectors[index] !== undefined) {
        return yield* invalid(`the server returned an embedding with index ${index} for ${inputs.length} inputs`)
      }
      vectors[index] = item.embedding as Array<number>
    }
    const size = vectors[0]!.length
    if (size === 0 || vectors.some((vector) => vector.length !== size)) {
      return yield* invalid(
        `the server returned vectors of sizes ${[...new Set(vectors.map((vector) => vector.length))].join(", ")}`
      )
    }
    return { vectors, inputTokens: response.usage?.prompt_tokens ?? undefined }
  })

  const embedMany = (provider: EmbeddingModel.ProviderOptions) => {
    const batches: Array<ReadonlyArray<string>> = []
    for (let start = 0; start < provider.inputs.length; start += maxBatchSize) {
      batches.push(provider.inputs.slice(start, start + maxBatchSize))
    }
    return Effect.forEach(batches, embedBatch, { concurrency }).pipe(
      Effect.flatMap((results) => {
        const vectors = results.flatMap((result) => result.vectors)
        const size = vectors[0]?.length
        if (vectors.some((vector) => vector.length !== size)) {
          return invalid(`the server returned vectors of different sizes in one call`)
        }
        const counted = results.every((result) => result.inputTokens !== undefined)
        return Effect.succeed({
          results: vectors,
          usage: { inputTokens: counted ? results.reduce((sum, result) => sum + result.inputTokens!, 0) : undefined }
        })
      }),
      Effect.withSpan("EmbeddingOpenAi.embedMany", {
        kind: "client",
        attributes: {
          "gen_ai.operation.name": "embeddings",
          "gen_ai.provider.name": "openai",
          "gen_ai.request.model": options.model,
          "graphent.embedding.inputs": provider.inputs.length,
          "graphent.embedding.requests": batches.length
        }
      })
    )
  }

  return yield* EmbeddingModel.make({ embedMany })
})

/**
 * The embedding model over the `HttpClient` in context; invalid options
 * (`maxBatchSize`, `concurrency`, `dimensions`) fail the layer with an `AiError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = (
  options: Options
): Layer.Layer<EmbeddingModel.EmbeddingModel, AiError.AiError, HttpClient.HttpClient> =>
  Layer.effect(EmbeddingModel.EmbeddingModel, make(options))

/**
 * The embedding model over `fetch`.
 *
 * **Example** (Embeddings from a local Ollama server)
 *
 * ```ts
 * EmbeddingOpenAi.layer({ model: "nomic-embed-text", baseUrl: "http://localhost:11434/v1" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<EmbeddingModel.EmbeddingModel, AiError.AiError> =>
  layerNoDeps(options).pipe(Layer.provide(FetchHttpClient.layer))

/**
 * Like {@link layer}, with the API key from `OPENAI_API_KEY` (optional: local
 * servers need none) and the base URL from `OPENAI_BASE_URL` (optional), as
 * for the chat provider.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "apiKey" | "baseUrl">
): Layer.Layer<EmbeddingModel.EmbeddingModel, AiError.AiError | Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const apiKey = yield* Config.option(Config.Redacted("OPENAI_API_KEY"))
    const baseUrl = yield* Config.option(Config.String("OPENAI_BASE_URL"))
    return layer({
      ...options,
      apiKey: Option.getOrUndefined(apiKey),
      baseUrl: Option.getOrUndefined(Option.filter(baseUrl, (url) => url.trim() !== ""))
    })
  }))
