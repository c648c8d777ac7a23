/**
 * {@link RateLimits} shared by every process that uses one Redis: Effect's
 * `RateLimiter` with its Redis store (a token bucket updated by one Lua
 * script per call, so concurrent processes never take the same token).
 *
 * **Failures never hang.** The client connects within `connectTimeout`,
 * every command has a `commandTimeout`, and commands are not queued while
 * the connection is down: a call then fails at once with
 * {@link RateLimitUnavailable} (outcome `unavailable`), and ioredis
 * reconnects in the background. A Redis that cannot be reached when the
 * layer is built fails the layer with the same error, unless `connect` is
 * `"background"` (what `graphent worker` uses): the layer is then ready at
 * once, logs that the store is down, and keeps trying to connect in the
 * background; calls fail with {@link RateLimitUnavailable} until it is
 * reachable (a cluster runner's calls wait for it, see
 * `RateLimits.waitingForStore`).
 *
 * The bucket's clock is the callers' (`Date.now()` of each process): keep
 * the runners' clocks in sync (NTP) — skew between processes shifts refills
 * by as much.
 *
 * **Example**
 *
 * ```ts
 * import { RateLimitsRedis } from "graphent/redis"
 *
 * const limits = RateLimitsRedis.layer({ "model:openai": "60/minute" }, { url: "redis://127.0.0.1:6379" })
 * ```
 *
 * @since 0.3.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as EffectRedis from "effect/persistence/Redis"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import * as RedisClient from "../internal/redisClient.js"
import {
  type Limit,
  type LimitsConfig,
  make as makeLimits,
  parseLimits,
  RateLimits,
  type RateLimitsInvalid,
  type RateLimitsShape,
  RateLimitUnavailable
} from "../services/RateLimits.js"
import { type Wired, wires } from "../services/Wired.js"

/**
 * Where the shared limits live.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The Redis URL (default `redis://127.0.0.1:6379`). */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** The prefix of the limits' keys (default `graphent:ratelimit:`). */
  readonly keyPrefix?: string | undefined
  /** Connecting may take this long (default 2 seconds). */
  readonly connectTimeout?: Duration.Input | undefined
  /** One command may take this long (default 2 seconds). */
  readonly commandTimeout?: Duration.Input | undefined
  /**
   * The first connection: `"wait"` (default) connects while the layer is
   * built, and fails it when Redis cannot be reached; `"background"` builds
   * the layer at once and connects in the background (tried again until it
   * connects), logging that the store is down meanwhile.
   */
  readonly connect?: "wait" | "background" | undefined
  /** More ioredis options (TLS, db, ...); they override the defaults above. */
  readonly redisOptions?: Omit<RedisOptions, "replyMapping" | "lazyConnect"> | undefined
}

const backend = "redis"

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

const reasonOf = (cause: unknown): string => {
  const error = cause as { readonly message?: unknown; readonly code?: unknown } | null
  if (error?.code === "ECONNREFUSED") return "connection refused"
  const message = typeof error?.message === "string" ? error.message : String(cause)
  if (message.startsWith("Stream isn't writeable")) return "not connected (reconnecting)"
  return message
}

/** Resolves with the client's next `ready` (or at once when it is ready) or, first, `down` on its next error. */
const readyOrDown = (created: Redis): Effect.Effect<"ready" | "down"> =>
  Effect.callback<"ready" | "down">((resume) => {
    if (created.status === "ready") return resume(Effect.succeed("ready"))
    const onReady = () => resume(Effect.succeed("ready"))
    const onError = () => resume(Effect.succeed("down"))
    created.once("ready", onReady).once("error", onError)
    return Effect.sync(() => {
      created.off("ready", onReady).off("error", onError)
    })
  })

/**
 * Connects `created` in the background (ioredis retries until it connects), on a fiber of the scope: logs that
 * the store is down at the first failure, and that it is reachable once it connects.
 */
const connectInBackground = (created: Redis, state: RedisClient.ClientState): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.sync(() => void created.connect().catch(() => undefined))
    if ((yield* readyOrDown(created)) === "down") {
      yield* Effect.logWarning(
        `graphent: the rate-limit store (redis) is down: ${reasonOf(state.lastError)}; ` +
          "connecting in the background, calls that need it wait (or fail) until then"
      )
      // ioredis tries again on its own: each round waits for its next attempt's outcome.
      yield* readyOrDown(created).pipe(Effect.repeat({ until: (outcome) => outcome === "ready" }))
      yield* Effect.logInfo("graphent: the rate-limit store (redis) is reachable")
    }
    state.connected = true
  }).pipe(Effect.forkScoped, Effect.asVoid)

