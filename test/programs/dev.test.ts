/**
 * `graphent dev` as a user runs it (the real executable, a child process),
 * and the Python client (examples/clients/python_client.py, standard library
 * only) against it.
 */
import { type ChildProcess, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, afterEach, assert, describe, it, vi } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { Eval, ExperimentsFolder } from "graphent/eval"
import * as CliProgram from "../../src/programs/cli.js"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"
// The project's store (Storage) on the PostgreSQL server of the test machine, under table names of
// their own (an embedded store works the same way, but takes many seconds to create).

const { root } = Cli
const pythonClient = path.join(root, "examples/clients/python_client.py")

// The project's store (Storage) on the PostgreSQL server of the test machine, under table names of
// their own (an embedded store works the same way, but takes many seconds to create).
const { pgUrl } = Store
const stores = Store.tracker()
afterAll(() => stores.cleanUp(), 60_000)

interface Dev {
  readonly child: ChildProcess
  readonly url: string
  readonly output: () => string
  readonly stop: () => Promise<void>
}

const running: Array<Dev> = []
afterEach(async () => {
  for (const dev of running.splice(0)) await dev.stop()
})

/** Starts `graphent dev --port 0 ...` and waits for the line that names its address. */
const startDev = async (args: ReadonlyArray<string>, env: Record<string, string>, cwd = root): Promise<Dev> => {
  const process = Cli.start(["dev", "--port", "0", ...args], {
    cwd,
    env: { GRAPHENT_API_KEYS: "", GRAPHENT_API_KEYS_FILE: "", ...env },
    timeout: 300_000
  })
  const stop = async () => {
    if (process.child.exitCode === null) process.child.kill("SIGINT")
    await process.exited
  }
  // The banner ends with the auth line.
  const [, url] = await Cli.waitForOutput(process, /serving on (http:\/\/\S+)[\s\S]*\n {2}auth .*\n/)
  const dev = { child: process.child, url: url!, output: () => process.stdout() + process.stderr(), stop }
  running.push(dev)
  return dev
}

