/**
 * W5: memory at scale.
 *
 * - Semantic recall: `--w5-size` memories (default 100,000) of 384 dimensions,
 *   recall top-10 for `--w5-queries` queries (default 100): queries per second
 *   and recall@10 (against exact search) for `MemoryInMemory` (exact) and for
 *   `MemoryPg` with pgvector's HNSW index on PGlite, and on a PostgreSQL server
 *   when it has the `vector` extension. Beside each, the floor: exact search
 *   as a plain JavaScript loop, and the same SQL statements sent on the raw
 *   client (the database is loaded once per child, and both sides query it).
 * - History: appends of one message, and reads of the last 20, one after the
 *   other, through `MemoryRedis`, `MemoryPg` (server) and `MemoryPg` on PGlite,
 *   beside ioredis, @effect/sql-pg raw SQL and raw PGlite sending the same
 *   commands (in the same process, turn about: see `measureHistory`).
 *
 * The vectors are fed to Graphent through an `EmbeddingModel` that looks each
 * text (`v<i>`, `q<j>`) up in the generated data, so recall measures the
 * memory, not an embedder. The HNSW index is built after a bulk load (an
 * insert at a time into a live HNSW index is minutes at this size on PGlite);
 * the load and build times are reported.
 *
 *   npm run bench -- w5                      # 100,000 memories
 *   npm run bench -- w5 --w5-size=10000      # quicker
 *
 * Servers: `GRAPHENT_BENCH_DATABASE_URL` (default
 * postgres://postgres@127.0.0.1:5432/test) and `GRAPHENT_BENCH_REDIS_URL`
 * (default redis://127.0.0.1:6379); one that cannot be reached is skipped.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PgClient } from "@effect/sql-pg"
import type { PGlite } from "@electric-sql/pglite"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { SqlClient } from "effect/sql/SqlClient"
import { EmbeddingLocal, Memory, MemoryInMemory } from "../../src/index.js"
import { Pglite } from "../../src/pglite.js"
import { MemoryPg } from "../../src/postgres.js"
import { MemoryRedis } from "../../src/redis.js"
import { runInChild } from "../harness.js"
import type { Cell, Report, Workload } from "../report.js"
import * as Data from "./w5data.js"
import * as Floor from "./w5floor.js"

const databaseUrl = process.env.GRAPHENT_BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const redisUrl = process.env.GRAPHENT_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379"

const flag = (name: string, fallback: number): number => {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`))
  const value = given === undefined ? fallback : Number(given.slice(name.length + 3))
  if (!Number.isInteger(value) || value < 10) throw new Error(`--${name} must be an integer >= 10, got ${given}`)
  return value
}

const namespace = Memory.agent("w5")
const k = 10

/** An embedding model that looks `v<i>` and `q<j>` up in the generated vectors. */
const lookupEmbedder = (stored: ReadonlyArray<Float32Array>, queries: ReadonlyArray<Float32Array>) =>
  Layer.effect(
    EmbeddingModel.EmbeddingModel,
    EmbeddingModel.make({
      embedMany: ({ inputs }) =>
        Effect.sync(() => ({
          results: inputs.map((text) => Array.from((text.startsWith("q") ? queries : stored)[Number(text.slice(1))]!)),
          usage: { inputTokens: undefined }
        }))
    })
  )

/** The ids a memory recalls for every query, then ms per recall (cycling through the queries). */
const measureRecall = (
  recall: (query: number) => Effect.Effect<ReadonlyArray<string>, unknown>,
  runtime: (effect: Effect.Effect<number, unknown>) => Promise<number>,
  count: number
) =>
  Effect.gen(function*() {
    const found: Array<ReadonlyArray<string>> = []
    for (let q = 0; q < count; q++) found.push(yield* recall(q))
    let next = 0
    const msPerOp = yield* Effect.promise(() => Floor.timeEffect(runtime, () => recall(next++ % count)))
    return { found, msPerOp }
  })

