/**
 * Rate limits shared by every process of a deployment: per model provider
 * (`model:openai`) and per tool (`tool:http_get`).
 *
 * A run's tool calls and model calls wait for a slot of their key before
 * they go out: the local runtime asks {@link RateLimits} for `tool:<name>`
 * before each live tool call, and `model:<provider>` (and
 * `model:<provider>:<model>`) before each live model call. A call answered
 * from a recording (replay, resume) does not wait. Keys without a limit cost
 * nothing (no store round trip). The wait is an ordinary sleep: interrupting
 * the run interrupts it, and the run's wall-time budget bounds it.
 *
 * The limit of a key is `"<n>/<unit>"` (`second`, `minute`, `hour`, `day`),
 * optionally `"<n>/<unit> burst <b>"`: a token bucket that holds `b` tokens
 * (default 1) and gains `n` per unit. Over any interval of length `T` a key
 * admits at most `b + n·T/unit` calls, whichever process makes them.
 *
 * Backends: `RateLimitsMemory` (one process), `RateLimitsRedis` (every
 * process that shares a Redis). Both are Effect's own
 * `effect/persistence/RateLimiter` (its token-bucket Lua script on Redis).
 * A store that cannot be reached fails the call with
 * {@link RateLimitUnavailable} (outcome `unavailable`); the run stops
 * without an outcome and its journal stays resumable. A cluster runner
 * waits for the store first ({@link waitingForStore}).
 *
 * **Example** (Limits for a provider and a tool, in one process)
 *
 * ```ts
 * import { RateLimitsMemory } from "graphent"
 *
 * const limits = RateLimitsMemory.layer({ "model:openai": "60/minute", "tool:http_get": "10/second burst 5" })
 * // provide it beside the runtime: every run in its scope waits for its slots
 * ```
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"

/**
 * A limit as configured: `"<n>/<unit>"` or `"<n>/<unit> burst <b>"`.
 *
 * @since 0.3.0
 * @category models
 */
export type LimitSpec = string

/**
 * A parsed limit: `limit` calls per `per`, up to `burst` at once.
 *
 * @since 0.3.0
 * @category models
 */
export interface Limit {
  readonly limit: number
  readonly per: Duration.Duration
  readonly burst: number
}

/**
 * The limits of a deployment, by key (`model:<provider>`,
 * `model:<provider>:<model>`, `tool:<name>`, or any key of your own).
 *
 * @since 0.3.0
 * @category models
 */
export type LimitsConfig = Readonly<Record<string, LimitSpec>>

/**
 * The rate-limit configuration is not valid (a malformed limit, a key with
 * no name).
 *
 * What to do: write each limit as `"<kind>:<name>": "<count>/<second|minute|hour|day>"` (optionally `burst <n>`),
 * e.g. `GRAPHENT_RATE_LIMITS='{"model:openai":"60/minute","tool:http_get":"10/second burst 5"}'`; see
 * docs/scaling.md, Flow control.
 *
 * @since 0.3.0
 * @category errors
 */
export class RateLimitsInvalid extends Schema.TaggedError<RateLimitsInvalid>()("RateLimitsInvalid", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `rate limit "${this.key}": ${this.reason}`
  }
  /** {@link Errors.misconfigured}: exit 2, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.misconfigured
  }
}

/**
 * The store that holds the shared limits could not be reached: the call did
 * not go out.
 *
 * On a cluster runner a call first waits for the store (tried every second, up to 5 minutes by default), so
 * this error there means the store stayed down that long.
 *
 * What to do: check the Redis that `GRAPHENT_RATE_LIMITS_REDIS` names (`redis-cli ping`). The call did not
 * run, so nothing is lost: resume the run (`graphent resume <run-id>`) once the store is back.
 *
 * @since 0.3.0
 * @category errors
 */
