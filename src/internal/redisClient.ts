/**
 * An ioredis client that never hangs, shared by the Redis backends
 * (`MemoryRedis`, `RateLimitsRedis`): it connects with `connectTimeout`,
 * every command has a `commandTimeout`, and commands are not queued while the
 * connection is down (they fail at once). After its first connection it
 * reconnects in the background; before it, not at all (the caller retries),
 * unless `background` asks it to retry the first connection too.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"

/** What the caller learns of the client: its last `error` event; set `connected` once it connected. */
export interface ClientState {
  lastError: unknown
  connected: boolean
}

/** Where and how to connect. */
export interface ClientOptions {
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** Milliseconds. */
  readonly connectTimeout: number
  /** Milliseconds. */
  readonly commandTimeout: number
  readonly redisOptions?: Omit<RedisOptions, "replyMapping" | "lazyConnect"> | undefined
  /** Retry the first connection in the background too (default: only connections after it). */
  readonly background?: boolean | undefined
}

/** A lazily connecting client, quit (or disconnected) when the scope closes. */
export const acquire = (options: ClientOptions, state: ClientState): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redisOptions: Omit<RedisOptions, "replyMapping"> = {
        connectTimeout: options.connectTimeout,
        commandTimeout: options.commandTimeout,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        // Reconnect in the background after a connection loss; the first connection is the caller's to retry
        // (unless `background`).
        retryStrategy: (times) => (state.connected || options.background === true ? Math.min(times * 100, 2_000) : null),
        ...options.redisOptions,
        lazyConnect: true
      }
      const url = options.url === undefined
        ? undefined
        : Redacted.isRedacted(options.url)
        ? Redacted.value(options.url)
        : options.url
      const created = url === undefined ? new Redis(redisOptions) : new Redis(url, redisOptions)
      created.on("error", (error) => {
        state.lastError = error
      })
      return created
    }),
    (created) =>
      Effect.promise(() =>
        created.status === "ready"
          ? created.quit().then(() => undefined, () => created.disconnect())
          : Promise.resolve(created.disconnect())
      )
  )
