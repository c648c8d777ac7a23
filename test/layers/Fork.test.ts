/**
 * `Replay.fork`: time travel with an edit, on the wordstats, todo and assistant examples. Every fork
 * point of every recorded run, with and without an edit: the tools count their executions, so what
 * ran before the fork point provably did not run again, and what comes after provably ran live; each
 * fork replays identically.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Journal,
  JournalMemory,
  LocalRuntime,
  MemoryInMemory,
  Planner,
  Replay,
  type RunEvent,
  ScriptedModel,
  SequencePlanner,
  Tool
} from "graphent"
import * as Testing from "graphent/testing"
import assistant from "../../examples/assistant.js"
import { program as forkExample } from "../../examples/fork.js"
import todo from "../../examples/todo.js"
import wordstats from "../../examples/wordstats.js"

type Event = RunEvent.RunEvent

/** The agent with each tool's handler counting its executions, by step id, in `ran`. */
const counted = <R>(agent: Agent.Agent<R>) => {
  const ran: Array<string> = []
  const tools = agent.tools.map((tool): Tool.Any => ({
    ...tool,
    handler: (params: never, context: Tool.ToolContext) =>
      Effect.suspend(() => {
        ran.push(context.stepId)
        return (tool.handler as (params: unknown, context: Tool.ToolContext) => Effect.Effect<unknown, unknown, unknown>)(
          params,
          context
        )
      })
  }) as Tool.Any)
  const made = Agent.make({ name: agent.name, tools, ...(agent.planner === undefined ? {} : { planner: agent.planner }) })
  return { agent: made as unknown as Agent.Agent<R>, ran, reset: () => void ran.splice(0) }
}

/** Runtime, journal, memory and ids shared by a test's runs (a fork reads the store its parent wrote). */
const store = () =>
  Layer.fresh(Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(JournalMemory.layer())),
    MemoryInMemory.layer,
    Testing.layerSequentialIds()
  ))

/**
 * A store whose process "dies" at the first event `diesAt` accepts: that append fails, nothing after it is
 * written; `inner` holds what was journaled before.
 */
const dyingStore = (diesAt: (event: Event) => boolean) => {
  const inner = JournalMemory.make()
  let crashed = false
  const crashing: Journal.JournalShape = {
    ...inner,
    append: (event) =>
      Effect.suspend(() => {
        if (crashed) return Effect.void
        if (diesAt(event)) {
          crashed = true
          return Effect.fail(new Journal.JournalError({ backend: "test", operation: "append", reason: "crash" }))
        }
        return inner.append(event)
      })
  }
  const dying = Layer.fresh(Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(Layer.succeed(Journal.Journal, crashing))),
    MemoryInMemory.layer,
    Testing.layerSequentialIds("fork")
  ))
  return { dying, inner }
}

const stepsStartedFrom = (events: ReadonlyArray<Event>, index: number): Array<string> =>
  events.slice(index).flatMap((event) => event._tag === "StepStarted" ? [event.stepId] : [])

const indexOfStart = (events: ReadonlyArray<Event>, stepId: string) =>
  events.findIndex((event) => event._tag === "StepStarted" && event.stepId === stepId)

const indexOfTurn = (events: ReadonlyArray<Event>, turn: number) =>
  events.findIndex((event) =>
    (event._tag === "DecisionMade" || event._tag === "ModelCalled" || event._tag === "ValueRecorded") && event.turn === turn
  )

const turnsOf = (events: ReadonlyArray<Event>) =>
  events.flatMap((event) => event._tag === "DecisionMade" ? [event.turn] : [])

const forkedFromOf = (events: ReadonlyArray<Event>) => {
  const first = events[0]
  assert.strictEqual(first?._tag, "RunStarted")
  return first?._tag === "RunStarted" ? first.forkedFrom : undefined
}

/**
 * Forks `recorded` at every step and every turn, without an edit and (at steps) with `edited(step)`:
 * checks which tools ran, the lineage, and that the fork replays identically.
 */
