/**
 * A PostgreSQL database of its own for each cluster test: the workflow storage's tables
 * and advisory locks (shard ownership) are per database, so tests that run at once never
 * share shards. Created from the test server's URL, dropped (with its connections) after.
 *
 * One cluster test file at a time holds a database: each runner process keeps pools of
 * its own (workflow storage, journal, the test's side-effect table), and two files of
 * runners at once came close to the server's `max_connections` (100), failing other
 * PostgreSQL tests with "too many clients". The lock is a file in the temp dir naming
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

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The lock file's holder: its pid, or `undefined` when the file is gone or not written yet. */
const holder = (): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(lock, "utf8"))
    return pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** Waits for the cluster-database lock (see the module's comment): a file created exclusively, naming its pid. */
const acquire = async (): Promise<void> => {
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx" })
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    const pid = holder()
    // A holder that died takes no lock with it (nor does one that never wrote its pid, given 5 s).
    const stale = pid !== undefined
      ? !alive(pid)
      : Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 5_000
    if (stale) fs.rmSync(lock, { force: true })
    else await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

const release = (): void => {
  if (holder() === process.pid) fs.rmSync(lock, { force: true })
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

