/**
 * Redis {@link Memory} through ioredis: memory shared by processes and kept
 * across restarts (as durable as the server's persistence settings).
 *
 * **Layout.** Every key starts with `keyPrefix` (default `graphent:`) and the
 * namespace in braces, `graphent:{agent:todo}:...`, with the namespace id
 * URI-encoded so that ids cannot collide, and so that all keys of a namespace
 * share one Redis Cluster hash slot (scripts and transactions stay on one node):
 *
 * - history: a list `…:history` of JSON messages (`RPUSH`, `LRANGE -N -1`, `LTRIM`);
 * - facts: one string key per fact, `…:fact:<key>`, holding JSON, with a native
 *   `PX` expiry, plus a set `…:facts` of fact names used to list and clear
 *   them. A key per fact, not a hash: Redis expires keys itself, exactly and
 *   freeing the memory, whereas per-field hash expiry (`HPEXPIRE`) needs Redis
 *   7.4 and emulating it needs clock comparisons on every read. Names of
 *   expired facts are pruned from the set by `keys`;
 * - documents: a hash per document, `…:doc:<id>` (`text`, `metadata` JSON and
 *   `vector`, little-endian Float32 bytes), plus a set `…:docs` of ids.
 *
 * Writes that touch several keys run in one `MULTI`/`EXEC` (set, delete,
 * remember, forget) or one Lua script (keys, clear), so no reader ever sees a
 * torn write, even when a client dies or times out mid-way.
 *
 * **Recall** is exact and O(n) per query: the namespace's vectors are fetched
 * and scored (cosine) in process, ties broken by id. RediSearch is not
 * assumed. It suits thousands of documents per namespace, not millions.
 *
 * **Failures never hang.** The client connects with `connectTimeout`, every
 * command has a `commandTimeout`, and commands are not queued while the
 * connection is down (`enableOfflineQueue: false`): they fail at once. Such
 * failures, and failures to connect, are retried with the `retry` schedule
 * (default: 3 retries, 100 ms exponential backoff), while ioredis reconnects
 * in the background; so are commands lost with a dropped connection, except
 * `append`, `delete` and `forget`, which must not run twice. A command that
 * timed out is not retried, since Redis may still apply it (as a whole: see
 * above).
 * Everything surfaces as a `MemoryError` with backend `"redis"` and a readable
 * reason ("connection refused (127.0.0.1:6379)", "command timed out after 2000 ms").
 *
 * Documents are embedded with the `EmbeddingModel` in context; provide the
 * same model to every process sharing a store.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import type * as AiError from "effect/ai/AiError"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { Redis, type RedisOptions } from "ioredis"
import * as RedisClient from "../internal/redisClient.js"
import * as Vector from "../internal/vector.js"
import {
  type Document,
  Memory,
  MemoryError,
  type MemoryShape,
  type Message,
  type Namespace,
  type Recalled
} from "../services/Memory.js"

/**
 * The Redis server (or client) and key prefix of the memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `redis://[user:password@]host:port[/db]` (default `redis://127.0.0.1:6379`). Ignored with `client`. */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /**
   * A client of your own, used as is and not closed with the layer. Give it
   * `enableOfflineQueue: false` and a `commandTimeout` to keep the no-hang
   * guarantees.
   */
  readonly client?: Redis | undefined
  /** Prepended to every key (default `"graphent:"`); must not contain `{` or `}`. */
  readonly keyPrefix?: string | undefined
  /** How long to wait for a connection (default 2 seconds). */
  readonly connectTimeout?: Duration.Input | undefined
  /** How long to wait for a reply (default 2 seconds). */
  readonly commandTimeout?: Duration.Input | undefined
  /**
   * How to retry failures to connect, and commands refused while the
   * connection is down (default {@link defaultRetry}).
   */
  readonly retry?: Schedule.Schedule<unknown, MemoryError> | undefined
  /** More ioredis options (TLS, db, ...); they override the defaults above. */
  readonly redisOptions?: Omit<RedisOptions, "replyMapping" | "lazyConnect"> | undefined
}

/**
 * The default retry schedule: 3 retries, 100, 200 then 400 ms apart.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetry: Schedule.Schedule<unknown, MemoryError> = Schedule.exponential("100 millis").pipe(
  Schedule.upTo({ times: 3 })
)

const backend = "redis"

const millis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex")

/** KEYS: facts set. ARGV: fact key prefix. The live fact names; prunes expired ones. */
const keysScript = `
local live = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. name) == 1 then
    live[#live + 1] = name
  else
    redis.call('SREM', KEYS[1], name)
  end
end
return live`

/** KEYS: history, facts set, docs set. ARGV: fact key prefix, doc key prefix. */
const clearScript = `
for _, name in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('UNLINK', ARGV[1] .. name) end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('UNLINK', ARGV[2] .. id) end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
return 1`