const forkEverywhere = <R>(
  tracked: ReturnType<typeof counted<R>>,
  recorded: ReadonlyArray<Event>,
  edited: (stepId: string, tool: string) => unknown
) =>
  Effect.gen(function*() {
    const parent = recorded[0]!.runId
    const points: Array<{ at: string | number; index: number }> = [
      ...recorded.flatMap((event) => event._tag === "StepStarted" ? [{ at: event.stepId, index: indexOfStart(recorded, event.stepId) }] : []),
      ...turnsOf(recorded).map((turn) => ({ at: turn, index: indexOfTurn(recorded, turn) }))
    ]
    for (const { at, index } of points) {
      for (const withEdit of typeof at === "string" ? [false, true] : [false]) {
        const started = recorded[indexOfStart(recorded, String(at))]
        const edit = withEdit && started?._tag === "StepStarted"
          ? Replay.setResult(started.stepId, edited(started.stepId, started.tool))
          : undefined
        tracked.reset()
        const forked = yield* Replay.fork(tracked.agent, recorded, { at, edit })
        const expected = stepsStartedFrom(recorded, index).filter((step) => !(withEdit && step === at))
        // Nothing before the fork point ran again; everything after it ran live, once.
        assert.deepStrictEqual([...tracked.ran].sort(), [...expected].sort(), `fork at ${at}${withEdit ? " with an edit" : ""}`)
        assert.deepStrictEqual(forkedFromOf(forked.result.events), {
          runId: parent,
          at: typeof at === "number" ? `turn:${at}` : `step:${at}`,
          ...(edit === undefined ? {} : { edit })
        })
        assert.notStrictEqual(forked.result.runId, parent)
        assert.strictEqual(forked.replayed > 0, index > 1)
        // The fork's journal holds the whole run, and replays with no side effect.
        const journaled = yield* Journal.Journal.use((journal) => journal.read(forked.result.runId))
        assert.deepStrictEqual(journaled.map((event) => event._tag), forked.result.events.map((event) => event._tag))
        tracked.reset()
        const report = yield* Replay.replay(tracked.agent, journaled)
        assert.deepStrictEqual(report.outcome, { answer: forked.result.answer })
        assert.deepStrictEqual(tracked.ran, [])
      }
    }
  })

/** A small seeded generator (mulberry32). */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/**
 * A random plan of 3 to 8 steps (each may depend on earlier ones, and sums their results), run 1 to 4 at a
 * time; each call yields a random number of times, so concurrent steps interleave differently per seed.
 */
const randomAgent = (seed: number) => {
  const next = random(seed)
  const add = Tool.make("add", {
    description: "Adds its inputs to its own amount.",
    parameters: Schema.Struct({ amount: Schema.Number, inputs: Schema.Array(Schema.Number) }),
    success: Schema.Number,
    handler: ({ amount, inputs }) =>
      Effect.andThen(
        Effect.forEach(Array.from({ length: Math.floor(next() * 4) }), () => Effect.yieldNow, { discard: true }),
        Effect.succeed(inputs.reduce((sum, value) => sum + value, amount))
      )
  })
  const count = 3 + Math.floor(next() * 6)
  const steps: Array<Planner.PlanStep> = []
  for (let i = 0; i < count; i++) {
    const deps = steps.filter(() => next() < 0.35).map((step) => step.id)
    steps.push({ id: `n${i}`, tool: "add", args: { amount: i + 1, inputs: deps.map((dep) => Planner.ref(dep)) } })
  }
  const agent = Agent.make({
    name: `random-${seed}`,
    tools: [add],
    concurrency: 1 + Math.floor(next() * 4),
    planner: SequencePlanner.plan({ steps, answer: (results) => JSON.stringify(results) })
  })
  return counted(agent)
}

