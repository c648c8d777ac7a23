/**
 * JournalPg with `cluster` (the journal of cluster runs): while a shard moves, the old owner of a
 * run and its new owner both journal the run's events. Covered: two writers of one run's event sequence,
 * the second starting from a random point of it (where its replay read the journal), with random pauses
 * between appends and random batches (`appendAll`) (many interleavings). Every keyed event is kept once; events
 * without a key (RunResumed) are all kept. The same writers on a journal without the option keep
 * duplicates, which is what the test would catch if the dedupe broke.
 */
import { afterAll, assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { Journal, type RunEvent } from "graphent"
import { JournalPg } from "graphent/postgres"
import { keyOf } from "../../src/internal/eventKey.js"
import { pgConfig } from "../support/services.js"
import * as Store from "../support/store.js"

const testId = randomUUID().slice(0, 8)
const backedPrefix = `graphent_wb${testId}_`
const plainPrefix = `graphent_wp${testId}_`
const PgLive = PgClient.layer({ ...pgConfig, applicationName: `graphent-journal-wb-test-${testId}` })

afterAll(() => Store.dropPgPrefixes([backedPrefix, plainPrefix]), 60_000)

const usage = { turns: 3, steps: 3 }

/** The events of a 3-step run, in the order its body journals them. */
const runEvents = (runId: string): ReadonlyArray<RunEvent.RunEvent> => {
  const events: Array<RunEvent.RunEvent> = [
    { _tag: "RunStarted", runId, traceId: `trace-${runId}`, agent: "w", input: "go", at: 1 }
  ]
  for (let turn = 1; turn <= 3; turn++) {
    const stepId = `s${turn}`
    events.push(
      {
        _tag: "DecisionMade",
        runId,
        turn,
        decision: { _tag: "RunSteps", steps: [{ id: stepId, tool: "call", args: { n: turn } }] },
        at: turn * 10
      },
      { _tag: "StepStarted", runId, stepId, tool: "call", args: { n: turn }, at: turn * 10 + 1 },
      { _tag: "StepSucceeded", runId, stepId, tool: "call", result: turn, durationMs: 1, at: turn * 10 + 2 }
    )
  }
  events.push(
    { _tag: "DecisionMade", runId, turn: 4, decision: { _tag: "Answer", answer: "done" }, at: 40 },
    { _tag: "RunCompleted", runId, answer: "done", usage, durationMs: 40, at: 41 }
  )
  return events
}

/**
 * Appends `events` in order, in batches of 1–3 (at random: `appendAll`, as a runner writes a decision with
 * its first step's start), pausing 0–2 ms (at random) before each batch.
 */
const write = (journal: Journal.JournalShape, events: ReadonlyArray<RunEvent.RunEvent>) =>
  Effect.suspend(() => {
    const batches: Array<ReadonlyArray<RunEvent.RunEvent>> = []
    for (let i = 0; i < events.length;) {
      const size = 1 + Math.floor(Math.random() * 3)
      batches.push(events.slice(i, i + size))
      i += size
    }
    return Effect.forEach(
      batches,
      (batch) => Effect.andThen(Effect.sleep(Math.floor(Math.random() * 3)), Journal.appendAll(journal, batch)),
      { discard: true }
    )
  })

/**
 * The old owner journals the run's first `from` events; then the new owner's replay reads them and it
 * journals `RunResumed` and the rest of the run, while the old owner, not yet told it lost the shard, goes
 * on journaling the rest too. Returns the journal as it ends up.
 */
const shardMove = (journal: Journal.JournalShape, from: number) =>
  Effect.gen(function*() {
    const runId = `move-${randomUUID()}`
    const events = runEvents(runId)
    const resumed: RunEvent.RunEvent = { _tag: "RunResumed", runId, at: 5 }
    yield* write(journal, events.slice(0, from))
    yield* Effect.all([write(journal, events.slice(from)), write(journal, [resumed, ...events.slice(from)])], {
      concurrency: 2,
      discard: true
    })
    return { expected: events, journaled: yield* journal.read(runId) }
  })

const keysOf = (events: ReadonlyArray<RunEvent.RunEvent>) => events.flatMap((event) => keyOf(event) ?? [])

const journalLayer = (prefix: string, cluster: boolean) =>
  Layer.effect(Journal.Journal, JournalPg.make({ tablePrefix: prefix, cluster })).pipe(Layer.provideMerge(PgLive))

layer(journalLayer(backedPrefix, true), { excludeTestServices: true, timeout: "60 seconds" })(
  "JournalPg, cluster",
  (it) => {
    it.effect("two owners of a run during a shard move, 16 random interleavings: each keyed event once", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        for (let trial = 0; trial < 16; trial++) {
          const from = 1 + Math.floor(Math.random() * 11)
          const { expected, journaled } = yield* shardMove(journal, from)
          const keys = keysOf(journaled)
          assert.strictEqual(new Set(keys).size, keys.length, `a keyed event was journaled twice (from ${from}): ${keys}`)
          assert.sameMembers(keys, keysOf(expected), `an event is missing (from ${from})`)
          assert.strictEqual(journaled.filter((event) => event._tag === "RunResumed").length, 1, "RunResumed has no key: kept")
          // The run's record stays in the order of the run: each step's start before its outcome.
          for (let turn = 1; turn <= 3; turn++) {
            assert.isBelow(keys.indexOf(`started:s${turn}`), keys.indexOf(`outcome:s${turn}`))
          }
        }
      }))

    it.effect("the runs table follows the first end only", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const runId = `end-${randomUUID()}`
        const [start] = runEvents(runId)
        yield* journal.append(start!)
        yield* journal.append({ _tag: "RunCompleted", runId, answer: "first", usage, durationMs: 1, at: 2 })
        yield* journal.append({ _tag: "RunCompleted", runId, answer: "second", usage, durationMs: 1, at: 3 })
        const [run] = yield* JournalPg.listRuns({ tablePrefix: backedPrefix }).pipe(
          Effect.map((runs) => runs.filter((summary) => summary.runId === runId))
        )
        assert.strictEqual(run?.answer, "first")
        assert.deepStrictEqual((yield* journal.read(runId)).map((event) => event._tag), ["RunStarted", "RunCompleted"])
      }))
  }
)

layer(journalLayer(plainPrefix, false), { excludeTestServices: true, timeout: "60 seconds" })(
  "JournalPg, a journal of its own",
  (it) => {
    it.effect("the same two writers keep both copies (a resumed run may journal a step's outcome again)", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const { expected, journaled } = yield* shardMove(journal, 4)
        assert.strictEqual(journaled.length, expected.length + (expected.length - 4) + 1)
      }))
  }
)
