/**
 * What a server accepted outlives it: each "process" here is a `RunsLocal`
 * layer of its own over one journal and one accepted-runs store, the way
 * `graphent dev` restarts over its database. (A real process killed with
 * SIGKILL under load: test/programs/durableRuns.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import {
  AcceptedRuns,
  AcceptedRunsMemory,
  Journal,
  JournalMemory,
  LocalRuntime,
  MemoryInMemory,
  type RunEvent,
  Runs,
  RunsLocal
} from "graphent"
import echo from "../../examples/echo.js"
import * as Gated from "../support/gatedAgent.js"

/** One store (journal and accepted runs) that several processes open in turn. */
const makeStore = () => ({ journal: JournalMemory.make(), accepted: AcceptedRunsMemory.make() })

/** A server process over `store`: one run at a time, so later runs queue. */
const processOver = (store: ReturnType<typeof makeStore>) =>
  RunsLocal.layer({ agents: [echo, Gated.gated], maxConcurrent: 1 }).pipe(
    Layer.provideMerge(LocalRuntime.layer),
    Layer.provideMerge(Layer.succeed(Journal.Journal, store.journal)),
    Layer.provideMerge(Layer.succeed(AcceptedRuns.AcceptedRuns, store.accepted)),
    Layer.provideMerge(MemoryInMemory.layer)
  )

const drain = (runId: string) =>
  Effect.flatMap(Runs.Runs, (runs) => runs.events(runId)).pipe(Effect.flatMap(Stream.runCollect))

const until = (runId: string, stop: (event: RunEvent.RunEvent) => boolean) =>
  Effect.flatMap(Runs.Runs, (runs) => runs.events(runId)).pipe(
    Effect.flatMap((events) => Stream.runCollect(Stream.takeUntil(events, ({ event }) => stop(event))))
  )

