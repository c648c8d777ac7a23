import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Scope } from "effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { AgentRuntime, EmbeddingLocal, Journal, JournalFolder, LocalRuntime, Memory, Storage } from "graphent"
import echo from "../../examples/echo.js"
import todo from "../../examples/todo.js"
import { withEnv } from "../support/env.js"
import { pgUrl, redisUrl } from "../support/services.js"
import * as Store from "../support/store.js"

const testId = randomUUID().slice(0, 8)
/** Table and key prefixes of this run only: dropped / deleted at the end. */
const pgPrefix = `gst${testId}`
const redisPrefix = `gsr${testId}`
const dirs: Array<string> = []
const tmp = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-storage-"))
  dirs.push(dir)
  return dir
}

afterAll(async () => {
  await Store.dropPgPrefixes([pgPrefix])
  await Store.deleteRedisKeys([`${redisPrefix}:*`])
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
}, 60_000)

const storage = (options: Storage.Options) => Storage.layer(options).pipe(Layer.provide(EmbeddingLocal.layer))
const fromEnv = (env: Record<string, string>) => Storage.layerConfig().pipe(Layer.provide(withEnv(env)))

const ns = Memory.agent("storage-test")

/** Writes a fact, a message, a document and a run (todo) through the store. */
const write = Effect.gen(function*() {
  const memory = yield* Memory.Memory
  yield* memory.set(ns, "color", "teal")
  yield* memory.append(ns, [{ role: "user", content: "hello" }])
  yield* memory.remember(ns, { id: "d1", text: "the lighthouse keeper's logbook", metadata: { kind: "note" } })
  const result = yield* AgentRuntime.run(todo, "add buy milk")
  return result.runId
}).pipe(Effect.provide(LocalRuntime.layer))

/** Reads them back. */
const read = (runId: string) =>
  Effect.gen(function*() {
    const memory = yield* Memory.Memory
    const journal = yield* Journal.Journal
    return {
      color: yield* memory.get(ns, "color"),
      history: yield* memory.history(ns),
      recalled: (yield* memory.recall(ns, "lighthouse logbook", { k: 1 })).map((doc) => doc.id),
      todos: yield* memory.get(Memory.agent("todo"), "todos"),
      events: (yield* journal.read(runId)).map((event) => event._tag),
      info: yield* Storage.Storage
    }
  })

const assertKept = (kept: Effect.Success<ReturnType<typeof read>>) => {
  assert.deepStrictEqual(kept.color, Option.some("teal"))
  assert.deepStrictEqual(kept.history, [{ role: "user", content: "hello" }])
  assert.deepStrictEqual(kept.recalled, ["d1"])
  assert.deepStrictEqual(kept.todos, Option.some([{ id: 1, text: "buy milk", done: false }]))
  assert.strictEqual(kept.events[0], "RunStarted")
  assert.strictEqual(kept.events.at(-1), "RunCompleted")
}

const failure = <E>(exit: Exit.Exit<unknown, E>) => {
  assert.isTrue(Exit.isFailure(exit))
  return Cause.squash((exit as Exit.Failure<unknown, E>).cause) as E & { readonly _tag: string; readonly message: string }
}

