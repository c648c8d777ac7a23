import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as Reactivity from "effect/reactivity/Reactivity"
import { SqlClient } from "effect/sql"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { EmbeddingLocal, Memory, MemoryInMemory } from "graphent"
import { Pglite } from "graphent/pglite"
import { MemoryPg } from "graphent/postgres"
import * as Store from "../support/store.js"
import { memoryContract } from "./memoryContract.js"
import { pgConfig } from "../support/services.js"

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const testId = randomUUID().slice(0, 8)
/** A table prefix of this run only: the tables are dropped at the end. */
const pgPrefix = `graphent_t${testId}_`
const PgLive = PgClient.layer({ ...pgConfig, applicationName: `graphent-test-admin-${testId}` })

const dropTables = (prefix: string) => Store.dropTables([prefix]).pipe(Effect.provide(PgLive))

// One PGlite for the whole file (it takes seconds to start), shared by every layer that needs it.
const pgliteDir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-pglite-"))
const pgliteScope = Scope.makeUnsafe()
const PgliteShared = Layer.effect(
  SqlClient.SqlClient,
  Effect.runSync(Effect.cached(
    Pglite.make({ dataDir: pgliteDir }).pipe(Effect.provide(Reactivity.layer), Scope.provide(pgliteScope))
  ))
)

afterAll(async () => {
  await Effect.runPromise(dropTables(pgPrefix))
  await Effect.runPromise(Scope.close(pgliteScope, Exit.void))
  fs.rmSync(pgliteDir, { recursive: true, force: true })
}, 60_000)

memoryContract(
  "MemoryPg on PostgreSQL",
  MemoryPg.layerPg({ pg: pgConfig, tablePrefix: pgPrefix }).pipe(Layer.provide(EmbeddingLocal.layer))
)

memoryContract(
  "MemoryPg on PGlite with pgvector",
  MemoryPg.layerNoDeps({ tablePrefix: "contract_" }).pipe(Layer.provide(Layer.merge(PgliteShared, EmbeddingLocal.layer)))
)

const embeddingType = (table: string) =>
  SqlClient.SqlClient.use((sql) =>
    sql<{ readonly type: string }>`
      SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = to_regclass(${table}) AND attname = 'embedding'`
  ).pipe(Effect.map((rows) => rows[0]?.type))

