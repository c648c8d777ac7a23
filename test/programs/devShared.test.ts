/**
 * `graphent dev` and other `graphent` commands on one project at once: the dev server keeps
 * its runs as journal files (no lock) and closes the embedded database when idle, so CLI runs
 * — with and without memory — `trace list`, and the server's API all work side by side, and
 * a run started from the CLI is served by the dev server's API (`GET /v1/runs/:id`).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Cli from "../support/cli.js"

const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/graphent.js")
const home = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-shared-"))
const env: NodeJS.ProcessEnv = { ...process.env, GRAPHENT_HOME: home, GRAPHENT_API_KEYS: "", GRAPHENT_API_KEYS_FILE: "",
  // Creating the embedded database takes tens of seconds on a loaded machine: the CLI may wait that long for it.
  GRAPHENT_LOCK_TIMEOUT: "180 seconds"
}
delete env.GRAPHENT_STORE
delete env.GRAPHENT_DATABASE_URL
delete env.GRAPHENT_REDIS_URL

const children: Array<ChildProcess> = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL")
  fs.rmSync(home, { recursive: true, force: true })
})

/** Runs `graphent args` in the project without waiting; resolves with its exit code and output. */
const graphent = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env })
  children.push(child)
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((done) =>
    child.on("exit", (code) => done({ code, stdout, stderr }))
  )
  return { child, exited, stdout: () => stdout }
}

const until = async <A>(what: string, probe: () => Promise<A | undefined> | A | undefined, ms = 120_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((done) => setTimeout(done, 100))
  }
}

describe("graphent dev beside the CLI on one project (embedded default store)", () => {
  it("CLI runs with and without memory go on while the server runs; the server's API serves them", async () => {
    const dev = graphent(["dev", "--port", "0", "--agents", "examples/echo.ts", "--agents", "examples/todo.ts"])
    const url = await until("graphent dev to serve", () => /serving on (http:\/\/\S+)/.exec(dev.stdout())?.[1])

    // The server's own run uses memory: it opens the embedded database.
    const started = await fetch(`${url}/v1/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ agent: "todo", input: "add from the server" })
    })
    assert.strictEqual(started.status, 202)
    const serverRun = (await started.json() as { id: string }).id

    // At once, from the CLI: a run without memory, and one with memory (it waits while the server has the database).
    const echo = graphent(["run", "examples/echo.ts", "--input", "beside dev", "--json"])
    const todo = graphent(["run", "examples/todo.ts", "--input", "add from the cli; list"])
    const [echoed, listed] = await Promise.all([echo.exited, todo.exited])
    assert.strictEqual(echoed.code, 0, echoed.stderr)
    assert.strictEqual(listed.code, 0, listed.stderr)
    // One memory for both processes: the CLI's list shows the server's item too.
    assert.include(listed.stdout, "from the server")
    assert.include(listed.stdout, "from the cli")

    // The server answers for the run the CLI made, read from the project's journal files.
    const cliRun = (JSON.parse(echoed.stdout.split("\n")[0]!) as { runId: string }).runId
    const info = await fetch(`${url}/v1/runs/${cliRun}`)
    assert.strictEqual(info.status, 200)
    assert.deepInclude(await info.json() as object, { id: cliRun, agent: "echo", status: "completed" })

    // `trace list` in the same project, while the server still runs, lists all three.
    // (The CLI program in this process: a third process on the project.)
    const traced = await Cli.inProcess(["trace", "list", "--json"], {
      env: { ...env, GRAPHENT_STORE: undefined, GRAPHENT_DATABASE_URL: undefined, GRAPHENT_REDIS_URL: undefined }
    })
    assert.strictEqual(traced.code, 0, traced.stderr)
    const ids = traced.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { runId: string }).runId)
    assert.includeMembers(ids, [serverRun, cliRun])
    assert.lengthOf(ids, 3)
    assert.strictEqual(dev.child.exitCode, null)
    dev.child.kill("SIGINT")
  }, 400_000)
})
