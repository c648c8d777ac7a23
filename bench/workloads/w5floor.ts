/**
 * W5's floors: the same work as Graphent's memory, done with the backends'
 * own clients and nothing around them. Exact search is a plain JavaScript
 * loop; history is ioredis (`RPUSH`, `LRANGE -20 -1`), @effect/sql-pg raw SQL
 * and raw PGlite queries, each sending the statements Graphent's backend
 * sends. Each task runs in a child process of its own; none loads Graphent.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { randomUUID } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { SqlClient } from "effect/sql/SqlClient"
import { Redis } from "ioredis"
import { batchTiming, timeBatches } from "../harness.js"
import * as Data from "./w5data.js"

/** The message every history benchmark appends (as Graphent stores it: JSON). */
export const message = {
  role: "user",
  content: "Remind me to water the plants on Thursday and to call the landlord.",
  at: 1_700_000_000_000
} as const

/** How many messages a history read returns. */
export const lastN = 20

/** Milliseconds per operation of `op`, run `reps` times in a row per batch. */
export const timeOp = async (op: () => Promise<unknown>) => {
  const { msPerRep } = await timeBatches(async (reps) => {
    const startedAt = performance.now()
    for (let i = 0; i < reps; i++) await op()
    return performance.now() - startedAt
  }, batchTiming)
  return msPerRep
}

/**
 * Milliseconds per operation of the effect `op()`, run `reps` times in a row
 * per batch, a batch per `run` call (one `runPromise` per batch, not per op).
 */
export const timeEffect = async <E>(
  run: (effect: Effect.Effect<number, E>) => Promise<number>,
  op: () => Effect.Effect<unknown, E>
) => {
  const { msPerRep } = await timeBatches((reps) =>
    run(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < reps; i++) yield* op()
      return performance.now() - startedAt
    })), batchTiming)
  return msPerRep
}

/** Task: exact top-10 in plain JavaScript; also the ground truth of recall@10 for the other measurements. */
export const exact = async (params: { readonly size: number; readonly queries: number }) => {
  const stored = Data.documents(params.size)
  const queries = Data.queries(params.queries)
  const truth = queries.map((query) => Data.exactTopK(stored, query, 10).map((index) => `v${index}`))
  let next = 0
  const msPerQuery = await timeOp(async () => Data.exactTopK(stored, queries[next++ % queries.length]!, 10))
  return { msPerOp: msPerQuery, truth }
}

/** Task: history append and read with ioredis, as `MemoryRedis` sends them. */
export const redisHistory = async (params: { readonly url: string }) => {
  const client = new Redis(params.url, { enableOfflineQueue: false, commandTimeout: 2_000, lazyConnect: true })
  await client.connect()
  const key = `w5floor:${process.pid}:{agent:w5}:history`
  try {
    const json = JSON.stringify(message)
    const appendMs = await timeOp(() => client.rpush(key, json))
    const readMs = await timeOp(async () => (await client.lrange(key, -lastN, -1)).map((item) => JSON.parse(item)))
    return { appendMs, readMs }
  } finally {
    await client.del(key)
    await client.quit()
  }
}

/** Creates the history table as `MemoryPg`'s migration does. */
const historyTable = (sql: SqlClient, prefix: string) =>
  Effect.gen(function*() {
    yield* sql`CREATE SEQUENCE ${sql(`${prefix}history_seq`)}`
    yield* sql`CREATE TABLE ${sql(`${prefix}history`)} (
      namespace text NOT NULL, seq bigint NOT NULL, position integer NOT NULL, batch uuid NOT NULL,
      message jsonb NOT NULL, PRIMARY KEY (namespace, seq, position))`
    yield* sql`CREATE UNIQUE INDEX ${sql(`${prefix}history_batch`)} ON ${sql(`${prefix}history`)} (batch) WHERE position = 0`
  })

