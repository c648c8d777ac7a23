/**
 * Stores for tests, and cleaning up after them.
 *
 * Embedded stores (`GRAPHENT_HOME`) for tests that run the CLI: creating one
 * takes seconds (PGlite's initdb), so a test file creates one store and its
 * tests keep apart by table prefix (`GRAPHENT_STORE_PREFIX`): a new prefix is
 * a new, empty set of tables in the same database.
 *
 * The real PostgreSQL and Redis of the machine are shared by every test
 * process: each test file writes under prefixes of its own and removes them
 * afterwards with {@link dropPgPrefixes} and {@link deleteRedisKeys} (or a
 * {@link tracker}, which remembers what to remove).
 */
import { PgClient } from "@effect/sql-pg"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { Redis } from "ioredis"
import { EmbeddingLocal, Storage } from "graphent"

// The test servers' addresses (GRAPHENT_TEST_DATABASE_URL, GRAPHENT_TEST_REDIS_URL) are kept in one place.
import { pgUrl, redisUrl } from "./services.js"
export { pgUrl, redisUrl }

/** A client of the test PostgreSQL, for setting up and cleaning up (not the code under test). */
export const PgAdmin: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown> = PgClient.layer({
  url: Redacted.make(pgUrl),
  applicationName: `graphent-test-admin-${process.pid}`
})

/** Creates an embedded store in a new temporary folder (call it in `beforeAll`, with a long timeout). */
export const makeHome = async (): Promise<string> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-home-"))
  await Effect.runPromise(
    Layer.build(Storage.layer({ home }).pipe(Layer.provide(EmbeddingLocal.layer))).pipe(Effect.scoped)
  )
  return home
}

let prefixes = 0

/** A table prefix no other test of this process uses. */
export const uniquePrefix = (): string => `t${process.pid}_${++prefixes}`

/** Removes an embedded store (or any temporary folder). */
export const removeHome = (home: string): void => fs.rmSync(home, { recursive: true, force: true })

/**
 * Drops every table, sequence and function whose name starts with one of `prefixes`,
 * in the schema of the given SQL client (PostgreSQL or PGlite).
 */
export const dropTables = (
  prefixes: ReadonlyArray<string>
): Effect.Effect<void, unknown, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const prefix of prefixes) {
      const tables = yield* sql<{ readonly name: string }>`
        SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, ${prefix})`
      for (const { name } of tables) yield* sql`DROP TABLE IF EXISTS ${sql(name)} CASCADE`
      const sequences = yield* sql<{ readonly name: string }>`
        SELECT sequencename AS name FROM pg_sequences WHERE schemaname = current_schema() AND starts_with(sequencename, ${prefix})`
      for (const { name } of sequences) yield* sql`DROP SEQUENCE IF EXISTS ${sql(name)}`
      // The journal's append functions (`<prefix>journal_append`, `…_all`).
      const functions = yield* sql<{ readonly signature: string }>`
        SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND starts_with(p.proname, ${prefix})`
      for (const { signature } of functions) yield* sql.unsafe(`DROP FUNCTION IF EXISTS ${signature}`)
    }
  })

/** {@link dropTables} on the test PostgreSQL. */
export const dropPgPrefixes = (prefixes: ReadonlyArray<string>): Promise<void> =>
  prefixes.length === 0 ? Promise.resolve() : Effect.runPromise(dropTables(prefixes).pipe(Effect.provide(PgAdmin)))

/** Deletes the test Redis's keys that match any of `patterns` (Redis glob patterns, e.g. `prefix:*`). */
export const deleteRedisKeys = async (patterns: ReadonlyArray<string>, client?: Redis): Promise<void> => {
  if (patterns.length === 0) return
  const redis = client ?? new Redis(redisUrl, { lazyConnect: true, commandTimeout: 5_000 })
  try {
    for (const pattern of patterns) {
      let cursor = "0"
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000)
        cursor = next
        if (keys.length > 0) await redis.unlink(...keys)
      } while (cursor !== "0")
    }
  } finally {
    if (client === undefined) await redis.quit()
  }
}

/** Remembers what a test file created in the shared stores, and removes all of it in `cleanUp` (its `afterAll`). */
export interface Tracker {
  /** A new prefix (`uniquePrefix()` plus `suffix`) for PostgreSQL tables and Redis keys, removed at clean-up. */
  readonly prefix: (suffix?: string) => string
  /** A new temporary folder, removed at clean-up. */
  readonly dir: (name: string) => string
  /** Drops the prefixes' tables and sequences, deletes their Redis keys (`prefix:*`), removes the folders. */
  readonly cleanUp: () => Promise<void>
}

/** A {@link Tracker} for one test file. */
export const tracker = (): Tracker => {
  const prefixes: Array<string> = []
  const dirs: Array<string> = []
  return {
    prefix: (suffix = "") => {
      const name = `${uniquePrefix()}${suffix}`
      prefixes.push(name)
      return name
    },
    dir: (name) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `graphent-${name}-`))
      dirs.push(dir)
      return dir
    },
    cleanUp: async () => {
      for (const dir of dirs) removeHome(dir)
      await dropPgPrefixes(prefixes)
      await deleteRedisKeys(prefixes.map((prefix) => `${prefix}:*`))
    }
  }
}
