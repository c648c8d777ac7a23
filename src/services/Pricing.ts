/**
 * Prices of model calls, to turn tokens into cost.
 *
 * A price is per million tokens, input and output, in whatever currency the
 * table uses (the docs assume USD). Models are looked up as `provider:model`
 * first, then by the bare model name. Models without a price cost nothing and
 * leave the run's `cost` out, so a missing price is visible, not a silent 0.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { TokenUsage } from "./RunEvent.js"
import { type Wired, wires } from "./Wired.js"

/**
 * The price of a million tokens.
 *
 * @since 0.1.0
 * @category models
 */
export const Price = Schema.Struct({
  input: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)),
  output: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)),
  /** Input tokens read from the provider's prompt cache (default: the `input` price). */
  cachedInput: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))),
  /**
   * Input tokens written to the provider's prompt cache (default: 1.25 × `input`, what Anthropic charges for
   * its default five-minute cache).
   */
  cacheWriteInput: Schema.optionalKey(Schema.Number.check(Schema.isGreaterThanOrEqualTo(0)))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Price = typeof Price.Type

/**
 * A price table: model (`provider:model` or `model`) to price.
 *
 * @since 0.1.0
 * @category models
 */
export const PriceTable = Schema.Record(Schema.String, Price)

/**
 * @since 0.1.0
 * @category models
 */
export type PriceTable = typeof PriceTable.Type

/**
 * The price table runs use (default: empty).
 *
 * @since 0.1.0
 * @category services
 */
export const Pricing = Context.Reference<PriceTable>("graphent/Pricing", { defaultValue: () => ({}) })

/**
 * The price of `model`, if the table has one.
 *
 * @since 0.1.0
 * @category pricing
 */
export const priceOf = (table: PriceTable, model: string): Price | undefined => {
  const exact = table[model]
  if (exact !== undefined) return exact
  const colon = model.indexOf(":")
  return colon < 0 ? undefined : table[model.slice(colon + 1)]
}

/**
 * The cost of a call's tokens at `price`.
 *
 * @since 0.1.0
 * @category pricing
 */
export const cost = (price: Price, usage: TokenUsage): number => {
  const cached = Math.min(usage.cachedInputTokens ?? 0, usage.inputTokens)
  const written = Math.min(usage.cacheWriteInputTokens ?? 0, usage.inputTokens - cached)
  return ((usage.inputTokens - cached - written) * price.input + cached * (price.cachedInput ?? price.input) +
    written * (price.cacheWriteInput ?? price.input * cacheWriteMarkup) + usage.outputTokens * price.output) / 1_000_000
}

/** Anthropic's price of a cache write (five-minute cache), as a multiple of the input price. */
const cacheWriteMarkup = 1.25

// ---------------------------------------------------------------------------
// context windows
// ---------------------------------------------------------------------------

/**
 * Context windows: model (`provider:model` or `model`) to the most tokens a
 * prompt (with the answer) may hold. The LLM planner compacts its
 * conversation to stay within its model's window.
 *
 * @since 0.2.0
 * @category models
 */
export const ContextWindowTable = Schema.Record(Schema.String, Schema.Int.check(Schema.isGreaterThan(0)))

/**
 * @since 0.2.0
 * @category models
 */
export type ContextWindowTable = typeof ContextWindowTable.Type

/**
 * The windows of well-known models (from their providers' documentation), used
 * when neither the planner's options nor {@link ContextWindows} name the model.
 *
 * @since 0.2.0
 * @category models
 */
export const knownContextWindows: ContextWindowTable = {
  "gpt-4o": 128_000,
  "gpt-4o-mini": 128_000,
  "gpt-4.1": 1_047_576,
  "gpt-4.1-mini": 1_047_576,
  "gpt-4.1-nano": 1_047_576,
  "o3": 200_000,
  "o4-mini": 200_000,
  "claude-sonnet-4-5": 200_000,
  "claude-opus-4-1": 200_000,
  "claude-haiku-4-5": 200_000,
  "claude-3-5-haiku-latest": 200_000
}

/**
 * The context windows runs use (default: empty; {@link knownContextWindows} still apply).
 *
 * @since 0.2.0
 * @category services
 */
export const ContextWindows = Context.Reference<ContextWindowTable>("graphent/ContextWindows", {
  defaultValue: () => ({})
})

/**
 * The context window of `model`: from `table` (`provider:model`, then the bare
 * name), else from {@link knownContextWindows}; `undefined` when unknown.
 *
 * @since 0.2.0
 * @category pricing
 */
export const contextWindowOf = (table: ContextWindowTable, model: string): number | undefined => {
  const colon = model.indexOf(":")
  const bare = colon < 0 ? model : model.slice(colon + 1)
  return table[model] ?? table[bare] ?? knownContextWindows[model] ?? knownContextWindows[bare]
}

const decodeWindows = Schema.decodeUnknownEffect(Schema.fromJsonString(ContextWindowTable))

/**
 * The context windows from `GRAPHENT_CONTEXT_WINDOWS`: JSON
 * (`{"openai:qwen3:8b": 32768}`) or `@path/to/windows.json`. Unset: none
 * beyond {@link knownContextWindows}.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerContextWindowsConfig: Layer.Layer<Wired<"ContextWindows">, Config.ConfigError> = Layer.effect(
  ContextWindows,
  tableFromEnv("GRAPHENT_CONTEXT_WINDOWS", decodeWindows)
).pipe(wires("ContextWindows"))

/**
 * Runs use these context windows (beside {@link knownContextWindows}).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerContextWindows = (table: ContextWindowTable): Layer.Layer<Wired<"ContextWindows">> =>
  Layer.succeed(ContextWindows, table).pipe(wires("ContextWindows"))

/**
 * Runs use this price table.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (table: PriceTable): Layer.Layer<Wired<"Pricing">> =>
  Layer.succeed(Pricing, table).pipe(wires("Pricing"))

const decodeTable = Schema.decodeUnknownEffect(Schema.fromJsonString(PriceTable))

const configError = (variable: string, message: string) =>
  new Config.ConfigError(new ConfigProvider.SourceError({ message: `${variable}: ${message}` }))

/** The table in `variable` (JSON, or `@path` to a JSON file); unset or blank: an empty table. */
function tableFromEnv<A extends object>(
  variable: string,
  decode: (text: string) => Effect.Effect<A, Schema.SchemaError>
): Effect.Effect<A, Config.ConfigError> {
  return Effect.gen(function*() {
    const source = yield* Config.String(variable).pipe(Config.withDefault(""))
    if (source.trim() === "") return {} as A
    const text = yield* readSource(variable, source)
    return yield* decode(text).pipe(Effect.mapError((error) => configError(variable, error.message)))
  })
}

/** A JSON table given inline or as `@path`. */
function readSource(variable: string, source: string): Effect.Effect<string, Config.ConfigError> {
  return source.startsWith("@")
    ? Effect.try({
      try: () => fs.readFileSync(source.slice(1), "utf8"),
      catch: (error) => configError(variable, `cannot read ${source.slice(1)}: ${(error as Error).message}`)
    })
    : Effect.succeed(source)
}

/**
 * The price table from `GRAPHENT_PRICES`: JSON (`{"openai:gpt-4o-mini":
 * {"input":0.15,"output":0.6}}`) or `@path/to/prices.json`. Unset: no prices.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Wired<"Pricing">, Config.ConfigError> = Layer.effect(
  Pricing,
  tableFromEnv("GRAPHENT_PRICES", decodeTable)
).pipe(wires("Pricing"))
