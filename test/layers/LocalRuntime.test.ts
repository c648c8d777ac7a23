import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  Agent,
  AgentRuntime,
  Journal,
  JournalMemory,
  LocalRuntime,
  Planner,
  RunEvent,
  SequencePlanner,
  Tool
} from "graphent"
import * as Testing from "graphent/testing"

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

/** A tool that records when each call starts and ends and how many run at once. */
const makeProbe = () => {
  const log: Array<string> = []
  const stats = { inFlight: 0, maxInFlight: 0 }
  const tool = Tool.make("work", {
    description: "Does some work",
    parameters: Schema.Struct({ name: Schema.String, sleepMs: Schema.optionalKey(Schema.Number) }),
    success: Schema.String,
    handler: ({ name, sleepMs }) =>
      Effect.gen(function*() {
        log.push(`start:${name}`)
        stats.inFlight++
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
        if (sleepMs !== undefined) yield* Effect.sleep(sleepMs)
        else yield* Effect.yieldNow
        stats.inFlight--
        log.push(`end:${name}`)
        return name
      })
  })
  return { tool, log, stats }
}

const concat = Tool.make("concat", {
  description: "Joins strings",
  parameters: Schema.Struct({ parts: Schema.Array(Schema.String) }),
  success: Schema.String,
  handler: ({ parts }) => Effect.succeed(parts.join("+"))
})

const person = Tool.make("person", {
  description: "Returns a record",
  parameters: Schema.Struct({}),
  success: Schema.Struct({
    name: Schema.String,
    pets: Schema.Array(Schema.Struct({ kind: Schema.String, name: Schema.String }))
  }),
  handler: () => Effect.succeed({ name: "Ada", pets: [{ kind: "cat", name: "Tom" }, { kind: "dog", name: "Rex" }] })
})

const echo = Tool.make("echo", {
  description: "Repeats its input",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  handler: ({ text }) => Effect.succeed(text)
})

class Broken extends Schema.TaggedError<Broken>()("Broken", { what: Schema.String }) {
  override get message() {
    return `${this.what} is broken`
  }
}

const fails = Tool.make("fails", {
  description: "Always fails",
  parameters: Schema.Struct({ what: Schema.String }),
  success: Schema.String,
  handler: ({ what }) => Effect.fail(new Broken({ what }))
})

const tagsOf = (events: ReadonlyArray<RunEvent.RunEvent>) => events.map((event) => event._tag)

const indexOf = (events: ReadonlyArray<RunEvent.RunEvent>, tag: RunEvent.RunEvent["_tag"], stepId: string) =>
  events.findIndex((event) => event._tag === tag && "stepId" in event && event.stepId === stepId)

const readJournal = (runId: string) => Journal.Journal.use((journal) => journal.read(runId))

// ---------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------

