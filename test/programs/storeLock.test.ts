/**
 * Several `graphent` processes on one embedded store (PGlite opens in one
 * process at a time): they take turns, a process that waits too long exits 2
 * with StorageLocked, and a process killed with SIGKILL frees the store at once
 * and leaves it readable.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"

let home = ""
beforeAll(async () => {
  home = await Store.makeHome()
}, 120_000)
afterAll(() => Store.removeHome(home), 60_000)

const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Cli.graphent(args, { env: { GRAPHENT_HOME: home, ...env } })

/** Starts `graphent` without waiting for it. */
const start = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Cli.start(args, { env: { GRAPHENT_HOME: home, ...env } })

/**
 * Waits until the holder has signalled that it holds the store: the fixture creates the file by renaming
 * a complete one into place, so once it exists it holds the pid. Fails if the holder exits first.
 */
const readyPid = async (holder: Cli.Running, file: string): Promise<number> => {
  const deadline = Date.now() + 60_000
  while (!fs.existsSync(file)) {
    if (holder.child.exitCode !== null || holder.child.signalCode !== null) {
      throw new Error(`the holder exited before it was ready:\n${holder.stderr()}`)
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the holder to start its step:\n${holder.stderr()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Number(fs.readFileSync(file, "utf8"))
}

describe("graphent processes sharing one embedded store", () => {
  it("two runs started together take turns; both writes are kept", async () => {
    // The second waits for the first to finish (a slow machine may take a while).
    const env = { GRAPHENT_STORE_PREFIX: Store.uniquePrefix(), GRAPHENT_LOCK_TIMEOUT: "60 seconds" }
    const first = start(["run", "examples/todo.ts", "--input", "add first"], env)
    const second = start(["run", "examples/todo.ts", "--input", "add second"], env)
    const results = await Promise.all([first.exited, second.exited])
    for (const result of results) assert.strictEqual(result.code, 0, result.stderr)
    assert.sameMembers(results.map((result) => result.stdout.replace(/#\d/, "#n")), [
      "Added #n: first\n",
      "Added #n: second\n"
    ])
    const listed = graphent(["run", "examples/todo.ts", "--input", "list"], env)
    assert.sameMembers(listed.stdout.trim().split("\n").map((line) => line.replace(/#\d/, "#n")), [
      "[ ] #n first",
      "[ ] #n second"
    ])
    assert.match(listed.stdout, /^\[ \] #1 .+\n\[ \] #2 .+\n$/)
  }, 120_000)

  it("a process that holds the store: another run that needs memory waits GRAPHENT_LOCK_TIMEOUT, then fails; SIGKILL frees it", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-holder-"))
    const ready = path.join(dir, "ready")
    const env = {
      GRAPHENT_STORE_PREFIX: Store.uniquePrefix(),
      HOLDER_READY: ready,
      HOLDER_RELEASE: path.join(dir, "never")
    }
    const holder = start(["run", "test/fixtures/agents/holder.ts"], env)
    const holderPid = await readyPid(holder, ready)
    assert.strictEqual(holderPid, holder.child.pid)

    const started = Date.now()
    const blocked = graphent(["run", "examples/todo.ts", "--input", "list"], { ...env, GRAPHENT_LOCK_TIMEOUT: "1 second" })
    // The database opens at the run's first use of memory: the run fails there (exit 1), naming the holder.
    assert.strictEqual(blocked.code, 1, blocked.stderr)
    assert.isAtLeast(Date.now() - started, 1_000)
    assert.include(blocked.stderr, `is in use by another process (pid ${holderPid}); waited`)
    assert.include(blocked.stderr, "GRAPHENT_DATABASE_URL")
    assert.strictEqual(blocked.stdout, "")

    holder.child.kill("SIGKILL")
    const killed = await holder.exited
    assert.strictEqual(killed.signal, "SIGKILL")

    // The kernel released the lock with the process: no stale lock, no waiting, and the store reads fine.
    const listed = graphent(["trace", "list", "--db", "--json"], { ...env, GRAPHENT_LOCK_TIMEOUT: "1 millis" })
    assert.strictEqual(listed.code, 0, listed.stderr)
    const runs = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { agent: string; status: string })
    // Journals are files: the blocked run is kept too (failed), beside the holder's, unfinished: its process is gone.
    assert.deepStrictEqual(runs.map((run) => [run.agent, run.status]), [["todo", "failed"], ["holder", "unfinished"]])
    const after = graphent(["run", "examples/todo.ts", "--input", "add after the crash; list"], env)
    assert.strictEqual(after.code, 0, after.stderr)
    assert.strictEqual(after.stdout, "Added #1: after the crash\n[ ] #1 after the crash\n")
    fs.rmSync(dir, { recursive: true, force: true })
  }, 120_000)
})
