import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"

const { lines, root } = Cli
const fixtures = path.join(root, "test/fixtures/journals")

// No project store: `run` keeps its journal in the --record file, which `resume` continues; opening the embedded
// store would cost each process seconds.
const store = { GRAPHENT_STORE: "memory" }

/** The CLI program in this process (the run that is killed is a child process). */
const graphent = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Cli.inProcess(args, { env: { ...store, ...env } })

/** A folder inside the project (agent files written there resolve "effect" and "graphent"). */
const scratch = () => Cli.scratch("replay")

const copyFixture = (name: string, edit?: (lines: Array<string>) => Array<string>) => {
  const file = path.join(scratch(), name)
  const content = lines(path.join(fixtures, name))
  fs.writeFileSync(file, (edit ? edit(content) : content).join("\n") + "\n")
  return file
}

describe("graphent replay", () => {
  for (const name of ["echo", "todo", "wordstats", "todo-failed", "assistant", "research"]) {
    it(`replays the recorded ${name} run identically`, async () => {
      const recorded = lines(path.join(fixtures, `${name}.jsonl`)).length - 1
      const result = await graphent(["replay", `test/fixtures/journals/${name}.jsonl`])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, `identical: ${recorded} events\n`)
    })
  }

  it("exits 1 and names the step when a recorded tool argument differs", async () => {
    const file = copyFixture("todo.jsonl", (content) =>
      content.map((line) => line.includes(`"StepStarted"`) && line.includes(`"stepId":"2"`) ? line.replace("call mom", "call dad") : line))
    const result = await graphent(["replay", file])
    assert.strictEqual(result.code, 1)
    assert.include(result.stderr, "replay diverged at event #4 (step \"2\")")
    assert.include(result.stderr, `args.text: "call dad" → "call mom"`)
  })

  it("exits 2 before running anything when the agent is another one", async () => {
    const result = await graphent(["replay", "test/fixtures/journals/todo.jsonl", "--agent", "examples/echo.ts"])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, `recorded for agent "todo", but examples/echo.ts exports agent "echo"`)
  })

  it("exits 2 naming the line of a journal line that is not JSON", async () => {
    const file = copyFixture("echo.jsonl", (content) => [...content.slice(0, 2), "{not json", ...content.slice(2)])
    const result = await graphent(["replay", file])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, `${file}:3: not JSON`)
  })

  it("exits 2 on an unknown journal version", async () => {
    const file = copyFixture("echo.jsonl", (content) => [content[0]!.replace(`"version":1`, `"version":99`), ...content.slice(1)])
    const result = await graphent(["replay", file])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, `${file}:1: unknown journal version 99`)
  })

  it("exits 2 naming the line and the problem of an event that does not decode", async () => {
    const file = copyFixture("echo.jsonl", (content) =>
      content.map((line, i) => i === 3 ? line.replace(/"tool":"echo"/, `"tool":42`) : line))
    const result = await graphent(["replay", file])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, `${file}:4: not a valid event`)
  })

  it("refuses to replay a journal cut short, and points to resume", async () => {
    const file = copyFixture("todo.jsonl", (content) => content.slice(0, 7))
    // A torn last line as well: the process died while writing it.
    fs.appendFileSync(file, `{"_tag":"StepSucc`)
    const result = await graphent(["replay", file])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "did not finish")
    assert.include(result.stderr, "resume it instead")
  })

  it("--update shows the divergence, re-records, and the new journal then replays identically", async () => {
    const dir = scratch()
    const agentFile = path.join(dir, "echo-loud.ts")
    // The same agent name, but it now sends its input upper-cased: a deliberate change.
    fs.writeFileSync(
      agentFile,
      fs.readFileSync(path.join(root, "examples/echo.ts"), "utf8").replace(
        "args: { text: input }",
        "args: { text: input.toUpperCase() }"
      )
    )
    const journal = copyFixture("echo.jsonl")
    const before = fs.readFileSync(journal, "utf8")
    const strict = await graphent(["replay", journal, "--agent", agentFile])
    assert.strictEqual(strict.code, 1)
    assert.strictEqual(fs.readFileSync(journal, "utf8"), before, "a failed replay leaves the journal alone")

    const update = await graphent(["replay", journal, "--agent", agentFile, "--update"])
    assert.strictEqual(update.code, 0, update.stderr)
    assert.include(update.stdout, "replay diverged at event #1 (turn 1)")
    assert.include(update.stdout, `"hello, journal" → "HELLO, JOURNAL"`)
    assert.include(update.stdout, `re-recorded ${journal}`)

    const again = await graphent(["replay", journal, "--agent", agentFile])
    assert.strictEqual(again.code, 0, again.stderr)
    assert.match(again.stdout, /^identical: \d+ events\n$/)
    const noChange = await graphent(["replay", journal, "--agent", agentFile, "--update"])
    assert.include(noChange.stdout, "up to date")
  }, 300_000) // five processes in turn, each 20–40 s on a loaded 2-core machine

  it("--ignore lets a named request field differ, and only that field", async () => {
    const stamped = copyFixture("echo.jsonl", (content) =>
      content.map((line) => line.includes(`"StepStarted"`) ? line.replace(`"args":{`, `"args":{"at":123,`) : line))
    // The recording has an extra field the new run does not send: ignored, it matches...
    const ignored = await graphent(["replay", stamped, "--ignore", "args.at"])
    assert.strictEqual(ignored.code, 0, ignored.stderr)
    // ...but not ignored, it diverges.
    const strict = await graphent(["replay", stamped])
    assert.strictEqual(strict.code, 1)
    assert.include(strict.stderr, "args.at: 123 → (absent)")
  })
})

