import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule } from "effect"
import { Redis } from "ioredis"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { EmbeddingLocal, Memory } from "graphent"
import { MemoryRedis } from "graphent/redis"
import * as Store from "../support/store.js"
import { memoryContract } from "./memoryContract.js"
import { redisUrl } from "../support/services.js"

// A real Redis (CI starts one on 127.0.0.1:6379). Every key this file writes starts with `runPrefix`, and is
// deleted after the run.
const url = redisUrl
const runPrefix = `graphent-test:${randomUUID()}:`
const repoRoot = fileURLToPath(new URL("../..", import.meta.url))

const redisLayer = (options: MemoryRedis.Options) =>
  MemoryRedis.layer({ url, ...options }).pipe(Layer.provide(EmbeddingLocal.layer))

const admin = new Redis(url, { lazyConnect: true, commandTimeout: 5_000 })

const deleteKeys = (pattern: string) => Store.deleteRedisKeys([pattern], admin)

afterAll(async () => {
  await admin.call("CLIENT", "UNPAUSE").catch(() => undefined)
  await deleteKeys(`${runPrefix}*`)
  await admin.quit()
})

memoryContract("MemoryRedis contract", redisLayer({ keyPrefix: `${runPrefix}contract:` }))

const memoryIn = <A, E, E2>(
  layer: Layer.Layer<Memory.Memory, E>,
  use: (memory: Memory.MemoryShape) => Effect.Effect<A, E2>
) => Memory.Memory.use(use).pipe(Effect.provide(layer))

const msg = (content: string): Memory.Message => ({ role: "user", content })

/** The ids of the clients connected with this name. */
const clientsNamed = async (name: string) =>
  String(await admin.call("CLIENT", "LIST")).split("\n").filter((line) => line.includes(` name=${name} `)).map((line) =>
    /(?:^|\s)id=(\d+)/.exec(line)![1]!
  )

