import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Schema, Stream } from "effect"
import { Agent, AgentRuntime, Journal, JournalMemory, LocalRuntime, RunEvent, Runs, RunsLocal, SequencePlanner, Tool } from "graphent"
import * as Testing from "graphent/testing"
import echo from "../../examples/echo.js"
import * as RunOwner from "../../src/internal/runOwner.js"
import * as Gated from "../support/gatedAgent.js"

/** The service over a fresh test runtime (in-memory journal and memory, run ids run-1, run-2, ...). */
const layerWith = (options: Partial<RunsLocal.Options<never>> = {}) =>
  RunsLocal.layer({ agents: [echo, Gated.gated], ...options }).pipe(Layer.provideMerge(Testing.layer))

/** Follows a run's events from `after` until `stop` matches (included). */
const until = (runId: string, after: number, stop: (event: RunEvent.RunEvent) => boolean) =>
  Effect.flatMap(Runs.Runs, (runs) => runs.events(runId, after)).pipe(
    Effect.flatMap((events) => Stream.runCollect(Stream.takeUntil(events, ({ event }) => stop(event))))
  )

const stepStarted = (stepId: string) => (event: RunEvent.RunEvent) =>
  event._tag === "StepStarted" && event.stepId === stepId

/** Every event of a run, to its end. */
const drain = (runId: string, after = -1) =>
  Effect.flatMap(Runs.Runs, (runs) => runs.events(runId, after)).pipe(Effect.flatMap(Stream.runCollect))