describe("LocalRuntime events", () => {
  const agent = Agent.make({
    name: "echo",
    tools: [echo],
    planner: SequencePlanner.plan({ steps: [{ id: "say", tool: "echo", args: { text: "hello" } }] })
  })

  it.effect("run(): answer, steps, usage and the event sequence", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "hi")
      assert.strictEqual(result.answer, "hello")
      assert.strictEqual(result.agent, "echo")
      assert.strictEqual(result.input, "hi")
      assert.deepStrictEqual(result.usage, { turns: 2, steps: 1 })
      assert.deepStrictEqual(tagsOf(result.events), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])
      for (const event of result.events) assert.strictEqual(event.runId, result.runId)
      assert.strictEqual(result.steps.length, 1)
      const step = result.steps[0]!
      assert.strictEqual(step._tag, "Succeeded")
      if (step._tag !== "Succeeded") return
      assert.deepStrictEqual([step.id, step.tool, step.value, step.result], ["say", "echo", "hello", "hello"])
      assert.deepStrictEqual(step.args, { text: "hello" })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("event contents: decisions, step args/results, answer", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "hi")
      const [started, decided, stepStarted, stepSucceeded, decided2, completed] = result.events
      assert.strictEqual(started?._tag, "RunStarted")
      if (started?._tag === "RunStarted") {
        assert.strictEqual(started.agent, "echo")
        assert.strictEqual(started.input, "hi")
        assert.strictEqual(started.traceId, result.traceId)
      }
      assert.deepStrictEqual(decided, {
        _tag: "DecisionMade",
        runId: result.runId,
        turn: 1,
        decision: Planner.runSteps([{ id: "say", tool: "echo", args: { text: "hello" } }]),
        at: 0
      })
      assert.deepStrictEqual(stepStarted, {
        _tag: "StepStarted",
        runId: result.runId,
        stepId: "say",
        tool: "echo",
        args: { text: "hello" },
        at: 0
      })
      assert.deepStrictEqual(stepSucceeded, {
        _tag: "StepSucceeded",
        runId: result.runId,
        stepId: "say",
        tool: "echo",
        result: "hello",
        durationMs: 0,
        at: 0
      })
      assert.deepStrictEqual(decided2, {
        _tag: "DecisionMade",
        runId: result.runId,
        turn: 2,
        decision: Planner.answer("hello"),
        at: 0
      })
      assert.deepStrictEqual(completed, {
        _tag: "RunCompleted",
        runId: result.runId,
        answer: "hello",
        usage: { turns: 2, steps: 1 },
        durationMs: 0,
        at: 0
      })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the journal holds exactly result.events", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "hi")
      const journaled = yield* readJournal(result.runId)
      assert.deepStrictEqual(journaled, result.events)
      const runs = yield* Journal.Journal.use((journal) => journal.runs)
      assert.deepStrictEqual(runs, [result.runId])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("every event decodes with the RunEvent schema", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "hi")
      const encoded = result.events.map((event) => JSON.parse(JSON.stringify(event)))
      const decoded = yield* Schema.decodeUnknownEffect(Schema.Array(RunEvent.RunEvent))(encoded)
      assert.deepStrictEqual(decoded, result.events)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("trace id is non-empty", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "hi")
      assert.isString(result.traceId)
      assert.isAbove(result.traceId.length, 0)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("layerSequentialIds: run-1, run-2; an explicit runId wins", () =>
    Effect.gen(function*() {
      const first = yield* AgentRuntime.run(agent, "a")
      const second = yield* AgentRuntime.run(agent, "b")
      const named = yield* AgentRuntime.run(agent, "c", { runId: "mine" })
      assert.deepStrictEqual([first.runId, second.runId, named.runId], ["run-1", "run-2", "mine"])
      const runs = yield* Journal.Journal.use((journal) => journal.runs)
      assert.deepStrictEqual(runs, ["run-1", "run-2", "mine"])
      assert.deepStrictEqual(tagsOf(yield* readJournal("run-2")), tagsOf(second.events))
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("layerSequentialIds with a prefix", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "a")
      assert.strictEqual(result.runId, "job-1")
    }).pipe(Effect.provide(Layer.mergeAll(LocalRuntime.layerMemory, Testing.layerSequentialIds("job")))))

  it.effect("two runs in parallel keep their events apart", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Effect.all([AgentRuntime.run(agent, "a"), AgentRuntime.run(agent, "b")], {
        concurrency: "unbounded"
      })
      assert.notStrictEqual(a.runId, b.runId)
      assert.sameMembers([a.runId, b.runId], ["run-1", "run-2"])
      for (const result of [a, b]) {
        assert.strictEqual(result.events.length, 6)
        for (const event of result.events) assert.strictEqual(event.runId, result.runId)
        assert.deepStrictEqual(yield* readJournal(result.runId), result.events)
      }
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("without sequential ids, run ids are random and distinct", () =>
    Effect.gen(function*() {
      const a = yield* AgentRuntime.run(agent, "a")
      const b = yield* AgentRuntime.run(agent, "b")
      assert.notStrictEqual(a.runId, b.runId)
      assert.match(a.runId, /^[0-9a-f-]{36}$/)
    }).pipe(Effect.provide(LocalRuntime.layerMemory)))

  it.effect("threadId and metadata are recorded in RunStarted, threadId reaches the tool", () =>
    Effect.gen(function*() {
      let seen: Tool.ToolContext | undefined
      const spy = Tool.make("spy", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: (_, ctx) => Effect.sync(() => (seen = ctx, "ok"))
      })
      const spyAgent = Agent.make({
        name: "spy",
        tools: [spy],
        planner: SequencePlanner.plan({ steps: [{ id: "s", tool: "spy", args: {} }] })
      })
      const result = yield* AgentRuntime.run(spyAgent, "x", { threadId: "t-9", metadata: { file: "a.ts" } })
      const started = result.events[0]
      assert.strictEqual(started?._tag, "RunStarted")
      if (started?._tag !== "RunStarted") return
      assert.strictEqual(started.threadId, "t-9")
      assert.deepStrictEqual(started.metadata, { file: "a.ts" })
      assert.deepStrictEqual(seen, { runId: result.runId, agent: "spy", stepId: "s", threadId: "t-9" })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("stream(): the same events, in order, then the stream ends", () =>
    Effect.gen(function*() {
      const events = yield* Stream.runCollect(AgentRuntime.stream(agent, "hi"))
      assert.deepStrictEqual(tagsOf(events), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])
      for (const event of events) assert.strictEqual(event.runId, "run-1")
      assert.deepStrictEqual(yield* readJournal("run-1"), events)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("stream(): a slow consumer still receives every event of a long run", () =>
    Effect.gen(function*() {
      const ids = Array.from({ length: 40 }, (_, i) => `s${i}`)
      const wide = Agent.make({
        name: "wide",
        tools: [echo],
        planner: SequencePlanner.plan({ steps: ids.map((id) => ({ id, tool: "echo", args: { text: id } })) })
      })
      const events = yield* AgentRuntime.stream(wide, "go").pipe(
        Stream.mapEffect((event) => Effect.yieldNow.pipe(Effect.andThen(Effect.yieldNow), Effect.as(event))),
        Stream.runCollect
      )
      assert.strictEqual(events.length, 2 + 40 * 2 + 2)
      assert.deepStrictEqual(events, yield* readJournal("run-1"))
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("stream(): a failing run emits its events, then fails the stream with the run's error", () =>
    Effect.gen(function*() {
      const failing = Agent.make({
        name: "failing",
        tools: [fails],
        planner: SequencePlanner.plan({ steps: [{ id: "f", tool: "fails", args: { what: "the stream" } }] })
      })
      const seen: Array<RunEvent.RunEvent> = []
      const error = yield* AgentRuntime.stream(failing, "go").pipe(
        Stream.runForEach((event) => Effect.sync(() => seen.push(event))),
        Effect.flip
      )
      assert.strictEqual(error._tag, "ToolFailed")
      assert.deepStrictEqual(tagsOf(seen), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepFailed",
        "DecisionMade",
        "RunFailed"
      ])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("stream(): a consumer that stops early interrupts the run (RunInterrupted journaled)", () =>
    Effect.gen(function*() {
      let finalized = false
      const blocking = Tool.make("blocking", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.never.pipe(Effect.ensuring(Effect.sync(() => (finalized = true))))
      })
      const blocked = Agent.make({
        name: "blocked",
        tools: [blocking],
        planner: SequencePlanner.plan({ steps: [{ id: "b", tool: "blocking", args: {} }] })
      })
      const events = yield* Stream.runCollect(AgentRuntime.stream(blocked, "go").pipe(Stream.take(3)))
      assert.deepStrictEqual(tagsOf(events), ["RunStarted", "DecisionMade", "StepStarted"])
      assert.strictEqual(finalized, true)
      assert.deepStrictEqual(tagsOf(yield* readJournal("run-1")), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "RunInterrupted"
      ])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("LocalRuntime.layer uses the Journal it is given", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "hi")
      assert.deepStrictEqual(yield* readJournal(result.runId), result.events)
    }).pipe(
      Effect.provide(LocalRuntime.layer.pipe(Layer.provideMerge(JournalMemory.layer({ maxRuns: 2 }))))
    ))

  it.effect("a journal that cannot append fails the run with JournalError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(agent, "hi"))
      assert.strictEqual(error._tag, "JournalError")
    }).pipe(
      Effect.provide(LocalRuntime.layer.pipe(Layer.provide(Layer.succeed(Journal.Journal, {
        append: () => Effect.fail(new Journal.JournalError({ backend: "broken", operation: "append", reason: "disk full" })),
        read: () => Effect.succeed([]),
        runs: Effect.succeed([])
      }))))
    ))
})

// ---------------------------------------------------------------------------
// the DAG scheduler
// ---------------------------------------------------------------------------

describe("LocalRuntime DAG scheduler", () => {
  it.effect("dependsOn is respected even when dependents are listed first (diamond)", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const agent = Agent.make({
        name: "diamond",
        tools: [probe.tool],
        planner: SequencePlanner.plan({
          steps: [
            { id: "d", tool: "work", args: { name: "d" }, dependsOn: ["b", "c"] },
            { id: "c", tool: "work", args: { name: "c" }, dependsOn: ["a"] },
            { id: "b", tool: "work", args: { name: "b" }, dependsOn: ["a"] },
            { id: "a", tool: "work", args: { name: "a" } }
          ]
        })
      })
      const result = yield* AgentRuntime.run(agent, "go")
      const { log } = probe
      const at = (entry: string) => log.indexOf(entry)
      assert.strictEqual(log.length, 8)
      assert.isBelow(at("end:a"), at("start:b"))
      assert.isBelow(at("end:a"), at("start:c"))
      assert.isBelow(at("end:b"), at("start:d"))
      assert.isBelow(at("end:c"), at("start:d"))
      const events = result.events
      assert.isBelow(indexOf(events, "StepSucceeded", "a"), indexOf(events, "StepStarted", "b"))
      assert.isBelow(indexOf(events, "StepSucceeded", "b"), indexOf(events, "StepStarted", "d"))
      assert.isBelow(indexOf(events, "StepSucceeded", "c"), indexOf(events, "StepStarted", "d"))
      // steps are reported in the order they finished
      assert.strictEqual(result.steps.map((step) => step.id).at(0), "a")
      assert.strictEqual(result.steps.map((step) => step.id).at(-1), "d")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a chain runs in order", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const agent = Agent.make({
        name: "chain",
        tools: [probe.tool],
        planner: SequencePlanner.plan({
          steps: [
            { id: "3", tool: "work", args: { name: "3" }, dependsOn: ["2"] },
            { id: "2", tool: "work", args: { name: "2" }, dependsOn: ["1"] },
            { id: "1", tool: "work", args: { name: "1" } }
          ]
        })
      })
      yield* AgentRuntime.run(agent, "go")
      assert.deepStrictEqual(probe.log, ["start:1", "end:1", "start:2", "end:2", "start:3", "end:3"])
      assert.strictEqual(probe.stats.maxInFlight, 1)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a Planner.ref is a dependency (no dependsOn needed) and resolves to the whole output", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const agent = Agent.make({
        name: "refs",
        tools: [probe.tool, concat],
        planner: SequencePlanner.plan({
          steps: [
            { id: "join", tool: "concat", args: { parts: [Planner.ref("x"), "mid", Planner.ref("y")] } },
            { id: "x", tool: "work", args: { name: "left" } },
            { id: "y", tool: "work", args: { name: "right" } }
          ],
          answer: (results) => String(results.join)
        })
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "left+mid+right")
      const events = result.events
      assert.isBelow(indexOf(events, "StepSucceeded", "x"), indexOf(events, "StepStarted", "join"))
      assert.isBelow(indexOf(events, "StepSucceeded", "y"), indexOf(events, "StepStarted", "join"))
      const joinStarted = events[indexOf(events, "StepStarted", "join")]
      assert.deepStrictEqual(joinStarted?._tag === "StepStarted" ? joinStarted.args : undefined, {
        parts: ["left", "mid", "right"]
      })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a Planner.ref with a nested path resolves to that part of the output", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "paths",
        tools: [person, echo, concat],
        planner: SequencePlanner.plan({
          steps: [
            { id: "pet", tool: "echo", args: { text: Planner.ref("p", "pets", 1, "name") } },
            { id: "owner", tool: "echo", args: { text: Planner.ref("p", "name") } },
            { id: "p", tool: "person", args: {} },
            { id: "all", tool: "concat", args: { parts: [Planner.ref("owner"), Planner.ref("pet")] } }
          ]
        })
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "Ada+Rex")
      const pet = result.steps.find((step) => step.id === "pet")
      assert.deepStrictEqual(pet?.args, { text: "Rex" })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("references resolve to the encoded (JSON) output", () =>
    Effect.gen(function*() {
      const numbered = Tool.make("numbered", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Struct({ n: Schema.NumberFromString }),
        handler: () => Effect.succeed({ n: 7 })
      })
      const agent = Agent.make({
        name: "encoded",
        tools: [numbered, echo],
        planner: SequencePlanner.plan({
          steps: [
            { id: "n", tool: "numbered", args: {} },
            { id: "e", tool: "echo", args: { text: Planner.ref("n", "n") } }
          ]
        })
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "7")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a reference to a path that does not exist fails the run with PlanInvalid", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "missing",
        tools: [person, echo],
        planner: SequencePlanner.plan({
          steps: [
            { id: "p", tool: "person", args: {} },
            { id: "e", tool: "echo", args: { text: Planner.ref("p", "pets", 5, "name") } }
          ]
        })
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "PlanInvalid")
      if (error._tag !== "PlanInvalid") return
      assert.strictEqual(error.stepId, "e")
      assert.include(error.reason, "no such path")
      const events = yield* readJournal("run-1")
      assert.deepStrictEqual(tagsOf(events), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "StepFailed",
        "DecisionMade",
        "RunFailed"
      ])
      const failed = events.find((event) => event._tag === "StepFailed")
      assert.strictEqual(failed?._tag === "StepFailed" ? failed.error._tag : undefined, "PlanInvalid")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("references reach outputs of steps from earlier turns", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "turns",
        tools: [person, echo],
        planner: Testing.scriptedPlanner([
          Planner.runSteps([{ id: "p", tool: "person", args: {} }]),
          Planner.runSteps([{ id: "e", tool: "echo", args: { text: Planner.ref("p", "pets", 0, "kind") } }]),
          Planner.answer("done")
        ])
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "done")
      const e = result.steps.find((step) => step.id === "e")
      assert.strictEqual(e?._tag === "Succeeded" ? e.value : undefined, "cat")
      assert.deepStrictEqual(result.usage, { turns: 3, steps: 2 })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("independent steps run concurrently (each waits for the other to start)", () =>
    Effect.gen(function*() {
      const gates: Record<string, Deferred.Deferred<void>> = {
        a: Deferred.makeUnsafe<void>(),
        b: Deferred.makeUnsafe<void>()
      }
      const handshake = Tool.make("handshake", {
        description: "Signals its own gate, then waits for the other's",
        parameters: Schema.Struct({ me: Schema.String, other: Schema.String }),
        success: Schema.String,
        timeout: "1 second",
        handler: ({ me, other }) =>
          Deferred.succeed(gates[me]!, undefined).pipe(
            Effect.andThen(Deferred.await(gates[other]!)),
            Effect.as(me)
          )
      })
      const agent = Agent.make({
        name: "handshake",
        tools: [handshake],
        planner: SequencePlanner.plan({
          steps: [
            { id: "a", tool: "handshake", args: { me: "a", other: "b" } },
            { id: "b", tool: "handshake", args: { me: "b", other: "a" } }
          ]
        })
      })
      const fiber = yield* Effect.forkChild(Effect.result(AgentRuntime.run(agent, "go")))
      // If the steps ran one after the other, the first would wait forever and time out.
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Success", result._tag === "Failure" ? result.failure.message : "")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("with concurrency 1 the same handshake cannot complete (steps are serialised)", () =>
    Effect.gen(function*() {
      const gates: Record<string, Deferred.Deferred<void>> = {
        a: Deferred.makeUnsafe<void>(),
        b: Deferred.makeUnsafe<void>()
      }
      const handshake = Tool.make("handshake", {
        description: "",
        parameters: Schema.Struct({ me: Schema.String, other: Schema.String }),
        success: Schema.String,
        timeout: "1 second",
        handler: ({ me, other }) =>
          Deferred.succeed(gates[me]!, undefined).pipe(Effect.andThen(Deferred.await(gates[other]!)), Effect.as(me))
      })
      const agent = Agent.make({
        name: "handshake",
        tools: [handshake],
        concurrency: 1,
        planner: SequencePlanner.plan({
          steps: [
            { id: "a", tool: "handshake", args: { me: "a", other: "b" } },
            { id: "b", tool: "handshake", args: { me: "b", other: "a" } }
          ]
        })
      })
      const fiber = yield* Effect.forkChild(Effect.flip(AgentRuntime.run(agent, "go")))
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ToolTimeout")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("bounded concurrency: 6 independent steps with concurrency 2 never exceed 2 in flight", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const ids = ["s1", "s2", "s3", "s4", "s5", "s6"]
      const agent = Agent.make({
        name: "bounded",
        tools: [probe.tool],
        concurrency: 2,
        planner: SequencePlanner.plan({
          steps: ids.map((id) => ({ id, tool: "work", args: { name: id, sleepMs: 1000 } }))
        })
      })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(agent, "go"))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(probe.stats.maxInFlight, 2)
      assert.strictEqual(probe.log.filter((entry) => entry.startsWith("end:")).length, 6)
      assert.strictEqual(result.steps.length, 6)
      assert.deepStrictEqual(result.usage, { turns: 2, steps: 6 })
      // three waves of two one-second steps
      assert.strictEqual(result.durationMs, 3000)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("unbounded enough: 6 independent steps with the default concurrency all run at once", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const ids = ["s1", "s2", "s3", "s4", "s5", "s6"]
      const agent = Agent.make({
        name: "wide",
        tools: [probe.tool],
        planner: SequencePlanner.plan({
          steps: ids.map((id) => ({ id, tool: "work", args: { name: id, sleepMs: 1000 } }))
        })
      })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(agent, "go"))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(probe.stats.maxInFlight, 6)
      assert.strictEqual(result.durationMs, 1000)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a step waiting for its dependencies does not hold a concurrency permit", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      // with concurrency 1, "late" (listed first) waits for "early"; if it took the
      // only permit while waiting, the run would deadlock.
      const agent = Agent.make({
        name: "permits",
        tools: [probe.tool],
        concurrency: 1,
        planner: SequencePlanner.plan({
          steps: [
            { id: "late", tool: "work", args: { name: "late", sleepMs: 10 }, dependsOn: ["early"] },
            { id: "early", tool: "work", args: { name: "early", sleepMs: 10 } }
          ]
        })
      })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(agent, "go"))
      yield* TestClock.adjust("1 minute")
      const result = yield* Fiber.join(fiber)
      assert.deepStrictEqual(probe.log, ["start:early", "end:early", "start:late", "end:late"])
      assert.strictEqual(result.answer, "early")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a failed step skips its dependents (transitively); independent steps still run", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const agent = Agent.make({
        name: "failing",
        tools: [probe.tool, fails],
        planner: SequencePlanner.plan({
          steps: [
            { id: "bad", tool: "fails", args: { what: "the pump" } },
            { id: "child", tool: "work", args: { name: "child" }, dependsOn: ["bad"] },
            { id: "grandchild", tool: "work", args: { name: "grandchild" }, dependsOn: ["child"] },
            { id: "other", tool: "work", args: { name: "other" } }
          ]
        })
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      // the run fails with the failed step's own typed error
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.stepId, "bad")
      assert.strictEqual(error.reason, "the pump is broken")
      assert.instanceOf(error.cause, Broken)
      assert.deepStrictEqual(probe.log, ["start:other", "end:other"])

      const events = yield* readJournal("run-1")
      const skipped = events.flatMap((event) =>
        event._tag === "StepSkipped" ? [[event.stepId, event.blockedBy, event.tool]] : []
      )
      assert.deepStrictEqual(skipped, [["child", "bad", "work"], ["grandchild", "child", "work"]])
      const failed = events.find((event) => event._tag === "StepFailed")
      const info = failed?._tag === "StepFailed" ? failed.error : undefined
      assert.strictEqual(info?._tag, "ToolFailed")
      assert.strictEqual(info?.message, `step "bad": tool "fails" failed: the pump is broken`)
      // The error's own fields are journaled, so a replay can rebuild the same typed error.
      assert.deepInclude(info?.data as object, { tool: "fails", stepId: "bad", reason: "the pump is broken", defect: false })
      const last = events.at(-1)
      assert.strictEqual(last?._tag, "RunFailed")
      if (last?._tag !== "RunFailed") return
      assert.deepStrictEqual(last.error, { _tag: "ToolFailed", message: `step "bad": tool "fails" failed: the pump is broken` })
      assert.deepStrictEqual(last.usage, { turns: 2, steps: 2 })
      assert.strictEqual(indexOf(events, "StepStarted", "child"), -1)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the planner sees failed and skipped outcomes and may carry on", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const agent = Agent.make({
        name: "resilient",
        tools: [fails, echo],
        planner: {
          decide: (state) =>
            Effect.sync(() => {
              seen.push(state.steps.map((step) => `${step.id}:${step._tag}`).join(","))
              switch (state.turn) {
                case 1:
                  return Planner.runSteps([{ id: "bad", tool: "fails", args: { what: "x" } }])
                case 2:
                  return Planner.runSteps([{ id: "next", tool: "echo", args: { text: Planner.ref("bad") } }])
                default:
                  return Planner.answer(`recovered after ${state.steps.length} steps`)
              }
            })
        }
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "recovered after 2 steps")
      assert.deepStrictEqual(seen, ["", "bad:Failed", "bad:Failed,next:Skipped"])
      const next = result.steps[1]
      assert.strictEqual(next?._tag, "Skipped")
      if (next?._tag === "Skipped") assert.strictEqual(next.blockedBy, "bad")
      assert.deepStrictEqual(result.usage, { turns: 3, steps: 1 })
    }).pipe(Effect.provide(Testing.layer)))

  describe("invalid plans fail with PlanInvalid", () => {
    const run = (decisions: ReadonlyArray<Planner.Decision>) =>
      Effect.gen(function*() {
        const agent = Agent.make({ name: "invalid", tools: [echo], planner: Testing.scriptedPlanner(decisions) })
        const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
        assert.strictEqual(error._tag, "PlanInvalid")
        const events = yield* readJournal("run-1")
        // nothing of the invalid plan ran: the last decision is directly followed by RunFailed
        assert.deepStrictEqual(tagsOf(events.slice(-2)), ["DecisionMade", "RunFailed"])
        return error as Planner.PlanInvalid
      }).pipe(Effect.provide(Testing.layer))

    const step = (id: string, extra: Partial<Planner.PlanStep> = {}): Planner.PlanStep => ({
      id,
      tool: "echo",
      args: { text: id },
      ...extra
    })

    it.effect("duplicate step id", () =>
      Effect.gen(function*() {
        const error = yield* run([Planner.runSteps([step("a"), step("b"), step("a")])])
        assert.strictEqual(error.stepId, "a")
        assert.include(error.reason, "two steps share this id")
      }))

    it.effect("empty step id", () =>
      Effect.gen(function*() {
        const error = yield* run([Planner.runSteps([step("")])])
        assert.include(error.reason, "empty id")
      }))

    it.effect("unknown dependency", () =>
      Effect.gen(function*() {
        const error = yield* run([Planner.runSteps([step("a"), step("b", { dependsOn: ["ghost"] })])])
        assert.strictEqual(error.stepId, "b")
        assert.include(error.reason, `unknown step "ghost"`)
      }))

    it.effect("reference to an unknown step", () =>
      Effect.gen(function*() {
        const error = yield* run([Planner.runSteps([step("a"), step("b", { args: { text: Planner.ref("ghost") } })])])
        assert.strictEqual(error.stepId, "b")
        assert.include(error.reason, `unknown step "ghost"`)
      }))

    it.effect("dependency cycle", () =>
      Effect.gen(function*() {
        const error = yield* run([
          Planner.runSteps([
            step("a"),
            step("x", { dependsOn: ["z"] }),
            step("y", { dependsOn: ["x"] }),
            step("z", { args: { text: Planner.ref("y") } })
          ])
        ])
        assert.include(error.reason, "dependency cycle")
        assert.match(error.reason, /x -> z -> y -> x|y -> x -> z -> y|z -> y -> x -> z/)
      }))

    it.effect("a step that depends on itself", () =>
      Effect.gen(function*() {
        const error = yield* run([Planner.runSteps([step("a"), step("b", { dependsOn: ["b"] })])])
        assert.strictEqual(error.stepId, "b")
        assert.include(error.reason, "depends on itself")
      }))

    it.effect("an id reused from an earlier turn", () =>
      Effect.gen(function*() {
        const error = yield* run([Planner.runSteps([step("a")]), Planner.runSteps([step("b"), step("a")])])
        assert.strictEqual(error.stepId, "a")
        assert.include(error.reason, "earlier step of this run already used this id")
      }))

    it.effect("nothing runs when the plan is invalid", () =>
      Effect.gen(function*() {
        let calls = 0
        const counted = Tool.make("counted", {
          description: "",
          parameters: Schema.Struct({}),
          success: Schema.Number,
          handler: () => Effect.sync(() => ++calls)
        })
        const agent = Agent.make({
          name: "invalid",
          tools: [counted],
          planner: Testing.scriptedPlanner([
            Planner.runSteps([
              { id: "ok", tool: "counted", args: {} },
              { id: "loop1", tool: "counted", args: {}, dependsOn: ["loop2"] },
              { id: "loop2", tool: "counted", args: {}, dependsOn: ["loop1"] }
            ])
          ])
        })
        const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
        assert.strictEqual(error._tag, "PlanInvalid")
        assert.strictEqual(calls, 0)
      }).pipe(Effect.provide(Testing.layer)))
  })
})

// ---------------------------------------------------------------------------
// planner resolution
// ---------------------------------------------------------------------------

describe("LocalRuntime planner", () => {
  it.effect("no planner and no Planner service: PlannerFailed (and RunFailed journaled)", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "headless", tools: [echo] })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, `agent "headless" has no planner`)
      const events = yield* readJournal("run-1")
      assert.deepStrictEqual(tagsOf(events), ["RunStarted", "RunFailed"])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the Planner service is used when the agent has none", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "headless", tools: [echo] })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "from the service")
      assert.deepStrictEqual(result.usage, { turns: 2, steps: 1 })
      const step = result.steps[0]
      assert.strictEqual(step?._tag === "Succeeded" ? step.value : undefined, "served")
    }).pipe(
      Effect.provide(Testing.layer),
      Effect.provide(Testing.layerPlannerTest([
        Planner.runSteps([{ id: "s", tool: "echo", args: { text: "served" } }]),
        Planner.answer("from the service")
      ]))
    ))

  it.effect("the agent's own planner wins over the Planner service", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "own",
        tools: [echo],
        planner: Testing.scriptedPlanner([Planner.answer("mine")])
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "mine")
      assert.deepStrictEqual(result.usage, { turns: 1, steps: 0 })
    }).pipe(
      Effect.provide(Testing.layer),
      Effect.provide(Testing.layerPlannerTest([Planner.answer("service")]))
    ))

  it.effect("SequencePlanner.layerRules provides a rule planner as the service", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "headless", tools: [echo] })
      const result = yield* AgentRuntime.run(agent, "say cheese")
      assert.strictEqual(result.answer, "cheese")
    }).pipe(
      Effect.provide(Testing.layer),
      Effect.provide(SequencePlanner.layerRules([
        { match: /^say (\w+)$/, steps: (_, m) => [{ id: "s", tool: "echo", args: { text: m![1] } }] }
      ]))
    ))

  it.effect("a planner's Fail decision without a step: PlannerFailed with its reason", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "quitter", tools: [echo], planner: Testing.scriptedPlanner([Planner.fail("I give up")]) })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.strictEqual(error.message, "planner failed: I give up")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a Fail decision naming a step that did not fail: PlannerFailed", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "quitter",
        tools: [echo],
        planner: Testing.scriptedPlanner([
          Planner.runSteps([{ id: "s", tool: "echo", args: { text: "fine" } }]),
          Planner.fail("no reason", "s")
        ])
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "PlannerFailed")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a planner error fails the run with it", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "scripted", tools: [echo], planner: Testing.scriptedPlanner([]) })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "no decision for turn 1")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a planner that dies (a defect): the run fails and the journal still ends with a terminal event", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "buggy",
        tools: [echo],
        planner: { decide: () => Effect.die(new Error("planner bug")) }
      })
      const exit = yield* Effect.exit(AgentRuntime.run(agent, "go"))
      assert.strictEqual(exit._tag, "Failure")
      const events = yield* readJournal("run-1")
      assert.strictEqual(events[0]?._tag, "RunStarted")
      const last = events.at(-1)
      assert.isTrue(last !== undefined && RunEvent.isTerminal(last), `last event: ${last?._tag}`)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the planner receives the run state", () =>
    Effect.gen(function*() {
      const states: Array<{ runId: string; input: string; turn: number; threadId: string | undefined; agent: string }> = []
      const agent = Agent.make({
        name: "observer",
        tools: [echo],
        planner: {
          decide: (state) =>
            Effect.sync(() => {
              states.push({
                runId: state.runId,
                input: state.input,
                turn: state.turn,
                threadId: state.threadId,
                agent: state.agent.name
              })
              return state.turn === 1
                ? Planner.runSteps([{ id: "e", tool: "echo", args: { text: "x" } }])
                : Planner.answer(String(state.outcomes.get("e")?._tag))
            })
        }
      })
      const result = yield* AgentRuntime.run(agent, "question", { threadId: "t" })
      assert.strictEqual(result.answer, "Succeeded")
      assert.deepStrictEqual(states, [
        { runId: "run-1", input: "question", turn: 1, threadId: "t", agent: "observer" },
        { runId: "run-1", input: "question", turn: 2, threadId: "t", agent: "observer" }
      ])
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// budgets
// ---------------------------------------------------------------------------

describe("LocalRuntime budgets", () => {
  /** A planner that runs one new step per turn, forever. */
  const forever: Planner.PlannerShape = {
    decide: (state) => Effect.succeed(Planner.runSteps([{ id: `s${state.turn}`, tool: "echo", args: { text: "again" } }]))
  }

  it.effect("maxSteps: a plan that would exceed it fails with BudgetExceeded(steps) before running", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "greedy",
        tools: [echo],
        budget: { maxSteps: 2 },
        planner: SequencePlanner.plan({
          steps: [
            { id: "a", tool: "echo", args: { text: "a" } },
            { id: "b", tool: "echo", args: { text: "b" } },
            { id: "c", tool: "echo", args: { text: "c" } }
          ]
        })
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.strictEqual(error.budget, "steps")
      assert.strictEqual(error.limit, 2)
      assert.strictEqual(error.used, 3)
      assert.strictEqual(error.message, "budget exceeded: steps limit is 2, the run needed 3; raise budget.maxSteps in Agent.make or in the run's options")
      const events = yield* readJournal("run-1")
      assert.deepStrictEqual(tagsOf(events), ["RunStarted", "DecisionMade", "RunFailed"])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("maxSteps counts steps across turns", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "forever", tools: [echo], planner: forever, budget: { maxSteps: 3 } })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.budget, error.limit, error.used], ["steps", 3, 4])
      const last = (yield* readJournal("run-1")).at(-1)
      assert.strictEqual(last?._tag, "RunFailed")
      if (last?._tag === "RunFailed") {
        assert.deepStrictEqual(last.usage, { turns: 4, steps: 3 })
        assert.strictEqual(last.error._tag, "BudgetExceeded")
      }
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("maxTurns: BudgetExceeded(turns) with the limit", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "forever", tools: [echo], planner: forever, budget: { maxTurns: 3 } })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.budget, error.limit, error.used], ["turns", 3, 4])
      const events = yield* readJournal("run-1")
      assert.strictEqual(events.filter((event) => event._tag === "DecisionMade").length, 3)
      const last = events.at(-1)
      assert.strictEqual(last?._tag, "RunFailed")
      if (last?._tag === "RunFailed") {
        assert.deepStrictEqual(last.usage, { turns: 3, steps: 3 })
        assert.deepStrictEqual(last.error, {
          _tag: "BudgetExceeded",
          message: "budget exceeded: turns limit is 3, the run needed 4; raise budget.maxTurns in Agent.make or in the run's options"
        })
      }
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a run's budget option overrides the agent's", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "forever", tools: [echo], planner: forever, budget: { maxTurns: 50 } })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go", { budget: { maxTurns: 2 } }))
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.deepStrictEqual([error.budget, error.limit], ["turns", 2])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a run that stays within maxTurns exactly succeeds", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "tight",
        tools: [echo],
        budget: { maxTurns: 2, maxSteps: 1 },
        planner: SequencePlanner.plan({ steps: [{ id: "a", tool: "echo", args: { text: "fits" } }] })
      })
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "fits")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("maxWallTime: BudgetExceeded(wallTime), the running tool is interrupted, RunFailed journaled", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      let finalized = false
      const slow = Tool.make("slow", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () =>
          Effect.acquireRelease(Deferred.succeed(started, undefined), () => Effect.sync(() => (finalized = true))).pipe(
            Effect.andThen(Effect.sleep("1 hour")),
            Effect.as("late"),
            Effect.scoped
          )
      })
      const agent = Agent.make({
        name: "slowpoke",
        tools: [slow],
        budget: { maxWallTime: "5 seconds" },
        planner: SequencePlanner.plan({ steps: [{ id: "s", tool: "slow", args: {} }] })
      })
      const fiber = yield* Effect.forkChild(Effect.flip(AgentRuntime.run(agent, "go")))
      yield* Deferred.await(started)
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(finalized, false)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.strictEqual(error.budget, "wallTime")
      assert.strictEqual(error.limit, 5000)
      assert.strictEqual(error.used, 5000)
      assert.strictEqual(error.message, "budget exceeded: wallTime limit is 5000 ms, the run needed 5000 ms; raise budget.maxWallTime in Agent.make or in the run's options")
      assert.strictEqual(finalized, true)
      const events = yield* readJournal("run-1")
      const last = events.at(-1)
      assert.strictEqual(last?._tag, "RunFailed")
      if (last?._tag === "RunFailed") {
        assert.strictEqual(last.error._tag, "BudgetExceeded")
        assert.strictEqual(last.durationMs, 5000)
      }
      assert.strictEqual(events.filter((event) => event._tag === "RunInterrupted").length, 0)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("maxWallTime is not hit by a run that finishes in time", () =>
    Effect.gen(function*() {
      const probe = makeProbe()
      const agent = Agent.make({
        name: "quick",
        tools: [probe.tool],
        budget: { maxWallTime: "5 seconds" },
        planner: SequencePlanner.plan({ steps: [{ id: "s", tool: "work", args: { name: "s", sleepMs: 4000 } }] })
      })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(agent, "go"))
      yield* TestClock.adjust("10 seconds")
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result.answer, "s")
      assert.strictEqual(result.durationMs, 4000)
    }).pipe(Effect.provide(Testing.layer)))

  it("defaults: 500 steps, 100 turns, no wall time, concurrency 8", () => {
    const agent = Agent.make({ name: "defaults", tools: [] })
    assert.deepStrictEqual(agent.budget, {
      maxSteps: 500,
      maxTurns: 100,
      maxWallTime: undefined,
      maxTokens: undefined,
      maxCost: undefined
    })
    assert.strictEqual(agent.concurrency, 8)
    assert.deepStrictEqual(Agent.make({ name: "b", tools: [], budget: { maxTurns: 3 } }).budget, {
      maxSteps: 500,
      maxTurns: 3,
      maxWallTime: undefined,
      maxTokens: undefined,
      maxCost: undefined
    })
  })

  it("Agent.make rejects a concurrency that is not a positive integer", () => {
    assert.throws(() => Agent.make({ name: "zero", tools: [], concurrency: 0 }), /concurrency must be a positive integer/)
    assert.throws(() => Agent.make({ name: "half", tools: [], concurrency: 1.5 }), /concurrency must be a positive integer/)
  })
})

