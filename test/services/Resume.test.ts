/**
 * Resume answers per call, never per run: a call whose result is in the
 * journal is answered from it (also after other calls went live), a call that
 * started with no result stops at ResumeUnsafe unless its tool is idempotent
 * or the user chose retry / assume-done for it, and only calls the journal
 * has never seen run live. Checked on concurrent DAG steps and on LLM turns
 * with parallel tool calls, by cutting recorded journals at every event and
 * by losing random lines at their tail, then by cutting the resumed journal
 * again (a crash during a resume) and resuming that.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import type * as Prompt from "effect/ai/Prompt"
import {
  Agent,
  AgentRuntime,
  Journal,
  JournalMemory,
  LlmPlanner,
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

type Event = RunEvent.RunEvent

// ---------------------------------------------------------------------------
// the world: tools whose side effects are counted per step
// ---------------------------------------------------------------------------

/** Side effects by step id, as a server that receives the tools' requests would count them. */
type World = Record<string, number>

/** `post` (not idempotent) and `put` (idempotent) tools that count their effects in `world`. */
const makeTools = (world: World) => {
  const handler = ({ text }: { readonly text: string }, { stepId }: Tool.ToolContext) =>
    Effect.sync(() => {
      world[stepId] = (world[stepId] ?? 0) + 1
      return `${stepId}(${text})`
    })
  const parameters = Schema.Struct({ text: Schema.String })
  return [
    Tool.make("post", { description: "Posts a text", parameters, success: Schema.String, handler }),
    Tool.make("put", { description: "Puts a text", parameters, success: Schema.String, idempotent: true, handler })
  ] as const
}

/**
 * A 6-step DAG with concurrent branches (concurrency 3): A; then B (idempotent),
 * C and E after A; D after B and C (arguments referencing both); F after E;
 * then an answer that joins every result.
 */
const makeDag = (world: World) => {
  const tools = makeTools(world)
  const steps: ReadonlyArray<Planner.PlanStep> = [
    { id: "A", tool: "post", args: { text: "a" } },
    { id: "B", tool: "put", args: { text: Planner.ref("A") } },
    { id: "C", tool: "post", args: { text: Planner.ref("A") } },
    { id: "E", tool: "post", args: { text: "e" }, dependsOn: ["A"] },
    { id: "D", tool: "post", args: { text: Planner.ref("C") }, dependsOn: ["B"] },
    { id: "F", tool: "put", args: { text: Planner.ref("E") } }
  ]
  return Agent.make({
    name: "dag",
    tools,
    concurrency: 3,
    planner: SequencePlanner.plan({
      steps,
      answer: (results) => ["A", "B", "C", "D", "E", "F"].map((id) => String(results[id])).join(" ")
    })
  })
}

/** The texts of the tool results a prompt holds, in order. */
const toolResultsOf = (prompt: Prompt.Prompt): ReadonlyArray<string> =>
  prompt.content.flatMap((message) =>
    message.role === "tool"
      ? message.content.flatMap((part) => part.type === "tool-result" ? [String(part.result)] : [])
      : []
  )

/**
 * An LLM agent over a scripted model: turn 1 calls `post` and `put` in
 * parallel, turn 2 calls `post` twice in parallel with the results of turn 1,
 * turn 3 answers. The model decides from the prompt alone, so a resumed run
 * gets the same replies as the uninterrupted one.
 */
const makeLlm = (world: World) =>
  Agent.make({ name: "llm", tools: makeTools(world), planner: LlmPlanner.make(), concurrency: 4 })

const llmModel = ScriptedModel.layerFunction((request) => {
  const results = toolResultsOf(request.prompt)
  if (results.length === 0) {
    return ScriptedModel.toolCalls([
      { name: "post", params: { text: "p" }, id: "t1-post" },
      { name: "put", params: { text: "q" }, id: "t1-put" }
    ])
  }
  if (results.length === 2) {
    return ScriptedModel.toolCalls([
      { name: "post", params: { text: results[0] }, id: "t2-post" },
      { name: "post", params: { text: results[1] }, id: "t2-post2" }
    ])
  }
  return ScriptedModel.text(`done: ${results.join(" | ")}`)
})

// ---------------------------------------------------------------------------
// journals, cuts and checks
// ---------------------------------------------------------------------------