describe("Replay.fork", () => {
  it.effect("random plans, 12 seeds: at each step and turn, with and without an edit, whatever the interleaving", () =>
    Effect.gen(function*() {
      for (let seed = 1; seed <= 12; seed++) {
        const tracked = randomAgent(seed)
        const original = yield* AgentRuntime.run(tracked.agent, "go")
        yield* forkEverywhere(tracked, original.events, () => 1000)
      }
    }).pipe(Effect.provide(store())))

  it.effect("wordstats: at each step and turn, with and without an edit, over many inputs", () =>
    Effect.gen(function*() {
      const tracked = counted(wordstats)
      const texts = ["the quick brown fox jumps over the lazy dog", "one", "a b a b c", "  spaced   out   words  "]
      for (const text of texts) {
        const original = yield* AgentRuntime.run(tracked.agent, text)
        const edits: Record<string, unknown> = { words: 99, longest: "EDITED", distinct: 7, summary: "edited summary" }
        yield* forkEverywhere(tracked, original.events, (stepId) => edits[stepId])
        // The edit reaches what follows it: the summary is computed live from the edited count.
        const forked = yield* Replay.fork(tracked.agent, original.events, { edit: Replay.setResult("words", 99) })
        assert.match(forked.result.answer, /^99 words/)
        const summary = yield* Replay.fork(tracked.agent, original.events, { edit: Replay.setResult("summary", "edited summary") })
        assert.strictEqual(summary.result.answer, "edited summary")
      }
    }).pipe(Effect.provide(store())))

  it.effect("todo: at each step and turn, with and without an edit; side effects before the fork point stay done once", () =>
    Effect.gen(function*() {
      const tracked = counted(todo)
      const original = yield* AgentRuntime.run(tracked.agent, "add buy milk; add call mom; done 1; list")
      assert.deepStrictEqual(tracked.ran, ["1", "2", "3", "4"])
      yield* forkEverywhere(tracked, original.events, (stepId, tool) =>
        tool === "list" ? [] : { id: 40 + Number(stepId), text: `edited ${stepId}`, done: tool === "complete" })
      const forked = yield* Replay.fork(tracked.agent, original.events, {
        at: "2",
        edit: Replay.setResult("2", { id: 2, text: "call dad", done: false })
      })
      assert.include(forked.result.answer, "Added #2: call dad")
    }).pipe(Effect.provide(store())))

  it.effect("a new input from turn 1; an input that changes the replayed prefix is a divergence", () =>
    Effect.gen(function*() {
      const tracked = counted(wordstats)
      const original = yield* AgentRuntime.run(tracked.agent, "one two three")
      tracked.reset()
      const forked = yield* Replay.fork(tracked.agent, original.events, { edit: Replay.setInput("four five six seven") })
      assert.match(forked.result.answer, /^4 words/)
      assert.strictEqual(forked.result.input, "four five six seven")
      assert.strictEqual(tracked.ran.length, 4)
      assert.deepStrictEqual(forkedFromOf(forked.result.events)?.at, "turn:1")
      const report = yield* Replay.replay(tracked.agent, forked.result.events)
      assert.deepStrictEqual(report.outcome, { answer: forked.result.answer })
      const error = yield* Effect.flip(
        Replay.fork(tracked.agent, original.events, { at: "summary", edit: Replay.setInput("other words") })
      )
      assert.strictEqual(error._tag, "ReplayDivergence")
    }).pipe(Effect.provide(store())))

  it.effect("bad fork points and edits are typed errors (exit 2) and run nothing", () =>
    Effect.gen(function*() {
      const tracked = counted(wordstats)
      const original = yield* AgentRuntime.run(tracked.agent, "one two three")
      tracked.reset()
      const cases: ReadonlyArray<readonly [Replay.ForkOptions, RegExp]> = [
        [{ at: "nope" }, /has no step "nope" \(its steps: words, longest, distinct, summary\)/],
        [{ at: 3 }, /turn 3 is past the end of run run-1: it has 2 turns/],
        [{ at: 0 }, /turn 0 is not a turn number/],
        [{ at: 1.5 }, /turn 1.5 is not a turn number/],
        [{}, /no fork point/],
        [{ edit: Replay.setResult("words", "many") }, /does not match the success schema of tool "count_words"/],
        [{ edit: Replay.setResult("words", null) }, /does not match the success schema/],
        [{ edit: Replay.setResult("ghost", 1) }, /has no step "ghost"/],
        [{ at: "longest", edit: Replay.setResult("words", 3) }, /sets the result of step "words", so the fork starts there/],
        [{ edit: Replay.editMessage(1, "hi") }, /made no model call 1 \(it made 0\)/],
        [{ edit: Replay.setReply(1, "hi") }, /made no model call 1 \(it made 0\)/]
      ]
      for (const [options, reason] of cases) {
        const error = yield* Effect.flip(Replay.fork(tracked.agent, original.events, options))
        assert.strictEqual(error._tag, "ForkInvalid", JSON.stringify(options))
        assert.match(error.message, reason)
        assert.strictEqual((error as Replay.ForkInvalid).outcome.exitCode, 2)
      }
      const other = yield* Effect.flip(Replay.fork(todo, original.events, { at: 1 }))
      assert.strictEqual(other._tag, "ReplayUnavailable")
      assert.deepStrictEqual(tracked.ran, [])
    }).pipe(Effect.provide(store())))

  it.effect("assistant on a scripted model: the recorded model calls are not made again; an edited message", () =>
    Effect.gen(function*() {
      const tracked = counted(assistant)
      // Turn 1 asks for the calculator, turn 2 answers from its result.
      const model = (replies: ReadonlyArray<ScriptedModel.Reply>) => ScriptedModel.layer(replies)
      const original = yield* AgentRuntime.run(tracked.agent, "what is 2 + 3?").pipe(
        Effect.provide(model([ScriptedModel.toolCall("calculator", { expression: "2 + 3" }), ScriptedModel.text("It is 5.")]))
      )
      assert.strictEqual(original.answer, "It is 5.")
      // Forked at turn 2: the first model call and the calculator come from the journal; one live call.
      tracked.reset()
      const live = yield* Replay.fork(tracked.agent, original.events, { at: 2 }).pipe(
        Effect.provide(model([ScriptedModel.text("Five.")]))
      )
      assert.strictEqual(live.result.answer, "Five.")
      assert.deepStrictEqual(tracked.ran, [])
      // Forked at the calculator step with another result: the model sees it live.
      const edited = yield* Replay.fork(tracked.agent, original.events, { edit: Replay.setResult(original.steps[0]!.id, 6) }).pipe(
        Effect.provide(ScriptedModel.layerFunction(({ prompt }) =>
          ScriptedModel.text(`It is ${String(ScriptedModel.lastToolResults(prompt)[0]?.result)}.`)
        ))
      )
      assert.strictEqual(edited.result.answer, "It is 6.")
      assert.deepStrictEqual(tracked.ran, [])
      // The model's first reply set: no model is called at all, and no tool runs.
      const message = yield* Replay.fork(tracked.agent, original.events, { edit: Replay.setReply(1, "I will not compute.") }).pipe(
        Effect.provide(model([]))
      )
      assert.strictEqual(message.result.answer, "I will not compute.")
      assert.deepStrictEqual(tracked.ran, [])
      const error = yield* Effect.flip(
        Replay.fork(tracked.agent, original.events, { at: 2, edit: Replay.setReply(1, "x") }).pipe(Effect.provide(model([])))
      )
      assert.match(error.message, /model call 1 was made at turn 1: fork at that turn, not at turn:2/)
      // Each fork replays with no model.
      for (const fork of [live, edited, message]) {
        const report = yield* Replay.replay(tracked.agent, fork.result.events).pipe(Effect.provide(model([])))
        assert.deepStrictEqual(report.outcome, { answer: fork.result.answer })
      }
    }).pipe(Effect.provide(store())))

  // Class: an LLM run of two model calls (a tool call, then the answer), its prompt edited at each call —
  // the user's input (call 1) and the tool result (call 2) — on a model that echoes the message it answers.
  it.effect("an edited prompt message: the model answers the edited text live; the prefix does not run again; the fork replays", () =>
    Effect.gen(function*() {
      const tracked = counted(assistant)
      const original = yield* AgentRuntime.run(tracked.agent, "what is 2 + 3?").pipe(
        Effect.provide(ScriptedModel.layer([ScriptedModel.toolCall("calculator", { expression: "2 + 3" }), ScriptedModel.text("It is 5.")]))
      )
      /** Answers with the message it was asked to answer: the last user text, or the last tool result. */
      const echo = () => {
        const seen: Array<string> = []
        const layer = ScriptedModel.layerFunction(({ prompt }) => {
          const last = prompt.content[prompt.content.length - 1]
          const said = last?.role === "tool"
            ? String(ScriptedModel.lastToolResults(prompt).at(-1)?.result)
            : ScriptedModel.lastUserText(prompt)
          seen.push(said)
          return ScriptedModel.text(`you said: ${said}`)
        })
        return { layer, seen }
      }
      const cases = [
        { call: 1, text: "what is 7 * 6?", replayed: false },
        { call: 2, text: "the calculator is broken", replayed: true }
      ]
      for (const { call, replayed, text } of cases) {
        const edit = Replay.editMessage(call, text)
        tracked.reset()
        const model = echo()
        const forked = yield* Replay.fork(tracked.agent, original.events, { edit }).pipe(Effect.provide(model.layer))
        // One live model call, and it saw the edited message; the calculator did not run again.
        assert.deepStrictEqual(model.seen, [text])
        assert.strictEqual(forked.result.answer, `you said: ${text}`)
        assert.deepStrictEqual(tracked.ran, [])
        assert.strictEqual(forked.replayed > 0, replayed)
        assert.deepStrictEqual(forkedFromOf(forked.result.events)?.edit, edit)
        // The journaled request holds the edited message (a request the parent's recording does not have).
        const called = forked.result.events.filter((event) => event._tag === "ModelCalled")
        assert.include(JSON.stringify(called.at(-1)?.request.messages), text)
        // The fork replays with no model (an empty script fails if called) and no tool.
        const report = yield* Replay.replay(tracked.agent, forked.result.events).pipe(Effect.provide(ScriptedModel.layer([])))
        assert.deepStrictEqual(report.outcome, { answer: forked.result.answer })
        assert.deepStrictEqual(tracked.ran, [])
      }
    }).pipe(Effect.provide(store())))

  it.effect("a fork that crashed before its edited model call resumes with the edit: the model sees the edited message", () =>
    Effect.gen(function*() {
      const tracked = counted(assistant)
      const original = yield* AgentRuntime.run(tracked.agent, "what is 2 + 3?").pipe(
        Effect.provide(ScriptedModel.layer([ScriptedModel.toolCall("calculator", { expression: "2 + 3" }), ScriptedModel.text("It is 5.")]))
      )
      // The fork's process "dies" when it journals its decision of turn 2 (the edited call's): nothing after is written.
      const { dying, inner } = dyingStore((event) => event._tag === "DecisionMade" && event.turn === 2 && event.runId !== original.runId)
      const seen: Array<string> = []
      const echo = ScriptedModel.layerFunction(({ prompt }) => {
        const said = String(ScriptedModel.lastToolResults(prompt).at(-1)?.result)
        seen.push(said)
        return ScriptedModel.text(`you said: ${said}`)
      })
      const error = yield* Effect.flip(
        Replay.fork(tracked.agent, original.events, { edit: Replay.editMessage(2, "no calculator today") }).pipe(
          Effect.provide(Layer.merge(dying, echo))
        )
      )
      assert.strictEqual(error._tag, "JournalError")
      const journaled = yield* inner.read("fork-1")
      // The edited call was journaled before the crash; the resume answers it from there, with the edit in its request.
      tracked.reset()
      const resumed = yield* Replay.resume(tracked.agent, journaled).pipe(Effect.provide(ScriptedModel.layer([])))
      assert.strictEqual(resumed.answer, "you said: no calculator today")
      assert.deepStrictEqual(seen, ["no calculator today"])
      assert.deepStrictEqual(tracked.ran, [])
      // And a crash before the edited call was journaled: the resume makes it live, with the edit.
      const before = journaled.filter((event) => !(event._tag === "ModelCalled" && event.call === 2))
      const again = yield* Replay.resume(tracked.agent, before).pipe(Effect.provide(echo))
      assert.strictEqual(again.answer, "you said: no calculator today")
      assert.deepStrictEqual(seen, ["no calculator today", "no calculator today"])
    }).pipe(Effect.provide(store())))

  it.effect("docs/fork.md shows examples/fork.ts verbatim, and it runs", () =>
    Effect.gen(function*() {
      const root = path.resolve(import.meta.dirname, "../..")
      const doc = fs.readFileSync(path.join(root, "docs/fork.md"), "utf8")
      const block = /```ts\n([\s\S]*?)```/.exec(doc)?.[1]
      assert.strictEqual(block, fs.readFileSync(path.join(root, "examples/fork.ts"), "utf8"))
      const [recorded, forked, lineage] = yield* forkExample
      assert.strictEqual(recorded, `4 words (4 distinct); the longest is "quick".`)
      assert.strictEqual(forked, `4 words (4 distinct); the longest is "jumps".`)
      assert.match(lineage!, /^forked from \S+ at step:longest$/)
    }))

  it.effect("a fork that crashed before its edited step ran resumes with the edit (the step still does not run)", () =>
    Effect.gen(function*() {
      const tracked = counted(wordstats)
      const original = yield* AgentRuntime.run(tracked.agent, "one two three")
      // The fork's process "dies" when it journals the start of the edited step: nothing is written after that.
      const { dying, inner } = dyingStore((event) =>
        event._tag === "StepStarted" && event.stepId === "summary" && event.runId !== original.runId
      )
      tracked.reset()
      const error = yield* Effect.flip(
        Replay.fork(tracked.agent, original.events, { edit: Replay.setResult("summary", "EDITED") }).pipe(Effect.provide(dying))
      )
      assert.strictEqual(error._tag, "JournalError")
      const journaled = yield* inner.read("fork-1")
      assert.isFalse(journaled.some((event) => event._tag === "StepStarted" && event.stepId === "summary"))
      tracked.reset()
      const resumed = yield* Replay.resume(tracked.agent, journaled)
      assert.strictEqual(resumed.answer, "EDITED")
      assert.notInclude(tracked.ran, "summary")
    }).pipe(Effect.provide(store())))
})