/** A deterministic generator (mulberry32), so a failure can be reproduced. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("Pglite: an effect/sql client with PgClient's dialect", () => {
  const values = SqlClient.SqlClient.use((sql) =>
    sql`
      SELECT ${1} AS int, ${2.5} AS float, ${"x"} AS text, ${true} AS bool, ${new Date(0)} AS date,
        ${["a", "b"]} AS list, ${9007199254740991} AS big, count(*) AS n, ${"{\"a\":[1,null]}"}::jsonb AS json,
        1.5::numeric AS decimal, NULL AS nothing
      FROM generate_series(1, 3)`
  )

  it.live("a statement binds and decodes values as on PostgreSQL", () =>
    Effect.gen(function*() {
      const onPg = yield* values.pipe(Effect.provide(PgLive))
      const onPglite = yield* values.pipe(Effect.provide(PgliteShared))
      assert.deepStrictEqual(onPglite, onPg)
      assert.strictEqual(onPglite[0]!.n, 3n)
    }))

  it.live("transactions do not interleave; a failed one rolls back; errors are classified", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE adapter_test (id serial PRIMARY KEY, seen integer NOT NULL)`
      // Each transaction reads the count, waits, then writes it: interleaved, two would see the same count.
      yield* Effect.forEach(Array.from({ length: 5 }), () =>
        sql.withTransaction(Effect.gen(function*() {
          const [counted] = yield* sql<{ readonly n: bigint }>`SELECT count(*) AS n FROM adapter_test`
          yield* Effect.sleep("5 millis")
          yield* sql`INSERT INTO adapter_test (seen) VALUES (${Number(counted!.n)})`
        })), { concurrency: "unbounded", discard: true })
      const failed = yield* Effect.flip(sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO adapter_test (seen) VALUES (99)`
        return yield* Effect.fail("abort")
      })))
      assert.strictEqual(failed, "abort")
      const seen = yield* sql<{ readonly seen: number }>`SELECT seen FROM adapter_test ORDER BY id`
      assert.deepStrictEqual(seen.map((row) => row.seen), [0, 1, 2, 3, 4])
      const duplicate = yield* Effect.flip(sql`INSERT INTO adapter_test (id, seen) VALUES (1, 0)`)
      assert.strictEqual(duplicate.reason._tag, "UniqueViolation")
      const syntax = yield* Effect.flip(sql`SELEC 1`)
      assert.strictEqual(syntax.reason._tag, "SqlSyntaxError")
      yield* sql`DROP TABLE adapter_test`
    }).pipe(Effect.provide(PgliteShared)))
})

describe("MemoryPg storage modes", () => {
  it.live("PGlite: embeddings in a vector(384) column with an HNSW index", () =>
    Effect.gen(function*() {
      yield* Layer.build(MemoryPg.layerNoDeps({ tablePrefix: "modes_" }))
      assert.strictEqual(yield* embeddingType("modes_documents"), "vector(384)")
      const indexes = yield* SqlClient.SqlClient.use((sql) =>
        sql<{ readonly indexdef: string }>`SELECT indexdef FROM pg_indexes WHERE tablename = 'modes_documents'`
      )
      assert.isTrue(indexes.some(({ indexdef }) => /USING hnsw \(embedding vector_cosine_ops\)/.test(indexdef)))
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(PgliteShared, EmbeddingLocal.layer))))

  it.live("PostgreSQL without pgvector: embeddings in a double precision[] column, searched exactly", () =>
    Effect.gen(function*() {
      yield* Layer.build(MemoryPg.layerNoDeps({ tablePrefix: pgPrefix }))
      assert.strictEqual(yield* embeddingType(`${pgPrefix}documents`), "double precision[]")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(PgLive, EmbeddingLocal.layer))))

  it.live("a bad table prefix is a MemoryError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(MemoryPg.make({ tablePrefix: "Bad-Prefix" }))
      assert.strictEqual(error._tag, "MemoryError")
      assert.strictEqual(error.backend, "pglite")
      assert.include(error.reason, "tablePrefix")
    }).pipe(Effect.provide(Layer.merge(PgliteShared, EmbeddingLocal.layer))))
})

layer(PgliteShared, { excludeTestServices: true, timeout: "120 seconds" })("MemoryPg pgvector recall", (it) => {
  it.effect(
    "HNSW top-k with a high ef_search equals the exact in-memory search: 1,000 random 64-dim vectors, 20 queries",
    () =>
      Effect.gen(function*() {
        const dims = 64
        const next = random(42)
        const vectorOf = () => Array.from({ length: dims }, () => next() * 2 - 1)
        const vectors = Array.from({ length: 1000 }, vectorOf)
        const queries = Array.from({ length: 20 }, vectorOf)
        // Texts name their vectors: "v:17" is vectors[17], "q:3" is queries[3].
        const embedder = yield* EmbeddingModel.make({
          embedMany: ({ inputs }) =>
            Effect.succeed({
              results: inputs.map((input) => {
                const [kind, index] = input.split(":")
                return (kind === "v" ? vectors : queries)[Number(index)]!
              }),
              usage: { inputTokens: undefined }
            })
        })
        const withEmbedder = Effect.provideService(EmbeddingModel.EmbeddingModel, embedder)
        const pg = yield* MemoryPg.make({ tablePrefix: "knn_", efSearch: 1000, dimensions: dims }).pipe(withEmbedder)
        const exact = yield* MemoryInMemory.make.pipe(withEmbedder)
        const ns = Memory.agent("knn")
        yield* Effect.forEach(vectors, (_, i) =>
          Effect.gen(function*() {
            const document = { id: `d${String(i).padStart(4, "0")}`, text: `v:${i}`, metadata: { parity: i % 2 } }
            yield* pg.remember(ns, document)
            yield* exact.remember(ns, document)
          }), { discard: true })

        // 1,000 rows is few enough for the planner to prefer an exact scan and a sort; forbid plain
        // sorts (PGlite is one session) so that it takes the HNSW index, as it does on larger tables.
        const sql = yield* SqlClient.SqlClient
        yield* sql`ANALYZE knn_documents`
        yield* Effect.acquireRelease(sql`SET enable_sort = off`, () => Effect.orDie(sql`RESET enable_sort`))
        const plan = yield* sql<{ readonly "QUERY PLAN": string }>`
          EXPLAIN SELECT id, embedding <=> ${`[${queries[0]!.join(",")}]`}::vector AS distance
          FROM knn_documents WHERE namespace = ${Memory.key(ns)} ORDER BY distance, id LIMIT 10`
        assert.include(plan.map((row) => row["QUERY PLAN"]).join("\n"), "Index Scan using knn_documents_embedding")

        for (let q = 0; q < queries.length; q++) {
          const ids = (recalled: ReadonlyArray<Memory.Recalled>) => recalled.map((document) => document.id)
          const approximate = yield* pg.recall(ns, `q:${q}`, { k: 10 })
          const expected = yield* exact.recall(ns, `q:${q}`, { k: 10 })
          assert.deepStrictEqual(ids(approximate), ids(expected), `query ${q}`)
          for (let i = 0; i < expected.length; i++) assert.closeTo(approximate[i]!.score, expected[i]!.score, 1e-5)
          // With a filter the strict iterative scan still returns k matching documents.
          const filtered = yield* pg.recall(ns, `q:${q}`, { k: 10, filter: { parity: 1 } })
          assert.deepStrictEqual(ids(filtered), ids(yield* exact.recall(ns, `q:${q}`, { k: 10, filter: { parity: 1 } })))
        }
      })
  )
})

describe("MemoryPg on PostgreSQL: failures", () => {
  const ns = Memory.thread(`reliability-${testId}`)
  const msg = (content: string): Memory.Message => ({ role: "user", content })
  const application = `graphent-test-${testId}`
  const terminate = SqlClient.SqlClient.use((sql) =>
    sql<{ readonly terminated: boolean }>`
      SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = ${application}`
  ).pipe(Effect.map((rows) => rows.filter((row) => row.terminated).length), Effect.provide(PgLive))
  const MemoryLive = MemoryPg.layerPg({ pg: { ...pgConfig, applicationName: application }, tablePrefix: pgPrefix }).pipe(
    Layer.provide(EmbeddingLocal.layer)
  )

  it.live(
    "terminated connections: every operation succeeds after a retry or fails with MemoryError, none hangs, no acknowledged write is lost or doubled",
    () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        yield* memory.set(ns, "before", 1)
        yield* memory.append(ns, [msg("before")])
        assert.isAbove(yield* terminate, 0)
        // The next operation finds its connection gone.
        assert.deepStrictEqual(yield* memory.get(ns, "before").pipe(Effect.timeout("20 seconds")), Option.some(1))

        // Appends in flight while connections are terminated, three times.
        const fiber = yield* Effect.forkChild(Effect.forEach(
          Array.from({ length: 60 }, (_, i) => i),
          (i) => Effect.exit(memory.append(ns, [msg(`q${i}`), msg(`a${i}`)])).pipe(Effect.map((exit) => [i, exit] as const)),
          { concurrency: 4 }
        ))
        for (let kill = 0; kill < 3; kill++) {
          yield* Effect.sleep("40 millis")
          yield* terminate
        }
        const outcomes = yield* Fiber.join(fiber).pipe(Effect.timeout("60 seconds"))
        const acknowledged = new Set<number>()
        for (const [i, exit] of outcomes) {
          if (Exit.isSuccess(exit)) acknowledged.add(i)
          else {
            const error = Exit.findErrorOption(exit)
            assert.isTrue(Option.isSome(error), `append ${i} died: ${String(exit)}`)
            const found = Option.getOrThrow(error)
            assert.strictEqual(found._tag, "MemoryError")
            assert.strictEqual(found.backend, "postgres")
          }
        }
        const history = (yield* memory.history(ns)).map((message) => message.content)
        assert.strictEqual(new Set(history).size, history.length, "a message was written twice")
        for (const i of acknowledged) {
          const at = history.indexOf(`q${i}`)
          assert.isAtLeast(at, 0, `acknowledged append ${i} was lost`)
          assert.strictEqual(history[at + 1], `a${i}`)
        }
        assert.deepStrictEqual(yield* memory.get(ns, "before"), Option.some(1))
      }).pipe(Effect.provide(MemoryLive)),
    60_000
  )

  it.live("a closed port fails fast with a MemoryError", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const error = yield* Effect.flip(
        Memory.Memory.use((memory) => memory.history(ns)).pipe(
          Effect.provide(
            MemoryPg.layerPg({ pg: { ...pgConfig, port: 1 }, tablePrefix: pgPrefix }).pipe(
              Layer.provide(EmbeddingLocal.layer)
            )
          ),
          Effect.timeout("20 seconds")
        )
      )
      assert.strictEqual(error._tag, "MemoryError")
      if (error._tag !== "MemoryError") return
      assert.strictEqual(error.backend, "postgres")
      assert.include(error.reason, "ConnectionError")
      assert.isBelow(Date.now() - started, 10_000)
    }))
})

describe("MemoryPg on PGlite: a restarted process", () => {
  const child = `
import { Effect, Layer, Option } from "effect"
import { EmbeddingLocal, Memory } from "graphent"
import { MemoryPg } from "graphent/postgres"
const [mode, dataDir] = process.argv.slice(2)
const ns = Memory.user("restart")
const program = Effect.gen(function*() {
  const memory = yield* Memory.Memory
  if (mode === "write") {
    yield* memory.append(ns, [{ role: "user", content: "hello" }, { role: "assistant", content: "hi there" }])
    yield* memory.set(ns, "profile", { name: "Ada", langs: ["en", "fr"] })
    yield* memory.remember(ns, { id: "pets", text: "Ada has a cat named Tom", metadata: { topic: "pets" } })
    yield* memory.remember(ns, { id: "work", text: "Ada writes programs", metadata: { topic: "work" } })
    return "written"
  }
  return {
    history: yield* memory.history(ns),
    profile: Option.getOrNull(yield* memory.get(ns, "profile")),
    keys: yield* memory.keys(ns),
    recalled: (yield* memory.recall(ns, "what is the name of the cat", { k: 1 })).map((d) => d.id)
  }
})
const result = await Effect.runPromise(
  program.pipe(Effect.provide(MemoryPg.layerPglite({ dataDir }).pipe(Layer.provide(EmbeddingLocal.layer))))
)
console.log(JSON.stringify(result))
`

  it("data written by one process is read by the next", () => {
    // Inside the repository (git-ignored), so that the child resolves "effect" as the tests do.
    fs.mkdirSync(path.join(repoRoot, "test/.scratch"), { recursive: true })
    const dir = fs.mkdtempSync(path.join(repoRoot, "test/.scratch/pglite-restart-"))
    try {
      const script = path.join(dir, "child.mts")
      fs.writeFileSync(script, child)
      const dataDir = path.join(dir, "db")
      const runChild = (mode: string) => {
        const result = spawnSync(process.execPath, ["--import", "tsx", script, mode, dataDir], {
          cwd: repoRoot,
          encoding: "utf8",
          timeout: 120_000
        })
        assert.strictEqual(result.status, 0, `child ${mode} failed: ${result.stderr}`)
        return JSON.parse(result.stdout.trim().split("\n").pop()!)
      }
      assert.strictEqual(runChild("write"), "written")
      assert.deepStrictEqual(runChild("read"), {
        history: [{ role: "user", content: "hello" }, { role: "assistant", content: "hi there" }],
        profile: { name: "Ada", langs: ["en", "fr"] },
        keys: ["profile"],
        recalled: ["pets"]
      })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 240_000)
})