/** A fresh runtime over a memory journal that holds `events`, with sequential ids and the scripted model. */
const runtimeHolding = (events: ReadonlyArray<Event>) =>
  Effect.gen(function*() {
    const journal = JournalMemory.make()
    yield* Effect.forEach(events, journal.append, { discard: true })
    const layer = Layer.fresh(Layer.mergeAll(
      LocalRuntime.layer.pipe(Layer.provideMerge(Layer.succeed(Journal.Journal, journal))),
      MemoryInMemory.layer,
      Testing.layerSequentialIds(),
      llmModel
    ))
    return { journal, layer }
  })

const stepIdOf = (event: Event): string | undefined => "stepId" in event ? event.stepId : undefined

/** The world as it was when the journal was cut: a call took effect exactly when its result was journaled. */
const worldOf = (events: ReadonlyArray<Event>): World => {
  const world: World = {}
  for (const event of events) if (event._tag === "StepSucceeded") world[event.stepId] = 1
  return world
}

/** Steps that started (or were planned) and have no result: the calls a crash interrupted, which the user retries. */
const unfinished = (events: ReadonlyArray<Event>): ReadonlyArray<string> => {
  const finished = new Set(events.flatMap((event) => event._tag === "StepSucceeded" ? [event.stepId] : []))
  return [...new Set(events.flatMap((event) => event._tag === "StepStarted" ? [event.stepId] : []))].filter((id) =>
    !finished.has(id)
  )
}

/** Keys that a journal must hold at most once. */
const keyOf = (event: Event): string | undefined => {
  switch (event._tag) {
    case "RunStarted":
    case "RunCompleted":
      return event._tag
    case "DecisionMade":
      return `decision ${event.turn}`
    case "ModelCalled":
      return `model ${event.call}`
    case "StepStarted":
    case "StepSucceeded":
      return `${event._tag} ${event.stepId}`
    default:
      return undefined
  }
}

const assertNoRepeatedEvent = (events: ReadonlyArray<Event>, label: string) => {
  const seen = new Set<string>()
  for (const event of events) {
    const key = keyOf(event)
    if (key === undefined) continue
    assert.isFalse(seen.has(key), `${label}: the journal holds ${key} twice`)
    seen.add(key)
  }
}

/** A small seeded PRNG (mulberry32): the same cases on every run. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/**
 * Whether a journal with some tail lines lost is one a crash could leave: the
 * run appends a step's start only after the results its arguments depend on
 * were journaled, a decision only after every earlier step's result and its
 * model call, and a model call only after every earlier step's result.
 */
const causallyConsistent = (kept: ReadonlyArray<Event>, full: ReadonlyArray<Event>): boolean => {
  if (kept[0]?._tag !== "RunStarted") return false
  const turnOfStep = new Map<string, number>()
  const depsOfStep = new Map<string, ReadonlyArray<string>>()
  for (const event of full) {
    if (event._tag !== "DecisionMade" || event.decision._tag !== "RunSteps") continue
    for (const step of event.decision.steps) {
      turnOfStep.set(step.id, event.turn)
      const refs = JSON.stringify(step.args).match(/"\$ref":"[^"]+"/g) ?? []
      depsOfStep.set(step.id, [...(step.dependsOn ?? []), ...refs.map((ref) => ref.slice(9, -1))])
    }
  }
  const succeeded = new Set(kept.flatMap((event) => event._tag === "StepSucceeded" ? [event.stepId] : []))
  const decided = new Set(kept.flatMap((event) => event._tag === "DecisionMade" ? [event.turn] : []))
  const modelCalled = new Set(kept.flatMap((event) => event._tag === "ModelCalled" ? [event.turn] : []))
  const usesModel = full.some((event) => event._tag === "ModelCalled")
  const earlierStepsDone = (turn: number) =>
    [...turnOfStep].every(([id, stepTurn]) => stepTurn >= turn || succeeded.has(id))
  return kept.every((event) => {
    switch (event._tag) {
      case "StepStarted":
        return decided.has(turnOfStep.get(event.stepId)!) &&
          depsOfStep.get(event.stepId)!.every((dep) => succeeded.has(dep))
      case "StepSucceeded":
        return decided.has(turnOfStep.get(event.stepId)!)
      case "DecisionMade":
        return earlierStepsDone(event.turn) && (!usesModel || modelCalled.has(event.turn))
      case "ModelCalled":
        return earlierStepsDone(event.turn)
      default:
        return true
    }
  })
}