describe("MemoryRedis reliability", () => {
  it.live("a closed port fails fast with a MemoryError naming the problem", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const error = yield* Effect.flip(
        memoryIn(redisLayer({ url: "redis://127.0.0.1:1", keyPrefix: runPrefix }), () => Effect.void)
      )
      const elapsed = Date.now() - started
      assert.strictEqual(error._tag, "MemoryError")
      assert.strictEqual((error as Memory.MemoryError).backend, "redis")
      assert.strictEqual((error as Memory.MemoryError).operation, "connect")
      assert.include((error as Memory.MemoryError).reason, "connection refused (127.0.0.1:1)")
      assert.isBelow(elapsed, 5_000)
    }), 10_000)

  it.live("connection failures are retried with the schedule you set; secrets stay out of errors", () =>
    Effect.gen(function*() {
      let retries = 0
      const retry = Schedule.spaced("20 millis").pipe(
        Schedule.upTo({ times: 4 }),
        Schedule.tap(() => Effect.sync(() => retries++))
      )
      const error = yield* Effect.flip(
        memoryIn(
          MemoryRedis.layer({ url: "redis://ada:s3cret-pass@127.0.0.1:1", retry }).pipe(
            Layer.provide(EmbeddingLocal.layer)
          ),
          () => Effect.void
        )
      )
      assert.strictEqual(retries, 4)
      assert.include(error.message, "connection refused")
      assert.notInclude(error.message, "s3cret")
      assert.notInclude(JSON.stringify(error), "s3cret")
    }), 10_000)

  it.live("a write stalled by CLIENT PAUSE times out with a MemoryError and lands whole or not at all", () =>
    Effect.gen(function*() {
      const keyPrefix = `${runPrefix}pause:`
      const id = randomUUID()
      const namespace = Memory.agent(id)
      const base = `${keyPrefix}{agent:${id}}`
      yield* memoryIn(redisLayer({ keyPrefix, commandTimeout: "300 millis" }), (memory) =>
        Effect.gen(function*() {
          yield* memory.append(namespace, [msg("before")])
          yield* Effect.promise(() => admin.call("CLIENT", "PAUSE", "2000", "WRITE"))
          const started = Date.now()
          const remembered = yield* Effect.flip(
            memory.remember(namespace, { id: "doc", text: "written during a pause", metadata: { n: 1 } })
          )
          const appended = yield* Effect.flip(memory.append(namespace, [msg("1"), msg("2"), msg("3")]))
          const elapsed = Date.now() - started
          for (const [error, operation] of [[remembered, "remember"], [appended, "append"]] as const) {
            assert.strictEqual(error._tag, "MemoryError")
            assert.strictEqual(error.backend, "redis")
            assert.strictEqual(error.operation, operation)
            assert.include(error.reason, "command timed out after 300 ms")
          }
          assert.isBelow(elapsed, 1_500, "the writes did not wait for the pause to end")
          // Readers (other clients are not paused for reads) see none of the stalled writes.
          const during = yield* Effect.promise(() =>
            Promise.all([admin.exists(`${base}:doc:doc`), admin.sismember(`${base}:docs`, "doc"), admin.llen(`${base}:history`)])
          )
          assert.deepStrictEqual(during, [0, 0, 1])
          yield* Effect.promise(() => admin.call("CLIENT", "UNPAUSE"))
          // Redis may still apply a timed-out write once unpaused: as a whole, or not at all.
          yield* Effect.sleep("300 millis")
          const [exists, member, length] = yield* Effect.promise(() =>
            Promise.all([admin.exists(`${base}:doc:doc`), admin.sismember(`${base}:docs`, "doc"), admin.llen(`${base}:history`)])
          )
          assert.strictEqual(exists, member, "the document hash and its id are written together")
          assert.include([1, 4], length, "the three messages are appended together")
          // The client is usable again.
          const history = yield* memory.history(namespace)
          assert.deepStrictEqual(history.map((m) => m.content), length === 4 ? ["before", "1", "2", "3"] : ["before"])
          const recalled = yield* memory.recall(namespace, "written during a pause")
          assert.deepStrictEqual(
            recalled.map(({ id, text, metadata }) => ({ id, text, metadata })),
            exists === 1 ? [{ id: "doc", text: "written during a pause", metadata: { n: 1 } }] : []
          )
        }).pipe(Effect.ensuring(Effect.promise(() => admin.call("CLIENT", "UNPAUSE"))))
      )
    }), 15_000)

  it.live("a killed connection is re-established; the next command is retried and succeeds", () =>
    Effect.gen(function*() {
      const name = `graphent-test-${randomUUID()}`
      const namespace = Memory.thread(randomUUID())
      yield* memoryIn(redisLayer({ keyPrefix: runPrefix, redisOptions: { connectionName: name } }), (memory) =>
        Effect.gen(function*() {
          yield* memory.set(namespace, "k", 1)
          const [clientId] = yield* Effect.promise(() => clientsNamed(name))
          yield* Effect.promise(() => admin.call("CLIENT", "KILL", "ID", clientId!))
          // Whether or not the client noticed yet, the command must succeed: refused while reconnecting, then retried.
          assert.deepStrictEqual(yield* memory.get(namespace, "k"), Option.some(1))
          yield* memory.set(namespace, "k", 2)
          assert.deepStrictEqual(yield* memory.get(namespace, "k"), Option.some(2))
        })
      )
    }), 10_000)

  it.live("the connection is closed when the layer's scope closes", () =>
    Effect.gen(function*() {
      const name = `graphent-test-${randomUUID()}`
      const during = yield* memoryIn(
        redisLayer({ keyPrefix: runPrefix, redisOptions: { connectionName: name } }),
        () => Effect.promise(() => clientsNamed(name))
      )
      assert.strictEqual(during.length, 1)
      // QUIT is asynchronous on the server side: give it a moment.
      let after = yield* Effect.promise(() => clientsNamed(name))
      for (let i = 0; i < 20 && after.length > 0; i++) {
        yield* Effect.sleep("50 millis")
        after = yield* Effect.promise(() => clientsNamed(name))
      }
      assert.deepStrictEqual(after, [])
    }), 10_000)

  it.live("a client of your own is used as is and left open", () =>
    Effect.gen(function*() {
      const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, commandTimeout: 2_000 })
      try {
        const namespace = Memory.user(randomUUID())
        yield* memoryIn(
          MemoryRedis.layer({ client, keyPrefix: runPrefix }).pipe(Layer.provide(EmbeddingLocal.layer)),
          (memory) => memory.append(namespace, [msg("mine")])
        )
        assert.strictEqual(client.status, "ready")
        assert.strictEqual(yield* Effect.promise(() => client.ping()), "PONG")
      } finally {
        client.disconnect()
      }
    }), 10_000)

  it.live("layerConfig reads GRAPHENT_REDIS_URL; data written by one process is read by another", () =>
    Effect.sync(() => {
      const keyPrefix = `${runPrefix}restart:`
      const id = randomUUID()
      const child = (mode: "write" | "read") => {
        const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", childScript], {
          cwd: repoRoot,
          env: { ...process.env, GRAPHENT_REDIS_URL: url, CHILD_MODE: mode, CHILD_PREFIX: keyPrefix, CHILD_ID: id },
          encoding: "utf8",
          timeout: 30_000
        })
        assert.strictEqual(result.status, 0, `${mode} child failed: ${result.stderr}`)
        return result.stdout
      }
      child("write")
      const read = JSON.parse(child("read").trim().split("\n").pop()!)
      assert.deepStrictEqual(read, {
        history: ["written by another process", "and a reply"],
        fact: { count: 3, tags: ["a", "b"] },
        keys: ["profile", "session"],
        recalled: [{ id: "note", text: "the deploy key lives in the vault", metadata: { source: "child" } }]
      })
    }), 60_000)

  it.effect("layerConfig without GRAPHENT_REDIS_URL is a configuration error", () =>
    Effect.gen(function*() {
      const saved = process.env.GRAPHENT_REDIS_URL
      delete process.env.GRAPHENT_REDIS_URL
      const error = yield* Effect.flip(
        memoryIn(MemoryRedis.layerConfig().pipe(Layer.provide(EmbeddingLocal.layer)), () => Effect.void)
      ).pipe(Effect.ensuring(Effect.sync(() => {
        if (saved !== undefined) process.env.GRAPHENT_REDIS_URL = saved
      })))
      assert.notStrictEqual((error as { _tag?: string })._tag, "MemoryError")
      assert.include(String(error), "GRAPHENT_REDIS_URL")
    }))
})

