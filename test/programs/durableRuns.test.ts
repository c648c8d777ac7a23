/**
 * A `202` from `POST /v1/runs` is a promise that survives the server: a real
 * `graphent dev` on PostgreSQL takes hundreds of runs over HTTP, is killed
 * with SIGKILL while it works through them, and is started again. Every
 * accepted run must then be found (never a 404) and reach `completed`, or
 * `needs-attention` naming the step that was in flight; resolving those
 * through the API (`assume-done` when the ledger shows the effect happened,
 * `retry` when it does not) must finish them. Each side effect (a ledger line
 * per run and step, written by a tool that is not idempotent) must have
 * happened exactly once.
 *
 * Class covered: a kill at any point of a run's life — accepted and queued,
 * between its first events, before a step's effect, after it but before its
 * result is journaled, between steps — since runs are at every such point when
 * the kill comes (16 run at once, the rest wait; the kill waits until some
 * tool call is in flight, so that this class is always there).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as Store from "../support/store.js"

const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/graphent.js")
const agentFile = path.join(root, "test/fixtures/agents/once.ts")
const pgUrl = "postgres://postgres@127.0.0.1:5432/test"

interface Dev {
  readonly child: ChildProcess
  readonly url: string
  readonly exited: Promise<void>
}

const children: Array<ChildProcess> = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})

/** Starts `graphent dev --port 0` and waits until it serves. */
const startDev = (env: Record<string, string>): Promise<Dev> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "dev", "--port", "0", "--agents", agentFile, "--max-concurrent", "16"], {
      cwd: root,
      env: { ...process.env, GRAPHENT_API_KEYS: "", GRAPHENT_API_KEYS_FILE: "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    children.push(child)
    let output = ""
    const exited = new Promise<void>((done) => child.on("exit", () => done()))
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      const match = /serving on (http:\/\/\S+)/.exec(output)
      if (match !== null && /\n {2}auth .*\n/.test(output)) resolve({ child, url: match[1]!, exited })
    })
    child.stderr!.on("data", (chunk: Buffer) => void (output += chunk.toString()))
    child.on("exit", (code, signal) => reject(new Error(`graphent dev ended (${code ?? signal}) before serving:\n${output}`)))
  })

const json = async (response: Response) => ({ status: response.status, body: await response.json() as any })

const getRun = (url: string, id: string) => fetch(`${url}/v1/runs/${id}`).then(json)

const ledgerCounts = (file: string) => {
  const counts = new Map<string, number>()
  const lines = fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "") : []
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1)
  return counts
}