/**
 * Resumes `cut` in a world where exactly the journaled results took effect,
 * retrying the interrupted calls; checks every call took effect once, the
 * answer is the uninterrupted one and the journal repeats nothing. Returns the
 * resumed journal.
 */
const resumeAndCheck = (
  makeAgent: (world: World) => Agent.Agent<any>,
  cut: ReadonlyArray<Event>,
  expected: { readonly answer: string; readonly steps: ReadonlyArray<string> },
  label: string
) =>
  Effect.gen(function*() {
    const world = worldOf(cut)
    const agent = makeAgent(world)
    const { journal, layer } = yield* runtimeHolding(cut)
    const result = yield* Replay.resume(agent, cut, { retry: unfinished(cut) }).pipe(Effect.provide(layer))
    assert.strictEqual(result.answer, expected.answer, label)
    for (const stepId of expected.steps) assert.strictEqual(world[stepId], 1, `${label}: effects of step ${stepId}`)
    assert.deepStrictEqual(Object.keys(world).sort(), [...expected.steps].sort(), label)
    const journaled = yield* journal.read(cut[0]!.runId)
    assert.deepStrictEqual(journaled.slice(0, cut.length), cut, `${label}: the journal keeps what it held`)
    assertNoRepeatedEvent(journaled, label)
    return journaled
  })

/** Replays a finished journal: identical, and no tool runs. */
const replayAndCheck = (makeAgent: (world: World) => Agent.Agent<any>, events: ReadonlyArray<Event>, answer: string, label: string) =>
  Effect.gen(function*() {
    const world: World = {}
    const { layer } = yield* runtimeHolding([])
    const report = yield* Replay.replay(makeAgent(world), events).pipe(Effect.provide(layer))
    assert.deepStrictEqual(report.outcome, { answer }, label)
    assert.deepStrictEqual(world, {}, `${label}: replay ran a tool`)
  })

/** The uninterrupted run: its journal, answer and the steps it ran. */
const recordFull = (makeAgent: (world: World) => Agent.Agent<any>) =>
  Effect.gen(function*() {
    const world: World = {}
    const { journal, layer } = yield* runtimeHolding([])
    const result = yield* AgentRuntime.run(makeAgent(world), "go").pipe(Effect.provide(layer))
    const events = yield* journal.read(result.runId)
    for (const count of Object.values(world)) assert.strictEqual(count, 1)
    return { events, answer: result.answer, steps: Object.keys(world) }
  })

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

/** The events of `events` up to and including the first that `until` matches. */
const upTo = (events: ReadonlyArray<Event>, until: (event: Event) => boolean) =>
  events.slice(0, events.findIndex(until) + 1)

const is = (tag: Event["_tag"], stepId: string) => (event: Event) => event._tag === tag && stepIdOf(event) === stepId