export class RateLimitUnavailable extends Schema.TaggedError<RateLimitUnavailable>()("RateLimitUnavailable", {
  key: Schema.String,
  backend: Schema.String,
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `rate limit "${this.key}" (${this.backend}) unavailable: ${this.reason}`
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

/**
 * The rate-limits service.
 *
 * @since 0.3.0
 * @category models
 */
export interface RateLimitsShape {
  /** The backend's name (`none`, `memory`, `redis`). */
  readonly backend: string
  /** Whether `key` has a limit (a key without one never waits). */
  readonly has: (key: string) => boolean
  /** Waits until `cost` tokens (default 1) of `key` are available, and takes them. */
  readonly acquire: (key: string, cost?: number) => Effect.Effect<void, RateLimitUnavailable>
}

/**
 * No limits: every key is free. The default when no layer provides limits.
 *
 * @since 0.3.0
 * @category constructors
 */
export const unlimited: RateLimitsShape = {
  backend: "none",
  has: () => false,
  acquire: () => Effect.void
}

/**
 * The rate limits of the runs in context (default {@link unlimited}).
 *
 * @since 0.3.0
 * @category services
 */
export const RateLimits = Context.Reference<RateLimitsShape>("graphent/RateLimits", {
  defaultValue: () => unlimited
})

const units: Readonly<Record<string, Duration.Duration>> = {
  s: Duration.seconds(1),
  sec: Duration.seconds(1),
  second: Duration.seconds(1),
  m: Duration.minutes(1),
  min: Duration.minutes(1),
  minute: Duration.minutes(1),
  h: Duration.hours(1),
  hour: Duration.hours(1),
  d: Duration.days(1),
  day: Duration.days(1)
}

const specPattern = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)s?\s*(?:burst\s+(\d+))?\s*$/i

/**
 * Parses one limit (`"60/minute"`, `"10/s"`, `"100/5 minutes burst 20"`).
 *
 * @since 0.3.0
 * @category parsing
 */
export const parseLimit = (key: string, spec: unknown): Effect.Effect<Limit, RateLimitsInvalid> => {
  const invalid = (reason: string) => Effect.fail(new RateLimitsInvalid({ key, reason }))
  if (key.trim() === "") return invalid("the key is empty")
  if (typeof spec !== "string") return invalid(`expected a string like "60/minute", got ${JSON.stringify(spec)}`)
  const match = specPattern.exec(spec)
  const unit = match === null ? undefined : units[match[3]!.toLowerCase()]
  if (match === null || unit === undefined) {
    return invalid(`expected "<n>/<second|minute|hour|day>" (optionally "burst <b>"), got ${JSON.stringify(spec)}`)
  }
  const limit = Number(match[1])
  const times = match[2] === undefined ? 1 : Number(match[2])
  const burst = match[4] === undefined ? 1 : Number(match[4])
  if (!(limit > 0)) return invalid(`the limit must be positive, got ${JSON.stringify(spec)}`)
  if (!(times > 0)) return invalid(`the period must be positive, got ${JSON.stringify(spec)}`)
  if (!(burst >= 1)) return invalid(`the burst must be at least 1, got ${JSON.stringify(spec)}`)
  return Effect.succeed({ limit, per: Duration.times(unit, times), burst })
}

/**
 * Parses every limit of a configuration.
 *
 * @since 0.3.0
 * @category parsing
 */
export const parseLimits = (
  config: LimitsConfig
): Effect.Effect<ReadonlyMap<string, Limit>, RateLimitsInvalid> =>
  Effect.map(
    Effect.forEach(Object.entries(config), ([key, spec]) => Effect.map(parseLimit(key, spec), (limit) => [key, limit] as const)),
    (entries) => new Map(entries)
  )

/**
 * Parses `GRAPHENT_RATE_LIMITS`: a JSON object of limits by key.
 *
 * @since 0.3.0
 * @category parsing
 */
export const parseLimitsJson = (text: string): Effect.Effect<ReadonlyMap<string, Limit>, RateLimitsInvalid> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return Effect.fail(new RateLimitsInvalid({ key: "GRAPHENT_RATE_LIMITS", reason: `not JSON: ${String(error)}` }))
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return Effect.fail(
      new RateLimitsInvalid({ key: "GRAPHENT_RATE_LIMITS", reason: `expected an object of limits by key` })
    )
  }
  return parseLimits(parsed as LimitsConfig)
}

/**
 * The metrics of flow control (Prometheus names; exported with the other
 * metrics by the `Telemetry` layers).
 *
 * @since 0.3.0
 * @category metrics
 */
export const metrics = {
  rateLimitWait: {
    name: "graphent_rate_limit_wait_seconds",
    description: "Time calls waited for a rate-limit slot, in seconds, by key."
  },
  rateLimitUnavailable: {
    name: "graphent_rate_limit_unavailable_total",
    description: "Calls that failed because the rate-limit store was unavailable, by key."
  }
} as const