/** Polls every run until `done` says so for each; a 404 is a failure at once. */
const waitFor = async (url: string, ids: ReadonlyArray<string>, done: (run: any) => boolean, what: string) => {
  const last = new Map<string, any>()
  for (let attempt = 0; attempt < 600; attempt++) {
    const open = ids.filter((id) => !done(last.get(id) ?? {}))
    if (open.length === 0) return last
    for (const id of open) {
      const { body, status } = await getRun(url, id)
      assert.strictEqual(status, 200, `GET /v1/runs/${id} answered ${status}: ${JSON.stringify(body)}`)
      last.set(id, body)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const stuck = ids.filter((id) => !done(last.get(id) ?? {})).map((id) => `${id}: ${last.get(id)?.status}`)
  throw new Error(`runs did not become ${what}: ${stuck.slice(0, 10).join(", ")} (${stuck.length})`)
}

describe("accepted runs outlive a killed server", () => {
  it("every accepted run completes (or needs attention at its step) after SIGKILL and restart; every effect happens once", async () => {
    const scratch = fs.mkdtempSync(path.join(root, "test/.scratch", "durable-"))
    const ledger = path.join(scratch, "ledger.txt")
    // The tool waits 100 ms either side of its effect: a run spends most of its time inside it, so the kill finds
    // steps in flight, before and after their effect.
    const env = { GRAPHENT_DATABASE_URL: pgUrl, GRAPHENT_STORE_PREFIX: Store.uniquePrefix(), LEDGER_FILE: ledger, LEDGER_PAUSE_MS: "100" }
    const total = 240
    const killAfter = 120

    const first = await startDev(env)
    const accepted: Array<string> = []
    let next = 0
    const submit = async (): Promise<void> => {
      while (next < total) {
        const input = `run-${next++}`
        try {
          const response = await fetch(`${first.url}/v1/runs`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ agent: "once", input })
          })
          const { body, status } = await json(response)
          assert.strictEqual(status, 202, JSON.stringify(body))
          accepted.push(body.id)
        } catch (error) {
          // The server is gone: a request it did not answer was not accepted.
          if ((error as Error).name === "AssertionError") throw error
          return
        }
      }
    }
    // SIGKILL once enough runs were accepted and some tool call is in flight (begun, its effect not written yet).
    const killer = async () => {
      while (first.child.exitCode === null && first.child.signalCode === null) {
        const begun = [...ledgerCounts(`${ledger}.begun`).keys()]
        const written = ledgerCounts(ledger)
        if (accepted.length >= killAfter && begun.some((key) => !written.has(key))) return void first.child.kill("SIGKILL")
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    }
    await Promise.all([killer(), ...Array.from({ length: 24 }, submit)])
    await first.exited
    assert.strictEqual(first.child.signalCode, "SIGKILL")
    assert.isAtLeast(accepted.length, killAfter)

    const second = await startDev(env)
    const done = (run: any) => run.status === "completed" || run.status === "failed" || run.status === "needs-attention"
    let settled = await waitFor(second.url, accepted, done, "completed or needs-attention")
    for (const id of accepted) assert.include(["completed", "needs-attention"], settled.get(id).status, id)
    // Runs were mid-step when the process died: some steps were in flight.
    assert.isAbove(accepted.filter((id) => settled.get(id).status === "needs-attention").length, 0)
    // Each step in flight at the kill is resolved on its own (both of a run's steps may have been), nothing runs
    // before all are: `assume-done` when the ledger shows its effect, `retry` when it does not.
    const assumedDone = new Set<string>()
    const happened = ledgerCounts(ledger)
    for (const id of accepted.filter((id) => settled.get(id).status === "needs-attention")) {
      const run = settled.get(id)
      assert.isAbove(run.attention.length, 0)
      for (const [i, step] of run.attention.entries()) {
        assert.include(["s1", "s2"], step.stepId)
        assert.strictEqual(step.tool, "record")
        const resolution = happened.has(`${run.input}/${step.stepId}`) ? "assume-done" : "retry"
        if (resolution === "assume-done") assumedDone.add(id)
        const answer = await fetch(`${second.url}/v1/runs/${id}/steps/${step.stepId}/${resolution}`, { method: "POST" })
          .then(json)
        assert.strictEqual(answer.status, 202, JSON.stringify(answer.body))
        // The run goes on only once its last step is resolved.
        const last = i === run.attention.length - 1
        assert.strictEqual(answer.body.status === "needs-attention", !last, JSON.stringify(answer.body))
      }
    }
    settled = await waitFor(second.url, accepted, (run) => run.status === "completed" || run.status === "failed", "ended")
    const final = settled
    const counts = ledgerCounts(ledger)
    for (const [key, count] of counts) assert.strictEqual(count, 1, `${key} happened ${count} times`)
    for (const id of accepted) {
      const run = final.get(id)
      // A step taken as done has no result: the plan fails there, having run every other step once.
      if (assumedDone.has(id)) assert.strictEqual(run.status, "failed", JSON.stringify(run))
      else assert.strictEqual(run.status, "completed", JSON.stringify(run))
      assert.strictEqual(counts.get(`${run.input}/s1`), 1, `${run.input}/s1`)
      assert.strictEqual(counts.get(`${run.input}/s2`), 1, `${run.input}/s2`)
    }
    second.child.kill("SIGINT")
    await second.exited
  }, 180_000)

  it("a fork started on the dev server and killed mid-fork goes on after the restart: its edit kept, nothing it did run again", async () => {
    const scratch = fs.mkdtempSync(path.join(root, "test/.scratch", "durable-fork-"))
    const ledger = path.join(scratch, "ledger.txt")
    // The journal and the accepted runs in files under GRAPHENT_HOME (the dev server's default store).
    const env = { GRAPHENT_HOME: scratch, LEDGER_FILE: ledger, LEDGER_PAUSE_MS: "300" }
    const first = await startDev(env)
    const post = (url: string, body: unknown) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(json)
    const parent = await post(`${first.url}/v1/runs`, { agent: "once", input: "p" })
    assert.strictEqual(parent.status, 202, JSON.stringify(parent.body))
    await waitFor(first.url, [parent.body.id], (run) => run.status === "completed", "completed")
    // The fork starts at s1 with s1's result given: s1 never runs in the fork, s2 runs live.
    const edit = { _tag: "SetResult", stepId: "s1", result: "p/s1 (edited)" }
    const fork = await post(`${first.url}/v1/runs/${parent.body.id}/fork`, { at: "s1", edit })
    assert.strictEqual(fork.status, 202, JSON.stringify(fork.body))
    // SIGKILL while the fork's s2 is in flight (begun a second time, its effect not written a second time).
    while (first.child.exitCode === null && first.child.signalCode === null) {
      if ((ledgerCounts(`${ledger}.begun`).get("p/s2") ?? 0) === 2 && ledgerCounts(ledger).get("p/s2") === 1) {
        first.child.kill("SIGKILL")
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await first.exited
    assert.strictEqual(first.child.signalCode, "SIGKILL")

    const second = await startDev(env)
    const held = (await waitFor(second.url, [fork.body.id], (run) => run.status === "needs-attention", "needs-attention"))
      .get(fork.body.id)
    assert.deepStrictEqual(held.attention.map((step: any) => step.stepId), ["s2"])
    const resolution = ledgerCounts(ledger).get("p/s2") === 2 ? "assume-done" : "retry"
    const resolved = await post(`${second.url}/v1/runs/${fork.body.id}/steps/s2/${resolution}`, {})
    assert.strictEqual(resolved.status, 202, JSON.stringify(resolved.body))
    const done = (await waitFor(second.url, [fork.body.id], (run) => run.status === "completed" || run.status === "failed", "ended"))
      .get(fork.body.id)
    assert.strictEqual(done.status, resolution === "retry" ? "completed" : "failed", JSON.stringify(done))
    // s1 ran once (the parent's), s2 twice (the parent's, the fork's): nothing the fork did ran again.
    const counts = ledgerCounts(ledger)
    assert.deepStrictEqual([counts.get("p/s1"), counts.get("p/s2")], [1, 2])
    const journal = await fetch(`${second.url}/v1/runs/${fork.body.id}/journal`).then((response) => response.text())
    const events = journal.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
      .filter((event) => event._tag !== "JournalHeader")
    assert.deepStrictEqual(events[0].forkedFrom, { runId: parent.body.id, at: "step:s1", edit })
    assert.strictEqual(events.filter((event) => event._tag === "RunStarted").length, 1)
    assert.deepStrictEqual(
      events.filter((event) => event._tag === "StepSucceeded" && event.stepId === "s1").map((event) => event.result),
      ["p/s1 (edited)"]
    )
    second.child.kill("SIGINT")
    await second.exited
  }, 60_000)
})
