/**
 * The contract every `Journal` backend must pass (memory, file, PostgreSQL,
 * PGlite).
 *
 * ```ts
 * import { journalContract } from "./journalContract.js"
 * journalContract("file", JournalFile.layer({ path }), { reopen: () => JournalFile.layer({ path }) })
 * ```
 *
 * - The layer is built once per suite and shared by its tests; every test
 *   writes runs with fresh random ids and looks only at those, so the suite
 *   can run against a shared database without cleaning up between tests.
 * - Covered: events read back equal and in append order (small, large and
 *   non-ASCII payloads, every kind of event a run writes), appended one by
 *   one or in batches (`Journal.appendAll`); runs kept apart;
 *   an unknown run reads as empty; `runs` lists every run, oldest first;
 *   concurrent appends (many runs at once, and many fibers on one run) keep
 *   every event once, each writer's events in its order.
 * - `reopen` (backends that outlive their layer): a second open of the same
 *   storage reads what the first appended and appends after it.
 * - `tamper` (backends that read files): a torn last line (a process killed
 *   mid-write) is dropped and the next append starts on a line of its own; a
 *   corrupt line in the middle fails reads with a JournalError naming it.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { Journal, type RunEvent } from "graphent"

/** Optional capabilities of a backend under test. */
export interface ContractOptions {
  /** A fresh layer over the same storage (a new process opening the same file or database). */
  readonly reopen?: (() => Layer.Layer<Journal.Journal, unknown>) | undefined
  /** Edits the stored text directly (file backends), as a crash or a careless editor would. */
  readonly tamper?: ((edit: (text: string) => string) => void) | undefined
}

const freshRun = (label: string) => `${label}-${randomUUID()}`

const normalize = (value: unknown) => JSON.parse(JSON.stringify(value))

/** The events of a small but complete run: two concurrent steps, a model call, large and non-ASCII values. */
const completeRun = (runId: string): Array<RunEvent.RunEvent> => {
  let at = 1_800_000_000_000
  const tick = () => ++at
  const long = "the lighthouse keeper's logbook, page after page; ".repeat(60)
  return [
    { _tag: "RunStarted", runId, traceId: `trace-${runId}`, agent: "contract", input: "größe 🚢 \"quoted\"\n", metadata: { agentFile: "x.ts" }, at: tick() },
    {
      _tag: "DecisionMade",
      runId,
      turn: 1,
      decision: {
        _tag: "RunSteps",
        steps: [
          { id: "a", tool: "echo", args: { text: long } },
          { id: "b", tool: "echo", args: { text: "b" }, dependsOn: ["a"] }
        ]
      },
      at: tick()
    },
    { _tag: "StepStarted", runId, stepId: "a", tool: "echo", args: { text: long }, at: tick() },
    { _tag: "StepSucceeded", runId, stepId: "a", tool: "echo", result: long, durationMs: 1.5, at: tick() },
    { _tag: "StepStarted", runId, stepId: "b", tool: "echo", args: { text: "b" }, at: tick() },
    { _tag: "StepFailed", runId, stepId: "b", tool: "echo", error: { _tag: "ToolFailed", message: "no" }, durationMs: 2, at: tick() },
    { _tag: "ValueRecorded", runId, turn: 2, key: "history", value: [{ role: "user", content: "hi" }], at: tick() },
    { _tag: "DecisionMade", runId, turn: 2, decision: { _tag: "Answer", answer: "done" }, at: tick() },
    { _tag: "RunCompleted", runId, answer: "done", usage: { turns: 2, steps: 2 }, durationMs: 9, at: tick() }
  ]
}

const stepStarted = (runId: string, stepId: string): RunEvent.RunEvent => ({
  _tag: "StepStarted",
  runId,
  stepId,
  tool: "echo",
  args: { text: stepId },
  at: Date.now()
})

const started = (runId: string): RunEvent.RunEvent => completeRun(runId)[0]!

const stepIds = (events: ReadonlyArray<RunEvent.RunEvent>) =>
  events.flatMap((event) => event._tag === "StepStarted" ? [event.stepId] : [])

/**
 * Registers `describe("Journal contract: <name>", ...)` with the tests every backend must pass.
 */