// ---------------------------------------------------------------------------
// interruption
// ---------------------------------------------------------------------------

describe("LocalRuntime interruption", () => {
  it.effect("interrupting a run interrupts its tool (finalizer runs) and journals RunInterrupted", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const released: Array<string> = []
      const blocking = Tool.make("blocking", {
        description: "",
        parameters: Schema.Struct({ name: Schema.String }),
        success: Schema.String,
        handler: ({ name }) =>
          Effect.gen(function*() {
            yield* Effect.addFinalizer(() => Effect.sync(() => released.push(name)))
            yield* Deferred.succeed(started, undefined)
            return yield* Effect.never
          }).pipe(Effect.scoped)
      })
      const agent = Agent.make({
        name: "blocked",
        tools: [blocking],
        planner: SequencePlanner.plan({ steps: [{ id: "b", tool: "blocking", args: { name: "b" } }] })
      })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(agent, "go"))
      yield* Deferred.await(started)
      assert.deepStrictEqual(released, [])
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(released, ["b"])
      const events = yield* readJournal("run-1")
      assert.deepStrictEqual(tagsOf(events), ["RunStarted", "DecisionMade", "StepStarted", "RunInterrupted"])
      const last = events.at(-1)
      if (last?._tag === "RunInterrupted") {
        assert.strictEqual(last.runId, "run-1")
        assert.deepStrictEqual(last.usage, { turns: 1, steps: 0 })
      }
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("interrupting a run with concurrent steps interrupts every one of them", () =>
    Effect.gen(function*() {
      const released: Array<string> = []
      let startedCount = 0
      const allStarted = yield* Deferred.make<void>()
      const blocking = Tool.make("blocking", {
        description: "",
        parameters: Schema.Struct({ name: Schema.String }),
        success: Schema.String,
        handler: ({ name }) =>
          Effect.gen(function*() {
            if (++startedCount === 3) yield* Deferred.succeed(allStarted, undefined)
            return yield* Effect.never
          }).pipe(Effect.onInterrupt(() => Effect.sync(() => released.push(name))))
      })
      const agent = Agent.make({
        name: "blocked",
        tools: [blocking],
        planner: SequencePlanner.plan({
          steps: ["x", "y", "z"].map((id) => ({ id, tool: "blocking", args: { name: id } }))
        })
      })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(agent, "go"))
      yield* Deferred.await(allStarted)
      yield* Fiber.interrupt(fiber)
      assert.sameMembers(released, ["x", "y", "z"])
      const events = yield* readJournal("run-1")
      assert.strictEqual(events.at(-1)?._tag, "RunInterrupted")
      assert.strictEqual(events.filter((event) => event._tag === "RunFailed").length, 0)
    }).pipe(Effect.provide(Testing.layer)))
})
