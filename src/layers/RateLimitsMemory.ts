/**
 * {@link RateLimits} held in this process's memory: the limits apply to the
 * runs of one process (`graphent run`, one `graphent dev`). For limits shared
 * by several processes, use `RateLimitsRedis`. {@link layerConfig} chooses
 * from the environment.
 *
 * @since 0.3.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as RateLimiter from "effect/persistence/RateLimiter"
import {
  type Limit,
  type LimitsConfig,
  make as makeLimits,
  parseLimits,
  parseLimitsJson,
  RateLimits,
  RateLimitsInvalid,
  type RateLimitsShape,
  type RateLimitUnavailable
} from "../services/RateLimits.js"
import { type Wired, wires } from "../services/Wired.js"

/**
 * The service over parsed limits, in memory.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (limits: ReadonlyMap<string, Limit>): Effect.Effect<RateLimitsShape> =>
  Effect.map(RateLimiter.make, (limiter) => makeLimits(limits, limiter, "memory")).pipe(
    Effect.provide(RateLimiter.layerStoreMemory)
  )

/**
 * In-memory limits, by key (`{ "model:openai": "60/minute", "tool:http_get": "10/second" }`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (config: LimitsConfig): Layer.Layer<Wired<"RateLimits">, RateLimitsInvalid> =>
  Layer.effect(RateLimits, Effect.flatMap(parseLimits(config), make)).pipe(wires("RateLimits"))

/**
 * The limits the environment names: `GRAPHENT_RATE_LIMITS` (a JSON object
 * of limits by key; unset: no limits), shared through the Redis at
 * `GRAPHENT_RATE_LIMITS_REDIS` when it is set (its keys under
 * `GRAPHENT_RATE_LIMITS_PREFIX`, default `graphent:ratelimit:`: deployments
 * that share a Redis keep their limits apart), else held in memory.
 * `redis.connect` is the Redis store's first connection (see
 * `RateLimitsRedis.Options`; default `"wait"`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfigWith = (redis: { readonly connect?: "wait" | "background" | undefined }): Layer.Layer<
  Wired<"RateLimits">,
  RateLimitsInvalid | RateLimitUnavailable | Config.ConfigError
> =>
  Layer.unwrap(Effect.gen(function*() {
    const text = yield* Config.option(Config.String("GRAPHENT_RATE_LIMITS"))
    const url = yield* Config.option(Config.Redacted("GRAPHENT_RATE_LIMITS_REDIS"))
    if (Option.isNone(text) || text.value.trim() === "") {
      if (Option.isSome(url)) {
        return yield* new RateLimitsInvalid({
          key: "GRAPHENT_RATE_LIMITS_REDIS",
          reason: "set without GRAPHENT_RATE_LIMITS (no limits to share)"
        })
      }
      return Layer.succeed(RateLimits, RateLimits.defaultValue()).pipe(wires("RateLimits"))
    }
    const limits = yield* parseLimitsJson(text.value)
    if (Option.isNone(url)) return Layer.effect(RateLimits, make(limits)).pipe(wires("RateLimits"))
    // Loaded when named: a process with in-memory limits loads no Redis client.
    const RateLimitsRedis = yield* Effect.promise(() => import("./RateLimitsRedis.js"))
    const prefix = yield* Config.option(Config.String("GRAPHENT_RATE_LIMITS_PREFIX"))
    return RateLimitsRedis.layerLimits(limits, {
      url: url.value,
      connect: redis.connect,
      ...(Option.isSome(prefix) && prefix.value.trim() !== "" ? { keyPrefix: prefix.value } : {})
    })
  }))

/**
 * {@link layerConfigWith} whose Redis store (if any) must be reachable when the layer is built.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig: Layer.Layer<
  Wired<"RateLimits">,
  RateLimitsInvalid | RateLimitUnavailable | Config.ConfigError
> = layerConfigWith({})