/** `MemoryPg`'s append and read statements, sent by effect/sql with nothing around them. */
const historyStatements = (sql: SqlClient, prefix: string) => {
  const history = sql(`${prefix}history`)
  const seq = `${prefix}history_seq`
  const namespace = "agent:w5"
  const messages = JSON.stringify([message])
  return {
    append: () => {
      const batch = randomUUID()
      return sql`
        WITH next AS MATERIALIZED (SELECT nextval(${seq}) AS seq)
        INSERT INTO ${history} (namespace, seq, position, batch, message)
        SELECT ${namespace}, next.seq, m.position - 1, ${batch}::uuid, m.message
        FROM next, jsonb_array_elements(${messages}::jsonb) WITH ORDINALITY AS m(message, position)
        WHERE NOT EXISTS (SELECT 1 FROM ${history} WHERE batch = ${batch}::uuid AND position = 0)`
    },
    read: () =>
      sql<{ readonly message: unknown }>`
        SELECT message FROM (
          SELECT seq, position, message FROM ${history} WHERE namespace = ${namespace}
          ORDER BY seq DESC, position DESC LIMIT ${lastN}
        ) AS tail ORDER BY seq, position`
  }
}

/** Task: history append and read on a PostgreSQL server with @effect/sql-pg raw SQL. */
export const pgHistory = async (params: { readonly url: string }) => {
  const prefix = `w5f_${process.pid}_`
  return Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* historyTable(sql, prefix)
    const statements = historyStatements(sql, prefix)
    const run = (effect: Effect.Effect<number, unknown>) => Effect.runPromise(Effect.orDie(effect))
    const appendMs = yield* Effect.promise(() => timeEffect(run, statements.append))
    const readMs = yield* Effect.promise(() => timeEffect(run, statements.read))
    return { appendMs, readMs }
  }).pipe(
    Effect.ensuring(Effect.gen(function*() {
      const sql = yield* SqlClient
      yield* sql`DROP TABLE IF EXISTS ${sql(`${prefix}history`)}`
      yield* sql`DROP SEQUENCE IF EXISTS ${sql(`${prefix}history_seq`)}`
    }).pipe(Effect.orDie)),
    Effect.provide(PgClient.layer({ url: Redacted.make(params.url) })),
    Effect.runPromise
  )
}

/** Task: history append and read on an embedded PGlite (on disk, durable, as the CLI opens it), raw queries. */
export const pgliteHistory = async () => {
  const { PGlite } = await import("@electric-sql/pglite")
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-w5-floor-"))
  const db = await PGlite.create({ dataDir })
  try {
    await db.exec(`CREATE SEQUENCE history_seq;
      CREATE TABLE history (namespace text NOT NULL, seq bigint NOT NULL, position integer NOT NULL,
        batch uuid NOT NULL, message jsonb NOT NULL, PRIMARY KEY (namespace, seq, position));
      CREATE UNIQUE INDEX history_batch ON history (batch) WHERE position = 0`)
    const messages = JSON.stringify([message])
    const appendMs = await timeOp(() =>
      db.query(
        `WITH next AS MATERIALIZED (SELECT nextval('history_seq') AS seq)
        INSERT INTO history (namespace, seq, position, batch, message)
        SELECT $1, next.seq, m.position - 1, $2::uuid, m.message
        FROM next, jsonb_array_elements($3::jsonb) WITH ORDINALITY AS m(message, position)
        WHERE NOT EXISTS (SELECT 1 FROM history WHERE batch = $2::uuid AND position = 0)`,
        ["agent:w5", randomUUID(), messages]
      )
    )
    const readMs = await timeOp(() =>
      db.query(
        `SELECT message FROM (SELECT seq, position, message FROM history WHERE namespace = $1
          ORDER BY seq DESC, position DESC LIMIT $2) AS tail ORDER BY seq, position`,
        ["agent:w5", lastN]
      )
    )
    return { appendMs, readMs }
  } finally {
    await db.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}
