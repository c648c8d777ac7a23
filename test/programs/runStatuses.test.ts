/**
 * The store's status of a run follows the process that runs it, whoever that
 * is: a run (or a resume of it) whose process is SIGKILLed is `unfinished`
 * in `graphent trace list --db`, never `running` forever — with journal files
 * (the default store) and with a journal database (PostgreSQL) — and a
 * resume by another process that finishes it makes it `completed`.
 *
 * The processes killed are real `graphent` processes (the ledger agent, killed
 * after a random number of its 8 steps); listing and finishing run the CLI
 * program in this process.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"

const ledgerAgent = "test/fixtures/agents/ledger.ts"

let dir = ""
const prefixes: Array<string> = []
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-statuses-"))
})
afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true })
  await Store.dropPgPrefixes(prefixes)
}, 60_000)

/** A store of its own: a home folder (journal files), or tables with their own prefix on the test PostgreSQL. */
const storeEnv = (name: string, database: boolean): Record<string, string> => {
  const prefix = Store.uniquePrefix()
  if (database) prefixes.push(`${prefix}_`)
  return {
    GRAPHENT_HOME: path.join(dir, name),
    GRAPHENT_STORE_PREFIX: prefix,
    ...(database ? { GRAPHENT_DATABASE_URL: Store.pgUrl } : {})
  }
}

/** Waits (polling) until the ledger holds `count` entries. */
const ledgerReaches = async (ledger: string, count: number) => {
  const deadline = Date.now() + 60_000
  while (!fs.existsSync(ledger) || Cli.lines(ledger).length < count) {
    if (Date.now() > deadline) throw new Error(`the ledger never reached ${count} entries`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Starts `graphent args…` on the ledger, SIGKILLs it once the ledger has `after` entries. */
const killAfter = async (env: Record<string, string>, after: number, ...args: Array<string>) => {
  const running = Cli.start(args, { env })
  await ledgerReaches(env.LEDGER_FILE!, after)
  running.child.kill("SIGKILL")
  return running.exited
}

/** `trace list --db --json` (with `flags`): the runs, by id → status. */
const statuses = async (env: Record<string, string>, ...flags: Array<string>) => {
  const listed = await Cli.inProcess(["trace", "list", "--db", "--json", ...flags], { env })
  assert.strictEqual(listed.code, 0, listed.stderr)
  const runs = listed.stdout.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as { runId: string; status: string })
  return new Map(runs.map((run) => [run.runId, run.status]))
}

const onlyRun = async (env: Record<string, string>) => {
  const runs = [...(await statuses(env)).keys()]
  assert.strictEqual(runs.length, 1, runs.join(", "))
  return runs[0]!
}

describe("statuses in the store follow a killed process", () => {
  for (const database of [false, true]) {
    const where = database ? "a journal database (PostgreSQL)" : "journal files (the default store)"
    it(`${where}: a killed run is unfinished; a killed resume too; a resume that ends makes it completed`, async () => {
      const name = database ? "pg" : "files"
      const env = { ...storeEnv(name, database), LEDGER_FILE: path.join(dir, `${name}.ledger`) }
      // Killed after 1 to 3 of its 8 steps, then its resume after 1 or 2 more: each kill point leaves room for the next.
      const first = 1 + Math.floor(Math.random() * 3)
      const killed = await killAfter(env, first, "run", ledgerAgent)
      assert.strictEqual(killed.signal, "SIGKILL", killed.stderr)
      const runId = await onlyRun(env)
      assert.strictEqual((await statuses(env)).get(runId), "unfinished")
      assert.deepStrictEqual([...(await statuses(env, "--status", "running")).keys()], [])
      assert.deepStrictEqual([...(await statuses(env, "--status", "unfinished")).keys()], [runId])

      // Resumed by another process, killed in turn: its RunResumed names that process, gone as well.
      const resumeKilled = await killAfter(env, first + 1 + Math.floor(Math.random() * 2), "resume", runId)
      assert.strictEqual(resumeKilled.signal, "SIGKILL", resumeKilled.stderr)
      assert.strictEqual((await statuses(env)).get(runId), "unfinished")

      // Finished by a third: completed, every entry once.
      const finished = await Cli.inProcess(["resume", runId], { env })
      assert.strictEqual(finished.code, 0, finished.stderr)
      assert.strictEqual(finished.stdout, "ledger has 8 entries\n")
      assert.deepStrictEqual(Cli.lines(env.LEDGER_FILE), Array.from({ length: 8 }, (_, i) => `entry-${i + 1}`))
      assert.strictEqual((await statuses(env)).get(runId), "completed")
    }, 120_000)
  }

  it("a run whose process is alive stays running (a journal database)", async () => {
    // Listed while the run is going: its process is alive.
    const env = { ...storeEnv("alive", true), LEDGER_FILE: path.join(dir, "alive.ledger") }
    const running = Cli.start(["run", ledgerAgent], { env })
    await ledgerReaches(env.LEDGER_FILE, 1)
    const runId = await onlyRun(env)
    assert.strictEqual((await statuses(env)).get(runId), "running")
    running.child.kill("SIGKILL")
    await running.exited
    assert.strictEqual((await statuses(env)).get(runId), "unfinished")
  }, 120_000)
})