describe("Storage: the embedded default", () => {
  it.live("memory (facts, history, vector recall) and journal survive closing and reopening the store", () =>
    Effect.gen(function*() {
      const home = tmp()
      const runId = yield* write.pipe(Effect.provide(storage({ home })))
      const kept = yield* read(runId).pipe(Effect.provide(storage({ home })))
      assertKept(kept)
      assert.deepStrictEqual(kept.info, { memory: "embedded", journal: "files", home, prefix: "graphent" })
      assert.isTrue(fs.existsSync(path.join(home, "runs", `${runId}.jsonl`)))
      assert.strictEqual(fs.readFileSync(path.join(home, ".gitignore"), "utf8"), "*\n")
      assert.isTrue(fs.existsSync(path.join(home, "pglite", "PG_VERSION")))
      // The owner file is gone once the store is closed.
      assert.isFalse(fs.existsSync(path.join(home, "lock.owner")))
    }), 120_000)

  it.live("open twice at once (here in one process): the second waits, then fails with StorageLocked", () =>
    Effect.gen(function*() {
      const home = tmp()
      const scope = yield* Scope.make()
      // Journals in the database: the store opens (and locks) at once.
      yield* Layer.buildWithScope(storage({ home, journalInDatabase: true }), scope)
      const owner = JSON.parse(fs.readFileSync(path.join(home, "lock.owner"), "utf8")) as { pid: number }
      assert.strictEqual(owner.pid, process.pid)

      const started = Date.now()
      const exit = yield* Layer.build(storage({ home, lockTimeout: "300 millis", journalInDatabase: true })).pipe(
        Effect.scoped,
        Effect.exit
      )
      const error = failure(exit)
      assert.strictEqual(error._tag, "StorageLocked")
      assert.isAtLeast(Date.now() - started, 290)
      const locked = error as unknown as Storage.StorageLocked
      assert.strictEqual(locked.home, home)
      assert.strictEqual(locked.holder, process.pid)
      assert.isAtLeast(locked.waitedMs, 300)
      assert.include(locked.message, "in use by this process")
      assert.include(locked.message, "GRAPHENT_DATABASE_URL")

      // A waiter gets it as soon as the holder closes.
      const waiter = yield* Storage.Storage.use((info) => Effect.succeed(info.home)).pipe(
        Effect.provide(storage({ home, lockTimeout: "60 seconds", journalInDatabase: true })),
        Effect.forkChild
      )
      yield* Effect.sleep("300 millis")
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* Fiber.join(waiter), home)
    }), 120_000)

  it.live("by default a run that uses no memory opens no database; stores in one home at once need no lock", () =>
    Effect.gen(function*() {
      const home = tmp()
      const echoRun = Effect.gen(function*() {
        const result = yield* AgentRuntime.run(echo, "hi")
        return result.runId
      }).pipe(Effect.provide(LocalRuntime.layer))
      // Two stores open at once on one home (two processes would do the same): each keeps its run in its own file.
      const [first, second] = yield* Effect.all([
        echoRun.pipe(Effect.provide(storage({ home, lockTimeout: "1 millis" }))),
        echoRun.pipe(Effect.provide(storage({ home, lockTimeout: "1 millis" })))
      ], { concurrency: 2 })
      assert.isFalse(fs.existsSync(path.join(home, "pglite")))
      assert.isFalse(fs.existsSync(path.join(home, "lock")))
      const listed = yield* JournalFolder.listRuns(Storage.runsDir(home))
      assert.sameMembers(listed.map((run) => run.runId), [first, second])
      assert.deepStrictEqual(listed.map((run) => [run.agent, run.status, run.answer]), [["echo", "completed", "hi"], ["echo", "completed", "hi"]])
      // The database opens at the first use of memory, and a failure to open is that call's MemoryError.
      const blocker = path.join(tmp(), "a-file")
      fs.writeFileSync(blocker, "")
      const error = yield* Memory.Memory.use((memory) => memory.get(ns, "x")).pipe(
        Effect.provide(storage({ home: blocker })),
        Effect.flip
      )
      assert.strictEqual(error._tag, "MemoryError")
      assert.include(error.message, blocker)
    }), 120_000)

  it.live("nothing is opened when GRAPHENT_STORE=memory: memory and journal live in the process", () =>
    Effect.gen(function*() {
      const home = path.join(tmp(), "never")
      const info = yield* Effect.gen(function*() {
        const runId = yield* write
        const kept = yield* read(runId)
        assertKept(kept)
        return kept.info
      }).pipe(Effect.provide(fromEnv({ GRAPHENT_STORE: "memory", GRAPHENT_HOME: home })))
      assert.deepStrictEqual(info, { memory: "memory", journal: "memory", home: undefined, prefix: "graphent" })
      assert.isFalse(fs.existsSync(home))
    }))

  it.live("a home that cannot be a folder: a StorageError naming it", () =>
    Effect.gen(function*() {
      const file = path.join(tmp(), "a-file")
      fs.writeFileSync(file, "")
      const error = failure(
        yield* Layer.build(storage({ home: file, journalInDatabase: true })).pipe(Effect.scoped, Effect.exit)
      )
      assert.strictEqual(error._tag, "StorageError")
      assert.include(error.message, "storage (embedded) lock failed")
      assert.include(error.message, file)
    }))

  it("projectHome: .graphent beside the nearest package.json, else in the folder itself", () => {
    const root = tmp()
    fs.writeFileSync(path.join(root, "package.json"), "{}")
    const deep = path.join(root, "src", "agents")
    fs.mkdirSync(deep, { recursive: true })
    assert.strictEqual(Storage.projectHome(deep), path.join(root, ".graphent"))
    assert.strictEqual(Storage.projectHome(root), path.join(root, ".graphent"))
  })
})

