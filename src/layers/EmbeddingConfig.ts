/**
 * Chooses the embedding model from configuration, for the memory's semantic
 * recall: `GRAPHENT_EMBEDDING_MODEL` is `local` (the default: the offline
 * {@link EmbeddingLocal} embedder) or `openai:<model>` (the OpenAI embeddings
 * API, also for local servers with `OPENAI_BASE_URL`; key from
 * `OPENAI_API_KEY`). `GRAPHENT_EMBEDDING_DIMENSIONS` asks models that support
 * it for shorter vectors.
 *
 * ```sh
 * GRAPHENT_EMBEDDING_MODEL=openai:text-embedding-3-small OPENAI_API_KEY=sk-...
 * GRAPHENT_EMBEDDING_MODEL=openai:nomic-embed-text OPENAI_BASE_URL=http://localhost:11434/v1
 * ```
 *
 * A store keeps the vectors of the model that wrote them: changing the model
 * (or its dimensions) of a store that already holds documents makes `recall`
 * fail, or compare unrelated vectors. Use a new store (another
 * `GRAPHENT_STORE_PREFIX`) for another model.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as AiError from "effect/ai/AiError"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as EmbeddingLocal from "./EmbeddingLocal.js"
import type * as EmbeddingOpenAi from "./EmbeddingOpenAi.js"

/**
 * A parsed `GRAPHENT_EMBEDDING_MODEL`.
 *
 * @since 0.1.0
 * @category models
 */
export type EmbeddingSpec =
  | { readonly provider: "local" }
  | { readonly provider: "openai"; readonly model: string }

const invalid = (message: string) =>
  Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: `GRAPHENT_EMBEDDING_MODEL: ${message}` })))

/**
 * Parses `local` or `openai:<model>` (the model name may contain colons).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (spec: string): Effect.Effect<EmbeddingSpec, Config.ConfigError> => {
  const trimmed = spec.trim()
  if (trimmed === "" || trimmed.toLowerCase() === "local") return Effect.succeed({ provider: "local" })
  const colon = trimmed.indexOf(":")
  const provider = (colon < 0 ? trimmed : trimmed.slice(0, colon)).toLowerCase()
  const model = colon < 0 ? "" : trimmed.slice(colon + 1).trim()
  if (provider !== "openai") {
    return invalid(`unknown embedder "${provider}" in "${spec}"; expected local or openai:<model>`)
  }
  if (model === "") return invalid(`no model name in "${spec}"; expected openai:<model>`)
  return Effect.succeed({ provider: "openai", model })
}

/**
 * The spec read from `GRAPHENT_EMBEDDING_MODEL` (`local` when unset).
 *
 * @since 0.1.0
 * @category config
 */
export const spec: Config.Config<EmbeddingSpec> = Config.String("GRAPHENT_EMBEDDING_MODEL").pipe(
  Config.withDefault("local"),
  Config.mapEffect(parse)
)

/**
 * Settings for the HTTP embedder (the rest comes from the environment).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Omit<EmbeddingOpenAi.Options, "model" | "apiKey" | "baseUrl" | "dimensions">

/**
 * The `EmbeddingModel` named by `GRAPHENT_EMBEDDING_MODEL`: the local embedder
 * when unset or `local`, else the OpenAI-compatible one with `OPENAI_API_KEY`,
 * `OPENAI_BASE_URL` and `GRAPHENT_EMBEDDING_DIMENSIONS`. An unknown provider,
 * a missing model name or bad dimensions are a `ConfigError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Options
): Layer.Layer<EmbeddingModel.EmbeddingModel, Config.ConfigError | AiError.AiError> =>
  Layer.unwrap(Effect.gen(function*() {
    const chosen = yield* spec
    const dimensions = yield* Config.option(Config.Int("GRAPHENT_EMBEDDING_DIMENSIONS"))
    if (Option.isSome(dimensions) && dimensions.value < 1) {
      return yield* Effect.fail(
        new Config.ConfigError(
          new ConfigProvider.SourceError({
            message: `GRAPHENT_EMBEDDING_DIMENSIONS: must be >= 1, got ${dimensions.value}`
          })
        )
      )
    }
    if (chosen.provider === "local") {
      return Option.isSome(dimensions)
        ? Layer.effect(EmbeddingModel.EmbeddingModel, EmbeddingLocal.make({ dimensions: dimensions.value }))
        : EmbeddingLocal.layer
    }
    // Loaded when chosen: the local embedder needs no HTTP client.
    const openAi = yield* Effect.promise(() => import("./EmbeddingOpenAi.js"))
    return openAi.layerConfig({
      ...options,
      model: chosen.model,
      dimensions: Option.getOrUndefined(dimensions)
    })
  }))