describe("RunsLocal", () => {
  it.effect("starts a run, follows it live, and reports its result", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const started = yield* runs.start({ agent: "gated", input: "s1-a" }, { principal: { id: "tester", roles: ["qa"] } })
      assert.strictEqual(started.id, "run-1")
      assert.strictEqual(started.status, "running")
      assert.strictEqual(started.startedBy, "tester")

      const first = yield* until(started.id, -1, stepStarted("s1-a"))
      assert.deepStrictEqual(first.map((e) => [e.index, e.event._tag]), [[0, "RunStarted"], [1, "DecisionMade"], [2, "StepStarted"]])
      const midway = yield* runs.get(started.id)
      assert.strictEqual(midway.status, "running")
      assert.strictEqual(midway.events, 3)

      yield* Gated.open("s1-a")
      const rest = yield* drain(started.id, 2)
      assert.deepStrictEqual(rest.map((e) => e.index), [3, 4, 5])
      assert.strictEqual(rest.at(-1)!.event._tag, "RunCompleted")

      const done = yield* runs.get(started.id)
      assert.strictEqual(done.status, "completed")
      assert.strictEqual(done.answer, "passed s1-a")
      assert.deepStrictEqual(done.usage, { turns: 2, steps: 1 })
      assert.strictEqual(done.events, 6)
      assert.strictEqual(done.startedBy, "tester")
      // The run acts for the principal, as its journal records.
      const journaled = yield* runs.read(started.id)
      const head = journaled[0]!
      assert.deepStrictEqual(head._tag === "RunStarted" ? head.principal : undefined, { id: "tester", roles: ["qa"] })
      // What was followed live is exactly what the journal holds.
      assert.deepStrictEqual([...first, ...rest].map((e) => e.event), [...journaled])
    }).pipe(Effect.provide(layerWith())))

  it.effect("resumes after any index, live or from the journal, with nothing missed or repeated", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const { id } = yield* runs.start({ agent: "gated", input: "s2-a,s2-b" })
      yield* until(id, -1, stepStarted("s2-a"))
      // A follower that saw events 0..1 reconnects while the run is live.
      const live = yield* until(id, 1, stepStarted("s2-a"))
      assert.deepStrictEqual(live.map((e) => e.index), [2])
      yield* Gated.open("s2-a")
      yield* Gated.open("s2-b")
      const all = yield* drain(id)
      assert.deepStrictEqual(all.map((e) => e.index), [0, 1, 2, 3, 4, 5, 6, 7, 8])
      // Finished: served from the journal, same indexes.
      for (const after of [-1, 0, 4, 7, 8, 20]) {
        const tail = yield* drain(id, after)
        assert.deepStrictEqual(tail.map((e) => e.index), all.slice(after + 1).map((e) => e.index))
        assert.deepStrictEqual(tail.map((e) => e.event), all.slice(after + 1).map((e) => e.event))
      }
    }).pipe(Effect.provide(layerWith())))

  it.effect("queues beyond maxConcurrent and refuses beyond maxQueued", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const a = yield* runs.start({ agent: "gated", input: "s3-a" })
      const b = yield* runs.start({ agent: "gated", input: "s3-b" })
      assert.strictEqual(a.status, "running")
      assert.strictEqual(b.status, "queued")
      assert.deepStrictEqual(yield* runs.load, { running: 1, queued: 1 })

      const refused = yield* runs.start({ agent: "echo", input: "c" }).pipe(Effect.flip)
      assert.instanceOf(refused, Runs.RunsOverloaded)
      assert.deepStrictEqual([refused.running, refused.queued, refused.retryAfterSeconds], [1, 1, 3])
      assert.include(refused.message, "retry in 3 s")

      // The queued run has no events yet; it starts when the first one ends.
      assert.strictEqual((yield* runs.get(b.id)).events, 0)
      yield* Gated.open("s3-a")
      yield* until(b.id, -1, stepStarted("s3-b"))
      assert.strictEqual((yield* runs.get(a.id)).status, "completed")
      assert.strictEqual((yield* runs.get(b.id)).status, "running")
      assert.deepStrictEqual(yield* runs.load, { running: 1, queued: 0 })
      // A slot in the queue again.
      const c = yield* runs.start({ agent: "echo", input: "c" })
      assert.strictEqual(c.status, "queued")
      yield* Gated.open("s3-b")
      yield* drain(c.id)
      assert.strictEqual((yield* runs.get(c.id)).answer, "c")
      assert.deepStrictEqual(yield* runs.load, { running: 0, queued: 0 })
    }).pipe(Effect.provide(layerWith({ maxConcurrent: 1, maxQueued: 1, retryAfterSeconds: 3 }))))

  it.effect("cancels: a running run journals RunInterrupted, a queued run never starts", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const a = yield* runs.start({ agent: "gated", input: "s4-a" })
      const b = yield* runs.start({ agent: "gated", input: "s4-b" })
      yield* until(a.id, -1, stepStarted("s4-a"))

      const cancelledB = yield* runs.cancel(b.id)
      assert.strictEqual(cancelledB.status, "interrupted")
      assert.strictEqual(cancelledB.events, 0)
      assert.isFalse(Gated.known("s4-b"))

      // A follower of the running run sees its end.
      const follower = yield* Effect.forkChild(drain(a.id, 2))
      const cancelledA = yield* runs.cancel(a.id)
      assert.strictEqual(cancelledA.status, "interrupted")
      const tail = yield* Fiber.await(follower)
      assert.isTrue(Exit.isSuccess(tail))
      if (Exit.isSuccess(tail)) assert.deepStrictEqual(tail.value.map((e) => e.event._tag), ["RunInterrupted"])
      const events = yield* runs.read(a.id)
      assert.strictEqual(events.at(-1)!._tag, "RunInterrupted")
      assert.strictEqual(cancelledA.events, events.length)
      // Cancelling again changes nothing.
      assert.deepStrictEqual(yield* runs.cancel(a.id), cancelledA)
      assert.deepStrictEqual(yield* runs.load, { running: 0, queued: 0 })
    }).pipe(Effect.provide(layerWith({ maxConcurrent: 1 }))))

  it.effect("typed errors for unknown agents and runs", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const noAgent = yield* runs.start({ agent: "nope", input: "" }).pipe(Effect.flip)
      assert.instanceOf(noAgent, Runs.AgentNotFound)
      assert.deepStrictEqual(noAgent.available, ["echo", "gated"])
      assert.strictEqual(noAgent.message, `no agent named "nope"; this server runs: echo, gated`)
      for (const failed of [
        yield* runs.get("missing").pipe(Effect.flip),
        yield* runs.events("missing").pipe(Effect.flip),
        yield* runs.read("missing").pipe(Effect.flip),
        yield* runs.cancel("missing").pipe(Effect.flip)
      ]) {
        assert.instanceOf(failed, Runs.RunNotFound)
        assert.strictEqual(failed.message, `no run with id "missing"`)
      }
    }).pipe(Effect.provide(layerWith())))

  it.effect("a request tightens the agent's budget but never loosens it", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const tightened = yield* runs.start({ agent: "gated", input: "s6-a,s6-b", budget: { maxSteps: 1 } })
      yield* Gated.open("s6-a")
      yield* drain(tightened.id)
      const failed = yield* runs.get(tightened.id)
      assert.strictEqual(failed.status, "failed")
      assert.strictEqual(failed.error?._tag, "BudgetExceeded")
      // The agent allows 1 step: asking for 10 still stops at the second.
      const loosened = yield* runs.start({ agent: "limited", input: "s6-c,s6-d", budget: { maxSteps: 10 } })
      yield* Gated.open("s6-c")
      yield* drain(loosened.id)
      const info = yield* runs.get(loosened.id)
      assert.strictEqual(info.status, "failed")
      assert.include(info.error?.message ?? "", "steps limit is 1")
    }).pipe(
      Effect.provide(
        layerWith({ agents: [Gated.gated, Agent.make({ ...Gated.gated, name: "limited", tools: [Gated.wait], budget: { maxSteps: 1 } })] })
      )
    ))

  it.effect("lists runs newest first, filtered and paged", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      for (const input of ["one", "two", "three"]) yield* drain((yield* runs.start({ agent: "echo", input })).id)
      const pending = yield* runs.start({ agent: "gated", input: "s7-a" })
      const all = yield* runs.list({})
      assert.deepStrictEqual(all.runs.map((r) => r.id), ["run-4", "run-3", "run-2", "run-1"])
      assert.strictEqual(all.total, 4)
      const echoes = yield* runs.list({ agent: "echo", limit: 2, offset: 1 })
      assert.deepStrictEqual(echoes.runs.map((r) => r.input), ["two", "one"])
      assert.deepStrictEqual([echoes.total, echoes.offset, echoes.limit], [3, 1, 2])
      const running = yield* runs.list({ status: "running" })
      assert.deepStrictEqual(running.runs.map((r) => r.id), [pending.id])
      assert.strictEqual((yield* runs.list({ limit: 10_000 })).limit, 500)
      yield* Gated.open("s7-a")
    }).pipe(Effect.provide(layerWith())))

  it.effect("remembers at most maxRuns finished runs, then serves older ones from the journal", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      for (const input of ["a", "b", "c"]) yield* drain((yield* runs.start({ agent: "echo", input })).id)
      assert.deepStrictEqual((yield* runs.list({})).runs.map((r) => r.id), ["run-3", "run-2"])
      // Forgotten here, still in the journal.
      const old = yield* runs.get("run-1")
      assert.strictEqual(old.status, "completed")
      assert.strictEqual(old.answer, "a")
    }).pipe(Effect.provide(layerWith({ maxRuns: 2 }))))

  it.effect("lists the runs a journal already holds when it starts, unfinished ones as such", () =>
    Effect.gen(function*() {
      const journal = JournalMemory.make()
      const shared = Layer.succeed(Journal.Journal, journal)
      const runtime = LocalRuntime.layer.pipe(Layer.provideMerge(shared))
      const first = RunsLocal.layer({ agents: [echo] }).pipe(Layer.provide(runtime), Layer.provide(Testing.layerSequentialIds("old")))
      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        yield* drain((yield* runs.start({ agent: "echo", input: "kept" })).id)
      }).pipe(Effect.provide(first))
      // A run whose process died: started, never ended.
      yield* journal.append({ _tag: "RunStarted", runId: "crashed", traceId: "t", agent: "echo", input: "x", at: 1 })

      const second = RunsLocal.layer({ agents: [echo] }).pipe(Layer.provide(runtime), Layer.provide(Testing.layerSequentialIds("new")))
      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const listed = yield* runs.list({})
        assert.deepStrictEqual(listed.runs.map((r) => [r.id, r.status]), [["crashed", "unfinished"], ["old-1", "completed"]])
        assert.strictEqual(listed.runs[1]!.answer, "kept")
        const tail = yield* drain("old-1", 3)
        assert.deepStrictEqual(tail.map((e) => e.event._tag), ["DecisionMade", "RunCompleted"])
      }).pipe(Effect.provide(second))
    }))

  it.effect("builds an agent's own layer; a failing one fails the service or, when asked, is left out", () =>
    Effect.gen(function*() {
      class Greeting extends Context.Service<Greeting, string>()("test/Greeting") {}
      const greet = Tool.make("greet", {
        description: "Greets",
        parameters: Schema.Struct({ name: Schema.String }),
        success: Schema.String,
        handler: ({ name }) => Effect.map(Greeting, (greeting) => `${greeting}, ${name}`)
      })
      const greeter = Agent.make({
        name: "greeter",
        tools: [greet],
        planner: SequencePlanner.rules([{ match: /.+/, steps: (input) => [{ id: "g", tool: "greet", args: { name: input } }] }])
      })
      const good = Layer.succeed(Greeting, "Hello")
      const bad = Layer.effect(Greeting, Effect.fail(new Error("no greeting configured")))

      const served = yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const { id } = yield* runs.start({ agent: "greeter", input: "Ada" })
        yield* drain(id)
        return yield* runs.get(id)
      }).pipe(Effect.provide(RunsLocal.layer({ agents: [{ agent: greeter, layer: good }] }).pipe(Layer.provideMerge(Testing.layer))))
      assert.strictEqual(served.answer, "Hello, Ada")

      const failed = yield* Layer.build(RunsLocal.layer({ agents: [{ agent: greeter, layer: bad }] }).pipe(Layer.provide(Testing.layer))).pipe(
        Effect.scoped,
        Effect.flip
      )
      assert.instanceOf(failed, Runs.AgentSetupFailed)
      assert.strictEqual(failed.message, `agent "greeter" could not be set up: no greeting configured`)

      const reported: Array<string> = []
      const agents = yield* Effect.map(Runs.Runs, (runs) => runs.agents.map((a) => a.name)).pipe(
        Effect.provide(RunsLocal.layer({
          agents: [echo, { agent: greeter, layer: bad }],
          onSetupFailure: (failure) => Effect.sync(() => void reported.push(failure.agent))
        }).pipe(Layer.provideMerge(Testing.layer)))
      )
      assert.deepStrictEqual(agents, ["echo"])
      assert.deepStrictEqual(reported, ["greeter"])
    }))

  it.effect("streams ephemeral events live without an index; the journal and resumed followers skip them", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      // A runtime that streams a model's text between journaled events, as a streaming planner does.
      const fake = Layer.effect(
        AgentRuntime.AgentRuntime,
        Effect.gen(function*() {
          const journal = yield* Journal.Journal
          const real = yield* LocalRuntime.make
          return AgentRuntime.AgentRuntime.of({
            ...real,
            stream: (_agent, input, options) => {
              const runId = options!.runId!
              const before: ReadonlyArray<RunEvent.RunEvent> = [
                { _tag: "RunStarted", runId, traceId: "t", agent: "echo", input, at: 1 },
                { _tag: "TextDelta", runId, turn: 1, text: "hel", at: 2 },
                { _tag: "TextDelta", runId, turn: 1, text: "lo", at: 3 }
              ]
              const after: ReadonlyArray<RunEvent.RunEvent> = [
                { _tag: "DecisionMade", runId, turn: 1, decision: { _tag: "Answer", answer: "hello" }, at: 4 },
                { _tag: "RunCompleted", runId, answer: "hello", usage: { turns: 1, steps: 0 }, durationMs: 4, at: 5 }
              ]
              return Stream.concat(Stream.fromIterable(before), Stream.fromEffect(Deferred.await(gate)).pipe(Stream.drain)).pipe(
                Stream.concat(Stream.fromIterable(after)),
                Stream.tap((event) => RunEvent.isEphemeral(event) ? Effect.void : journal.append(event))
              )
            }
          })
        })
      )
      const layer = RunsLocal.layer({ agents: [echo] }).pipe(
        Layer.provide(fake),
        Layer.provideMerge(Layer.merge(JournalMemory.layer(), Testing.layerSequentialIds()))
      )
      yield* Effect.gen(function*() {
        const runs = yield* Runs.Runs
        const { id } = yield* runs.start({ agent: "echo", input: "hi" })
        const isSecondDelta = (event: RunEvent.RunEvent) => event._tag === "TextDelta" && event.text === "lo"
        const live = yield* until(id, -1, isSecondDelta)
        assert.deepStrictEqual(live.map((e) => [e.index, e.event._tag]), [[0, "RunStarted"], [undefined, "TextDelta"], [undefined, "TextDelta"]])
        assert.strictEqual((yield* runs.get(id)).events, 1)
        // Having seen event 0, a follower gets what came after it, deltas included.
        const resumed = yield* until(id, 0, isSecondDelta)
        assert.deepStrictEqual(resumed.map((e) => e.index), [undefined, undefined])
        const follower = yield* Effect.forkChild(drain(id, 0), { startImmediately: true })
        yield* Deferred.succeed(gate, undefined)
        const rest = yield* Fiber.join(follower)
        assert.deepStrictEqual(rest.map((e) => [e.index, e.event._tag]), [
          [undefined, "TextDelta"],
          [undefined, "TextDelta"],
          [1, "DecisionMade"],
          [2, "RunCompleted"]
        ])
        // Finished: the journal has no deltas, and the indexes are the same.
        const journaled = yield* drain(id)
        assert.deepStrictEqual(journaled.map((e) => [e.index, e.event._tag]), [[0, "RunStarted"], [1, "DecisionMade"], [2, "RunCompleted"]])
        assert.strictEqual((yield* runs.get(id)).events, 3)
        assert.strictEqual((yield* runs.read(id)).length, 3)
      }).pipe(Effect.provide(layer))
    }))

  // Live clock: the runs of other processes are looked for at most once a second, and followed by polling.
  it.live("lists the runs another process writes to its journal, follows one while its process lives, and tells a dead one", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const journal = yield* Journal.Journal
      const runtime = yield* AgentRuntime.AgentRuntime
      // "Another process": a run on the same journal, not through the service, naming its owner (this process: alive).
      const other = yield* runtime.run(Gated.gated, "s9-a", { runId: "elsewhere", metadata: RunOwner.metadata() }).pipe(
        Effect.forkChild({ startImmediately: true })
      )
      // One that died mid-run: no end, no owner known.
      yield* journal.append({ _tag: "RunStarted", runId: "crashed", traceId: "t".repeat(32), agent: "echo", input: "x", at: 1 })
      yield* Effect.yieldNow
      while (!Gated.known("s9-a")) yield* Effect.sleep("10 millis")

      const listed = yield* runs.list({})
      const byId = new Map(listed.runs.map((run) => [run.id, run]))
      assert.strictEqual(byId.get("elsewhere")?.status, "running")
      assert.strictEqual(byId.get("crashed")?.status, "unfinished")
      const crashed = yield* drain("crashed")
      assert.deepStrictEqual(crashed.map((e) => e.event._tag), ["RunStarted"], "a dead run's events end where its journal does")

      // Followed while it runs: its events so far, then the rest as they are journaled, to its end.
      const follower = yield* drain("elsewhere").pipe(Effect.forkChild({ startImmediately: true }))
      yield* Gated.open("s9-a")
      const followed = yield* Fiber.join(follower)
      const result = yield* Fiber.join(other)
      assert.deepStrictEqual(followed.map((e) => e.event), [...result.events])
      assert.deepStrictEqual(followed.map((e) => e.index), result.events.map((_, i) => i))
      const done = yield* runs.get("elsewhere")
      assert.strictEqual(done.status, "completed")
      assert.strictEqual(done.answer, "passed s9-a")
    }).pipe(Effect.provide(layerWith())))
})
