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
  output: Schema.Number.check(Schema.isGreaterThanOrEqualTo(0))
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
export const cost = (price: Price, usage: TokenUsage): number =>
  (usage.inputTokens * price.input + usage.outputTokens * price.output) / 1_000_000

/**
 * Runs use this price table.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (table: PriceTable): Layer.Layer<Wired<"Pricing">> =>
  Layer.succeed(Pricing, table).pipe(wires("Pricing"))

const decodeTable = Schema.decodeUnknownEffect(Schema.fromJsonString(PriceTable))

const configError = (message: string) =>
  new Config.ConfigError(new ConfigProvider.SourceError({ message: `GRAPHENT_PRICES: ${message}` }))

/**
 * The price table from `GRAPHENT_PRICES`: JSON (`{"openai:gpt-4o-mini":
 * {"input":0.15,"output":0.6}}`) or `@path/to/prices.json`. Unset: no prices.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Wired<"Pricing">, Config.ConfigError> = Layer.effect(
  Pricing,
  Effect.gen(function*() {
    const source = yield* Config.String("GRAPHENT_PRICES").pipe(Config.withDefault(""))
    if (source.trim() === "") return {}
    const text = source.startsWith("@")
      ? yield* Effect.try({
        try: () => fs.readFileSync(source.slice(1), "utf8"),
        catch: (error) => configError(`cannot read ${source.slice(1)}: ${(error as Error).message}`)
      })
      : source
    return yield* decodeTable(text).pipe(Effect.mapError((error) => configError(error.message)))
  })
).pipe(wires("Pricing"))
