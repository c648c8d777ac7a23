/**
 * How a run ends and goes on — the runs interrupted or killed are real `graphent` processes, the
 * commands that go on from them run the CLI program in this process: Ctrl-C
 * (SIGINT) and SIGTERM print one line naming the run and how to resume it
 * (exit 130 / 143); `resume`, `approve` and `reject` continue a run from the
 * project's store by id (or id prefix) as well as from a `--record` file; and
 * the store's status of a run follows every way it finishes.
 *
 * The interrupt lands at a random point of the ledger run (after 1 to 6 of
 * its 8 steps), so repeated CI runs cover different kill points.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, beforeAll, beforeEach, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"

const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/graphent.js")
const ledgerAgent = "test/fixtures/agents/ledger.ts"

let home = ""
let prefix = ""
let dir = ""
beforeAll(async () => {
  home = await Store.makeHome()
  fs.mkdirSync(path.join(root, "test/.scratch"), { recursive: true })
  dir = fs.mkdtempSync(path.join(root, "test/.scratch", "cli-resume-"))
}, 300_000)
beforeEach(() => {
  prefix = Store.uniquePrefix()
})
afterAll(() => {
  Store.removeHome(home)
  fs.rmSync(dir, { recursive: true, force: true })
}, 300_000)

const envOf = (env: Record<string, string>) => ({ ...process.env, GRAPHENT_HOME: home, GRAPHENT_STORE_PREFIX: prefix, ...env })

/** The CLI program in this process (the runs a test interrupts or kills are child processes: {@link start}). */
const graphent = (env: Record<string, string>, ...args: Array<string>) =>
  Cli.inProcess(args, { env: { GRAPHENT_HOME: home, GRAPHENT_STORE_PREFIX: prefix, ...env } })

const lines = (file: string) => fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : []

interface Started {
  readonly child: ChildProcess
  readonly exited: Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>
}

const start = (env: Record<string, string>, ...args: Array<string>): Started => {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: envOf(env) })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (chunk) => stdout += chunk)
  child.stderr!.on("data", (chunk) => stderr += chunk)
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr }))
  )
  return { child, exited }
}

/** Waits until `ready()` holds (polling), failing after a minute. */
const until = async (ready: () => boolean, what: string) => {
  const deadline = Date.now() + 60_000
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The store's runs, as `trace list --db --json` prints them. */
const storedRuns = async () => {
  const listed = await graphent({}, "trace", "list", "--db", "--json")
  assert.strictEqual(listed.code, 0, listed.stderr)
  return listed.stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { runId: string; status: string })
}

const statusOf = async (runId: string) => (await storedRuns()).find((run) => run.runId === runId)?.status

/** Starts the ledger agent and sends `signal` once `after` entries are written. */
const interruptLedger = async (ledger: string, after: number, signal: NodeJS.Signals, env: Record<string, string> = {}) => {
  const run = start({ LEDGER_FILE: ledger, ...env }, "run", ledgerAgent)
  await until(() => lines(ledger).length >= after, `${after} ledger entries`)
  run.child.kill(signal)
  return run.exited
}

const runIdIn = (text: string) => /run ([0-9a-f-]{36})/.exec(text)?.[1]

describe("interrupting graphent run", () => {
  it("Ctrl-C: one line with the run id and the resume command, exit 130; resume <id prefix> finishes the run", async () => {
    const ledger = path.join(dir, "sigint.txt")
    const after = 1 + Math.floor(Math.random() * 6)
    const interrupted = await interruptLedger(ledger, after, "SIGINT")
    assert.strictEqual(interrupted.code, 130, interrupted.stderr)
    assert.strictEqual(interrupted.stdout, "")
    const runId = runIdIn(interrupted.stderr)
    assert.isDefined(runId, interrupted.stderr)
    assert.strictEqual(interrupted.stderr, `interrupted: run ${runId}; continue it with: graphent resume ${runId}\n`)
    assert.strictEqual(await statusOf(runId!), "interrupted")

    const resumed = await graphent({ LEDGER_FILE: ledger }, "resume", runId!.slice(0, 8))
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.strictEqual(resumed.stdout, "ledger has 8 entries\n")
    assert.deepStrictEqual(lines(ledger), Array.from({ length: 8 }, (_, i) => `entry-${i + 1}`))
    assert.strictEqual(await statusOf(runId!), "completed")

    const again = await graphent({ LEDGER_FILE: ledger }, "resume", runId!)
    assert.strictEqual(again.code, 2)
    assert.include(again.stderr, "already finished")
  }, 300_000)

  it("SIGTERM: exit 143; with nothing kept (GRAPHENT_STORE=memory, no --record) the line says it cannot be resumed", async () => {
    const ledger = path.join(dir, "sigterm.txt")
    const stopped = await interruptLedger(ledger, 1, "SIGTERM", { GRAPHENT_STORE: "memory" })
    assert.strictEqual(stopped.code, 143, stopped.stderr)
    assert.match(stopped.stderr, /^interrupted: run [0-9a-f-]{36}; it was kept nowhere \(GRAPHENT_STORE=memory, no --record\): it cannot be resumed\n$/)
  }, 300_000)
})

