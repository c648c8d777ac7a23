/**
 * Flow control and run events across processes, as the environment sets
 * them up for the programs (`graphent run`, `graphent dev`):
 *
 * - `GRAPHENT_RATE_LIMITS` (and `GRAPHENT_RATE_LIMITS_REDIS`): the
 *   {@link RateLimits} of every run (see `RateLimitsMemory.layerConfig`);
 * - `GRAPHENT_RUN_EVENTS_URL` (a `postgres://` URL): the
 *   {@link RunEventsBus.RunEventsBus} on PostgreSQL `LISTEN`/`NOTIFY`; the
 *   journal then announces every append, and a server follows runs of other
 *   processes on notices.
 *
 * Both unset: no limits, no bus (what Graphent did before).
 *
 * @since 0.3.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Journal } from "../services/Journal.js"
import type { RateLimitsInvalid, RateLimitUnavailable } from "../services/RateLimits.js"
import * as RunEventsBus from "../services/RunEventsBus.js"
import { type Wired, wires } from "../services/Wired.js"
import * as RateLimitsMemory from "./RateLimitsMemory.js"
import type { RunEventsBusUnavailable } from "./RunEventsBusPg.js"

/**
 * What setting flow control up can fail with.
 *
 * @since 0.3.0
 * @category models
 */
export type FlowError = RateLimitsInvalid | RateLimitUnavailable | RunEventsBusUnavailable | Config.ConfigError

/**
 * The bus `GRAPHENT_RUN_EVENTS_URL` names (unset: none).
 *
 * @since 0.3.0
 * @category layers
 */
export const busConfig: Layer.Layer<Wired<"RunEventsBus">, RunEventsBusUnavailable | Config.ConfigError> = Layer
  .unwrap(Effect.gen(function*() {
    const url = yield* Config.option(Config.Redacted("GRAPHENT_RUN_EVENTS_URL"))
    if (Option.isNone(url) || Redacted.value(url.value).trim() === "") {
      return Layer.succeed(RunEventsBus.RunEventsBus, RunEventsBus.none).pipe(wires("RunEventsBus"))
    }
    // Loaded when named: a process without a bus loads no PostgreSQL client.
    const RunEventsBusPg = yield* Effect.promise(() => import("./RunEventsBusPg.js"))
    return RunEventsBusPg.layerUrl(url.value)
  }))

/**
 * The rate limits and the bus the environment names.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Wired<"RateLimits"> | Wired<"RunEventsBus">, FlowError> = Layer.merge(
  RateLimitsMemory.layerConfig,
  busConfig
)

/**
 * `stores` with flow control: its journal announces every append on the bus
 * ({@link RunEventsBus.announcing}), and the rate limits and the bus of
 * {@link layerConfig} are provided beside it.
 *
 * @since 0.3.0
 * @category layers
 */
export const withFlow = <A, E, R>(
  stores: Layer.Layer<A | Journal, E, R>
): Layer.Layer<A | Journal | Wired<"RateLimits"> | Wired<"RunEventsBus">, E | FlowError, R> => {
  const flow = layerConfig
  // The announcing journal is merged last: it replaces the store's own in the context.
  return Layer.merge(stores, RunEventsBus.announcing.pipe(Layer.provide(stores))).pipe(Layer.provideMerge(flow))
}