describe("Resume: the per-call rule on a concurrent DAG", () => {
  it.effect("A done, B (idempotent) and C (not) in flight, D never started: B runs again, C stops at ResumeUnsafe", () =>
    Effect.gen(function*() {
      const full = yield* recordFull(makeDag)
      // The crash: A's result journaled, B and C started, nothing else.
      const cut = full.events.filter((event, index) =>
        index <= full.events.findIndex(is("StepSucceeded", "A")) || is("StepStarted", "B")(event) ||
        is("StepStarted", "C")(event)
      )
      assert.deepStrictEqual(cut.map((event) => event._tag), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepStarted"
      ])
      const world: World = { A: 1 }
      const { journal, layer } = yield* runtimeHolding(cut)
      const error = yield* Effect.flip(Replay.resume(makeDag(world), cut).pipe(Effect.provide(layer)))
      assert.strictEqual(error._tag, "ResumeUnsafe")
      if (error._tag === "ResumeUnsafe") assert.strictEqual(error.stepId, "C")
      // A answered from the journal, C not repeated, D (which needs C) never ran; B may have run again (idempotent).
      assert.strictEqual(world.A, 1)
      assert.isUndefined(world.C)
      assert.isUndefined(world.D)
      const after = yield* journal.read(cut[0]!.runId)
      assertNoRepeatedEvent(after, "after ResumeUnsafe")
      // The user retries C, as the error says: every step took effect once, the answer is the uninterrupted one.
      const resumed = yield* Replay.resume(makeDag(world), after, { retry: ["C"] }).pipe(Effect.provide(layer))
      assert.strictEqual(resumed.answer, full.answer)
      assert.deepStrictEqual(world, { A: 1, B: 1, C: 1, D: 1, E: 1, F: 1 })
      assertNoRepeatedEvent(yield* journal.read(cut[0]!.runId), "after the retry")
    }))

  it.effect("several unsafe calls in flight: one ResumeUnsafe names them all, one resume with a choice for each finishes", () =>
    Effect.gen(function*() {
      const full = yield* recordFull(makeDag)
      // The crash: A's result journaled, B (idempotent), C and E (not) started concurrently, none finished.
      const cut = full.events.filter((event, index) =>
        index <= full.events.findIndex(is("StepSucceeded", "A")) || is("StepStarted", "B")(event) ||
        is("StepStarted", "C")(event) || is("StepStarted", "E")(event)
      )
      assert.strictEqual(cut.filter((event) => event._tag === "StepStarted").length, 4)
      const world: World = { A: 1, C: 1 }
      const { journal, layer } = yield* runtimeHolding(cut)
      const error = yield* Effect.flip(Replay.resume(makeDag(world), cut).pipe(Effect.provide(layer)))
      assert.strictEqual(error._tag, "ResumeUnsafe")
      if (error._tag !== "ResumeUnsafe") return
      assert.deepStrictEqual(error.steps.map((step) => [step.stepId, step.tool]).sort(), [["C", "post"], ["E", "post"]])
      assert.deepStrictEqual(error.steps.map((step) => JSON.parse(step.args)).sort((a, b) => a.text.localeCompare(b.text)), [
        { text: "A(a)" },
        { text: "e" }
      ])
      assert.strictEqual(error.stepId, error.steps[0]!.stepId)
      for (const id of ["C", "E"]) {
        assert.include(error.message, `--retry ${id}`)
        assert.include(error.message, `step "${id}"`)
      }
      // Nothing that is not idempotent ran again (B, idempotent, may have).
      assert.deepStrictEqual([world.A, world.C, world.D, world.E], [1, 1, undefined, undefined])
      // C's effect happened (the server saw it), E's did not: one resume with both choices.
      const after = yield* journal.read(cut[0]!.runId)
      const resumed = yield* Effect.flip(
        Replay.resume(makeDag(world), after, { assumeDone: ["C"], retry: ["E"] }).pipe(Effect.provide(layer))
      )
      // C assumed done has no result: D (which reads it) cannot run, so the run fails, but nothing repeats.
      assert.strictEqual(resumed._tag, "ToolFailed")
      assert.deepStrictEqual([world.A, world.C, world.D, world.E, world.F], [1, 1, undefined, 1, 1])
      assertNoRepeatedEvent(yield* journal.read(cut[0]!.runId), "after one resume with a choice per step")
      // Both retried instead, on the same cut: every effect once, the uninterrupted answer.
      const fresh = yield* runtimeHolding(cut)
      const retried: World = { A: 1 }
      const answer = yield* Replay.resume(makeDag(retried), cut, { retry: ["C", "E"] }).pipe(Effect.provide(fresh.layer))
      assert.strictEqual(answer.answer, full.answer)
      assert.deepStrictEqual(retried, { A: 1, B: 1, C: 1, D: 1, E: 1, F: 1 })
    }))

  it.effect("a result journaled after a call that goes live is still answered from the journal", () =>
    Effect.gen(function*() {
      const full = yield* recordFull(makeDag)
      // B (idempotent) started and lost its result; C finished after it.
      const cut = full.events.filter((event, index) =>
        index <= full.events.findIndex(is("StepSucceeded", "A")) || is("StepStarted", "B")(event) ||
        is("StepStarted", "C")(event) || is("StepSucceeded", "C")(event)
      )
      assert.isTrue(cut.findIndex(is("StepStarted", "B")) < cut.findIndex(is("StepSucceeded", "C")))
      const world: World = { A: 1, C: 1 }
      const { layer } = yield* runtimeHolding(cut)
      const resumed = yield* Replay.resume(makeDag(world), cut).pipe(Effect.provide(layer))
      assert.strictEqual(resumed.answer, full.answer)
      assert.deepStrictEqual(world, { A: 1, B: 1, C: 1, D: 1, E: 1, F: 1 })
    }))

  it.effect("assumeDone for the unsafe step: it fails as assumed done, completed steps are not repeated", () =>
    Effect.gen(function*() {
      const full = yield* recordFull(makeDag)
      const cut = upTo(full.events, is("StepStarted", "C"))
      const world: World = worldOf(cut)
      const { layer } = yield* runtimeHolding(cut)
      const error = yield* Effect.flip(
        Replay.resume(makeDag(world), cut, { assumeDone: ["C"], retry: unfinished(cut).filter((id) => id !== "C") })
          .pipe(Effect.provide(layer))
      )
      assert.strictEqual(error._tag, "ToolFailed")
      for (const count of Object.values(world)) assert.strictEqual(count, 1)
      assert.isUndefined(world.C)
      assert.isUndefined(world.D)
    }))

  it.effect("strict replay still names the step whose recorded arguments changed", () =>
    Effect.gen(function*() {
      const full = yield* recordFull(makeDag)
      const tampered = full.events.map((event) =>
        event._tag === "StepStarted" && event.stepId === "E" ? { ...event, args: { text: "other" } } : event
      )
      const { layer } = yield* runtimeHolding([])
      const error = yield* Effect.flip(Replay.replay(makeDag({}), tampered).pipe(Effect.provide(layer)))
      assert.strictEqual(error._tag, "ReplayDivergence")
      if (error._tag === "ReplayDivergence") {
        assert.strictEqual(error.kind, "step")
        assert.strictEqual(error.at, "E")
      }
    }))
})

