import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Journal,
  JournalFile,
  JournalMemory,
  LocalRuntime,
  Planner,
  type RunEvent,
  SequencePlanner,
  Tool,
  version
} from "graphent"
import * as Testing from "graphent/testing"
import { journalContract } from "./journalContract.js"

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

/** A fresh temporary directory, removed when the test's scope closes. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "graphent-journal-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const echo = Tool.make("echo", {
  description: "Repeats its input",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  handler: ({ text }) => Effect.succeed(text)
})

const agent = Agent.make({
  name: "echo",
  tools: [echo],
  planner: SequencePlanner.rules([
    {
      match: /^(.+)$/,
      steps: (_, m) => [
        { id: "first", tool: "echo", args: { text: m![1] } },
        { id: "second", tool: "echo", args: { text: Planner.ref("first") } }
      ]
    }
  ])
})

const runtimeOver = (path: string) =>
  LocalRuntime.layer.pipe(
    Layer.provideMerge(JournalFile.layer({ path })),
    Layer.merge(Testing.layerSequentialIds())
  )

const header = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    _tag: "JournalHeader",
    format: "graphent-journal",
    version: 1,
    graphent: "0.1.0",
    createdAt: 1,
    ...overrides
  })

const startedEvent: RunEvent.RunEvent = {
  _tag: "RunStarted",
  runId: "r1",
  traceId: "t",
  agent: "a",
  input: "i",
  at: 5
}

const write = (dir: string, name: string, lines: string) => {
  const path = nodePath.join(dir, name)
  fs.writeFileSync(path, lines)
  return path
}

// ---------------------------------------------------------------------------
// JournalFile
// ---------------------------------------------------------------------------

describe("JournalFile", () => {
  it.effect("a run journaled to a file reads back as the header plus result.events", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "runs.jsonl")
      const result = yield* AgentRuntime.run(agent, "hello").pipe(Effect.provide(runtimeOver(path)))
      assert.strictEqual(result.answer, "hello")

      const contents = yield* JournalFile.readFile(path)
      assert.strictEqual(contents.tornTail, false)
      assert.strictEqual(contents.header._tag, "JournalHeader")
      assert.strictEqual(contents.header.format, "graphent-journal")
      assert.strictEqual(contents.header.version, JournalFile.formatVersion)
      assert.strictEqual(contents.header.version, 1)
      assert.strictEqual(contents.header.graphent, version)
      assert.isAbove(contents.header.createdAt, 0)
      assert.deepStrictEqual(contents.events, result.events)
      assert.strictEqual(contents.events.length, 8)

      const lines = fs.readFileSync(path, "utf8").split("\n")
      assert.strictEqual(lines.length, 1 + 8 + 1)
      assert.strictEqual(lines.at(-1), "")
    }))

  it.effect("read(runId) and runs through the service; several runs share the file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "runs.jsonl")
      const [first, second, runs, firstEvents, none] = yield* Effect.gen(function*() {
        const first = yield* AgentRuntime.run(agent, "one")
        const second = yield* AgentRuntime.run(agent, "two")
        const journal = yield* Journal.Journal
        return [first, second, yield* journal.runs, yield* journal.read("run-1"), yield* journal.read("nope")] as const
      }).pipe(Effect.provide(runtimeOver(path)))
      assert.deepStrictEqual(runs, ["run-1", "run-2"])
      assert.deepStrictEqual(firstEvents, first.events)
      assert.deepStrictEqual(none, [])
      const contents = yield* JournalFile.readFile(path)
      assert.deepStrictEqual(contents.events, [...first.events, ...second.events])
    }))

  it.effect("reopening an existing file appends without a second header", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "runs.jsonl")
      const first = yield* AgentRuntime.run(agent, "one", { runId: "a" }).pipe(Effect.provide(runtimeOver(path)))
      const second = yield* AgentRuntime.run(agent, "two", { runId: "b" }).pipe(Effect.provide(runtimeOver(path)))
      const text = fs.readFileSync(path, "utf8")
      assert.strictEqual(text.split("\n").filter((line) => line.includes("JournalHeader")).length, 1)
      const contents = yield* JournalFile.readFile(path)
      assert.deepStrictEqual(contents.events, [...first.events, ...second.events])
    }))

  it.effect("a failed run's RunFailed event is in the file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "runs.jsonl")
      const failing = Agent.make({ name: "failing", tools: [echo], planner: Testing.scriptedPlanner([Planner.fail("nope")]) })
      const error = yield* Effect.flip(AgentRuntime.run(failing, "x").pipe(Effect.provide(runtimeOver(path))))
      assert.strictEqual(error._tag, "PlannerFailed")
      const contents = yield* JournalFile.readFile(path)
      const last = contents.events.at(-1)
      assert.strictEqual(last?._tag, "RunFailed")
      if (last?._tag === "RunFailed") {
        assert.deepStrictEqual(last.error, { _tag: "PlannerFailed", message: "planner failed: nope" })
      }
    }))

  it.effect("a step whose result encodes to undefined (success: Schema.Void) is still readable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "void.jsonl")
      const noop = Tool.make("noop", {
        description: "Returns nothing",
        parameters: Schema.Struct({}),
        success: Schema.Void,
        handler: () => Effect.void
      })
      const voidAgent = Agent.make({
        name: "void",
        tools: [noop],
        planner: SequencePlanner.plan({ steps: [{ id: "n", tool: "noop", args: {} }], answer: () => "done" })
      })
      const result = yield* AgentRuntime.run(voidAgent, "x").pipe(Effect.provide(runtimeOver(path)))
      assert.strictEqual(result.answer, "done")
      const contents = yield* JournalFile.readFile(path)
      assert.deepStrictEqual(contents.events.map((event) => event._tag), result.events.map((event) => event._tag))
    }))

  it.effect("a corrupt line: JournalError naming the file and the line number", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(dir, "bad.jsonl", `${header()}\n${JSON.stringify(startedEvent)}\n{not json\n`)
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.strictEqual(error._tag, "JournalError")
      assert.strictEqual(error.operation, "read")
      assert.strictEqual(error.backend, "file")
      assert.include(error.reason, `${path}:3:`)
      assert.include(error.reason, "not JSON")
    }))

  it.effect("a line that is JSON but not an event: JournalError with the line number and the issue", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(
        dir,
        "bad.jsonl",
        `${header()}\n${JSON.stringify(startedEvent)}\n${JSON.stringify({ ...startedEvent, at: "noon" })}\n`
      )
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.reason, `${path}:3: not a valid event`)
      assert.notInclude(error.reason, "[object Object]")
    }))

  it.effect("an unknown version: JournalError mentioning the version", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(dir, "future.jsonl", `${header({ version: 99 })}\n${JSON.stringify(startedEvent)}\n`)
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.reason, "unknown journal version 99")
      assert.include(error.reason, `${path}:1:`)
    }))

  it.effect("an unknown version with an otherwise different header still names the version", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(dir, "future.jsonl", `${header({ version: 2, format: "graphent-journal-v2", extra: true })}\n`)
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.include(error.reason, "unknown journal version 2")
    }))

  it.effect("a torn last line is dropped (tornTail true)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(
        dir,
        "torn.jsonl",
        `${header()}\n${JSON.stringify(startedEvent)}\n${JSON.stringify(startedEvent).slice(0, 20)}`
      )
      const contents = yield* JournalFile.readFile(path)
      assert.strictEqual(contents.tornTail, true)
      assert.deepStrictEqual(contents.events, [startedEvent])
    }))

  it.effect("reopening a file with a torn tail (a crash mid-write) and appending keeps the file readable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(
        dir,
        "crashed.jsonl",
        `${header()}\n${JSON.stringify(startedEvent)}\n${JSON.stringify(startedEvent).slice(0, 20)}`
      )
      const result = yield* AgentRuntime.run(agent, "after the crash").pipe(Effect.provide(runtimeOver(path)))
      const contents = yield* JournalFile.readFile(path)
      assert.deepStrictEqual(contents.events, [startedEvent, ...result.events])
    }))

  it.effect("a complete file has no torn tail", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(dir, "ok.jsonl", `${header()}\n${JSON.stringify(startedEvent)}\n`)
      const contents = yield* JournalFile.readFile(path)
      assert.strictEqual(contents.tornTail, false)
      assert.deepStrictEqual(contents.events, [startedEvent])
      assert.deepStrictEqual(contents.header, {
        _tag: "JournalHeader",
        format: "graphent-journal",
        version: 1,
        graphent: "0.1.0",
        createdAt: 1
      })
    }))

  it.effect("a missing file: JournalError (read) naming the path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "missing.jsonl")
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.strictEqual(error._tag, "JournalError")
      assert.strictEqual(error.operation, "read")
      assert.include(error.reason, path)
      assert.include(error.reason, "ENOENT")
    }))

  it.effect("an empty file: JournalError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(dir, "empty.jsonl", "")
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.reason, "empty file")
    }))

  it.effect("a file without a header: JournalError on line 1", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = write(dir, "headless.jsonl", `${JSON.stringify(startedEvent)}\n`)
      const error = yield* Effect.flip(JournalFile.readFile(path))
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.reason, `${path}:1: expected a journal header`)
    }))

  it.effect("parse: blank lines are ignored", () =>
    Effect.gen(function*() {
      const contents = yield* JournalFile.parse(`${header()}\n\n${JSON.stringify(startedEvent)}\n\n`, "mem")
      assert.deepStrictEqual(contents.events, [startedEvent])
    }))

  it.effect("opening a file in a directory that does not exist: the layer fails with JournalError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = nodePath.join(dir, "no", "such", "dir", "runs.jsonl")
      const error = yield* Effect.flip(Effect.provide(AgentRuntime.run(agent, "x"), runtimeOver(path)))
      assert.strictEqual(error._tag, "JournalError")
      if (error._tag !== "JournalError") return
      assert.include(error.reason, "cannot open")
    }))
})

// ---------------------------------------------------------------------------
// JournalMemory
// ---------------------------------------------------------------------------

describe("JournalMemory", () => {
  const started = (runId: string): RunEvent.RunEvent => ({ ...startedEvent, runId })

  it.effect("read returns a copy", () =>
    Effect.gen(function*() {
      const journal = JournalMemory.make()
      yield* journal.append(started("a"))
      const events = yield* journal.read("a")
      ;(events as Array<RunEvent.RunEvent>).push(started("a"))
      assert.strictEqual((yield* journal.read("a")).length, 1)
    }))

  const finished = (runId: string): RunEvent.RunEvent => ({
    _tag: "RunCompleted",
    runId,
    answer: "",
    usage: { turns: 1, steps: 0 },
    durationMs: 0,
    at: 0
  })

  it.effect("maxRuns: the oldest finished run is evicted; runs in progress never are", () =>
    Effect.gen(function*() {
      const journal = JournalMemory.make({ maxRuns: 2 })
      for (const id of ["r1", "r2", "r3", "r4"]) yield* journal.append(started(id))
      // Four runs in progress, over the limit: all kept whole.
      assert.deepStrictEqual(yield* journal.runs, ["r1", "r2", "r3", "r4"])
      yield* journal.append(finished("r2"))
      yield* journal.append(finished("r1"))
      assert.deepStrictEqual(yield* journal.runs, ["r1", "r2", "r3", "r4"])
      yield* journal.append(finished("r3"))
      // Three finished: the first to finish (r2) goes.
      assert.deepStrictEqual(yield* journal.runs, ["r1", "r3", "r4"])
      assert.deepStrictEqual(yield* journal.read("r2"), [])
      assert.strictEqual((yield* journal.read("r3")).length, 2)
    }))

  it.effect("maxEvents: finished runs are evicted while they hold too many events", () =>
    Effect.gen(function*() {
      const journal = JournalMemory.make({ maxEvents: 5 })
      for (const id of ["a", "b", "c"]) {
        yield* journal.append(started(id))
        yield* journal.append(started(id))
        yield* journal.append(finished(id))
      }
      // 3 events each: only the newest finished run fits in 5.
      assert.deepStrictEqual(yield* journal.runs, ["c"])
    }))

  it.effect("by default: the last 100 finished runs, and every run in progress", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(JournalMemory.defaults, { maxRuns: 100, maxEvents: 10_000 })
      const journal = JournalMemory.make()
      yield* journal.append(started("open"))
      for (let i = 0; i < 101; i++) {
        yield* journal.append(started(`r${i}`))
        yield* journal.append(finished(`r${i}`))
      }
      const runs = yield* journal.runs
      assert.strictEqual(runs.length, 101)
      assert.deepStrictEqual([runs[0], runs[1], runs[100]], ["open", "r1", "r100"])
      assert.deepStrictEqual(yield* journal.read("r0"), [])
    }))

  it.effect("maxRuns through the runtime: only the most recent runs are kept", () =>
    Effect.gen(function*() {
      const results = []
      for (const input of ["a", "b", "c"]) results.push(yield* AgentRuntime.run(agent, input))
      const journal = yield* Journal.Journal
      assert.deepStrictEqual(yield* journal.runs, ["run-2", "run-3"])
      assert.deepStrictEqual(yield* journal.read("run-1"), [])
      assert.deepStrictEqual(yield* journal.read("run-3"), results[2]!.events)
    }).pipe(
      Effect.provide(
        LocalRuntime.layer.pipe(
          Layer.provideMerge(JournalMemory.layer({ maxRuns: 2 })),
          Layer.merge(Testing.layerSequentialIds())
        )
      )
    ))

  it.effect("each layer build is a fresh journal", () =>
    Effect.gen(function*() {
      yield* Journal.Journal.use((journal) => journal.append(started("x"))).pipe(Effect.provide(JournalMemory.layer()))
      const runs = yield* Journal.Journal.use((journal) => journal.runs).pipe(Effect.provide(JournalMemory.layer()))
      assert.deepStrictEqual(runs, [])
    }))
})

// ---------------------------------------------------------------------------
// the Journal contract, on the in-process backends
// ---------------------------------------------------------------------------

journalContract("JournalMemory", JournalMemory.layer())

const contractDir = fs.mkdtempSync(nodePath.join(os.tmpdir(), "graphent-journal-contract-"))
afterAll(() => fs.rmSync(contractDir, { recursive: true, force: true }))
const contractFile = nodePath.join(contractDir, "contract.jsonl")
journalContract("JournalFile", JournalFile.layer({ path: contractFile }), {
  reopen: () => JournalFile.layer({ path: contractFile }),
  tamper: (edit) => fs.writeFileSync(contractFile, edit(fs.readFileSync(contractFile, "utf8")))
})