/** Task: `MemoryInMemory` recall (exact cosine). */
export const memoryExact = async (params: { readonly size: number; readonly queries: number; readonly truth: Array<Array<string>> }) => {
  const stored = Data.documents(params.size)
  const queries = Data.queries(params.queries)
  const runtime = ManagedRuntime.make(MemoryInMemory.layerNoDeps.pipe(Layer.provide(lookupEmbedder(stored, queries))))
  const run = (effect: Effect.Effect<number, unknown>) => runtime.runPromise(Effect.orDie(effect))
  const result = await runtime.runPromise(Effect.gen(function*() {
    const memory = yield* Memory.Memory
    const startedAt = performance.now()
    for (let i = 0; i < stored.length; i++) yield* memory.remember(namespace, { id: `v${i}`, text: `v${i}`, metadata: {} })
    const loadMs = performance.now() - startedAt
    const measured = yield* measureRecall(
      (q) => Effect.map(memory.recall(namespace, `q${q}`, { k }), (docs) => docs.map((doc) => doc.id)),
      run,
      queries.length
    )
    return { loadMs, msPerOp: measured.msPerOp, recall: Data.recallAt(params.truth, measured.found) }
  }).pipe(Effect.orDie))
  await runtime.dispose()
  return result
}

/** Loads the vectors into `MemoryPg`'s documents table in bulk, then builds its HNSW index. */
const bulkLoad = (sql: SqlClient, table: string, stored: ReadonlyArray<Float32Array>) =>
  Effect.gen(function*() {
    const index = `${table}_embedding`
    yield* sql`DROP INDEX ${sql(index)}`
    const loadStarted = performance.now()
    for (let start = 0; start < stored.length; start += 1_000) {
      const ids = stored.slice(start, start + 1_000).map((_, i) => `v${start + i}`)
      const vectors = stored.slice(start, start + 1_000).map(Data.vectorText)
      yield* sql`
        INSERT INTO ${sql(table)} (namespace, id, text, metadata, embedding)
        SELECT ${Memory.key(namespace)}, d.id, d.id, '{}'::jsonb, d.embedding::vector
        FROM unnest(${ids}::text[], ${vectors}::text[]) AS d(id, embedding)`
    }
    const loadMs = performance.now() - loadStarted
    const indexStarted = performance.now()
    // As MemoryPg's migration creates it; with memory enough to build the graph in memory.
    yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SET LOCAL maintenance_work_mem = '512MB'`
      yield* sql`CREATE INDEX ${sql(index)} ON ${sql(table)} USING hnsw (embedding vector_cosine_ops)`
    }))
    yield* sql`ANALYZE ${sql(table)}`
    return { loadMs, indexMs: performance.now() - indexStarted }
  })

/** The statements `MemoryPg.recall` sends, as text, for the raw clients. */
const recallStatements = (table: string) => ({
  settings: `SELECT set_config('hnsw.ef_search', '200', true), set_config('hnsw.iterative_scan', 'strict_order', true)`,
  select: `SELECT id, text, metadata, embedding <=> $1::vector AS distance FROM ${table}
    WHERE namespace = $2 ORDER BY distance, id LIMIT ${k}`
})

type RecallResult = {
  readonly loadMs: number
  readonly indexMs: number
  readonly usesIndex: boolean
  readonly graphent: { readonly msPerOp: number; readonly recall: number }
  readonly floor: { readonly msPerOp: number; readonly recall: number }
}

/**
 * Loads the database, then measures `MemoryPg.recall` and the raw client
 * (`rawQuery`) sending the same statements, on the same data.
 */
const measurePgRecall = (
  params: { readonly size: number; readonly queries: number; readonly truth: Array<Array<string>> },
  sql: SqlClient,
  tablePrefix: string,
  rawTransaction: (statements: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>) => Promise<ReadonlyArray<any>>
): Effect.Effect<RecallResult, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const stored = Data.documents(params.size)
    const queries = Data.queries(params.queries)
    const table = `${tablePrefix}documents`
    const memory = yield* MemoryPg.make({ tablePrefix, dimensions: Data.dimensions }).pipe(
      Effect.provideService(SqlClient, sql),
      Effect.provide(lookupEmbedder(stored, queries))
    )
    const { indexMs, loadMs } = yield* bulkLoad(sql, table, stored)
    const statements = recallStatements(table)
    const plan = yield* Effect.promise(() =>
      rawTransaction([
        [statements.settings, []],
        [`EXPLAIN ${statements.select}`, [Data.vectorText(queries[0]!), Memory.key(namespace)]]
      ])
    )
    const usesIndex = JSON.stringify(plan).includes(`${table}_embedding`)
    const run = (effect: Effect.Effect<number, unknown>) => Effect.runPromise(Effect.orDie(effect))

    const graphent = yield* measureRecall(
      (q) => Effect.map(memory.recall(namespace, `q${q}`, { k }), (docs) => docs.map((doc) => doc.id)),
      run,
      queries.length
    )
    const queryTexts = queries.map(Data.vectorText)
    const floor = yield* measureRecall(
      (q) =>
        Effect.promise(() =>
          rawTransaction([[statements.settings, []], [statements.select, [queryTexts[q]!, Memory.key(namespace)]]])
        ).pipe(Effect.map((rows) => rows.map((row: { id: string }) => row.id))),
      run,
      queries.length
    )
    return {
      loadMs,
      indexMs,
      usesIndex,
      graphent: { msPerOp: graphent.msPerOp, recall: Data.recallAt(params.truth, graphent.found) },
      floor: { msPerOp: floor.msPerOp, recall: Data.recallAt(params.truth, floor.found) }
    }
  })

/** Task: `MemoryPg` recall with pgvector HNSW on PGlite (on disk, as the CLI opens it), and raw PGlite. */
export const pgliteRecall = async (params: { readonly size: number; readonly queries: number; readonly truth: Array<Array<string>> }) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-w5-"))
  try {
    return await Effect.gen(function*() {
      const client = yield* Pglite.make({ dataDir })
      const db = client.pglite as unknown as PGlite
      // The statements MemoryPg sends, BEGIN and COMMIT included, one query each.
      const raw = async (statements: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>) => {
        await db.query("BEGIN")
        try {
          let rows: ReadonlyArray<any> = []
          for (const [text, values] of statements) rows = (await db.query(text, [...values])).rows
          await db.query("COMMIT")
          return rows
        } catch (error) {
          await db.query("ROLLBACK")
          throw error
        }
      }
      return yield* measurePgRecall(params, client, "w5_", raw)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

/** Task: `MemoryPg` recall with pgvector HNSW on the server, and @effect/sql-pg raw SQL; skipped without `vector`. */
export const pgRecall = async (
  params: { readonly url: string; readonly size: number; readonly queries: number; readonly truth: Array<Array<string>> }
) => {
  const tablePrefix = `w5r_${process.pid}_`
  return Effect.gen(function*() {
    const sql = yield* SqlClient
    const available = yield* sql`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`
    if (available.length === 0) return { skipped: "the server has no vector extension" } as const
    const raw = (statements: ReadonlyArray<readonly [string, ReadonlyArray<unknown>]>) =>
      Effect.runPromise(sql.withTransaction(Effect.gen(function*() {
        let rows: ReadonlyArray<any> = []
        for (const [text, values] of statements) rows = yield* sql.unsafe(text, values)
        return rows
      })).pipe(Effect.orDie))
    return yield* measurePgRecall(params, sql, tablePrefix, raw).pipe(
      Effect.ensuring(
        Effect.all([
          sql`DROP TABLE IF EXISTS ${sql(`${tablePrefix}documents`)}, ${sql(`${tablePrefix}history`)}, ${
            sql(`${tablePrefix}facts`)
          }, ${sql(`${tablePrefix}memory_migrations`)}`,
          sql`DROP SEQUENCE IF EXISTS ${sql(`${tablePrefix}history_seq`)}`
        ]).pipe(Effect.ignore)
      )
    )
  }).pipe(Effect.scoped, Effect.provide(PgClient.layer({ url: Redacted.make(params.url) })), Effect.runPromise)
}

type HistoryTimes = { readonly appendMs: number; readonly readMs: number }

/**
 * Appends of one message, then reads of the last 20, through Graphent's
 * `memory` and through the raw client (`floor`), in this one process, turn
 * about for two rounds; each side's best round counts, so that a burst of
 * load elsewhere on the machine does not land on one side only.
 */
const measureHistory = (memory: Memory.MemoryShape, floor: Floor.HistoryFloor) =>
  Effect.gen(function*() {
    const run = (effect: Effect.Effect<number, unknown>) => Effect.runPromise(Effect.orDie(effect))
    const ns = Memory.agent(`w5-history-${process.pid}`)
    const time = (op: () => Effect.Effect<unknown, unknown>) => Effect.promise(() => Floor.timeEffect(run, op))
    const best = { graphent: { appendMs: Infinity, readMs: Infinity }, floor: { appendMs: Infinity, readMs: Infinity } }
    for (let round = 0; round < 2; round++) {
      best.floor.appendMs = Math.min(best.floor.appendMs, yield* time(floor.append))
      best.graphent.appendMs = Math.min(best.graphent.appendMs, yield* time(() => memory.append(ns, [Floor.message])))
      best.floor.readMs = Math.min(best.floor.readMs, yield* time(floor.read))
      best.graphent.readMs = Math.min(best.graphent.readMs, yield* time(() => memory.history(ns, { last: Floor.lastN })))
    }
    yield* memory.clear(ns)
    return best as { readonly graphent: HistoryTimes; readonly floor: HistoryTimes }
  })

/** Runs `measureHistory` with a floor opened (and closed) around it. */
const withFloor = (open: () => Promise<Floor.HistoryFloor>, memory: Memory.MemoryShape) =>
  Effect.acquireUseRelease(Effect.promise(open), (floor) => measureHistory(memory, floor), (floor) => Effect.promise(floor.close))

/** Task: history through `MemoryRedis`, beside ioredis. */
export const redisHistory = (params: { readonly url: string }) =>
  Memory.Memory.use((memory) => withFloor(() => Floor.redisFloor(params.url), memory)).pipe(
    Effect.provide(
      MemoryRedis.layer({ url: params.url, keyPrefix: `w5bench${process.pid}:` }).pipe(Layer.provide(EmbeddingLocal.layer))
    ),
    Effect.runPromise
  )

/** Task: history through `MemoryPg` on the server, beside @effect/sql-pg raw SQL. */
export const pgHistory = (params: { readonly url: string }) => {
  const tablePrefix = `w5g_${process.pid}_`
  return Memory.Memory.use((memory) => withFloor(() => Floor.pgFloor(params.url), memory)).pipe(
    Effect.provide(
      MemoryPg.layerPg({ pg: { url: Redacted.make(params.url) }, tablePrefix }).pipe(Layer.provide(EmbeddingLocal.layer))
    ),
    Effect.ensuring(
      Effect.gen(function*() {
        const sql = yield* SqlClient
        for (const table of ["history", "facts", "documents", "memory_migrations"]) {
          yield* sql`DROP TABLE IF EXISTS ${sql(`${tablePrefix}${table}`)}`
        }
        yield* sql`DROP SEQUENCE IF EXISTS ${sql(`${tablePrefix}history_seq`)}`
      }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(params.url) })), Effect.ignore)
    ),
    Effect.runPromise
  )
}

/** Task: history through `MemoryPg` on PGlite (on disk, durable, as the CLI opens it), beside raw PGlite queries. */
export const pgliteHistory = async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-w5-history-"))
  try {
    return await Effect.gen(function*() {
      const client = yield* Pglite.make({ dataDir })
      const memory = yield* MemoryPg.make().pipe(Effect.provideService(SqlClient, client), Effect.provide(EmbeddingLocal.layer))
      const db = client.pglite as unknown as PGlite
      return yield* withFloor(() => Floor.pgliteFloor(db), memory)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer), Effect.runPromise)
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

// =============================================================================
// The report
// =============================================================================

const floorModule = new URL("./w5floor.ts", import.meta.url).href

/** Runs a task; a server that cannot be reached (or any failure) becomes a reason to print. */
const attempt = async <A>(task: () => Promise<A>): Promise<A | { readonly skipped: string }> => {
  try {
    return await task()
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error)
    return { skipped: text.split("\n").find((line) => /error|refused|fail/i.test(line))?.trim().slice(0, 160) ?? text.slice(0, 160) }
  }
}

const isSkipped = (value: object): value is { readonly skipped: string } => "skipped" in value

export const workload: Workload = {
  id: "w5",
  run: async (): Promise<Report> => {
    const size = flag("w5-size", 100_000)
    const queryCount = flag("w5-queries", 100)
    const rows: Array<Record<string, Cell>> = []
    const notes: Array<string> = []
    const row = (what: string, msPerOp: number, floorMs: number | undefined, extra: Record<string, Cell> = {}) =>
      rows.push({
        what,
        opsPerSecond: 1000 / msPerOp,
        usPerOp: msPerOp * 1000,
        ratio: floorMs === undefined ? "" : msPerOp / floorMs,
        ...extra
      })
    const skipped = (what: string, reason: string) => rows.push({ what, opsPerSecond: `skipped: ${reason}` })

    // Recall.
    const exact = await runInChild<typeof Floor.exact>(floorModule, "exact", { size, queries: queryCount })
    const truth = exact.truth as Array<Array<string>>
    row("recall: exact, plain JS loop (floor)", exact.msPerOp, exact.msPerOp, { recall: 1, peakRssMb: exact.peakRssMb })
    const inMemory = await runInChild<typeof memoryExact>(import.meta.url, "memoryExact", { size, queries: queryCount, truth })
    row("recall: MemoryInMemory (exact)", inMemory.msPerOp, exact.msPerOp, {
      recall: inMemory.recall,
      peakRssMb: inMemory.peakRssMb
    })

    const pglite = await runInChild<typeof pgliteRecall>(import.meta.url, "pgliteRecall", { size, queries: queryCount, truth })
    row("recall: PGlite HNSW, raw PGlite (floor)", pglite.floor.msPerOp, pglite.floor.msPerOp, { recall: pglite.floor.recall })
    row("recall: MemoryPg on PGlite (HNSW)", pglite.graphent.msPerOp, pglite.floor.msPerOp, {
      recall: pglite.graphent.recall,
      peakRssMb: pglite.peakRssMb
    })
    notes.push(
      `PGlite: bulk load ${(pglite.loadMs / 1000).toFixed(1)} s, HNSW build ${(pglite.indexMs / 1000).toFixed(1)} s; ` +
        `the query plan ${pglite.usesIndex ? "uses" : "does NOT use"} the HNSW index`
    )

    const pg = await attempt(() =>
      runInChild<typeof pgRecall>(import.meta.url, "pgRecall", { url: databaseUrl, size, queries: queryCount, truth })
    )
    if (isSkipped(pg)) {
      skipped("recall: MemoryPg on PostgreSQL (HNSW)", pg.skipped)
    } else {
      row("recall: PostgreSQL HNSW, @effect/sql-pg raw (floor)", pg.floor.msPerOp, pg.floor.msPerOp, { recall: pg.floor.recall })
      row("recall: MemoryPg on PostgreSQL (HNSW)", pg.graphent.msPerOp, pg.floor.msPerOp, {
        recall: pg.graphent.recall,
        peakRssMb: pg.peakRssMb
      })
      notes.push(
        `PostgreSQL: bulk load ${(pg.loadMs / 1000).toFixed(1)} s, HNSW build ${(pg.indexMs / 1000).toFixed(1)} s; ` +
          `the query plan ${pg.usesIndex ? "uses" : "does NOT use"} the HNSW index`
      )
    }

    // History.
    const histories = [
      ["Redis", "ioredis", "redisHistory", { url: redisUrl }, "MemoryRedis"],
      ["PostgreSQL", "@effect/sql-pg raw SQL", "pgHistory", { url: databaseUrl }, "MemoryPg"],
      ["PGlite", "raw PGlite", "pgliteHistory", {}, "MemoryPg on PGlite"]
    ] as const
    for (const [backend, client, task, params, layer] of histories) {
      const measured = await attempt(() => runInChild<typeof redisHistory>(import.meta.url, task, params as never))
      if (isSkipped(measured)) {
        skipped(`history on ${backend}`, measured.skipped)
        continue
      }
      const { floor, graphent } = measured
      row(`history append: ${client} (floor)`, floor.appendMs, floor.appendMs)
      row(`history append: ${layer}`, graphent.appendMs, floor.appendMs, { peakRssMb: measured.peakRssMb })
      row(`history read last 20: ${client} (floor)`, floor.readMs, floor.readMs)
      row(`history read last 20: ${layer}`, graphent.readMs, floor.readMs)
    }

    notes.unshift(
      `${size.toLocaleString("en")} memories × ${Data.dimensions} dimensions around 1,000 topics, ${queryCount} queries, top-${k}; ` +
        `recall@10 against exact search; HNSW at pgvector's defaults (m 16, ef_construction 64), ef_search 200 (MemoryPg's)`,
      "history: one client, one operation at a time (latency-bound); append = one message, read = the last 20; " +
        "Graphent and the raw client in one process, turn about, best of two rounds each"
    )
    return {
      title: `memory: semantic recall over ${size.toLocaleString("en")} memories, history throughput`,
      targets: "report qps, recall@10 and ops/s against the floors (the raw clients)",
      columns: [
        { key: "what", header: "what" },
        { key: "opsPerSecond", header: "ops/s", digits: 0 },
        { key: "usPerOp", header: "µs per op", digits: 0 },
        { key: "ratio", header: "ratio to floor", digits: 2 },
        { key: "recall", header: "recall@10", digits: 3 },
        { key: "peakRssMb", header: "peak RSS MB", digits: 0 }
      ],
      rows,
      notes
    }
  }
}