const waitBuckets = [0, 0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300]

/**
 * Builds the service over a `RateLimiter` (Effect's; its store decides
 * whether the limits are shared). The tokens of a call are taken before it
 * waits: an interrupted wait does not give them back, so a limit is never
 * exceeded.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  limits: ReadonlyMap<string, Limit>,
  limiter: RateLimiter.RateLimiter,
  backend: string
): RateLimitsShape => {
  const compiled = new Map(
    [...limits].map(([key, limit]) => {
      // A bucket of `burst` tokens, one token back every per/limit: `window` = burst·per/limit.
      const window = Duration.millis(Duration.toMillis(limit.per) * limit.burst / limit.limit)
      const attributes = { key }
      return [key, {
        consume: { key, limit: limit.burst, window, algorithm: "token-bucket", onExceeded: "delay" } as const,
        waited: Metric.histogram(metrics.rateLimitWait.name, {
          description: metrics.rateLimitWait.description,
          attributes,
          boundaries: waitBuckets
        }),
        unavailable: Metric.counter(metrics.rateLimitUnavailable.name, {
          description: metrics.rateLimitUnavailable.description,
          attributes,
          incremental: true
        })
      }] as const
    })
  )
  return {
    backend,
    has: (key) => compiled.has(key),
    acquire: (key, cost = 1) => {
      const entry = compiled.get(key)
      if (entry === undefined) return Effect.void
      return limiter.consume(cost === 1 ? entry.consume : { ...entry.consume, tokens: cost }).pipe(
        Effect.catch((error) =>
          Effect.andThen(
            Metric.update(entry.unavailable, 1),
            Effect.fail(
              new RateLimitUnavailable({
                key,
                backend,
                reason: error.reason._tag === "RateLimitStoreError" ? error.reason.message : error.message,
                cause: error
              })
            )
          )
        ),
        Effect.flatMap((result) => {
          const millis = Duration.toMillis(result.delay)
          const recorded = Metric.update(entry.waited, millis / 1000)
          return millis <= 0 ? recorded : Effect.andThen(recorded, Effect.sleep(result.delay))
        })
      )
    }
  }
}

/**
 * The keys a model call waits for: `model:<provider>` and
 * `model:<provider>:<model>` for a model named `provider:model`, else
 * `model:<name>`; only the keys with a limit.
 *
 * @since 0.3.0
 * @category keys
 */
export const modelKeys = (limits: RateLimitsShape, model: string): ReadonlyArray<string> => {
  const colon = model.indexOf(":")
  const candidates = colon < 0 ? [`model:${model}`] : [`model:${model.slice(0, colon)}`, `model:${model}`]
  return candidates.filter(limits.has)
}

/**
 * Waits for the slots of a model call (see {@link modelKeys}).
 *
 * @since 0.3.0
 * @category keys
 */
export const acquireModel = (limits: RateLimitsShape, model: string): Effect.Effect<void, RateLimitUnavailable> => {
  if (limits === unlimited) return Effect.void
  const keys = modelKeys(limits, model)
  return keys.length === 0 ? Effect.void : Effect.forEach(keys, (key) => limits.acquire(key), { discard: true })
}

/**
 * The key of a tool's calls: `tool:<name>`.
 *
 * @since 0.3.0
 * @category keys
 */
export const toolKey = (tool: string): string => `tool:${tool}`

/**
 * `limits` whose calls outlive a store that is down: an acquire that fails
 * with {@link RateLimitUnavailable} logs a warning (and counts in
 * `graphent_rate_limit_unavailable_total`) and tries again every `every`, for
 * up to `within`; only then does the call fail. A cluster run waits this way
 * (its runner keeps the run, and it completes once the store is back)
 * instead of failing a step for a Redis restart.
 *
 * @since 0.3.0
 * @category constructors
 */
export const waitingForStore = (
  limits: RateLimitsShape,
  options: { readonly every: Duration.Input; readonly within: Duration.Input }
): RateLimitsShape =>
  limits === unlimited ? limits : {
    ...limits,
    acquire: (key, cost) =>
      limits.acquire(key, cost).pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`${error.message}; the call waits for the store (up to ${Duration.format(Duration.fromInputUnsafe(options.within))})`)
        ),
        Effect.retry(Schedule.spaced(options.every).pipe(Schedule.upTo({ duration: options.within })))
      )
  }