describe("RunsLocal over a store that outlives it", () => {
  it.effect("records an accepted run before answering; queued runs start with the next process; a cancelled one never does", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const { cancelled, queued } = yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const blocker = yield* runs.start({ agent: "gated", input: "r1-never" })
        const queued = yield* runs.start({ agent: "echo", input: "from the queue", threadId: "t-1", metadata: { k: "v" } }, {
          principal: { id: "alice", roles: ["runner"] }
        })
        const cancelled = yield* runs.start({ agent: "echo", input: "cancelled" })
        assert.strictEqual(queued.status, "queued")
        // Recorded, with all it needs to start elsewhere, by the time `start` answered.
        const entry = yield* store.accepted.get(queued.id)
        assert.deepStrictEqual(entry?.run, {
          runId: queued.id,
          agent: "echo",
          input: "from the queue",
          threadId: "t-1",
          metadata: { k: "v" },
          principal: { id: "alice", roles: ["runner"] },
          acceptedAt: queued.createdAt
        })
        assert.strictEqual(entry?.settled, undefined)
        assert.strictEqual((yield* runs.cancel(cancelled.id)).status, "interrupted")
        assert.strictEqual((yield* store.accepted.get(blocker.id))?.settled, undefined)
        return { blocker, cancelled, queued }
        // The process stops here: its running run is interrupted, its queued one never began.
      }).pipe(Effect.provide(processOver(store)))
      assert.strictEqual((yield* store.accepted.get(cancelled.id))?.settled, "cancelled")
      assert.deepStrictEqual((yield* store.journal.read(queued.id)).length, 0)

      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const events = yield* drain(queued.id)
        assert.strictEqual(events.at(-1)?.event._tag, "RunCompleted")
        const done = yield* runs.get(queued.id)
        assert.strictEqual(done.status, "completed")
        assert.strictEqual(done.answer, "from the queue")
        assert.strictEqual(done.startedBy, "alice")
        const head = events[0]!.event
        assert.deepStrictEqual(head._tag === "RunStarted" ? [head.threadId, head.principal] : [], ["t-1", { id: "alice", roles: ["runner"] }])
        // Never started, never 404.
        const gone = yield* runs.get(cancelled.id)
        assert.strictEqual(gone.status, "interrupted")
        assert.strictEqual(gone.events, 0)
        assert.deepStrictEqual(yield* store.accepted.pending, [])
      }).pipe(Effect.provide(processOver(store)))
    }))

  it.effect("a run the store cannot record is not accepted: start fails, nothing is queued, listed or run", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const failing = {
        ...store,
        accepted: {
          ...store.accepted,
          accept: () => Effect.fail(new Journal.JournalError({ backend: "test", operation: "append", reason: "store down" }))
        }
      }
      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        for (let i = 0; i < 3; i++) {
          const error = yield* Effect.flip(runs.start({ agent: "echo", input: `lost ${i}` }))
          assert.strictEqual(error._tag, "JournalError")
        }
        assert.deepStrictEqual(yield* runs.load, { running: 0, queued: 0 })
        assert.strictEqual((yield* runs.list({})).total, 0)
        assert.deepStrictEqual(yield* store.journal.runs, [])
      }).pipe(Effect.provide(processOver(failing)))
    }))

  it.effect("a run with a step in flight at the crash needs attention, and goes on once the step is resolved", () =>
    Effect.gen(function*() {
      // What a crash leaves: the run accepted, its journal up to a started step of a tool that is not idempotent.
      const before = makeStore()
      const { id, prefix } = yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const { id } = yield* runs.start({ agent: "gated", input: "r2-a,r2-b" })
        const prefix = yield* until(id, (event) => event._tag === "StepStarted")
        return { id, prefix: prefix.map((item) => item.event) }
      }).pipe(Effect.provide(processOver(before)))
      const crashed = makeStore()
      for (const event of prefix) yield* crashed.journal.append(event)
      yield* crashed.accepted.accept((yield* before.accepted.get(id))!.run)

      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const held = yield* runs.get(id)
        assert.strictEqual(held.status, "needs-attention")
        assert.deepStrictEqual(held.attention?.map((step) => [step.stepId, step.tool, step.args]), [["r2-a", "wait", `{"gate":"r2-a"}`]])
        assert.include(held.attention![0]!.message, `/v1/runs/${id}/steps/r2-a/assume-done`)
        // Nothing ran meanwhile.
        assert.strictEqual((yield* crashed.journal.read(id)).length, prefix.length)

        const wrongStep = yield* Effect.flip(runs.resolve(id, "r2-b", "retry"))
        assert.strictEqual(wrongStep._tag, "ResolutionInvalid")
        const unknown = yield* Effect.flip(runs.resolve("no-such-run", "r2-a", "retry"))
        assert.strictEqual(unknown._tag, "RunNotFound")

        yield* Gated.open("r2-a")
        yield* Gated.open("r2-b")
        const resumed = yield* runs.resolve(id, "r2-a", "retry")
        assert.notStrictEqual(resumed.status, "needs-attention")
        const events = yield* drain(id)
        assert.strictEqual(events.at(-1)?.event._tag, "RunCompleted")
        // The recorded prefix is not journaled again; the retried step runs once.
        const journaled = yield* crashed.journal.read(id)
        assert.strictEqual(journaled.filter((event) => event._tag === "RunStarted").length, 1)
        assert.strictEqual(journaled.filter((event) => event._tag === "StepSucceeded" && event.stepId === "r2-a").length, 1)
        const done = yield* runs.get(id)
        assert.strictEqual(done.status, "completed")
        assert.strictEqual(done.attention, undefined)
        const again = yield* Effect.flip(runs.resolve(id, "r2-a", "retry"))
        assert.strictEqual(again._tag, "ResolutionInvalid")
        assert.deepStrictEqual(yield* crashed.accepted.pending, [])
      }).pipe(Effect.provide(processOver(crashed)))
    }))

  it.effect("assume-done takes the step as done: it does not run again, and the plan sees no result", () =>
    Effect.gen(function*() {
      const before = makeStore()
      const { id, prefix } = yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const { id } = yield* runs.start({ agent: "gated", input: "r3-a" })
        const prefix = yield* until(id, (event) => event._tag === "StepStarted")
        return { id, prefix: prefix.map((item) => item.event) }
      }).pipe(Effect.provide(processOver(before)))
      const crashed = makeStore()
      for (const event of prefix) yield* crashed.journal.append(event)
      yield* crashed.accepted.accept((yield* before.accepted.get(id))!.run)

      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        assert.strictEqual((yield* runs.get(id)).status, "needs-attention")
        yield* runs.resolve(id, "r3-a", "assume-done")
        // The gate is never opened: had the step run again, the run would wait for ever and this would not end.
        const events = yield* drain(id)
        assert.include(["RunCompleted", "RunFailed"], events.at(-1)?.event._tag)
        const journaled = yield* crashed.journal.read(id)
        const failed = journaled.find((event) => event._tag === "StepFailed" && event.stepId === "r3-a")
        assert.include(failed?._tag === "StepFailed" ? failed.error.message : "", "assumed done")
        assert.isUndefined(journaled.find((event) => event._tag === "StepSucceeded" && event.stepId === "r3-a"))
      }).pipe(Effect.provide(processOver(crashed)))
    }))

  it.effect("a fork accepted but not begun when its process stops is planned again from its parent, with its edit; one whose parent is gone is dropped", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const edit = { _tag: "SetResult" as const, stepId: "echo", result: "EDITED" }
      const { fork, parent } = yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const parent = yield* runs.start({ agent: "echo", input: "original" })
        yield* drain(parent.id)
        yield* runs.start({ agent: "gated", input: "r4-never" })
        // One slot, held by the gated run: the fork waits in the queue until the process stops.
        const fork = yield* runs.fork!(parent.id, { at: "echo", edit }, { principal: { id: "alice", roles: ["runner"] } })
        assert.strictEqual(fork.status, "queued")
        assert.deepStrictEqual((yield* store.accepted.get(fork.id))?.run.fork, { runId: parent.id, at: "echo", edit })
        return { fork, parent }
      }).pipe(Effect.provide(processOver(store)))
      assert.deepStrictEqual((yield* store.journal.read(fork.id)).length, 0)
      // The same store without the parent's journal: the fork cannot be planned again.
      const orphaned = { journal: JournalMemory.make(), accepted: AcceptedRunsMemory.make() }
      yield* orphaned.accepted.accept((yield* store.accepted.get(fork.id))!.run)

      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const events = (yield* drain(fork.id)).map((item) => item.event)
        const head = events[0]!
        assert.deepStrictEqual(head._tag === "RunStarted" ? [head.forkedFrom, head.principal] : [], [
          { runId: parent.id, at: "step:echo", edit },
          { id: "alice", roles: ["runner"] }
        ])
        const done = yield* runs.get(fork.id)
        assert.strictEqual(done.status, "completed")
        assert.strictEqual(done.answer, "EDITED")
        assert.strictEqual((yield* store.accepted.get(fork.id))?.settled, "ended")
      }).pipe(Effect.provide(processOver(store)))

      yield* Effect.gen(function*() {
        assert.strictEqual((yield* orphaned.accepted.get(fork.id))?.settled, "cancelled")
        assert.deepStrictEqual(yield* orphaned.journal.read(fork.id), [])
      }).pipe(Effect.provide(processOver(orphaned)))
    }))
})