describe("Storage: servers", () => {
  it.live("GRAPHENT_DATABASE_URL: memory and journal on PostgreSQL, kept across openings", () =>
    Effect.gen(function*() {
      const env = { GRAPHENT_DATABASE_URL: pgUrl, GRAPHENT_STORE_PREFIX: pgPrefix, GRAPHENT_HOME: path.join(tmp(), "unused") }
      const runId = yield* write.pipe(Effect.provide(fromEnv(env)))
      const kept = yield* read(runId).pipe(Effect.provide(fromEnv(env)))
      assertKept(kept)
      assert.deepStrictEqual(kept.info, { memory: "postgres", journal: "postgres", home: undefined, prefix: pgPrefix })
      assert.isFalse(fs.existsSync(env.GRAPHENT_HOME), "no embedded store is created")
    }), 60_000)

  it.live("GRAPHENT_REDIS_URL: memory on Redis, the journal in the embedded store", () =>
    Effect.gen(function*() {
      const home = tmp()
      const env = { GRAPHENT_REDIS_URL: redisUrl, GRAPHENT_STORE_PREFIX: redisPrefix, GRAPHENT_HOME: home }
      const runId = yield* write.pipe(Effect.provide(fromEnv(env)))
      const kept = yield* read(runId).pipe(Effect.provide(fromEnv(env)))
      assertKept(kept)
      assert.deepStrictEqual(kept.info, { memory: "redis", journal: "files", home, prefix: redisPrefix })
    }), 120_000)

  it.live("servers that cannot be reached: a StorageError, with no password in it", () =>
    Effect.gen(function*() {
      const pg = failure(
        yield* Layer.build(storage({ databaseUrl: Redacted.make("postgres://ada:pg-s3cret@127.0.0.1:1/test") })).pipe(
          Effect.scoped,
          Effect.exit
        )
      )
      assert.strictEqual(pg._tag, "StorageError")
      assert.include(pg.message, "storage (postgres) open failed")
      assert.notInclude(JSON.stringify(pg) + pg.message + String(pg), "pg-s3cret")

      const redis = failure(
        yield* Layer.build(storage({ redisUrl: "redis://ada:redis-s3cret@127.0.0.1:1", ephemeral: false, home: tmp() }))
          .pipe(Effect.scoped, Effect.exit)
      )
      assert.strictEqual(redis._tag, "StorageError")
      assert.include(redis.message, "storage (redis) open failed")
      assert.notInclude(redis.message + String(redis), "redis-s3cret")
    }), 120_000)
})

describe("Storage.config", () => {
  it.effect("reads the variables; URLs stay Redacted; empty URLs count as unset", () =>
    Effect.gen(function*() {
      const options = yield* Storage.config.pipe(Effect.provide(withEnv({
        GRAPHENT_DATABASE_URL: "postgres://u:secret-pw@db/x",
        GRAPHENT_REDIS_URL: "",
        GRAPHENT_HOME: "/srv/agents/.graphent",
        GRAPHENT_STORE_PREFIX: "team_a",
        GRAPHENT_LOCK_TIMEOUT: "5 seconds"
      })))
      assert.isTrue(Redacted.isRedacted(options.databaseUrl))
      assert.strictEqual(Redacted.value(options.databaseUrl as Redacted.Redacted<string>), "postgres://u:secret-pw@db/x")
      assert.notInclude(String(options.databaseUrl), "secret-pw")
      assert.isUndefined(options.redisUrl)
      assert.strictEqual(options.home, "/srv/agents/.graphent")
      assert.strictEqual(options.prefix, "team_a")
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(options.lockTimeout!)), 5_000)
      assert.isFalse(options.ephemeral)

      const defaults = yield* Storage.config.pipe(Effect.provide(withEnv({})))
      assert.strictEqual(defaults.prefix, "graphent")
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(defaults.lockTimeout!)), 30_000)
      assert.isUndefined(defaults.databaseUrl)

      const database = yield* Storage.databaseConfig.pipe(Effect.provide(withEnv({ GRAPHENT_HOME: "/x/.graphent" })))
      assert.deepStrictEqual(database, { _tag: "Embedded", home: "/x/.graphent" })
    }))

  it.effect("bad values are ConfigErrors naming the variable", () =>
    Effect.gen(function*() {
      for (
        const [env, expected] of [
          [{ GRAPHENT_STORE: "disk" }, "GRAPHENT_STORE"],
          [{ GRAPHENT_STORE_PREFIX: "Team-A" }, "GRAPHENT_STORE_PREFIX"],
          [{ GRAPHENT_LOCK_TIMEOUT: "soon" }, "GRAPHENT_LOCK_TIMEOUT"]
        ] as const
      ) {
        const error = yield* Effect.flip(Storage.config.pipe(Effect.provide(withEnv(env))))
        assert.strictEqual(error._tag, "ConfigError", expected)
        assert.include(error.message, expected)
      }
      const bad = failure(yield* Layer.build(storage({ prefix: "no-dashes", ephemeral: true })).pipe(Effect.scoped, Effect.exit))
      assert.strictEqual(bad._tag, "StorageError")
      assert.include(bad.message, "lowercase letters")
    }))
})