describe("graphent resume <run-id> and the store's statuses", () => {
  it("a run resumed from its --record file: the store follows it (unfinished after SIGKILL, then completed)", async () => {
    const ledger = path.join(dir, "file.txt")
    const journal = path.join(dir, "file.jsonl")
    const run = start({ LEDGER_FILE: ledger }, "run", ledgerAgent, "--record", journal)
    await until(() => lines(ledger).length >= 2, "two ledger entries")
    run.child.kill("SIGKILL")
    await run.exited
    const runId = JSON.parse(lines(journal)[1]!).runId as string
    // No end in its journal, and its process is gone.
    assert.strictEqual(await statusOf(runId), "unfinished")

    const resumed = await graphent({ LEDGER_FILE: ledger }, "resume", journal)
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.strictEqual(resumed.stdout, "ledger has 8 entries\n")
    assert.strictEqual(await statusOf(runId), "completed")
    // The store now holds the whole run, event for event as the file does.
    const shown = await graphent({}, "trace", "show", "--db", runId)
    assert.strictEqual(shown.code, 0, shown.stderr)
    assert.include(shown.stdout, "ledger has 8 entries")
  }, 300_000)

  it("a run only the file holds (recorded with nothing kept): resume from the file copies it into the store", async () => {
    const ledger = path.join(dir, "copied.txt")
    const journal = path.join(dir, "copied.jsonl")
    // Recorded with nothing kept: only the file has the run.
    const run = start({ LEDGER_FILE: ledger, GRAPHENT_STORE: "memory" }, "run", ledgerAgent, "--record", journal)
    await until(() => lines(ledger).length >= 1, "a ledger entry")
    run.child.kill("SIGKILL")
    await run.exited
    const runId = JSON.parse(lines(journal)[1]!).runId as string
    assert.isUndefined(await statusOf(runId))
    const resumed = await graphent({ LEDGER_FILE: ledger }, "resume", journal)
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.strictEqual(await statusOf(runId), "completed")
  }, 300_000)

  it("a stale file (the run went on from the store) is refused, exit 2, naming the command that works", async () => {
    const ledger = path.join(dir, "stale.txt")
    const journal = path.join(dir, "stale.jsonl")
    const run = start({ LEDGER_FILE: ledger }, "run", ledgerAgent, "--record", journal)
    await until(() => lines(ledger).length >= 1, "a ledger entry")
    run.child.kill("SIGKILL")
    await run.exited
    const runId = JSON.parse(lines(journal)[1]!).runId as string
    const fromStore = await graphent({ LEDGER_FILE: ledger }, "resume", runId)
    assert.strictEqual(fromStore.code, 0, fromStore.stderr)
    const before = fs.readFileSync(journal, "utf8")
    const fromFile = await graphent({ LEDGER_FILE: ledger }, "resume", journal)
    assert.strictEqual(fromFile.code, 2)
    assert.include(fromFile.stderr, `the file is stale; continue from the store: graphent resume ${runId}`)
    assert.strictEqual(fs.readFileSync(journal, "utf8"), before, "the refused resume left the file alone")
  }, 300_000)

  it("bad run ids and flags: one line each, exit 2", async () => {
    const unknown = await graphent({}, "resume", "no-such-run")
    assert.strictEqual(unknown.code, 2)
    assert.match(unknown.stderr, /^error: no-such-run: no such journal file, and no run no-such-run in the store in .*\n$/)
    const withRun = await graphent({}, "resume", "no-such-run", "--run", "x")
    assert.strictEqual(withRun.code, 2)
    assert.include(withRun.stderr, "--run picks a run of a journal file")
    const missingFile = await graphent({}, "resume", "missing.jsonl")
    assert.strictEqual(missingFile.code, 2)
    assert.include(missingFile.stderr, "missing.jsonl")
  }, 300_000)
})

describe("graphent approve / reject <run-id>", () => {
  const policy = () => {
    const file = path.join(dir, "policy.json")
    fs.writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        roles: { dev: { allow: ["tool:*"], approve: ["shell:deploy"] }, lead: { allow: ["approval:*"] } },
        principals: { alice: ["dev"], bob: ["lead"] }
      })
    )
    return file
  }
  const deployer = (marker: string) => {
    const file = path.join(dir, `deployer-${path.basename(marker, ".log")}.ts`)
    fs.writeFileSync(
      file,
      `import * as fs from "node:fs"
import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"
const deploy = Tool.make("deploy", {
  description: "Deploys", parameters: Schema.Struct({ env: Schema.String }), success: Schema.String,
  capabilities: ["shell:deploy"],
  handler: ({ env }) => Effect.sync(() => { fs.appendFileSync(${JSON.stringify(marker)}, env + "\\n"); return "deployed to " + env })
})
export default Agent.make({ name: "deployer", tools: [deploy],
  planner: SequencePlanner.plan({ steps: [{ id: "deploy", tool: "deploy", args: { env: "prod" } }] }) })
`
    )
    return file
  }

  for (const approved of [true, false]) {
    it(`${approved ? "approve" : "reject"} continues a paused run from the store; its status follows`, async () => {
      const marker = path.join(dir, `${approved ? "approved" : "rejected"}.log`)
      const env = { GRAPHENT_POLICY: policy(), GRAPHENT_AUDIT: path.join(dir, "audit.jsonl") }
      const paused = await graphent({ ...env, GRAPHENT_PRINCIPAL: "alice" }, "run", deployer(marker))
      assert.strictEqual(paused.code, 3, paused.stderr)
      const runId = (await storedRuns())[0]!.runId
      assert.strictEqual(await statusOf(runId), "paused")
      const decided = await graphent(env, approved ? "approve" : "reject", runId.slice(0, 8), "deploy", "--by", "bob")
      assert.strictEqual(decided.code, approved ? 0 : 1, decided.stderr)
      assert.strictEqual(fs.existsSync(marker), approved)
      assert.strictEqual(await statusOf(runId), approved ? "completed" : "failed")
    }, 300_000)
  }
})
