import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Journal,
  JournalFile,
  JournalMemory,
  LocalRuntime,
  Memory,
  MemoryInMemory,
  Planner,
  Replay,
  type RunEvent,
  SequencePlanner,
  Tool
} from "graphent"
import * as Testing from "graphent/testing"
import echo from "../../examples/echo.js"
import todo, { add, complete, list } from "../../examples/todo.js"
import wordstats from "../../examples/wordstats.js"

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

type Event = RunEvent.RunEvent

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/journals/${name}.jsonl`, import.meta.url))

const readFixture = (name: string) => Effect.map(JournalFile.readFile(fixture(name)), (contents) => contents.events)

const tagsOf = (events: ReadonlyArray<Event>) => events.map((event) => event._tag)

const stepEvent = <T extends Event["_tag"]>(events: ReadonlyArray<Event>, tag: T, stepId: string) =>
  events.find((event) => event._tag === tag && "stepId" in event && event.stepId === stepId) as
    | Extract<Event, { _tag: T }>
    | undefined

const indexOfStep = (events: ReadonlyArray<Event>, tag: Event["_tag"], stepId: string) =>
  events.findIndex((event) => event._tag === tag && "stepId" in event && event.stepId === stepId)

const countOf = (events: ReadonlyArray<Event>, tag: Event["_tag"], stepId?: string) =>
  events.filter((event) =>
    event._tag === tag && (stepId === undefined || ("stepId" in event && event.stepId === stepId))
  ).length

/** The recorded answer (RunCompleted) of a journal. */
const answerOf = (events: ReadonlyArray<Event>): string => {
  const end = events.find((event) => event._tag === "RunCompleted")
  if (end?._tag !== "RunCompleted") throw new Error("no RunCompleted")
  return end.answer
}

/** Narrows a failure to a ReplayDivergence (the assertion fails otherwise). */
const asDivergence = (error: { readonly _tag: string }): Replay.ReplayDivergence => {
  assert.strictEqual(error._tag, "ReplayDivergence", `expected ReplayDivergence, got ${error._tag}`)
  return error as Replay.ReplayDivergence
}

/** Replaces the args of the recorded StepStarted of `stepId` (and nothing else). */
const tamperStepArgs = (events: ReadonlyArray<Event>, stepId: string, args: unknown): ReadonlyArray<Event> =>
  events.map((event) => event._tag === "StepStarted" && event.stepId === stepId ? { ...event, args } : event)

/**
 * A runtime over `journal`. Fresh: layers are memoized across `Effect.provide`s,
 * so without it a test already under `Testing.layer` would get that layer's runtime.
 */
const runtimeOver = (journal: Journal.JournalShape) =>
  Layer.fresh(Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(Layer.succeed(Journal.Journal, journal))),
    MemoryInMemory.layer,
    Testing.layerSequentialIds()
  ))

/**
 * A journal over memory whose process "dies" when it is asked to append the
 * first event matching `crashOn`: that append fails, and nothing is written
 * afterwards (the dead process writes no RunFailed either).
 */
const crashingJournal = (crashOn: (event: Event) => boolean) => {
  const inner = JournalMemory.make()
  let crashed = false
  const journal: Journal.JournalShape = {
    read: inner.read,
    runs: inner.runs,
    append: (event) =>
      Effect.suspend(() => {
        if (crashed) return Effect.void
        if (crashOn(event)) {
          crashed = true
          return Effect.fail(
            new Journal.JournalError({ backend: "crash", operation: "append", reason: "simulated crash" })
          )
        }
        return inner.append(event)
      })
  }
  return journal
}

/** Runs `agent` live until the simulated crash; returns what the journal holds of the run. */
const recordCrash = <R>(agent: Agent.Agent<R>, input: string, crashOn: (event: Event) => boolean) => {
  const journal = crashingJournal(crashOn)
  return Effect.gen(function*() {
    const error = yield* Effect.flip(AgentRuntime.run(agent, input))
    assert.strictEqual(error._tag, "JournalError")
    return yield* journal.read("run-1")
  }).pipe(Effect.provide(runtimeOver(journal)))
}

/** A memory journal that already holds `events`. */
const journalHolding = (events: ReadonlyArray<Event>) =>
  Effect.gen(function*() {
    const journal = JournalMemory.make()
    yield* Effect.forEach(events, journal.append, { discard: true })
    return journal
  })

// ---------------------------------------------------------------------------
// agents
// ---------------------------------------------------------------------------

/** The todo agent with other rules: every `add` text is upper-cased. */
const todoShouting = Agent.make({
  name: "todo",
  tools: [add, list, complete],
  planner: SequencePlanner.rules([{
    match: () => true,
    steps: (input) =>
      input.split(";").map((command, index) => {
        const text = command.trim()
        const id = `${index + 1}`
        const step: Planner.PlanStep = text.startsWith("add ")
          ? { id, tool: "add", args: { text: text.slice(4).toUpperCase() } }
          : text.startsWith("done ")
          ? { id, tool: "complete", args: { id: Number(text.slice(5)) } }
          : { id, tool: "list", args: {} }
        return index === 0 ? step : { ...step, dependsOn: [`${index}`] }
      })
  }])
})

/** The todo agent's exact plan for "add buy milk; add call mom; done 1; list". */
const todoPlan: ReadonlyArray<Planner.PlanStep> = [
  { id: "1", tool: "add", args: { text: "buy milk" } },
  { id: "2", tool: "add", args: { text: "call mom" }, dependsOn: ["1"] },
  { id: "3", tool: "complete", args: { id: 1 }, dependsOn: ["2"] },
  { id: "4", tool: "list", args: {}, dependsOn: ["3"] }
]

/**
 * A 4-step chain; each step appends its label to the previous step's trail
 * and counts how often its handler ran.
 */
const makeChain = (options: { readonly idempotent: boolean; readonly name?: string }) => {
  const counts: Record<string, number> = {}
  let decisions = 0
  const bump = Tool.make("bump", {
    description: "Appends its label to the trail",
    parameters: Schema.Struct({ label: Schema.String, trail: Schema.String }),
    success: Schema.String,
    idempotent: options.idempotent,
    handler: ({ label, trail }) =>
      Effect.sync(() => {
        counts[label] = (counts[label] ?? 0) + 1
        return `${trail}>${label}`
      })
  })
  const steps: ReadonlyArray<Planner.PlanStep> = ["1", "2", "3", "4"].map((id, index) => ({
    id,
    tool: "bump",
    args: { label: id, trail: index === 0 ? "start" : Planner.ref(`${index}`) }
  }))
  const plan = SequencePlanner.plan({ steps, answer: (results) => `trail ${String(results["4"])}` })
  const agent = Agent.make({
    name: options.name ?? "chain",
    tools: [bump],
    planner: {
      decide: (state) => {
        decisions++
        return plan.decide(state)
      }
    }
  })
  return {
    agent,
    counts,
    decisions: () => decisions,
    reset: () => {
      for (const key of Object.keys(counts)) delete counts[key]
      decisions = 0
    }
  }
}

const chainAnswer = "trail start>1>2>3>4"

/** A `note` tool that counts its calls and upper-cases its text. */
const makeNote = () => {
  const counts: Record<string, number> = {}
  const note = Tool.make("note", {
    description: "Upper-cases a text",
    parameters: Schema.Struct({ text: Schema.String }),
    success: Schema.String,
    handler: ({ text }, { stepId }) =>
      Effect.sync(() => {
        counts[stepId] = (counts[stepId] ?? 0) + 1
        return text.toUpperCase()
      })
  })
  return { note, counts }
}

/** Three chained `note` steps in one plan. */
const makeNotes = (texts: readonly [string, string, string]) => {
  const { counts, note } = makeNote()
  const agent = Agent.make({
    name: "notes",
    tools: [note],
    planner: SequencePlanner.plan({
      steps: texts.map((text, index) => ({
        id: `${index + 1}`,
        tool: "note",
        args: { text },
        ...(index === 0 ? {} : { dependsOn: [`${index}`] })
      })),
      answer: (results) => [results["1"], results["2"], results["3"]].join(",")
    })
  })
  return { agent, counts }
}

/** One `note` step per turn, then the answer. */
const makeNotesPerTurn = (texts: ReadonlyArray<string>) => {
  const { counts, note } = makeNote()
  const agent = Agent.make({
    name: "notes-per-turn",
    tools: [note],
    planner: {
      decide: (state) =>
        Effect.succeed(
          state.turn <= texts.length
            ? Planner.runSteps([{ id: `${state.turn}`, tool: "note", args: { text: texts[state.turn - 1] } }])
            : Planner.answer(state.steps.map((step) => step._tag === "Succeeded" ? String(step.value) : "?").join(","))
        )
    }
  })
  return { agent, counts }
}

// ---------------------------------------------------------------------------
// 1. golden journals
// ---------------------------------------------------------------------------

describe("Replay: golden journals", () => {
  const goldens = [
    { name: "echo", agent: echo, events: 6 },
    { name: "todo", agent: todo, events: 12 },
    { name: "wordstats", agent: wordstats, events: 12 }
  ] as const

  for (const golden of goldens) {
    it.effect(`${golden.name}.jsonl replays identical`, () =>
      Effect.gen(function*() {
        const recorded = yield* readFixture(golden.name)
        assert.strictEqual(recorded.length, golden.events)
        const report = yield* Testing.replayJournal(golden.agent as Agent.Agent<never>, fixture(golden.name))
        assert.strictEqual(report.runId, recorded[0]!.runId)
        assert.strictEqual(report.identical, recorded.length)
        assert.deepStrictEqual(report.outcome, { answer: answerOf(recorded) })
      }))
  }

  it.effect("the recorded answers are the ones the examples give", () =>
    Effect.gen(function*() {
      assert.strictEqual(answerOf(yield* readFixture("echo")), "hello, journal")
      assert.strictEqual(
        answerOf(yield* readFixture("todo")),
        "Added #1: buy milk\nAdded #2: call mom\nDone #1: buy milk\n[x] #1 buy milk\n[ ] #2 call mom"
      )
      assert.strictEqual(answerOf(yield* readFixture("wordstats")), "9 words (8 distinct); the longest is \"quick\".")
    }))

  it.effect("todo-failed.jsonl (ToolFailed: there is no todo #7) replays identical, failing the same way", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo-failed")
      assert.strictEqual(recorded.length, 8)
      const end = recorded[recorded.length - 1]!
      assert.strictEqual(end._tag, "RunFailed")
      const report = yield* Testing.replayJournal(todo, fixture("todo-failed"))
      assert.strictEqual(report.identical, 8)
      assert.isTrue("error" in report.outcome)
      if (!("error" in report.outcome) || end._tag !== "RunFailed") return
      assert.strictEqual(report.outcome.error._tag, "ToolFailed")
      assert.strictEqual(report.outcome.error.message, end.error.message)
      assert.include(report.outcome.error.message, "there is no todo #7")
    }))

  it.effect("replayJournal runs on a fresh layer: the caller's journal is untouched", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: true })
      const live = yield* AgentRuntime.run(chain.agent, "go")
      yield* Testing.replayJournal(echo, fixture("echo"))
      const runs = yield* Journal.Journal.use((journal) => journal.runs)
      assert.deepStrictEqual(runs, [live.runId])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("golden replays journal the same events as the recording (timing included)", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      yield* Replay.replay(todo, recorded)
      const journaled = yield* Journal.Journal.use((journal) => journal.read(recorded[0]!.runId))
      assert.deepStrictEqual(tagsOf(journaled), tagsOf(recorded))
      // everything but the (new) trace id is as recorded
      const strip = (events: ReadonlyArray<Event>) =>
        events.map((event) => event._tag === "RunStarted" ? { ...event, traceId: "" } : event)
      assert.deepStrictEqual(strip(journaled), strip(recorded))
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// 2. concurrency
// ---------------------------------------------------------------------------

describe("Replay: concurrent steps", () => {
  const Text = Schema.Struct({ text: Schema.String })
  const words = (text: string) => text.split(/\s+/).filter((word) => word !== "")
  const jitter = Effect.suspend(() => Effect.sleep(Math.floor(Math.random() * 6)))
  const calls = { count: 0 }
  const measure = <A>(name: string, success: Schema.Codec<A, A>, f: (text: string) => A) =>
    Tool.make(name, {
      description: name,
      parameters: Text,
      success,
      idempotent: true,
      handler: ({ text }) =>
        jitter.pipe(Effect.andThen(Effect.sync(() => {
          calls.count++
          return f(text)
        })))
    })
  const jittery = Agent.make({
    name: "wordstats-jitter",
    tools: [
      measure("count_words", Schema.Number, (text) => words(text).length),
      measure("longest_word", Schema.String, (text) =>
        words(text).reduce((best, word) => word.length > best.length ? word : best, "")),
      measure("distinct_words", Schema.Number, (text) => new Set(words(text.toLowerCase())).size),
      Tool.make("summarize", {
        description: "summary",
        parameters: Schema.Struct({ words: Schema.Number, distinct: Schema.Number, longest: Schema.String }),
        success: Schema.String,
        handler: ({ distinct, longest, words }) => Effect.succeed(`${words}/${distinct}/${longest}`)
      })
    ],
    planner: SequencePlanner.plan({
      steps: [
        { id: "words", tool: "count_words", args: { text: "the quick brown fox jumps over the lazy dog" } },
        { id: "longest", tool: "longest_word", args: { text: "the quick brown fox jumps over the lazy dog" } },
        { id: "distinct", tool: "distinct_words", args: { text: "the quick brown fox jumps over the lazy dog" } },
        {
          id: "summary",
          tool: "summarize",
          args: { words: Planner.ref("words"), distinct: Planner.ref("distinct"), longest: Planner.ref("longest") }
        }
      ]
    })
  })

  it.live("a live recording with random completion order replays identical 50 times out of 50", () =>
    Effect.gen(function*() {
      const recordings: Array<ReadonlyArray<Event>> = []
      for (let i = 0; i < 5; i++) {
        const result = yield* AgentRuntime.run(jittery, "measure")
        assert.strictEqual(result.answer, "9/8/quick")
        const journaled = yield* Journal.Journal.use((journal) => journal.read(result.runId))
        assert.deepStrictEqual(journaled, result.events)
        assert.strictEqual(journaled.length, 12)
        recordings.push(journaled)
      }
      assert.strictEqual(calls.count, 15)
      const identical: Array<number> = []
      const answers = new Set<string>()
      for (let i = 0; i < 50; i++) {
        const recording = recordings[i % recordings.length]!
        const report = yield* Replay.replay(jittery, recording)
        identical.push(report.identical)
        answers.add("answer" in report.outcome ? report.outcome.answer : `error ${report.outcome.error._tag}`)
      }
      assert.deepStrictEqual(identical, Array.from({ length: 50 }, () => 12))
      assert.deepStrictEqual([...answers], ["9/8/quick"])
      // replay never ran a measurement
      assert.strictEqual(calls.count, 15)
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// 3. divergence
// ---------------------------------------------------------------------------

describe("Replay: divergence", () => {
  it.effect("a tampered tool argument: kind step, at the step, index of its StepStarted, diff args.text", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const tampered = tamperStepArgs(recorded, "2", { text: "call dad" })
      const error = asDivergence(yield* Effect.flip(Replay.replay(todo, tampered)))
      assert.strictEqual(error.kind, "step")
      assert.strictEqual(error.at, "2")
      assert.strictEqual(error.index, indexOfStep(recorded, "StepStarted", "2"))
      assert.strictEqual(error.index, 4)
      assert.deepStrictEqual(JSON.parse(error.recorded), { tool: "add", args: { text: "call dad" } })
      assert.deepStrictEqual(JSON.parse(error.requested), { tool: "add", args: { text: "call mom" } })
      assert.deepStrictEqual(error.diff, ["args.text: \"call dad\" → \"call mom\""])
      assert.include(error.message, "step \"2\"")
      assert.include(error.message, "#4")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("an agent whose rules plan other args: kind decision at turn 1", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const error = asDivergence(yield* Effect.flip(Replay.replay(todoShouting, recorded)))
      assert.strictEqual(error.kind, "decision")
      assert.strictEqual(error.at, "1")
      assert.strictEqual(error.index, 1)
      assert.deepStrictEqual(error.diff, [
        "steps[0].args.text: \"buy milk\" → \"BUY MILK\"",
        "steps[1].args.text: \"call mom\" → \"CALL MOM\""
      ])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("an agent that plans another tool: kind decision at turn 1, diff on the tool", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const other = Agent.make({
        name: "todo",
        tools: [add, list, complete],
        planner: SequencePlanner.plan({
          steps: todoPlan.map((step) => step.id === "4" ? { ...step, tool: "add", args: { text: "x" } } : step)
        })
      })
      const error = asDivergence(yield* Effect.flip(Replay.replay(other, recorded)))
      assert.strictEqual(error.kind, "decision")
      assert.strictEqual(error.at, "1")
      assert.includeMembers([...error.diff], ["steps[3].tool: \"list\" → \"add\""])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("same steps, another answer function: the Answer decision of turn 2 diverges", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const other = Agent.make({
        name: "todo",
        tools: [add, list, complete],
        planner: SequencePlanner.plan({ steps: todoPlan, answer: () => "all done" })
      })
      const error = asDivergence(yield* Effect.flip(Replay.replay(other, recorded)))
      // The answer is part of the turn-2 decision, which is checked before the outcome.
      assert.strictEqual(error.kind, "decision")
      assert.strictEqual(error.at, "2")
      assert.strictEqual(error.index, recorded.findIndex((e) => e._tag === "DecisionMade" && e.turn === 2))
      assert.strictEqual(error.diff.length, 1)
      assert.match(error.diff[0]!, /^answer: "Added #1: buy milk\\nAdded #2.*" → "all done"$/)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("same steps, but the run fails where the recording answered: kind outcome", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const other = Agent.make({
        name: "todo",
        tools: [add, list, complete],
        planner: SequencePlanner.plan({
          steps: todoPlan,
          answer: () => {
            throw new Error("no answer today")
          }
        })
      })
      const error = asDivergence(yield* Effect.flip(Replay.replay(other, recorded)))
      assert.strictEqual(error.kind, "outcome")
      assert.strictEqual(error.at, "end")
      assert.strictEqual(error.index, recorded.length - 1)
      assert.strictEqual(recorded[error.index]!._tag, "RunCompleted")
      assert.deepStrictEqual(JSON.parse(error.recorded), { answer: answerOf(recorded) })
      assert.strictEqual(JSON.parse(error.requested).error._tag, "PlannerFailed")
      assert.isTrue(error.diff.some((line) => line.startsWith("answer:")))
      assert.isTrue(error.diff.some((line) => line.startsWith("error:") || line.startsWith("error.")))
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the recorded run failed, the replay answers: divergence (not a faithful replay)", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo-failed")
      // same plan, but step 2's failure is ignored by the answer
      const other = Agent.make({
        name: "todo",
        tools: [add, list, complete],
        planner: SequencePlanner.plan({
          steps: [
            { id: "1", tool: "add", args: { text: "tea" } },
            { id: "2", tool: "complete", args: { id: 7 }, dependsOn: ["1"] }
          ]
        })
      })
      // SequencePlanner fails with the step's error: identical
      const report = yield* Replay.replay(other, recorded)
      assert.strictEqual(report.identical, 8)
      const answering = Agent.make({
        name: "todo",
        tools: [add, list, complete],
        planner: {
          decide: (state) =>
            state.turn === 1
              ? Effect.succeed(Planner.runSteps([
                { id: "1", tool: "add", args: { text: "tea" } },
                { id: "2", tool: "complete", args: { id: 7 }, dependsOn: ["1"] }
              ]))
              : Effect.succeed(Planner.answer("fine"))
        }
      })
      const error = asDivergence(yield* Effect.flip(Replay.replay(answering, recorded)))
      assert.strictEqual(error.kind, "decision")
      assert.strictEqual(error.at, "2")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("another agent name: ReplayUnavailable before anything runs", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: true })
      const result = yield* AgentRuntime.run(chain.agent, "go")
      assert.strictEqual(result.answer, chainAnswer)
      const other = makeChain({ idempotent: true, name: "chain-2" })
      const error = yield* Effect.flip(Replay.replay(other.agent, result.events))
      assert.strictEqual(error._tag, "ReplayUnavailable")
      if (error._tag !== "ReplayUnavailable") return
      assert.include(error.reason, "\"chain\"")
      assert.include(error.reason, "\"chain-2\"")
      assert.deepStrictEqual(other.counts, {})
      assert.strictEqual(other.decisions(), 0)
      // nothing was journaled for the run either
      const journaled = yield* Journal.Journal.use((journal) => journal.read(result.runId))
      assert.strictEqual(journaled.length, result.events.length)
      // resume and update refuse the same way
      assert.strictEqual((yield* Effect.flip(Replay.update(other.agent, result.events)))._tag, "ReplayUnavailable")
      assert.strictEqual(
        (yield* Effect.flip(Replay.resume(other.agent, result.events.slice(0, 4))))._tag,
        "ReplayUnavailable"
      )
      assert.strictEqual(other.decisions(), 0)
      assert.deepStrictEqual(other.counts, {})
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a journal with two runs needs a runId; with one it replays that run", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: true })
      const first = yield* AgentRuntime.run(chain.agent, "go")
      const second = yield* AgentRuntime.run(chain.agent, "again")
      const both = [...first.events, ...second.events]
      const error = yield* Effect.flip(Replay.replay(chain.agent, both))
      assert.strictEqual(error._tag, "ReplayUnavailable")
      if (error._tag === "ReplayUnavailable") assert.include(error.reason, "2 runs")
      const report = yield* Replay.replay(chain.agent, both, { runId: second.runId })
      assert.strictEqual(report.runId, "run-2")
      assert.strictEqual(report.identical, second.events.length)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("replay never executes tools", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: false })
      const result = yield* AgentRuntime.run(chain.agent, "go")
      assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1, "4": 1 })
      chain.reset()
      const report = yield* Replay.replay(chain.agent, result.events)
      assert.strictEqual(report.identical, result.events.length)
      assert.deepStrictEqual(report.outcome, { answer: chainAnswer })
      assert.deepStrictEqual(chain.counts, {})
      // the planner did run (decisions are re-computed and checked)
      assert.strictEqual(chain.decisions(), 2)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a recorded result that no longer decodes is a step divergence at its outcome", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("echo")
      const tampered = recorded.map((event) =>
        event._tag === "StepSucceeded" ? { ...event, result: 42 } : event
      )
      const error = asDivergence(yield* Effect.flip(Replay.replay(echo, tampered)))
      assert.strictEqual(error.kind, "step")
      assert.strictEqual(error.at, "echo")
      assert.strictEqual(error.index, indexOfStep(recorded, "StepSucceeded", "echo"))
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// 4. resume
// ---------------------------------------------------------------------------

describe("Replay.resume", () => {
  const isSucceeded = (stepId: string) => (event: Event) => event._tag === "StepSucceeded" && event.stepId === stepId
  const isStarted = (stepId: string) => (event: Event) => event._tag === "StepStarted" && event.stepId === stepId

  it.effect("an uninterrupted chain run answers the reference answer", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: false })
      const result = yield* AgentRuntime.run(chain.agent, "go")
      assert.strictEqual(result.answer, chainAnswer)
      assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1, "4": 1 })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("(a) crash after step 2 succeeded: resume runs only steps 3 and 4", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: false })
      // the process dies when it is about to journal step 3's start
      const prefix = yield* recordCrash(chain.agent, "go", isStarted("3"))
      assert.deepStrictEqual(tagsOf(prefix), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded"
      ])
      assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1 })

      const journal = yield* journalHolding(prefix)
      const result = yield* Replay.resume(chain.agent, prefix).pipe(Effect.provide(runtimeOver(journal)))
      assert.strictEqual(result.answer, chainAnswer)
      assert.strictEqual(result.runId, "run-1")
      // across the crashed run and the resume, each handler ran exactly once
      assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1, "4": 1 })
      assert.strictEqual(countOf(result.events, "RunResumed"), 1)
      assert.deepStrictEqual(tagsOf(result.events), [
        "RunStarted",
        "RunResumed",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])
      // the replayed prefix carries the recorded events
      assert.deepStrictEqual(stepEvent(result.events, "StepSucceeded", "2"), stepEvent(prefix, "StepSucceeded", "2"))
      // the journal: the prefix once, then RunResumed and the rest
      const journaled = yield* journal.read("run-1")
      assert.deepStrictEqual(journaled.slice(0, prefix.length), prefix)
      assert.deepStrictEqual(tagsOf(journaled.slice(prefix.length)), [
        "RunResumed",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])
      // and the whole journal is now a finished run that replays identical, without executing anything
      chain.reset()
      const report = yield* Replay.replay(chain.agent, journaled).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, journaled.length - 1) // all but RunResumed
      assert.deepStrictEqual(report.outcome, { answer: chainAnswer })
      assert.deepStrictEqual(chain.counts, {})
    }))

  it.effect("(a') resume from a cut of a full recording: the answer is the uninterrupted one", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: false })
      const full = yield* AgentRuntime.run(chain.agent, "go")
      const cut = full.events.slice(0, full.events.findIndex(isSucceeded("2")) + 1)
      assert.strictEqual(cut.length, 6)
      chain.reset()
      const result = yield* Replay.resume(chain.agent, cut).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(result.answer, full.answer)
      assert.deepStrictEqual(chain.counts, { "3": 1, "4": 1 })
      assert.deepStrictEqual(stepEvent(result.events, "StepSucceeded", "2"), stepEvent(full.events, "StepSucceeded", "2"))
    }).pipe(Effect.provide(Testing.layer)))

  describe("(b) crash while step 3 was in flight (StepStarted, no outcome)", () => {
    const crashInFlight = (idempotent: boolean) =>
      Effect.gen(function*() {
        const chain = makeChain({ idempotent })
        const prefix = yield* recordCrash(chain.agent, "go", isSucceeded("3"))
        assert.strictEqual(prefix[prefix.length - 1]!._tag, "StepStarted")
        assert.isTrue(isStarted("3")(prefix[prefix.length - 1]!))
        // step 3's handler did run before the crash
        assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1 })
        return { chain, prefix }
      })

    it.effect("idempotent tool: step 3 runs again", () =>
      Effect.gen(function*() {
        const { chain, prefix } = yield* crashInFlight(true)
        const result = yield* Replay.resume(chain.agent, prefix)
        assert.strictEqual(result.answer, chainAnswer)
        assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 2, "4": 1 })
        assert.strictEqual(countOf(result.events, "StepStarted", "3"), 1)
        assert.strictEqual(countOf(result.events, "StepSucceeded", "3"), 1)
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("non-idempotent tool: ResumeUnsafe naming step 3 and the tool; nothing runs", () =>
      Effect.gen(function*() {
        const { chain, prefix } = yield* crashInFlight(false)
        const error = yield* Effect.flip(Replay.resume(chain.agent, prefix))
        assert.strictEqual(error._tag, "ResumeUnsafe")
        if (error._tag !== "ResumeUnsafe") return
        assert.strictEqual(error.stepId, "3")
        assert.strictEqual(error.tool, "bump")
        assert.deepStrictEqual(JSON.parse(error.args), { label: "3", trail: "start>1>2" })
        assert.include(error.message, "--assume-done 3")
        assert.include(error.message, "--retry 3")
        assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1 })
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("non-idempotent tool, retry [\"3\"]: step 3 runs again", () =>
      Effect.gen(function*() {
        const { chain, prefix } = yield* crashInFlight(false)
        const result = yield* Replay.resume(chain.agent, prefix, { retry: ["3"] })
        assert.strictEqual(result.answer, chainAnswer)
        assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 2, "4": 1 })
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("non-idempotent tool, assumeDone [\"3\"]: step 3 is a ToolFailed \"assumed done\", the run fails", () =>
      Effect.gen(function*() {
        const { chain, prefix } = yield* crashInFlight(false)
        const error = yield* Effect.flip(Replay.resume(chain.agent, prefix, { assumeDone: ["3"] }))
        assert.strictEqual(error._tag, "ToolFailed")
        if (error._tag !== "ToolFailed") return
        assert.strictEqual(error.stepId, "3")
        assert.strictEqual(error.tool, "bump")
        assert.include(error.reason, "assumed done")
        // nothing ran again; step 4 was skipped
        assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1 })
        const journaled = yield* Journal.Journal.use((journal) => journal.read("run-1"))
        const failed = stepEvent(journaled, "StepFailed", "3")
        assert.isDefined(failed)
        assert.include(failed!.error.message, "assumed done")
        const skipped = stepEvent(journaled, "StepSkipped", "4")
        assert.strictEqual(skipped?.blockedBy, "3")
        assert.strictEqual(journaled[journaled.length - 1]!._tag, "RunFailed")
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("after ResumeUnsafe, the journal can still be resumed with retry (as the error message says)", () =>
      Effect.gen(function*() {
        const { chain, prefix } = yield* crashInFlight(false)
        const journal = yield* journalHolding(prefix)
        const layer = runtimeOver(journal)
        const error = yield* Effect.flip(Replay.resume(chain.agent, prefix).pipe(Effect.provide(layer)))
        assert.strictEqual(error._tag, "ResumeUnsafe")
        // what `graphent resume --retry 3` does next: read the journal again and resume
        const events = yield* journal.read("run-1")
        const result = yield* Replay.resume(chain.agent, events, { retry: ["3"] }).pipe(Effect.provide(layer))
        assert.strictEqual(result.answer, chainAnswer)
      }))
  })

  it.effect("(c) resuming a finished run: ReplayUnavailable", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: true })
      const full = yield* AgentRuntime.run(chain.agent, "go")
      chain.reset()
      const error = yield* Effect.flip(Replay.resume(chain.agent, full.events))
      assert.strictEqual(error._tag, "ReplayUnavailable")
      if (error._tag === "ReplayUnavailable") assert.include(error.reason, "already finished")
      assert.deepStrictEqual(chain.counts, {})
      assert.strictEqual(chain.decisions(), 0)
      const failed = yield* Effect.flip(Replay.resume(todo, yield* readFixture("todo-failed")))
      assert.strictEqual(failed._tag, "ReplayUnavailable")
      if (failed._tag === "ReplayUnavailable") assert.include(failed.reason, "RunFailed")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("(d) a strict replay of an unfinished run: ReplayUnavailable pointing to resume", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: true })
      const prefix = yield* recordCrash(chain.agent, "go", isStarted("3"))
      chain.reset()
      const error = yield* Effect.flip(Replay.replay(chain.agent, prefix))
      assert.strictEqual(error._tag, "ReplayUnavailable")
      if (error._tag === "ReplayUnavailable") {
        assert.include(error.reason, "resume")
        assert.include(error.reason, "did not finish")
      }
      assert.deepStrictEqual(chain.counts, {})
      assert.strictEqual(chain.decisions(), 0)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("(e) resume through a JournalFile that holds the prefix; the file then replays identical", () =>
    Effect.gen(function*() {
      const chain = makeChain({ idempotent: false })
      const prefix = yield* recordCrash(chain.agent, "go", isStarted("3"))
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-replay-"))
      const file = path.join(dir, "run.jsonl")
      try {
        const fileLayer = Layer.fresh(Layer.mergeAll(
          LocalRuntime.layer.pipe(Layer.provideMerge(JournalFile.layer({ path: file }))),
          MemoryInMemory.layer
        ))
        // the file as the crashed process left it
        yield* Journal.Journal.use((journal) => Effect.forEach(prefix, journal.append, { discard: true })).pipe(
          Effect.provide(fileLayer)
        )
        const before = yield* JournalFile.readFile(file)
        assert.deepStrictEqual(before.events, prefix)

        const result = yield* Effect.flatMap(
          JournalFile.readFile(file),
          ({ events }) => Replay.resume(chain.agent, events)
        ).pipe(Effect.provide(fileLayer))
        assert.strictEqual(result.answer, chainAnswer)
        assert.deepStrictEqual(chain.counts, { "1": 1, "2": 1, "3": 1, "4": 1 })

        const after = (yield* JournalFile.readFile(file)).events
        assert.isFalse((yield* JournalFile.readFile(file)).tornTail)
        for (const stepId of ["1", "2", "3", "4"]) {
          assert.strictEqual(countOf(after, "StepStarted", stepId), 1, `StepStarted ${stepId}`)
          assert.strictEqual(countOf(after, "StepSucceeded", stepId), 1, `StepSucceeded ${stepId}`)
        }
        assert.strictEqual(countOf(after, "RunStarted"), 1)
        assert.strictEqual(countOf(after, "RunResumed"), 1)
        assert.strictEqual(countOf(after, "DecisionMade"), 2)
        assert.strictEqual(after[after.length - 1]!._tag, "RunCompleted")
        assert.strictEqual(answerOf(after), chainAnswer)
        assert.deepStrictEqual(after.slice(0, prefix.length), prefix)
        assert.strictEqual(after[prefix.length]!._tag, "RunResumed")
        assert.strictEqual(after.length, 13)

        chain.reset()
        const report = yield* Testing.replayJournal(chain.agent, file)
        assert.strictEqual(report.identical, 12)
        assert.deepStrictEqual(report.outcome, { answer: chainAnswer })
        assert.deepStrictEqual(chain.counts, {})
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }))
})

// ---------------------------------------------------------------------------
// 5. update
// ---------------------------------------------------------------------------

describe("Replay.update", () => {
  it.effect("a changed agent (other args at step 2): divergence, new args in the new run, which replays identical", () =>
    Effect.gen(function*() {
      const before = makeNotes(["a", "b", "c"])
      const recorded = yield* AgentRuntime.run(before.agent, "go")
      assert.strictEqual(recorded.answer, "A,B,C")

      const after = makeNotes(["a", "bee", "c"])
      const { divergence, result } = yield* Replay.update(after.agent, recorded.events).pipe(
        Effect.provide(Testing.layer)
      )
      assert.isDefined(divergence)
      assert.strictEqual(divergence!._tag, "ReplayDivergence")
      // the whole plan is one decision: it is where the runs part
      assert.strictEqual(divergence!.kind, "decision")
      assert.strictEqual(divergence!.at, "1")
      assert.deepStrictEqual(divergence!.diff, ["steps[1].args.text: \"b\" → \"bee\""])
      assert.strictEqual(result.answer, "A,BEE,C")
      assert.strictEqual(result.runId, recorded.runId)
      assert.deepStrictEqual(stepEvent(result.events, "StepStarted", "2")?.args, { text: "bee" })
      assert.deepStrictEqual(stepEvent(result.events, "StepSucceeded", "2")?.result, "BEE")
      // past the divergence everything ran live
      assert.deepStrictEqual(after.counts, { "1": 1, "2": 1, "3": 1 })

      const report = yield* Replay.replay(after.agent, result.events).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, result.events.length)
      assert.deepStrictEqual(report.outcome, { answer: "A,BEE,C" })
      // and the old recording no longer matches the changed agent
      const error = asDivergence(
        yield* Effect.flip(Replay.replay(after.agent, recorded.events).pipe(Effect.provide(Testing.layer)))
      )
      assert.strictEqual(error.kind, "decision")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("one step per turn: replays turn 1 (no execution), diverges at turn 2, then runs live", () =>
    Effect.gen(function*() {
      const before = makeNotesPerTurn(["a", "b", "c"])
      const recorded = yield* AgentRuntime.run(before.agent, "go")
      assert.strictEqual(recorded.answer, "A,B,C")

      const after = makeNotesPerTurn(["a", "bee", "c"])
      const { divergence, result } = yield* Replay.update(after.agent, recorded.events).pipe(
        Effect.provide(Testing.layer)
      )
      assert.strictEqual(divergence?.kind, "decision")
      assert.strictEqual(divergence?.at, "2")
      assert.strictEqual(divergence?.index, recorded.events.findIndex((e) => e._tag === "DecisionMade" && e.turn === 2))
      assert.deepStrictEqual(divergence?.diff, ["steps[0].args.text: \"b\" → \"bee\""])
      assert.strictEqual(result.answer, "A,BEE,C")
      // step 1 came from the recording; 2 and 3 ran
      assert.deepStrictEqual(after.counts, { "2": 1, "3": 1 })
      assert.deepStrictEqual(stepEvent(result.events, "StepStarted", "2")?.args, { text: "bee" })
      const report = yield* Replay.replay(after.agent, result.events).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, result.events.length)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a recording whose step 2 was called with other args: divergence kind step at \"2\"", () =>
    Effect.gen(function*() {
      const notes = makeNotes(["a", "b", "c"])
      const recorded = yield* AgentRuntime.run(notes.agent, "go")
      const stale = tamperStepArgs(recorded.events, "2", { text: "old" })
      for (const key of Object.keys(notes.counts)) delete notes.counts[key]
      const { divergence, result } = yield* Replay.update(notes.agent, stale).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(divergence?.kind, "step")
      assert.strictEqual(divergence?.at, "2")
      assert.strictEqual(divergence?.index, indexOfStep(stale, "StepStarted", "2"))
      assert.deepStrictEqual(divergence?.diff, ["args.text: \"old\" → \"b\""])
      assert.deepStrictEqual(stepEvent(result.events, "StepStarted", "2")?.args, { text: "b" })
      assert.deepStrictEqual(notes.counts, { "2": 1, "3": 1 })
      const report = yield* Replay.replay(notes.agent, result.events).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, result.events.length)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a tool whose result schema changed: update re-records from that step instead of failing", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("echo")
      const calls = { count: 0 }
      const echoStruct = Tool.make("echo", {
        description: "Repeats the text it is given, as a record.",
        parameters: Schema.Struct({ text: Schema.String }),
        success: Schema.Struct({ text: Schema.String }),
        handler: ({ text }) => Effect.sync(() => (calls.count++, { text }))
      })
      const changed = Agent.make({
        name: "echo",
        tools: [echoStruct],
        planner: SequencePlanner.rules([{
          match: () => true,
          steps: (input) => [{ id: "echo", tool: "echo", args: { text: input } }],
          answer: (results) => (results.echo as { text: string }).text
        }])
      })
      // a strict replay reports it
      const strict = asDivergence(yield* Effect.flip(Replay.replay(changed, recorded)))
      assert.strictEqual(strict.kind, "step")
      assert.strictEqual(strict.at, "echo")
      // update: the divergence is returned and the step runs live
      const { divergence, result } = yield* Replay.update(changed, recorded)
      assert.strictEqual(divergence?.kind, "step")
      assert.strictEqual(divergence?.at, "echo")
      assert.strictEqual(calls.count, 1)
      assert.deepStrictEqual(stepEvent(result.events, "StepSucceeded", "echo")?.result, { text: "hello, journal" })
      assert.strictEqual(result.answer, "hello, journal")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("an unchanged agent: no divergence, nothing executed, the same events", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const { divergence, result } = yield* Replay.update(todo, recorded)
      assert.isUndefined(divergence)
      assert.strictEqual(result.answer, answerOf(recorded))
      assert.deepStrictEqual(tagsOf(result.events), tagsOf(recorded))
      // the todo list was never written: the tools did not run
      const todos = yield* Memory.Memory.use((memory) => memory.get(Memory.agent("todo"), "todos"))
      assert.isTrue(Option.isNone(todos))
      const journaled = yield* Journal.Journal.use((journal) => journal.read(recorded[0]!.runId))
      assert.strictEqual(journaled.length, recorded.length)
      const notes = makeNotes(["a", "b", "c"])
      const live = yield* AgentRuntime.run(notes.agent, "go")
      for (const key of Object.keys(notes.counts)) delete notes.counts[key]
      const again = yield* Replay.update(notes.agent, live.events)
      assert.isUndefined(again.divergence)
      assert.deepStrictEqual(notes.counts, {})
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// 6. ignore
// ---------------------------------------------------------------------------

describe("Replay options.ignore", () => {
  let clock = 1_700_000_000_000
  const stamp = () => clock++
  const { note } = makeNote()
  const stamped = Agent.make({
    name: "stamped",
    tools: [note],
    planner: {
      decide: (state) =>
        Effect.succeed(
          state.turn === 1
            ? Planner.runSteps([{ id: "n", tool: "note", args: { text: "hi", at: stamp() } }])
            : Planner.answer("ok")
        )
    }
  })

  it.effect("a timestamp in the args diverges; ignoring its paths makes the replay identical", () =>
    Effect.gen(function*() {
      const recorded = yield* AgentRuntime.run(stamped, "go")
      const strict = asDivergence(yield* Effect.flip(Replay.replay(stamped, recorded.events)))
      assert.strictEqual(strict.kind, "decision")
      assert.strictEqual(strict.at, "1")
      assert.strictEqual(strict.diff.length, 1)
      assert.match(strict.diff[0]!, /^steps\[0\]\.args\.at: \d+ → \d+$/)

      // Paths are exact: the tool call's argument, and the same argument in the plan that asked for it.
      const report = yield* Replay.replay(stamped, recorded.events, { ignore: ["args.at", "steps.*.args.at"] })
      assert.strictEqual(report.identical, recorded.events.length)
      assert.deepStrictEqual(report.outcome, { answer: "ok" })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a step whose recorded timestamp differs: args.at is the step's path", () =>
    Effect.gen(function*() {
      const recorded = yield* AgentRuntime.run(stamped, "go")
      const strict = asDivergence(
        yield* Effect.flip(Replay.replay(stamped, recorded.events, { ignore: ["steps.*.args.at"] }))
      )
      assert.strictEqual(strict.kind, "step")
      assert.strictEqual(strict.at, "n")
      assert.match(strict.diff[0]!, /^args\.at: \d+ → \d+$/)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("ignoring a path does not weaken the other fields", () =>
    Effect.gen(function*() {
      const recorded = yield* AgentRuntime.run(stamped, "go")
      const tampered = recorded.events.map((event): Event =>
        event._tag === "StepStarted"
          ? { ...event, args: { ...(event.args as object), text: "bye" } }
          : event._tag === "DecisionMade" && event.decision._tag === "RunSteps"
          ? {
            ...event,
            decision: Planner.runSteps(
              event.decision.steps.map((step) => ({ ...step, args: { ...(step.args as object), text: "bye" } }))
            )
          }
          : event
      )
      const options = { ignore: ["steps.*.args.at", "args.at"] }
      const error = asDivergence(yield* Effect.flip(Replay.replay(stamped, tampered, options)))
      assert.strictEqual(error.kind, "decision")
      assert.deepStrictEqual(error.diff, ["steps[0].args.text: \"bye\" → \"hi\""])
      // with the decision matching, the step's other arg still diverges
      const stepOnly = tamperStepArgs(recorded.events, "n", {
        ...(stepEvent(recorded.events, "StepStarted", "n")!.args as object),
        text: "bye"
      })
      const stepError = asDivergence(yield* Effect.flip(Replay.replay(stamped, stepOnly, options)))
      assert.strictEqual(stepError.kind, "step")
      assert.deepStrictEqual(stepError.diff, ["args.text: \"bye\" → \"hi\""])
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// 7. the recorded clock
// ---------------------------------------------------------------------------

describe("Replay: the recorded clock", () => {
  const rerun = <R>(agent: Agent.Agent<R>, events: ReadonlyArray<Event>) =>
    Effect.flatMap(Replay.recording(events), (recording) => Replay.rerun(agent, Replay.makeSession(recording, "replay")))

  for (const name of ["todo", "wordstats", "echo"] as const) {
    it.effect(`${name}: replayed events carry the recorded at and durationMs`, () =>
      Effect.gen(function*() {
        const agent = (name === "todo" ? todo : name === "echo" ? echo : wordstats) as Agent.Agent<never>
        const recorded = yield* readFixture(name)
        const result = yield* rerun(agent, recorded)
        // the TestClock reads 0: every time below comes from the recording
        const timing = (event: Event) => [
          event._tag,
          "stepId" in event ? event.stepId : "",
          event.at,
          "durationMs" in event ? event.durationMs : -1
        ]
        const byKey = (events: ReadonlyArray<Event>) =>
          events.map(timing).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))
        assert.deepStrictEqual(byKey(result.events), byKey(recorded))
        const end = result.events[result.events.length - 1]!
        const recordedEnd = recorded[recorded.length - 1]!
        assert.strictEqual(end._tag, "RunCompleted")
        assert.strictEqual(end.at, recordedEnd.at)
        assert.isAbove(end.at, 1_700_000_000_000)
        if (end._tag === "RunCompleted" && recordedEnd._tag === "RunCompleted") {
          assert.strictEqual(end.durationMs, recordedEnd.durationMs)
        }
      }).pipe(Effect.provide(Testing.layer)))
  }

  it.effect("todo: StepSucceeded durations are the recorded ones (3, 1, 1, 0 ms)", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const result = yield* rerun(todo, recorded)
      const durations = (events: ReadonlyArray<Event>) =>
        events.flatMap((event) => event._tag === "StepSucceeded" ? [event.durationMs] : [])
      assert.deepStrictEqual(durations(recorded), [3, 1, 1, 0])
      assert.deepStrictEqual(durations(result.events), [3, 1, 1, 0])
      assert.strictEqual(result.events[0]!.at, recorded[0]!.at)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the RunResult of a replay agrees with its own RunCompleted event (recorded times)", () =>
    Effect.gen(function*() {
      const recorded = yield* readFixture("todo")
      const result = yield* rerun(todo, recorded)
      const end = result.events[result.events.length - 1]!
      assert.strictEqual(end._tag, "RunCompleted")
      if (end._tag !== "RunCompleted") return
      assert.strictEqual(result.durationMs, end.durationMs)
      assert.strictEqual(result.finishedAt, end.at)
      assert.strictEqual(result.startedAt, recorded[0]!.at)
    }).pipe(Effect.provide(Testing.layer)))
})
