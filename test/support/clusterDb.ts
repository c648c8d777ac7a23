/**
 * A PostgreSQL database of its own for each cluster test: the workflow storage's tables
 * and advisory locks (shard ownership) are per database, so tests that run at once never
 * share shards. Created from the test server's URL, dropped (with its connections) after.
 *
 * One cluster test file at a time holds a database: each runner process keeps pools of
 * its own (workflow storage, journal, the test's side-effect table), and two files of
 * runners at once came close to the server's `max_connections` (100), failing other
 * PostgreSQL tests with "too many clients". The lock is a folder in the temp dir naming
 * its holder's pid, so a holder that died does not block the next run.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { PgAdmin, pgUrl } from "./store.js"

let databases = 0

const lock = path.join(os.tmpdir(), "graphent-test-cluster-db.lock")
const owner = path.join(lock, "pid")

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Waits for the cluster-database lock (see the module's comment). */
const acquire = async (): Promise<void> => {
  for (;;) {
    try {
      fs.mkdirSync(lock)
      fs.writeFileSync(owner, String(process.pid))
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    const holder = Number(fs.readFileSync(owner, { encoding: "utf8", flag: "a+" }))
    // A holder that died (or one between mkdir and writing its pid, given a moment): take the lock over.
    if (holder > 0 ? !alive(holder) : Date.now() - fs.statSync(lock).mtimeMs > 5_000) {
      fs.rmSync(lock, { recursive: true, force: true })
      continue
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

const release = (): void => {
  if (fs.existsSync(owner) && fs.readFileSync(owner, "utf8") === String(process.pid)) {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

/**
 * A new, empty database (after the lock: see the module's comment); returns its
 * URL and name. Give the caller's `beforeAll` room to wait for another file.
 */
export const createDatabase = async (): Promise<{ readonly url: string; readonly name: string }> => {
  await acquire()
  try {
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
  } catch (error) {
    release()
    throw error
  }
}

/** Drops a database made by {@link createDatabase}, ending its connections, and releases the lock. */
export const dropDatabase = async (name: string): Promise<void> => {
  try {
    await Effect.runPromise(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      }).pipe(Effect.provide(PgAdmin))
    )
  } finally {
    release()
  }
}