/** An ioredis client that never queues a command while it is disconnected. */
const client = (options: Options | undefined): Effect.Effect<Redis, RateLimitUnavailable, Scope.Scope> => {
  const connectTimeout = millis(options?.connectTimeout ?? "2 seconds")
  const commandTimeout = millis(options?.commandTimeout ?? "2 seconds")
  const state: RedisClient.ClientState = { lastError: undefined, connected: false }
  const background = options?.connect === "background"
  const acquired = RedisClient.acquire(
    { url: options?.url, connectTimeout, commandTimeout, redisOptions: options?.redisOptions, background },
    state
  )
  if (background) return Effect.tap(acquired, (created) => connectInBackground(created, state))
  return acquired.pipe(
    Effect.tap((created) =>
      Effect.tryPromise({
        try: () => created.connect(),
        catch: (cause) =>
          new RateLimitUnavailable({ key: "*", backend, reason: `connect: ${reasonOf(state.lastError ?? cause)}`, cause })
      }).pipe(
        Effect.timeoutOrElse({
          duration: connectTimeout + commandTimeout,
          orElse: () =>
            Effect.sync(() => created.disconnect()).pipe(
              Effect.andThen(Effect.fail(
                new RateLimitUnavailable({ key: "*", backend, reason: `connect timed out after ${connectTimeout} ms` })
              ))
            )
        }),
        Effect.tap(() => Effect.sync(() => {
          state.connected = true
        }))
      )
    )
  )
}

/**
 * Effect's `Redis` service over an ioredis client (what the `RateLimiter`'s
 * Redis store needs).
 *
 * @since 0.3.0
 * @category constructors
 */
export const effectRedis = (redis: Redis): Effect.Effect<EffectRedis.Redis["Service"], never, Scope.Scope> => {
  const sendWith = (target: Redis) => <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
    Effect.tryPromise({
      try: () => target.call(command, ...args) as Promise<A>,
      catch: (cause) => new EffectRedis.RedisError({ cause })
    })
  return EffectRedis.make({
    send: sendWith(redis),
    subscribe: (channel, onMessage) =>
      Effect.acquireRelease(Effect.sync(() => redis.duplicate()), (sub) => Effect.sync(() => sub.disconnect())).pipe(
        Effect.tap((sub) =>
          Effect.tryPromise({
            try: () => sub.subscribe(channel),
            catch: (cause) => new EffectRedis.RedisError({ cause })
          })
        ),
        Effect.map((sub) => {
          sub.on("message", (from: string, message: string) => onMessage({ channel: from, message }))
          return Effect.never
        })
      ),
    connect: Effect.sync(() => redis.duplicate()).pipe(
      Effect.map((connection) => ({
        send: sendWith(connection),
        close: Effect.sync(() => connection.disconnect())
      }))
    )
  })
}

/**
 * The service over parsed limits, on the Redis `options` names.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  limits: ReadonlyMap<string, Limit>,
  options?: Options
): Effect.Effect<RateLimitsShape, RateLimitUnavailable, Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* effectRedis(yield* client(options))
    const store = yield* RateLimiter.makeStoreRedis({ prefix: options?.keyPrefix ?? "graphent:ratelimit:" }).pipe(
      Effect.provideService(EffectRedis.Redis, redis)
    )
    const limiter = yield* RateLimiter.make.pipe(Effect.provideService(RateLimiter.RateLimiterStore, store))
    return makeLimits(limits, limiter, backend)
  })

/**
 * Limits shared through Redis, from parsed limits.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerLimits = (
  limits: ReadonlyMap<string, Limit>,
  options?: Options
): Layer.Layer<Wired<"RateLimits">, RateLimitUnavailable> =>
  Layer.effect(RateLimits, make(limits, options)).pipe(wires("RateLimits"))

/**
 * Limits shared through Redis, by key (`{ "model:openai": "60/minute" }`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  config: LimitsConfig,
  options?: Options
): Layer.Layer<Wired<"RateLimits">, RateLimitsInvalid | RateLimitUnavailable> =>
  Layer.unwrap(Effect.map(parseLimits(config), (limits) => layerLimits(limits, options)))
