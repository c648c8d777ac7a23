import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { assert, describe, it } from "@effect/vitest"
import { JournalFile } from "graphent"
import * as Cli from "../support/cli.js"

// No project store: what these runs keep does not outlive them, and opening the embedded store costs each
// process seconds (the default store across processes is storage.test.ts's and trace.test.ts's subject).
const env = { GRAPHENT_STORE: "memory" }

/** Runs the CLI program in this process (the executable itself: "runs the echo example"). */
const graphent = (...args: Array<string>) => Cli.inProcess(args, { env })

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "graphent-cli-"))

/** Agent files written by tests live inside the project, so that "effect" and "graphent" resolve. */
const scratch = () => Cli.scratch("cli")

describe("graphent run", () => {
  it("runs the echo example and prints its answer (the executable, as a child process)", () => {
    const result = Cli.graphent(["run", "examples/echo.ts", "--input", "hello world"], { env })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout, "hello world\n")
  })

  it("runs the todo example: several commands, in order", async () => {
    const result = await graphent("run", "examples/todo.ts", "--input", "add buy milk; add call mom; done 1; list")
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(
      result.stdout,
      "Added #1: buy milk\nAdded #2: call mom\nDone #1: buy milk\n[x] #1 buy milk\n[ ] #2 call mom\n"
    )
  })

  it("prints the events as JSON lines with --json", async () => {
    const result = await graphent("run", "examples/echo.ts", "--input", "hi", "--json")
    assert.strictEqual(result.code, 0, result.stderr)
    const events = result.stdout.trim().split("\n").map((line) => JSON.parse(line) as { _tag: string; runId: string })
    assert.deepStrictEqual(events.map((event) => event._tag), [
      "RunStarted",
      "DecisionMade",
      "StepStarted",
      "StepSucceeded",
      "DecisionMade",
      "RunCompleted"
    ])
    assert.strictEqual(new Set(events.map((event) => event.runId)).size, 1)
  })

  it("writes the journal with --record", () =>
    Effect.gen(function*() {
      const file = path.join(tmp(), "run.jsonl")
      const result = yield* Effect.promise(() => graphent("run", "examples/todo.ts", "--input", "add tea; list", "--record", file))
      assert.strictEqual(result.code, 0, result.stderr)
      const contents = yield* JournalFile.readFile(file)
      assert.strictEqual(contents.header.format, "graphent-journal")
      assert.strictEqual(contents.tornTail, false)
      const started = contents.events[0]
      assert.strictEqual(started?._tag, "RunStarted")
      if (started?._tag === "RunStarted") {
        assert.strictEqual(started.input, "add tea; list")
        // Relative to the working directory, so a committed journal replays from any checkout.
        assert.strictEqual(started.metadata?.agentFile, "examples/todo.ts")
      }
      const completed = contents.events.at(-1)
      assert.strictEqual(completed?._tag, "RunCompleted")
      if (completed?._tag === "RunCompleted") assert.strictEqual(completed.answer, "Added #1: tea\n[ ] #1 tea")
    }).pipe(Effect.runPromise))

  it("exits 1 with the typed error's message when the run fails", async () => {
    const result = await graphent("run", "examples/todo.ts", "--input", "done 9")
    assert.strictEqual(result.code, 1)
    assert.strictEqual(result.stdout, "")
    assert.include(result.stderr, "there is no todo #9")
    assert.include(result.stderr, "tool \"complete\" failed")
  })

  it("exits 2 on an unknown flag, without a stack trace", async () => {
    const result = await graphent("run", "examples/echo.ts", "--bogus")
    assert.strictEqual(result.code, 2)
    assert.include(result.stdout + result.stderr, "Unrecognized flag: --bogus")
    assert.notInclude(result.stderr, "    at ")
  })

  it("exits 2 on a missing agent file", async () => {
    const result = await graphent("run", "examples/nope.ts")
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "cannot load agent from examples/nope.ts: no such file")
  })

  it("exits 2 on a file that exports no agent", async () => {
    const dir = tmp()
    const file = path.join(dir, "not-an-agent.ts")
    fs.writeFileSync(file, "export default 42\n")
    const result = await graphent("run", file)
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "its default export is not an agent")
  })

  it("exits 2 on a file that does not load", async () => {
    const dir = tmp()
    const file = path.join(dir, "broken.ts")
    fs.writeFileSync(file, "throw new Error('broken module')\n")
    const result = await graphent("run", file)
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "broken module")
  })

  it("creates the folders of a --record file in folders that do not exist yet", async () => {
    const file = path.join(tmp(), "new", "nested", "run.jsonl")
    const result = await graphent("run", "examples/echo.ts", "--input", "hi", "--record", file)
    assert.strictEqual(result.code, 0, result.stderr)
    const contents = await Effect.runPromise(JournalFile.readFile(file))
    assert.strictEqual(contents.events.at(-1)?._tag, "RunCompleted")
  })

  it("exits 2 when the --record file cannot be written: a file where its folder should be, or a folder as the file", async () => {
    const dir = tmp()
    const blocker = path.join(dir, "not-a-folder")
    fs.writeFileSync(blocker, "kept\n")
    for (const file of [path.join(blocker, "run.jsonl"), path.join(blocker, "sub", "run.jsonl"), dir]) {
      const result = await graphent("run", "examples/echo.ts", "--input", "hi", "--record", file)
      assert.strictEqual(result.code, 2, file)
      assert.include(result.stderr, "cannot write --record file", file)
      assert.notInclude(result.stderr, "    at ", file)
    }
    // Nothing in the way was touched.
    assert.strictEqual(fs.readFileSync(blocker, "utf8"), "kept\n")
    assert.deepStrictEqual(fs.readdirSync(dir), ["not-a-folder"])
  })

  it("lists its commands with --help", async () => {
    const result = await graphent("--help")
    assert.strictEqual(result.code, 0)
    assert.include(result.stdout, "run")
  })

  it("writes JSON log lines to stderr with GRAPHENT_LOG=json", async () => {
    const dir = scratch()
    const file = path.join(dir, "logging.ts")
    fs.writeFileSync(
      file,
      `import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"
const note = Tool.make("note", {
  description: "logs",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.as(Effect.logInfo("inside the tool"), "ok")
})
export default Agent.make({ name: "logger", tools: [note], planner: SequencePlanner.plan({ steps: [{ id: "n1", tool: "note", args: {} }] }) })
`
    )
    const child = await Cli.inProcess(["run", file], { env: { ...env, GRAPHENT_LOG: "json" } })
    assert.strictEqual(child.code, 0, child.stderr)
    assert.strictEqual(child.stdout, "ok\n")
    const line = child.stderr.split("\n").find((l) => l.includes("inside the tool"))
    assert.isDefined(line)
    const log = JSON.parse(line!) as { annotations: Record<string, string> }
    assert.strictEqual(log.annotations.step, "n1")
    assert.strictEqual(log.annotations.agent, "logger")
    assert.match(log.annotations.runId ?? "", /^[0-9a-f-]{36}$/)
    assert.match(log.annotations.traceId ?? "", /^[0-9a-f]{32}$/)
  })
})
