/**
 * Flow control and run events across processes, as the environment sets
 * them up for the programs (`graphent run`, `graphent dev`, `graphent worker`):
 *
 * - `GRAPHENT_RATE_LIMITS` (and `GRAPHENT_RATE_LIMITS_REDIS`): the
 *   {@link RateLimits} of every run (see `RateLimitsMemory.layerConfig`);
 * - `GRAPHENT_RUN_EVENTS_URL` (a `postgres://` URL): the
 *   {@link RunEventsBus.RunEventsBus} on PostgreSQL `LISTEN`/`NOTIFY`; the
 *   journal then announces every append, and a server follows runs of other
 *   processes on notices. `off`: no bus.
 *
 * Both unset: no limits, no bus (what Graphent did before), except for the
 * programs of a cluster (`graphent worker`, `graphent dev --cluster`), whose
 * bus defaults to the cluster's own database ({@link Options.defaultBus}).
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
 * How a program sets flow control up beyond the environment.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /**
   * The first connection of the rate limits' Redis store (see
   * `RateLimitsRedis.Options`): `"wait"` (default) fails the layer when it
   * cannot connect; `"background"` (a cluster runner, whose calls wait for
   * the store) starts without it.
   */
  readonly rateLimitsConnect?: "wait" | "background" | undefined
  /**
   * The bus when `GRAPHENT_RUN_EVENTS_URL` is unset or empty: `LISTEN`/`NOTIFY`
   * on this database (a cluster's own); default none.
   */
  readonly defaultBus?: Redacted.Redacted<string> | undefined
}

/** The value of `GRAPHENT_RUN_EVENTS_URL` that turns the bus off. */
const off = "off"

/**
 * The bus `GRAPHENT_RUN_EVENTS_URL` names; unset or empty: on `defaultBus` if
 * given, else none; `off`: none.
 *
 * @since 0.3.0
 * @category layers
 */
export const busConfigWith = (
  defaultBus: Redacted.Redacted<string> | undefined
): Layer.Layer<Wired<"RunEventsBus">, RunEventsBusUnavailable | Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const named = yield* Config.option(Config.Redacted("GRAPHENT_RUN_EVENTS_URL"))
    const text = Option.isNone(named) ? "" : Redacted.value(named.value).trim()
    const url = text === "" ? defaultBus : text.toLowerCase() === off ? undefined : Option.getOrUndefined(named)
    if (url === undefined) return Layer.succeed(RunEventsBus.RunEventsBus, RunEventsBus.none).pipe(wires("RunEventsBus"))
    // Loaded when named: a process without a bus loads no PostgreSQL client.
    const RunEventsBusPg = yield* Effect.promise(() => import("./RunEventsBusPg.js"))
    return RunEventsBusPg.layerUrl(url)
  }))

/**
 * The bus `GRAPHENT_RUN_EVENTS_URL` names (unset or `off`: none).
 *
 * @since 0.3.0
 * @category layers
 */
export const busConfig: Layer.Layer<Wired<"RunEventsBus">, RunEventsBusUnavailable | Config.ConfigError> =
  busConfigWith(undefined)

/**
 * The rate limits and the bus the environment names, with `options`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfigWith = (
  options: Options
): Layer.Layer<Wired<"RateLimits"> | Wired<"RunEventsBus">, FlowError> =>
  Layer.merge(
    RateLimitsMemory.layerConfigWith({ connect: options.rateLimitsConnect }),
    busConfigWith(options.defaultBus)
  )

/**
 * The rate limits and the bus the environment names.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Wired<"RateLimits"> | Wired<"RunEventsBus">, FlowError> = layerConfigWith({})

/**
 * `stores` with flow control: its journal announces every append on the bus
 * ({@link RunEventsBus.announcing}), and the rate limits and the bus of
 * {@link layerConfigWith} are provided beside it.
 *
 * @since 0.3.0
 * @category layers
 */
export const withFlow = <A, E, R>(
  stores: Layer.Layer<A | Journal, E, R>,
  options: Options = {}
): Layer.Layer<A | Journal | Wired<"RateLimits"> | Wired<"RunEventsBus">, E | FlowError, R> => {
  const flow = layerConfigWith(options)
  // The announcing journal is merged last: it replaces the store's own in the context.
  return Layer.merge(stores, RunEventsBus.announcing.pipe(Layer.provide(stores))).pipe(Layer.provideMerge(flow))
}