/**
 * Covers: every cut of the recorded journal (a crash after any event), cuts
 * whose last few lines are partly lost (any causally possible subset of the
 * last four), and for each of those a second crash during the resume (a cut
 * of the resumed journal at a random index) followed by a resume of the
 * resume. In every case each call takes effect exactly once, the answer is
 * the uninterrupted one, no event is journaled twice, and the final journal
 * replays with no tool running.
 */
describe("Resume: every crash point", () => {
  const cases = [
    { name: "concurrent DAG", makeAgent: makeDag, seed: 11 },
    { name: "LLM turns with parallel tool calls", makeAgent: makeLlm, seed: 29 }
  ]
  for (const { makeAgent, name, seed } of cases) {
    it.effect(`${name}: cut at every event, tails partly lost, crashes during the resume`, () =>
      Effect.gen(function*() {
        const full = yield* recordFull(makeAgent)
        const expected = { answer: full.answer, steps: full.steps }
        const next = random(seed)
        const cuts: Array<{ readonly label: string; readonly events: ReadonlyArray<Event> }> = []
        for (let length = 1; length < full.events.length; length++) {
          const prefix = full.events.slice(0, length)
          cuts.push({ label: `cut at ${length}`, events: prefix })
          // Lines lost at the tail: the last four, each kept or lost, where a crash can leave that.
          const tail = Math.min(4, length - 1)
          for (let attempt = 0; attempt < 3; attempt++) {
            const lost = new Set(
              Array.from({ length: tail }, (_, i) => length - 1 - i).filter(() => next() < 0.5)
            )
            if (lost.size === 0) continue
            const kept = prefix.filter((_, index) => !lost.has(index))
            if (causallyConsistent(kept, full.events)) {
              cuts.push({ label: `cut at ${length} losing lines ${[...lost].join(",")}`, events: kept })
            }
          }
        }
        assert.isAbove(cuts.length, full.events.length)
        for (const cut of cuts) {
          const resumed = yield* resumeAndCheck(makeAgent, cut.events, expected, cut.label)
          yield* replayAndCheck(makeAgent, resumed, full.answer, `${cut.label}, replayed`)
          // A crash during the resume: the resumed journal cut again (after what the first crash left).
          const again = cut.events.length + Math.floor(next() * (resumed.length - 1 - cut.events.length))
          if (again <= cut.events.length) continue
          const label = `${cut.label}, then cut at ${again} during the resume`
          const twice = yield* resumeAndCheck(makeAgent, resumed.slice(0, again), expected, label)
          assert.strictEqual(twice.filter((event) => event._tag === "RunResumed").length, 2, label)
          yield* replayAndCheck(makeAgent, twice, full.answer, `${label}, replayed`)
        }
      }))
  }
})
