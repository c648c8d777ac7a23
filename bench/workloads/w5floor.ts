/**
 * W5's floors: the same work as Graphent's memory, done with the backends'
 * own clients and nothing around them. Exact search is a plain JavaScript
 * loop (a task of its own, in its own process); history is ioredis (`RPUSH`,
 * `LRANGE -20 -1`), @effect/sql-pg raw SQL and raw PGlite queries, each
 * sending the statements Graphent's backend sends, measured in the same
 * process as Graphent's side, turn about (see `w5.ts`). No Graphent here.
 */
import { randomUUID } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
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

/**
 * A backend's own client appending and reading history the way Graphent's
 * backend does: each operation an Effect around the client's promise or
 * statement, so that both sides are timed by {@link timeEffect}.
 */
export interface HistoryFloor {
  readonly append: () => Effect.Effect<unknown>
  readonly read: () => Effect.Effect<unknown>
  readonly close: () => Promise<void>
}

/** ioredis, sending what `MemoryRedis` sends: `RPUSH`, and `LRANGE -20 -1` with each item parsed. */
export const redisFloor = async (url: string): Promise<HistoryFloor> => {
  const client = new Redis(url, { enableOfflineQueue: false, commandTimeout: 2_000, lazyConnect: true })
  await client.connect()
  const key = `w5floor:${process.pid}:{agent:w5}:history`
  const json = JSON.stringify(message)
  return {
    append: () => Effect.promise(() => client.rpush(key, json)),
    read: () => Effect.promise(async () => (await client.lrange(key, -lastN, -1)).map((item) => JSON.parse(item))),
    close: async () => {
      await client.del(key)
      await client.quit()
    }
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

/** @effect/sql-pg raw SQL on a server: `MemoryPg`'s append and read statements, with nothing around them. */
export const pgFloor = async (url: string): Promise<HistoryFloor> => {
  const prefix = `w5f_${process.pid}_`
  const runtime = ManagedRuntime.make(PgClient.layer({ url: Redacted.make(url) }))
  const sql: SqlClient = await runtime.runPromise(SqlClient.use(Effect.succeed))
  await runtime.runPromise(historyTable(sql, prefix))
  const history = sql(`${prefix}history`)
  const seq = `${prefix}history_seq`
  const namespace = "agent:w5"
  const messages = JSON.stringify([message])
  return {
    append: () => {
      const batch = randomUUID()
      return Effect.orDie(sql`
        WITH next AS MATERIALIZED (SELECT nextval(${seq}) AS seq)
        INSERT INTO ${history} (namespace, seq, position, batch, message)
        SELECT ${namespace}, next.seq, m.position - 1, ${batch}::uuid, m.message
        FROM next, jsonb_array_elements(${messages}::jsonb) WITH ORDINALITY AS m(message, position)
        WHERE NOT EXISTS (SELECT 1 FROM ${history} WHERE batch = ${batch}::uuid AND position = 0)`)
    },
    read: () =>
      Effect.orDie(sql<{ readonly message: unknown }>`
        SELECT message FROM (
          SELECT seq, position, message FROM ${history} WHERE namespace = ${namespace}
          ORDER BY seq DESC, position DESC LIMIT ${lastN}
        ) AS tail ORDER BY seq, position`),
    close: async () => {
      await runtime.runPromise(Effect.ignore(Effect.all([
        sql`DROP TABLE IF EXISTS ${history}`,
        sql`DROP SEQUENCE IF EXISTS ${sql(seq)}`
      ])))
      await runtime.dispose()
    }
  }
}

/**
 * Raw queries on a PGlite instance (the one Graphent's side uses, in tables of
 * the floor's own): `MemoryPg`'s append and read statements.
 */
export const pgliteFloor = async (db: {
  readonly query: (text: string, params: Array<unknown>) => Promise<unknown>
  readonly exec: (text: string) => Promise<unknown>
}): Promise<HistoryFloor> => {
  await db.exec(`CREATE SEQUENCE floor_history_seq;
    CREATE TABLE floor_history (namespace text NOT NULL, seq bigint NOT NULL, position integer NOT NULL,
      batch uuid NOT NULL, message jsonb NOT NULL, PRIMARY KEY (namespace, seq, position));
    CREATE UNIQUE INDEX floor_history_batch ON floor_history (batch) WHERE position = 0`)
  const messages = JSON.stringify([message])
  return {
    append: () =>
      Effect.promise(() =>
        db.query(
          `WITH next AS MATERIALIZED (SELECT nextval('floor_history_seq') AS seq)
          INSERT INTO floor_history (namespace, seq, position, batch, message)
          SELECT $1, next.seq, m.position - 1, $2::uuid, m.message
          FROM next, jsonb_array_elements($3::jsonb) WITH ORDINALITY AS m(message, position)
          WHERE NOT EXISTS (SELECT 1 FROM floor_history WHERE batch = $2::uuid AND position = 0)`,
          ["agent:w5", randomUUID(), messages]
        )
      ),
    read: () =>
      Effect.promise(() =>
        db.query(
          `SELECT message FROM (SELECT seq, position, message FROM floor_history WHERE namespace = $1
            ORDER BY seq DESC, position DESC LIMIT $2) AS tail ORDER BY seq, position`,
          ["agent:w5", lastN]
        )
      ),
    close: async () => {}
  }
}
