/**
 * Several `graphent` processes on one embedded store (PGlite opens in one
 * process at a time): they take turns, a process that waits too long exits 2
 * with StorageLocked, and a process killed with SIGKILL frees the store at once
 * and leaves it readable.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Store from "../support/store.js"

const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/graphent.js")

let home = ""
beforeAll(async () => {
  home = await Store.makeHome()
}, 120_000)
afterAll(() => Store.removeHome(home), 60_000)

const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const child = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, GRAPHENT_HOME: home, ...env }
  })
  return { code: child.status, stdout: child.stdout, stderr: child.stderr }
}

/** Starts `graphent` without waiting for it. */
const start = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: root,
    env: { ...process.env, GRAPHENT_HOME: home, ...env }
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk) => (stdout += chunk))
  child.stderr.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((
    resolve
  ) => child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { child, exited }
}

const until = async (done: () => boolean, what: string) => {
  const deadline = Date.now() + 60_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
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
    await until(() => fs.existsSync(ready), "the holder to start its step")
    const holderPid = Number(fs.readFileSync(ready, "utf8"))
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
    // Journals are files: the blocked run is kept too (failed), beside the holder's, left running by SIGKILL.
    assert.deepStrictEqual(runs.map((run) => [run.agent, run.status]), [["todo", "failed"], ["holder", "running"]])
    const after = graphent(["run", "examples/todo.ts", "--input", "add after the crash; list"], env)
    assert.strictEqual(after.code, 0, after.stderr)
    assert.strictEqual(after.stdout, "Added #1: after the crash\n[ ] #1 after the crash\n")
    fs.rmSync(dir, { recursive: true, force: true })
  }, 120_000)
})