describe("graphent trace", () => {
  it("shows a run as a tree of turns and steps", async () => {
    const result = await graphent(["trace", "show", "test/fixtures/journals/todo-failed.jsonl"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.match(result.stdout, /^run [0-9a-f-]{36} {2}agent todo {2}started /)
    assert.include(result.stdout, "├─ turn 1: run 2 steps")
    assert.include(result.stdout, `├─ ✓ 1 add {"text":"tea"}`)
    assert.include(result.stdout, `├─ ✗ 2 complete {"id":7}`)
    assert.include(result.stdout, `ToolFailed: step "2": tool "complete" failed: there is no todo #7`)
    assert.include(result.stdout, "└─ ✗ failed after")
  })

  it("lists the runs of a journal", async () => {
    const result = await graphent(["trace", "list", "test/fixtures/journals/echo.jsonl"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.match(result.stdout, /^[0-9a-f-]{36} {2}echo {2}\S+ {2}completed in \d+ ms\n$/)
  })

  it("exits 2 on a journal that does not parse", async () => {
    const file = copyFixture("echo.jsonl", (content) => ["garbage", ...content.slice(1)])
    const result = await graphent(["trace", "show", file])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, `${file}:1: not JSON`)
  })
})

describe("graphent resume", () => {
  it("continues a run killed with SIGKILL; every side effect happens exactly once", async () => {
    const dir = scratch()
    const journal = path.join(dir, "ledger.jsonl")
    const ledger = path.join(dir, "ledger.txt")
    const running = Cli.start(["run", "test/fixtures/agents/ledger.ts", "--record", journal], {
      env: { ...store, LEDGER_FILE: ledger }
    })
    // Kill it once three steps have finished (each takes ~150 ms).
    const succeeded = () => fs.existsSync(journal) ? lines(journal).filter((l) => l.includes(`"StepSucceeded"`)).length : 0
    // Start-up alone may take half a minute on a loaded machine.
    const deadline = Date.now() + 120_000
    while (succeeded() < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    running.child.kill("SIGKILL")
    await running.exited
    const done = succeeded()
    assert.isAtLeast(done, 3)
    assert.isBelow(done, 8, "the run was killed before it finished")
    assert.notInclude(fs.readFileSync(journal, "utf8"), "RunCompleted")

    const resumed = await graphent(["resume", journal], { LEDGER_FILE: ledger })
    assert.strictEqual(resumed.code, 0, resumed.stderr)

    const uninterrupted = await graphent(["run", "test/fixtures/agents/ledger.ts"], { LEDGER_FILE: path.join(dir, "clean.txt") })
    assert.strictEqual(uninterrupted.code, 0, uninterrupted.stderr)
    assert.strictEqual(resumed.stdout, uninterrupted.stdout)
    assert.strictEqual(resumed.stdout, "ledger has 8 entries\n")

    // Each entry once, in order.
    assert.deepStrictEqual(lines(ledger), Array.from({ length: 8 }, (_, i) => `entry-${i + 1}`))
    // The journal is now one complete run: each step succeeded once, one resume marker, and it replays.
    const content = lines(journal)
    for (let i = 1; i <= 8; i++) {
      assert.strictEqual(content.filter((l) => l.includes(`"StepSucceeded"`) && l.includes(`"stepId":"s${i}"`)).length, 1)
    }
    assert.strictEqual(content.filter((l) => l.includes(`"RunResumed"`)).length, 1)
    assert.strictEqual(content.filter((l) => l.includes(`"RunStarted"`)).length, 1)
    const replayed = await graphent(["replay", journal], { LEDGER_FILE: ledger })
    assert.strictEqual(replayed.code, 0, replayed.stderr)
  }, 300_000) // four processes in turn, each 20–40 s on a loaded 2-core machine

  it("exits 2 when the run already finished", async () => {
    const result = await graphent(["resume", "test/fixtures/journals/echo.jsonl"])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "already finished")
  })
})