export const journalContract = (
  name: string,
  journal: Layer.Layer<Journal.Journal, unknown>,
  options: ContractOptions = {}
) =>
  layer(journal, { excludeTestServices: true, timeout: "60 seconds" })(`Journal contract: ${name}`, (it) => {
    it.effect("a run reads back equal to what was appended, in order; an unknown run reads as empty", () =>
      Effect.gen(function*() {
        const j = yield* Journal.Journal
        const runId = freshRun("order")
        const events = completeRun(runId)
        for (const event of events) yield* j.append(event)
        assert.deepStrictEqual(normalize(yield* j.read(runId)), normalize(events))
        assert.deepStrictEqual(yield* j.read(freshRun("unknown")), [])
      }))

    it.effect("appendAll: a run written in batches (every split, its ends in them too) reads back as appended one by one", () =>
      Effect.gen(function*() {
        const j = yield* Journal.Journal
        // Class: every cut of a complete run into two batches, and the run as one batch (`appendAll` of the
        // backend, or one append each where it has none); a batch of nothing writes nothing.
        const length = completeRun("x").length
        for (let cut = 0; cut <= length; cut++) {
          const runId = freshRun(`batch${cut}`)
          const events = completeRun(runId)
          yield* Journal.appendAll(j, events.slice(0, cut))
          yield* Journal.appendAll(j, events.slice(cut))
          assert.deepStrictEqual(normalize(yield* j.read(runId)), normalize(events), `cut at ${cut}`)
        }
      }))

    it.effect("runs are kept apart, interleaved or not; runs lists each once, oldest first", () =>
      Effect.gen(function*() {
        const j = yield* Journal.Journal
        const ids = [freshRun("first"), freshRun("second"), freshRun("third")]
        const runs = ids.map(completeRun)
        // Interleaved: one event of each run in turn.
        for (let i = 0; i < runs[0]!.length; i++) for (const run of runs) yield* j.append(run[i]!)
        for (const [index, runId] of ids.entries()) {
          assert.deepStrictEqual(normalize(yield* j.read(runId)), normalize(runs[index]))
        }
        const listed = (yield* j.runs).filter((runId) => ids.includes(runId))
        assert.deepStrictEqual(listed, ids)
      }))

    it.effect("concurrent runs: each run's events in its writer's order, none lost or doubled", () =>
      Effect.gen(function*() {
        const j = yield* Journal.Journal
        const ids = Array.from({ length: 8 }, (_, i) => freshRun(`concurrent${i}`))
        const steps = Array.from({ length: 20 }, (_, i) => `s${i}`)
        yield* Effect.forEach(
          ids,
          (runId) =>
            Effect.gen(function*() {
              yield* j.append(started(runId))
              for (const stepId of steps) yield* j.append(stepStarted(runId, stepId))
            }),
          { concurrency: "unbounded", discard: true }
        )
        for (const runId of ids) {
          const events = yield* j.read(runId)
          assert.strictEqual(events[0]?._tag, "RunStarted")
          assert.deepStrictEqual(stepIds(events), steps)
        }
      }))

    it.effect("many fibers appending to one run: every event kept, each once", () =>
      Effect.gen(function*() {
        const j = yield* Journal.Journal
        const runId = freshRun("fibers")
        yield* j.append(started(runId))
        const steps = Array.from({ length: 40 }, (_, i) => `s${i}`)
        yield* Effect.forEach(steps, (stepId) => j.append(stepStarted(runId, stepId)), {
          concurrency: "unbounded",
          discard: true
        })
        const after = Array.from({ length: 5 }, (_, i) => `after${i}`)
        for (const stepId of after) yield* j.append(stepStarted(runId, stepId))
        const ids = stepIds(yield* j.read(runId))
        assert.strictEqual(ids.length, steps.length + after.length)
        assert.sameMembers(ids.slice(0, steps.length), steps)
        assert.deepStrictEqual(ids.slice(steps.length), after)
      }))

    const reopen = options.reopen
    if (reopen !== undefined) {
      it.effect("a second open of the same storage reads what the first appended, and appends after it", () =>
        Effect.gen(function*() {
          const j = yield* Journal.Journal
          const runId = freshRun("reopen")
          const events = completeRun(runId)
          for (const event of events.slice(0, 4)) yield* j.append(event)
          yield* Effect.gen(function*() {
            const again = yield* Journal.Journal
            assert.deepStrictEqual(normalize(yield* again.read(runId)), normalize(events.slice(0, 4)))
            for (const event of events.slice(4)) yield* again.append(event)
            assert.include(yield* again.runs, runId)
          }).pipe(Effect.provide(Layer.fresh(reopen())))
          assert.deepStrictEqual(normalize(yield* j.read(runId)), normalize(events))
        }))
    }

    const tamper = options.tamper
    if (reopen !== undefined && tamper !== undefined) {
      it.effect("a torn last line is dropped on read; the next append starts on a line of its own", () =>
        Effect.gen(function*() {
          const runId = freshRun("torn")
          const events = completeRun(runId)
          const kept = events.slice(0, 3)
          yield* Effect.gen(function*() {
            const j = yield* Journal.Journal
            for (const event of kept) yield* j.append(event)
          }).pipe(Effect.provide(Layer.fresh(reopen())))
          // A process killed inside its write: half an event, no newline.
          tamper((text) => text + JSON.stringify(events[3]).slice(0, 40))
          yield* Effect.gen(function*() {
            const j = yield* Journal.Journal
            assert.deepStrictEqual(normalize(yield* j.read(runId)), normalize(kept))
            for (const event of events.slice(3)) yield* j.append(event)
            assert.deepStrictEqual(normalize(yield* j.read(runId)), normalize(events))
          }).pipe(Effect.provide(Layer.fresh(reopen())))
        }))

      it.effect("a corrupt line in the middle fails reads with a JournalError naming the line", () =>
        Effect.gen(function*() {
          const runId = freshRun("corrupt")
          yield* Effect.gen(function*() {
            const j = yield* Journal.Journal
            for (const event of completeRun(runId)) yield* j.append(event)
          }).pipe(Effect.provide(Layer.fresh(reopen())))
          let corruptLine = 0
          tamper((text) => {
            const lines = text.split("\n")
            corruptLine = lines.length - 3
            lines.splice(corruptLine - 1, 1, "{ not json")
            return lines.join("\n")
          })
          const error = yield* Effect.flip(
            Journal.Journal.use((j) => j.read(runId)).pipe(Effect.provide(Layer.fresh(reopen())))
          )
          assert.strictEqual((error as { _tag?: string })._tag, "JournalError", String(error))
          assert.include((error as Error).message, `:${corruptLine}`)
        }))
    }
  })