const python = (url: string, args: ReadonlyArray<string>, key?: string) => {
  const result = spawnSync("python3", [pythonClient, "--url", url, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, GRAPHENT_API_KEY: key ?? "" }
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

const get = async (url: string, key: string) => {
  const response = await fetch(url, { headers: { authorization: `Bearer ${key}` } })
  return { status: response.status, body: await response.json() as any }
}

describe("graphent dev and the Python client", () => {
  it("serves the bundled examples from the project's store; the Python client runs them; runs outlive a restart", async () => {
    const env = { GRAPHENT_DATABASE_URL: pgUrl, GRAPHENT_STORE_PREFIX: stores.prefix(), GRAPHENT_API_KEYS: "py-key:runner:python" }
    const dev = await startDev([], env)
    assert.include(
      dev.output(),
      "agents   assistant (examples/assistant.ts), echo (examples/echo.ts), triage (examples/handoff.ts), " +
        "long-chat (examples/long-chat.ts), calculator (examples/remote-planner/agent.ts), coordinator (examples/research.ts), " +
        "todo (examples/todo.ts), wordstats (examples/wordstats.ts)"
    )
    assert.include(dev.output(), "store    postgres")
    assert.include(dev.output(), "auth     1 API key")

    const echoed = python(dev.url, ["echo", "hello from Python"], "py-key")
    assert.strictEqual(echoed.code, 0, echoed.stderr)
    assert.strictEqual(echoed.stdout, "hello from Python\n")
    assert.include(echoed.stderr, "[0] RunStarted")
    assert.include(echoed.stderr, "[5] RunCompleted")

    const todo = python(dev.url, ["todo", "add buy milk; add call mom; done 1; list"], "py-key")
    assert.strictEqual(todo.code, 0, todo.stderr)
    assert.strictEqual(todo.stdout, "Added #1: buy milk\nAdded #2: call mom\nDone #1: buy milk\n[x] #1 buy milk\n[ ] #2 call mom\n")

    // The LLM-planned assistant, on its own module's model layer (scripted offline: no GRAPHENT_MODEL here).
    const assistant = python(dev.url, ["assistant", "remember that tea is at 5 and what is 6 * 7?"], "py-key")
    assert.strictEqual(assistant.code, 0, assistant.stderr)
    assert.strictEqual(assistant.stdout, "Noted: tea is at 5. The answer is 42.\n")

    const unknown = python(dev.url, ["nope", "x"], "py-key")
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, `HTTP 404: no agent named "nope"; this server runs: assistant, echo, triage, long-chat, coordinator, todo, wordstats`)
    const noKey = python(dev.url, ["echo", "x"])
    assert.strictEqual(noKey.code, 2)
    assert.include(noKey.stderr, "HTTP 401: missing API key")

    const viewer = await fetch(dev.url + "/")
    assert.strictEqual(viewer.status, 200)
    assert.include(await viewer.text(), "<title>Graphent trace viewer</title>")

    // The runs are in the project's store: a new server lists them and serves their events.
    await dev.stop()
    const again = await startDev([], env)
    const listed = await get(`${again.url}/v1/runs?agent=echo`, "py-key")
    assert.strictEqual(listed.status, 200)
    assert.strictEqual(listed.body.runs.length, 1)
    assert.strictEqual(listed.body.runs[0].status, "completed")
    assert.strictEqual(listed.body.runs[0].answer, "hello from Python")
    assert.strictEqual(listed.body.runs[0].startedBy, "python")
    const journal = await fetch(`${again.url}/v1/runs/${listed.body.runs[0].id}/journal`, {
      headers: { authorization: "Bearer py-key" }
    })
    const lines = (await journal.text()).trim().split("\n").map((line) => JSON.parse(line) as { _tag: string; metadata?: Record<string, string> })
    assert.deepStrictEqual(lines.map((line) => line._tag), [
      "JournalHeader",
      "RunStarted",
      "DecisionMade",
      "StepStarted",
      "StepSucceeded",
      "DecisionMade",
      "RunCompleted"
    ])
    // The journal names the agent file, so `graphent replay` finds the agent.
    assert.strictEqual(lines[1]!.metadata?.agentFile, "examples/echo.ts")
  }, 90_000)

  it("finds agents in --agents folders and config files; skips what is not an agent; refuses bad setups", async () => {
    const scratch = Cli.scratch("dev")
    const agents = path.join(scratch, "agents")
    fs.mkdirSync(path.join(agents, "nested"), { recursive: true })
    fs.writeFileSync(
      path.join(agents, "shout.ts"),
      `import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"
const shout = Tool.make("shout", { description: "Upper-cases", parameters: Schema.Struct({ text: Schema.String }), success: Schema.String, handler: ({ text }) => Effect.succeed(text.toUpperCase()) })
export default Agent.make({ name: "shout", tools: [shout], planner: SequencePlanner.rules([{ match: /.+/, steps: (input) => [{ id: "s", tool: "shout", args: { text: input } }] }]) })
`
    )
    fs.writeFileSync(path.join(agents, "helpers.ts"), "export default { notAnAgent: 1 }\n")
    // A script without a default export is not imported at all: it would run.
    const ran = path.join(scratch, "script-ran")
    fs.writeFileSync(path.join(agents, "script.ts"), `import * as fs from "node:fs"\nfs.writeFileSync(${JSON.stringify(ran)}, "")\n`)
    fs.copyFileSync(path.join(root, "examples/echo.ts"), path.join(agents, "nested/agent.ts"))
    const config = path.join(scratch, "graphent.config.json")
    fs.writeFileSync(config, JSON.stringify({ agents: ["agents/", path.join(root, "examples/wordstats.ts")] }))

    // An experiment `graphent eval run` kept in GRAPHENT_HOME: the dev server lists and serves it.
    const kept = Eval.report({ agent: "shout", scorers: [], startedAt: 1_800_000_000_000, durationMs: 5, cases: [] })
    const keptId = await Effect.runPromise(ExperimentsFolder.make(ExperimentsFolder.experimentsDir(scratch)).save(kept))
    const dev = await startDev(["--agents", config], { GRAPHENT_STORE: "memory", GRAPHENT_HOME: scratch })
    assert.match(dev.output(), /agents {3}echo \(.*nested\/agent\.ts\), shout \(.*shout\.ts\), wordstats \(examples\/wordstats\.ts\)/)
    assert.include(dev.output(), "skipped")
    assert.include(dev.output(), "helpers.ts: its default export is not an agent")
    assert.isFalse(fs.existsSync(ran))
    assert.include(dev.output(), "store    in memory")
    assert.include(dev.output(), "auth     open")
    const shouted = python(dev.url, ["--quiet", "shout", "quiet please"])
    assert.strictEqual(shouted.code, 0, shouted.stderr)
    assert.strictEqual(shouted.stdout, "QUIET PLEASE\n")
    assert.strictEqual(shouted.stderr, "")
    const experiments = await get(`${dev.url}/v1/evals`, "")
    assert.deepStrictEqual(experiments.body.map((item: { id: string; agent: string }) => [item.id, item.agent]), [[keptId, "shout"]])
    assert.deepStrictEqual((await get(`${dev.url}/v1/evals/${keptId}`, "")).body, kept)
    await dev.stop()

    // Setups `graphent dev` refuses, before it serves: run in this process (a child process each would be slow).
    const refuse = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
      const config = ConfigProvider.fromEnv({
        env: { ...process.env as Record<string, string>, GRAPHENT_STORE: "memory", GRAPHENT_API_KEYS: "", ...env }
      })
      const written: Array<string> = []
      const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
        written.push(String(chunk))
        return true
      })
      try {
        const code = await Effect.runPromise(
          CliProgram.main(["dev", "--port", "0", ...args]).pipe(
            Effect.provideService(ConfigProvider.ConfigProvider, config),
            Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.succeed(-1) })
          )
        )
        return { code, stderr: written.join("") }
      } finally {
        spy.mockRestore()
      }
    }
    const exposed = await refuse(["--host", "0.0.0.0"])
    assert.strictEqual(exposed.code, 2)
    assert.include(exposed.stderr, "--host 0.0.0.0 is reachable from other machines: set GRAPHENT_API_KEYS")
    const badKeys = await refuse([], { GRAPHENT_API_KEYS: "k1:superuser" })
    assert.strictEqual(badKeys.code, 2)
    assert.include(badKeys.stderr, `API keys (GRAPHENT_API_KEYS): entry 1 has the unknown role "superuser"`)
    assert.notInclude(badKeys.stderr, "k1")
    const twice = await refuse(["--agents", "examples/echo.ts", "--agents", path.join(agents, "nested/agent.ts")])
    assert.strictEqual(twice.code, 2)
    assert.include(twice.stderr, `two agents are named "echo"`)
    const missing = await refuse(["--agents", "no/such/place"])
    assert.strictEqual(missing.code, 2)
    assert.include(missing.stderr, "no such file or folder")
  }, 120_000)
})