/** Documents fetched per pipeline during recall. */
const fetchBatch = 500

/**
 * Builds a Redis-backed store; the connection it opens is closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(
  options?: Options
): Effect.fn.Return<MemoryShape, MemoryError, EmbeddingModel.EmbeddingModel | Scope.Scope> {
  const embedder = yield* EmbeddingModel.EmbeddingModel
  const prefix = options?.keyPrefix ?? "graphent:"
  if (prefix.includes("{") || prefix.includes("}")) {
    return yield* new MemoryError({ backend, operation: "connect", reason: `keyPrefix must not contain { or }: ${prefix}` })
  }
  const connectTimeout = millis(options?.connectTimeout ?? "2 seconds")
  const commandTimeout = millis(options?.commandTimeout ?? "2 seconds")
  const retry = options?.retry ?? defaultRetry

  const state: RedisClient.ClientState = { lastError: undefined, connected: false }
  const owned = options?.client === undefined
  const client = options?.client ?? (yield* RedisClient.acquire({
    url: options?.url,
    connectTimeout,
    commandTimeout,
    redisOptions: options?.redisOptions
  }, state))

  const address = () => {
    const { host, port, path } = client.options
    return path ? path : `${host}:${port}`
  }

  /**
   * How a command failed: `unsent` (it certainly did not reach Redis), `lost`
   * (the connection dropped while it was in flight: it may have run), or
   * anything else (a timeout, an error reply, ...).
   */
  const kinds = new WeakMap<MemoryError, "unsent" | "lost">()

  const failure = (operation: string, cause: unknown): MemoryError => {
    const error = cause as { readonly message?: unknown; readonly code?: unknown; readonly name?: unknown } | null
    const message = typeof error?.message === "string" ? error.message : String(cause)
    let reason = message
    let kind: "unsent" | "lost" | undefined
    switch (error?.code) {
      case "ECONNREFUSED":
        reason = `connection refused (${address()})`
        kind = "unsent"
        break
      case "ETIMEDOUT":
        reason = `connect timed out after ${connectTimeout} ms (${address()})`
        kind = "unsent"
        break
      case "ENOTFOUND":
      case "EAI_AGAIN":
        reason = `host not found (${address()})`
        kind = "unsent"
        break
      case "ECONNRESET":
      case "EPIPE":
        reason = `connection reset (${address()})`
        kind = "lost"
        break
      default:
        if (message === "Command timed out") reason = `command timed out after ${commandTimeout} ms (${address()})`
        else if (message.startsWith("Stream isn't writeable")) {
          reason = `not connected (${address()}); reconnecting`
          kind = "unsent"
        } else if (message === "Connection is closed.") {
          reason = `connection closed (${address()})`
          kind = "lost"
        } else if (error?.name === "MaxRetriesPerRequestError") {
          reason = `connection lost (${address()})`
          kind = "lost"
        } else if (error?.name === "ReplyError") reason = `Redis replied: ${message}`
    }
    const memoryError = new MemoryError({ backend, operation, reason, cause })
    if (kind !== undefined) kinds.set(memoryError, kind)
    return memoryError
  }

  /**
   * Retries failures to reach Redis with the `retry` schedule: commands that
   * were not sent, and, when running them twice is harmless (`idempotent`),
   * commands lost with their connection. Timeouts are never retried.
   */
  const retrying = <A>(effect: Effect.Effect<A, MemoryError>, idempotent: boolean): Effect.Effect<A, MemoryError> =>
    Effect.retry(effect, {
      schedule: retry,
      while: (error) => {
        const kind = kinds.get(error)
        return kind === "unsent" || (kind === "lost" && idempotent)
      }
    })

  /** Operations whose commands must not run twice (the result or the data would differ). */
  const once = new Set(["append", "delete", "forget"])

  /** One Redis call as an Effect: errors mapped, retried when it is safe. */
  const run = <A>(operation: string, call: () => Promise<A>): Effect.Effect<A, MemoryError> =>
    retrying(Effect.tryPromise({ try: call, catch: (cause) => failure(operation, cause) }), !once.has(operation))

  /** Runs a `MULTI` transaction and fails if any of its commands failed. */
  const transaction = (operation: string, build: (multi: ReturnType<Redis["multi"]>) => void) =>
    run(operation, async () => {
      const multi = client.multi()
      build(multi)
      const results = await multi.exec()
      if (results === null) throw new Error("transaction aborted")
      for (const [error] of results) if (error) throw error
      return results.map(([, result]) => result)
    })

  const script = (operation: string, source: string, keys: ReadonlyArray<string>, args: ReadonlyArray<string>) => {
    const hash = sha1(source)
    return run(operation, async () => {
      try {
        return await client.evalsha(hash, keys.length, ...keys, ...args)
      } catch (error) {
        if (!String((error as Error)?.message).startsWith("NOSCRIPT")) throw error
        return await client.eval(source, keys.length, ...keys, ...args)
      }
    })
  }

  const invalid = (operation: string, reason: string) => Effect.fail(new MemoryError({ backend, operation, reason }))

  const parse = <A>(operation: string, what: string, text: string): Effect.Effect<A, MemoryError> =>
    Effect.try({
      try: () => JSON.parse(text) as A,
      catch: (cause) => new MemoryError({ backend, operation, reason: `${what} is not valid JSON`, cause })
    })

  const embeddingFailed = (operation: "remember" | "recall") => (error: AiError.AiError) =>
    new MemoryError({ backend, operation, reason: `embedding failed: ${error.message}`, cause: error })

  const keysOf = (namespace: Namespace) => {
    const base = `${prefix}{${namespace.scope}:${encodeURIComponent(namespace.id)}}`
    return {
      history: `${base}:history`,
      facts: `${base}:facts`,
      fact: `${base}:fact:`,
      docs: `${base}:docs`,
      doc: `${base}:doc:`
    }
  }

  // Connect (owned clients, and clients of your own created with lazyConnect).
  if (client.status === "wait" || (owned && client.status !== "ready")) {
    const attempt = Effect.suspend(() => {
      state.lastError = undefined
      return Effect.tryPromise({
        try: () => client.connect(),
        catch: (cause) => failure("connect", state.lastError ?? cause)
      })
    }).pipe(
      Effect.timeoutOrElse({
        duration: connectTimeout + commandTimeout,
        orElse: () =>
          Effect.sync(() => client.disconnect()).pipe(
            Effect.andThen(Effect.fail(failure("connect", { code: "ETIMEDOUT" })))
          )
      })
    )
    yield* retrying(attempt, true)
  }
  state.connected = true

  const parseMessages = (operation: string, items: ReadonlyArray<string>) =>
    Effect.forEach(items, (item, index) => parse<Message>(operation, `stored message ${index}`, item))

  const append = Effect.fn("MemoryRedis.append")(function*(namespace: Namespace, messages: ReadonlyArray<Message>) {
    if (messages.length === 0) return
    // One RPUSH is atomic: a batch is never interleaved with another writer's.
    yield* run("append", () => client.rpush(keysOf(namespace).history, ...messages.map((m) => JSON.stringify(m))))
  })

  const history = Effect.fn("MemoryRedis.history")(function*(
    namespace: Namespace,
    options?: { readonly last?: number | undefined }
  ) {
    const last = options?.last
    if (last !== undefined && last <= 0) return []
    const start = last === undefined ? 0 : -Math.floor(last)
    const items = yield* run("history", () => client.lrange(keysOf(namespace).history, start, -1))
    return yield* parseMessages("history", items)
  })

  const trim = Effect.fn("MemoryRedis.trim")(function*(namespace: Namespace, keep: number) {
    if (keep < 0) return yield* invalid("trim", `keep must be >= 0, got ${keep}`)
    const key = keysOf(namespace).history
    const kept = Math.trunc(keep)
    yield* kept === 0 ? run("trim", () => client.del(key)) : run("trim", () => client.ltrim(key, -kept, -1))
  })

  const get = Effect.fn("MemoryRedis.get")(function*(namespace: Namespace, factKey: string) {
    const found = yield* run("get", () => client.get(keysOf(namespace).fact + factKey))
    if (found === null) return Option.none()
    return Option.some(yield* parse<Schema.Json>("get", `fact "${factKey}"`, found))
  })

  const set = Effect.fn("MemoryRedis.set")(function*(
    namespace: Namespace,
    factKey: string,
    value: Schema.Json,
    options?: { readonly ttl?: Duration.Input | undefined }
  ) {
    const keys = keysOf(namespace)
    const json = JSON.stringify(value)
    const ttl = options?.ttl === undefined ? undefined : millis(options.ttl)
    if (ttl !== undefined && ttl <= 0) {
      // Already expired: as if set and gone.
      yield* transaction("set", (multi) => multi.del(keys.fact + factKey).srem(keys.facts, factKey))
      return
    }
    yield* transaction("set", (multi) => {
      if (ttl === undefined || !Number.isFinite(ttl)) multi.set(keys.fact + factKey, json)
      else multi.set(keys.fact + factKey, json, "PX", Math.max(1, Math.ceil(ttl)))
      multi.sadd(keys.facts, factKey)
    })
  })

  const delete_ = Effect.fn("MemoryRedis.delete")(function*(namespace: Namespace, factKey: string) {
    const keys = keysOf(namespace)
    const [deleted] = yield* transaction("delete", (multi) => multi.del(keys.fact + factKey).srem(keys.facts, factKey))
    return deleted === 1
  })

  const keys = Effect.fn("MemoryRedis.keys")(function*(namespace: Namespace) {
    const k = keysOf(namespace)
    const names = yield* script("keys", keysScript, [k.facts], [k.fact])
    return (names as Array<string>).sort()
  })

  const remember = Effect.fn("MemoryRedis.remember")(function*(namespace: Namespace, document: Document) {
    const { vector } = yield* embedder.embed(document.text).pipe(Effect.mapError(embeddingFailed("remember")))
    const keys = keysOf(namespace)
    const docKey = keys.doc + document.id
    yield* transaction("remember", (multi) =>
      multi
        .del(docKey)
        .hset(docKey, {
          text: document.text,
          metadata: JSON.stringify(document.metadata),
          vector: Vector.toFloat32Bytes(vector)
        })
        .sadd(keys.docs, document.id))
  })

  const recall = Effect.fn("MemoryRedis.recall")(function*(
    namespace: Namespace,
    query: string,
    options?: { readonly k?: number | undefined; readonly filter?: Readonly<Record<string, Schema.Json>> | undefined }
  ) {
    const k = Vector.resolveK(options?.k)
    if (typeof k === "string") return yield* invalid("recall", k)
    if (k === 0) return []
    const keys = keysOf(namespace)
    const ids = yield* run("recall", () => client.smembers(keys.docs))
    if (ids.length === 0) return []
    const { vector: queryVector } = yield* embedder.embed(query).pipe(Effect.mapError(embeddingFailed("recall")))
    const candidates: Array<Vector.Scored<Document>> = []
    for (let start = 0; start < ids.length; start += fetchBatch) {
      const batch = ids.slice(start, start + fetchBatch)
      const replies = yield* run("recall", () => {
        const pipeline = client.pipeline()
        for (const id of batch) pipeline.hmgetBuffer(keys.doc + id, "text", "metadata", "vector")
        return pipeline.exec()
      })
      for (let index = 0; index < batch.length; index++) {
        const [error, fields] = replies?.[index] ?? [new Error("no reply"), null]
        if (error) return yield* Effect.fail(failure("recall", error))
        const [text, metadataJson, vectorBytes] = fields as Array<Buffer | null>
        // Forgotten between SMEMBERS and HMGET: skip it.
        if (text == null || metadataJson == null || vectorBytes == null) continue
        const id = batch[index]!
        const metadata = yield* parse<Record<string, Schema.Json>>(
          "recall",
          `metadata of document "${id}"`,
          metadataJson.toString("utf8")
        )
        if (!Vector.matches(metadata, options?.filter)) continue
        const stored = Vector.fromFloat32Bytes(vectorBytes)
        if (stored.length !== queryVector.length) {
          return yield* invalid("recall", Vector.dimensionMismatch(id, stored.length, queryVector.length))
        }
        candidates.push({
          id,
          score: Vector.cosine(queryVector, stored),
          item: { id, text: text.toString("utf8"), metadata }
        })
      }
    }
    return Vector.topK(candidates, k).map(({ item, score }): Recalled => ({ ...item, score }))
  })

  const forget = Effect.fn("MemoryRedis.forget")(function*(namespace: Namespace, id: string) {
    const keys = keysOf(namespace)
    const [deleted] = yield* transaction("forget", (multi) => multi.del(keys.doc + id).srem(keys.docs, id))
    return deleted === 1
  })

  const clear = Effect.fn("MemoryRedis.clear")(function*(namespace: Namespace) {
    const k = keysOf(namespace)
    yield* script("clear", clearScript, [k.history, k.facts, k.docs], [k.fact, k.doc])
  })

  return { append, history, trim, get, set, delete: delete_, keys, remember, recall, forget, clear } satisfies MemoryShape
})

/**
 * Redis memory over the `EmbeddingModel` you provide; the connection is
 * opened when the layer is built (failing with a `MemoryError` if Redis
 * cannot be reached) and closed with the layer's scope.
 *
 * **Example** (Redis memory with the offline embedder)
 *
 * ```ts
 * import { Layer } from "effect"
 * import { EmbeddingLocal, MemoryRedis } from "graphent"
 *
 * const MemoryLive = MemoryRedis.layer({ url: "redis://127.0.0.1:6379" }).pipe(
 *   Layer.provide(EmbeddingLocal.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Memory, MemoryError, EmbeddingModel.EmbeddingModel> =>
  Layer.effect(Memory, make(options))

/**
 * {@link layer} with the URL read from `GRAPHENT_REDIS_URL` (a secret: it may
 * hold a password, and is kept `Redacted`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Omit<Options, "url" | "client">
): Layer.Layer<Memory, MemoryError | Config.ConfigError, EmbeddingModel.EmbeddingModel> =>
  Layer.effect(
    Memory,
    Effect.flatMap(Config.Redacted("GRAPHENT_REDIS_URL"), (url) => make({ ...options, url }))
  )
