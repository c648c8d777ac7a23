/**
 * JournalFolder: one JSON Lines file per run. Covers run ids of any spelling (path
 * separators, dots, percent signs, spaces, non-ASCII: each stays one file inside the folder),
 * many runs appended interleaved and concurrently (each file holds its own run's events, in
 * order), two journals on one folder at once (as two processes), summaries with filters, and
 * a run resumed after its file was closed.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { JournalFile, JournalFolder, type RunEvent } from "graphent"

const usage = { turns: 1, steps: 0 }
const started = (runId: string, agent: string, at: number): RunEvent.RunEvent =>
  ({ _tag: "RunStarted", runId, traceId: `t-${runId}`, agent, input: `in ${runId}`, at }) as RunEvent.RunEvent
const completed = (runId: string, at: number): RunEvent.RunEvent =>
  ({ _tag: "RunCompleted", runId, answer: `out ${runId}`, usage, durationMs: 1, at }) as RunEvent.RunEvent
const failed = (runId: string, at: number): RunEvent.RunEvent =>
  ({ _tag: "RunFailed", runId, error: { _tag: "Boom", message: "boom" }, usage, durationMs: 1, at }) as RunEvent.RunEvent
const resumed = (runId: string, at: number): RunEvent.RunEvent =>
  ({ _tag: "RunResumed", runId, at }) as unknown as RunEvent.RunEvent

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "graphent-folder-"))

const spellings = ["plain", "../escape", "a/b/c", "..", ".hidden", "100%", "with space", "ünïcødé-✓", "x".repeat(120)]

describe("JournalFolder", () => {
  it.effect("any run id is one file inside the folder; interleaved concurrent runs keep their own events in order", () =>
    Effect.gen(function*() {
      const dir = path.join(tmp(), "runs")
      const journal = yield* JournalFolder.make(dir)
      yield* Effect.forEach(spellings, (runId, i) =>
        Effect.gen(function*() {
          yield* journal.append(started(runId, "agent", 1_000 + i))
          yield* Effect.yieldNow
          yield* journal.append(i % 2 === 0 ? completed(runId, 2_000 + i) : failed(runId, 2_000 + i))
        }), { concurrency: "unbounded" })
      assert.sameMembers(fs.readdirSync(dir).map((name) => path.join(dir, name)).map((file) => path.dirname(file)), [
        ...spellings.map(() => dir)
      ])
      assert.lengthOf(fs.readdirSync(dir), spellings.length)
      for (const runId of spellings) {
        const events = yield* journal.read(runId)
        assert.deepStrictEqual(events.map((event) => [event._tag, event.runId]), [
          ["RunStarted", runId],
          [spellings.indexOf(runId) % 2 === 0 ? "RunCompleted" : "RunFailed", runId]
        ])
        // Each file is a journal file of its own: replay and trace take it as it is.
        const contents = yield* JournalFile.readFile(JournalFolder.fileOf(dir, runId))
        assert.strictEqual(contents.events.length, 2)
      }
      assert.sameMembers([...JournalFolder.runIds(dir)], spellings)
      assert.deepStrictEqual(yield* journal.read("never-ran"), [])
    }).pipe(Effect.scoped))

  it.effect("two journals on one folder at once (two processes): each sees the other's runs; summaries filter and page", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const first = yield* JournalFolder.make(dir)
      const second = yield* JournalFolder.make(dir)
      yield* first.append(started("r1", "echo", 1))
      yield* second.append(started("r2", "todo", 2))
      yield* first.append(completed("r1", 3))
      yield* second.append(failed("r2", 4))
      yield* second.append(started("r3", "todo", 5))
      assert.deepStrictEqual(yield* first.runs, ["r1", "r2", "r3"])
      const all = yield* JournalFolder.listRuns(dir)
      assert.deepStrictEqual(all.map((run) => [run.runId, run.status]), [["r3", "running"], ["r2", "failed"], ["r1", "completed"]])
      assert.deepInclude(all[2]!, { agent: "echo", answer: "out r1", finishedAt: 3, startedAt: 1, traceId: "t-r1" })
      assert.deepStrictEqual((yield* JournalFolder.listRuns(dir, { agent: "todo", status: "failed" })).map((run) => run.runId), ["r2"])
      assert.deepStrictEqual((yield* JournalFolder.listRuns(dir, { limit: 1, offset: 1 })).map((run) => run.runId), ["r2"])
      assert.deepStrictEqual(yield* JournalFolder.listRuns(path.join(dir, "missing")), [])
    }).pipe(Effect.scoped))

  it.effect("a finished run's file is closed; resuming appends to it and the summary follows", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const journal = yield* JournalFolder.make(dir)
      yield* journal.append(started("r", "todo", 1))
      yield* journal.append(failed("r", 2))
      yield* journal.append(resumed("r", 3))
      assert.strictEqual((yield* JournalFolder.listRuns(dir))[0]!.status, "running")
      assert.notProperty((yield* JournalFolder.listRuns(dir))[0]!, "error")
      yield* journal.append(completed("r", 4))
      const [summary] = yield* JournalFolder.listRuns(dir)
      assert.deepInclude(summary!, { status: "completed", answer: "out r", finishedAt: 4 })
      assert.deepStrictEqual((yield* journal.read("r")).map((event) => event._tag), ["RunStarted", "RunFailed", "RunResumed", "RunCompleted"])
    }).pipe(Effect.scoped))
})
