/**
 * Chooses the model provider from configuration: `GRAPHENT_MODEL` is
 * `openai:<model>` (the Chat Completions dialect, also for local servers with
 * `OPENAI_BASE_URL`) or `anthropic:<model>`, or a comma-separated list of
 * them: the next model answers when one fails with a retryable failure after
 * its retries (see `ModelFallback`).
 *
 * ```sh
 * GRAPHENT_MODEL=openai:gpt-4.1-mini OPENAI_API_KEY=sk-...
 * GRAPHENT_MODEL=openai:qwen3:8b OPENAI_BASE_URL=http://localhost:11434/v1
 * GRAPHENT_MODEL=anthropic:claude-sonnet-4-5 ANTHROPIC_API_KEY=sk-ant-...
 * GRAPHENT_MODEL=openai:gpt-4.1-mini,anthropic:claude-haiku-4-5
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as LanguageModel from "effect/ai/LanguageModel"
import type * as Model from "effect/ai/Model"
import type * as ModelTransport from "../services/ModelTransport.js"
import type * as OpenAiProvider from "./OpenAiProvider.js"

/**
 * The model providers `GRAPHENT_MODEL` can name.
 *
 * @since 0.1.0
 * @category models
 */
export type Provider = "openai" | "anthropic"

/**
 * A parsed `GRAPHENT_MODEL`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelSpec {
  readonly provider: Provider
  readonly model: string
}

/**
 * Settings shared by both providers (the rest comes from the environment).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  readonly maxRetries?: number | undefined
  readonly timeout?: OpenAiProvider.Options["timeout"]
}

const providers: ReadonlyArray<Provider> = ["openai", "anthropic"]

/**
 * Parses `<provider>:<model>`; the model name may itself contain colons
 * (`openai:qwen3:8b`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (spec: string): Effect.Effect<ModelSpec, Config.ConfigError> => {
  const colon = spec.indexOf(":")
  const provider = (colon < 0 ? spec : spec.slice(0, colon)).trim().toLowerCase()
  const model = colon < 0 ? "" : spec.slice(colon + 1).trim()
  const invalid = (message: string) =>
    Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: `GRAPHENT_MODEL: ${message}` })))
  if (!providers.includes(provider as Provider)) {
    return invalid(
      `unknown provider "${provider}" in "${spec}"; expected ${providers.map((p) => `${p}:<model>`).join(" or ")}`
    )
  }
  if (model === "") return invalid(`no model name in "${spec}"; expected ${provider}:<model>`)
  return Effect.succeed({ provider: provider as Provider, model })
}

/**
 * Parses a comma-separated list of `<provider>:<model>` (a fallback list);
 * one model is a list of one.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseList = (
  specs: string
): Effect.Effect<readonly [ModelSpec, ...Array<ModelSpec>], Config.ConfigError> =>
  Effect.map(
    Effect.forEach(specs.split(","), (one) => parse(one.trim())),
    (list) => list as unknown as readonly [ModelSpec, ...Array<ModelSpec>]
  )

/**
 * The model spec read from `GRAPHENT_MODEL` (with a list, its first model).
 *
 * @since 0.1.0
 * @category config
 */
export const spec: Config.Config<ModelSpec> = Config.String("GRAPHENT_MODEL").pipe(
  Config.mapEffect((value) => Effect.map(parseList(value), (list) => list[0]))
)

/**
 * The model list read from `GRAPHENT_MODEL`: one model, or several to fall back on in order.
 *
 * @since 0.2.0
 * @category config
 */
export const specs: Config.Config<readonly [ModelSpec, ...Array<ModelSpec>]> = Config.String("GRAPHENT_MODEL").pipe(
  Config.mapEffect(parseList)
)

/** The provider layer of one model, its module loaded when chosen: `import "graphent"` loads no HTTP provider. */
const providerLayer = (
  { model, provider }: ModelSpec,
  settings: Record<string, unknown>
): Effect.Effect<Layer.Layer<ModelTransport.Provides, Config.ConfigError>> =>
  provider === "openai"
    ? Effect.map(Effect.promise(() => import("./OpenAiProvider.js")), (module) => module.layerConfig({ ...settings, model }))
    : Effect.map(Effect.promise(() => import("./AnthropicProvider.js")), (module) => module.layerConfig({ ...settings, model }))

/**
 * The `LanguageModel` named by `GRAPHENT_MODEL`, with the provider's own
 * settings from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`,
 * `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`). Fails with a `ConfigError` when
 * the variable is missing, names an unknown provider or no model.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Options
): Layer.Layer<LanguageModel.LanguageModel | Model.ProviderName | Model.ModelName, Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const list = yield* specs
    // Leave out the settings that were not given, so that each provider keeps its own defaults.
    const settings = Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined))
    if (list.length === 1) return yield* providerLayer(list[0], settings)
    const candidates = yield* Effect.forEach(list, (one) =>
      Effect.map(providerLayer(one, settings), (layer) => ({ label: `${one.provider}:${one.model}`, layer })))
    const { layer } = yield* Effect.promise(() => import("./ModelFallback.js"))
    return layer(candidates as unknown as readonly [(typeof candidates)[number], ...typeof candidates])
  }))

/**
 * {@link layerConfig} when `GRAPHENT_MODEL` is set, else `fallback` — e.g. a
 * scripted model, so that an agent runs offline with no key and live with one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfigOrElse = <E>(
  fallback: Layer.Layer<LanguageModel.LanguageModel, E>,
  options?: Options
): Layer.Layer<LanguageModel.LanguageModel, Config.ConfigError | E> =>
  Layer.unwrap(Effect.map(
    Config.option(Config.String("GRAPHENT_MODEL")),
    (configured): Layer.Layer<LanguageModel.LanguageModel, Config.ConfigError | E> =>
      configured._tag === "Some" && configured.value.trim() !== "" ? layerConfig(options) : fallback
  ))
