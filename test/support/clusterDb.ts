/**
 * A PostgreSQL database of its own for each cluster test: the workflow storage's tables
 * and advisory locks (shard ownership) are per database, so tests that run at once never
 * share shards. Created from the test server's URL, dropped (with its connections) after.
 */
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { PgAdmin, pgUrl } from "./store.js"

let databases = 0

/** A new, empty database; returns its URL and name. */
export const createDatabase = async (): Promise<{ readonly url: string; readonly name: string }> => {
  const name = `gcluster_${process.pid}_${++databases}`
  await Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      yield* sql.unsafe(`CREATE DATABASE ${name}`)
    }).pipe(Effect.provide(PgAdmin))
  )
  const url = new URL(pgUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), name }
}

/** Drops a database made by {@link createDatabase}, ending its connections. */
export const dropDatabase = async (name: string): Promise<void> => {
  await Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }).pipe(Effect.provide(PgAdmin))
  )
}