/** Runs in a child process (plain JS, ESM, from the repo root so "graphent" resolves). */
const childScript = `
import { Effect, Layer } from "effect"
import { EmbeddingLocal, Memory } from "graphent"
import { MemoryRedis } from "graphent/redis"
const namespace = Memory.agent(process.env.CHILD_ID)
const layer = MemoryRedis.layerConfig({ keyPrefix: process.env.CHILD_PREFIX }).pipe(Layer.provide(EmbeddingLocal.layer))
const program = Effect.gen(function*() {
  const memory = yield* Memory.Memory
  if (process.env.CHILD_MODE === "write") {
    yield* memory.append(namespace, [{ role: "user", content: "written by another process" }])
    yield* memory.append(namespace, [{ role: "assistant", content: "and a reply" }])
    yield* memory.set(namespace, "profile", { count: 3, tags: ["a", "b"] })
    yield* memory.set(namespace, "session", "s", { ttl: "1 hour" })
    yield* memory.remember(namespace, { id: "note", text: "the deploy key lives in the vault", metadata: { source: "child" } })
    return
  }
  const history = yield* memory.history(namespace)
  const fact = yield* memory.get(namespace, "profile")
  const keys = yield* memory.keys(namespace)
  const recalled = yield* memory.recall(namespace, "where is the deploy key?")
  console.log(JSON.stringify({
    history: history.map((m) => m.content),
    fact: fact._tag === "Some" ? fact.value : null,
    keys,
    recalled: recalled.map(({ id, text, metadata }) => ({ id, text, metadata }))
  }))
})
await Effect.runPromise(program.pipe(Effect.provide(layer)))
`
