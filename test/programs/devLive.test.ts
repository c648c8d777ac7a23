/**
 * A running `graphent dev` and the CLI in one project (the default store: journal files): a run
 * started with `graphent run` appears in the server's list while it runs and its events stream
 * live (SSE); its status follows it there and in `trace list` through every way it ends —
 * paused for approval, approved with `graphent approve`, interrupted (Ctrl-C), resumed with
 * `graphent resume`, killed — and `graphent audit` reads the log at once. The server and the runs
 * are processes; the commands beside them (`trace`, `approve`, `resume`, `audit`) run the CLI
 * program in this process, a third process on the same project.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "../support/cli.js"
import { readSse } from "../support/sse.js"

const dir = Cli.scratch("dev-live")
const home = path.join(dir, "home")
const policy = path.join(dir, "policy.json")
const auditLog = path.join(dir, "audit.jsonl")
const relay = "test/fixtures/agents/relay.ts"
fs.writeFileSync(policy, JSON.stringify({
  version: 1,
  roles: { dev: { allow: ["tool:*"], approve: ["shell:deploy"] }, lead: { allow: ["approval:*"] } },
  principals: { alice: ["dev"], bob: ["lead"] }
}))
const env = {
  GRAPHENT_HOME: home,
  GRAPHENT_STORE: undefined,
  GRAPHENT_DATABASE_URL: undefined,
  GRAPHENT_REDIS_URL: undefined,
  GRAPHENT_API_KEYS: "",
  GRAPHENT_API_KEYS_FILE: "",
  GRAPHENT_POLICY: policy,
  GRAPHENT_AUDIT: auditLog,
  GRAPHENT_PRINCIPAL: "alice"
}

const running: Array<Cli.Running> = []
afterAll(() => {
  for (const process of running) if (process.child.exitCode === null) process.child.kill("SIGKILL")
  fs.rmSync(dir, { recursive: true, force: true })
})

const start = (args: ReadonlyArray<string>, extra: Record<string, string | undefined> = {}) => {
  const process = Cli.start(args, { env: { ...env, ...extra }, timeout: 300_000 })
  running.push(process)
  return process
}

const until = async <A>(what: string, probe: () => Promise<A | undefined>, ms = 120_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((done) => setTimeout(done, 100))
  }
}

interface Info {
  readonly id: string
  readonly agent: string
  readonly status: string
}

describe("graphent dev shows the CLI's runs live, and their statuses to the end", () => {
  it("run (listed while running, events streamed) → paused → approve → completed; Ctrl-C → interrupted → resume → completed; audit; a killed run is unfinished", async () => {
    const dev = start(["dev", "--port", "0", "--agents", "examples/echo.ts"])
    const [, url] = await Cli.waitForOutput(dev, /serving on (http:\/\/\S+)[\s\S]*\n {2}auth .*\n/)
    const runs = async () => (await (await fetch(`${url}/v1/runs?agent=relay`)).json() as { runs: ReadonlyArray<Info> }).runs
    const status = async (id: string) => (await (await fetch(`${url}/v1/runs/${id}`)).json() as Info).status
    const stored = async (id: string) => {
      const listed = await Cli.inProcess(["trace", "list", "--json"], { env })
      assert.strictEqual(listed.code, 0, listed.stderr)
      return listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { runId: string; status: string })
        .find((run) => run.runId === id)?.status
    }

    // 1. A CLI run appears in the server's list while it runs; its events stream as they are journaled.
    const gate = path.join(dir, "gate-1")
    const cli = start(["run", relay, "--input", "v1"], { GATE_FILE: gate })
    const listed = await until("the CLI's run in the server's list", async () => (await runs())[0])
    assert.strictEqual(listed.status, "running")
    const id = listed.id
    // Its events so far stream while it waits for the gate (it cannot go on before the test opens it).
    const live = await readSse(`${url}/v1/runs/${id}/events`, {}, (event) => event.data.includes(`"StepStarted"`))
    const tags = live.events.map((event) => (JSON.parse(event.data) as { _tag: string })._tag)
    assert.deepStrictEqual([tags[0], tags[tags.length - 1]], ["RunStarted", "StepStarted"])
    assert.deepStrictEqual(live.events.map((event) => event.id), tags.map((_, i) => String(i)), "indexes of the journal")
    assert.isFalse(fs.existsSync(gate))
    fs.writeFileSync(gate, "")

    // 2. It pauses for approval (exit 3): paused in the server and in the store, not running.
    const paused = await cli.exited
    assert.strictEqual(paused.code, 3, paused.stderr)
    assert.strictEqual(await until("paused in the server", async () => (await status(id)) === "paused" || undefined), true)
    assert.strictEqual(await stored(id), "paused")

    // 3. Approved from the CLI beside the server: the run ends; both say completed.
    const approved = await Cli.inProcess(["approve", id, "deploy", "--by", "bob"], { env: { ...env, GATE_FILE: gate } })
    assert.strictEqual(approved.code, 0, approved.stderr)
    assert.strictEqual(approved.stdout, "deployed v1\n")
    assert.strictEqual(await until("completed in the server", async () => (await status(id)) === "completed" || undefined), true)
    assert.strictEqual(await stored(id), "completed")

    // 4. The audit log, read beside the server: the wait, the deploy sent for approval, then approved.
    const audit = await Cli.inProcess(["audit", "--run", id, "--json"], { env })
    assert.strictEqual(audit.code, 0, audit.stderr)
    const entries = audit.stdout.trim().split("\n").map((line) => JSON.parse(line) as { tool: string; decision: string })
    assert.deepStrictEqual(entries.map(({ decision, tool }) => ({ decision, tool })), [
      { tool: "wait", decision: "allow" },
      { tool: "deploy", decision: "approval-required" },
      { tool: "deploy", decision: "approved" }
    ])

    // 5. Ctrl-C: interrupted, in the server and the store; resumed from the CLI: completed.
    const gate2 = path.join(dir, "gate-2")
    const second = start(["run", relay, "--input", "v2"], { GATE_FILE: gate2, GRAPHENT_POLICY: undefined })
    const secondId = await until("the second run in the server's list", async () =>
      (await runs()).find((run) => run.id !== id && run.status === "running")?.id)
    second.child.kill("SIGINT")
    const stopped = await second.exited
    assert.strictEqual(stopped.code, 130, stopped.stderr)
    assert.strictEqual(await until("interrupted in the server", async () => (await status(secondId)) === "interrupted" || undefined), true)
    assert.strictEqual(await stored(secondId), "interrupted")
    fs.writeFileSync(gate2, "")
    const resumed = await Cli.inProcess(["resume", secondId], { env: { ...env, GATE_FILE: gate2, GRAPHENT_POLICY: undefined } })
    assert.strictEqual(resumed.code, 0, resumed.stderr)
    assert.strictEqual(resumed.stdout, "deployed v2\n")
    assert.strictEqual(await until("completed in the server", async () => (await status(secondId)) === "completed" || undefined), true)
    assert.strictEqual(await stored(secondId), "completed")

    // 6. A run whose process is killed: no end in its journal; unfinished, not running.
    const third = start(["run", relay, "--input", "v3"], { GATE_FILE: path.join(dir, "gate-3") })
    const thirdId = await until("the third run in the server's list", async () =>
      (await runs()).find((run) => run.id !== id && run.id !== secondId && run.status === "running")?.id)
    third.child.kill("SIGKILL")
    await third.exited
    assert.strictEqual(await until("unfinished in the server", async () => (await status(thirdId)) === "unfinished" || undefined), true)
    assert.strictEqual(await stored(thirdId), "unfinished")

    assert.strictEqual(dev.child.exitCode, null, "the server ran throughout")
    dev.child.kill("SIGINT")
    await dev.exited
  }, 600_000)
})
