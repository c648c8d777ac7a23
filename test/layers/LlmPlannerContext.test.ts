import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import type * as Prompt from "effect/ai/Prompt"
import { Agent, AgentRuntime, Journal, LlmPlanner, Replay, type RunEvent, ScriptedModel, Tool } from "graphent"
import * as Testing from "graphent/testing"

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

/** A small deterministic generator, so that each seed is its own conversation. */
const random = (seed: number) => {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return (state >>> 0) / 4294967296
  }
}

/** A tool whose results are `size(n)` characters long. */
const makeFetch = (size: (n: number) => number) =>
  Tool.make("fetch", {
    description: "Fetches page n",
    parameters: Schema.Struct({ n: Schema.Number }),
    success: Schema.String,
    handler: ({ n }) => Effect.succeed(`page ${n}: ` + "lorem ipsum ".repeat(Math.ceil(size(n) / 12)).slice(0, size(n)))
  })

const isSummaryCall = (prompt: Prompt.Prompt) => {
  const first = prompt.content[0]
  return first?.role === "system" && typeof first.content === "string" && first.content.startsWith("You condense")
}

/**
 * The estimated tokens (4 characters a token, as the scripted model counts) of each summarizer prompt since the
 * last {@link assertWithin}: a compaction's event sums its calls' tokens, when the summarized turns took several.
 */
const summaryPrompts: Array<number> = []

const promptTokens = (prompt: Prompt.Prompt) =>
  Math.ceil(
    prompt.content.reduce(
      (chars, message) =>
        chars + (typeof message.content === "string"
          ? message.content.length
          : message.content.reduce((sum, part) => sum + (part.type === "text" ? part.text.length : 0), 0)),
      0
    ) / 4
  )

/**
 * A model that calls `fetch` for turns 1..`turns`, then answers; asked for a
 * summary, it writes one. `seen` collects every prompt's size in messages.
 */
const conversationModel = (
  turns: number,
  options?: { readonly summaries?: Array<string>; readonly refuseSummary?: boolean; readonly start?: number }
) => {
  let turn = options?.start ?? 0
  return ScriptedModel.layerFunction((request) => {
    if (isSummaryCall(request.prompt)) {
      if (options?.refuseSummary === true) return ScriptedModel.fail("no summary expected")
      summaryPrompts.push(promptTokens(request.prompt))
      const summary = `summary #${options?.summaries?.length ?? 0} of the pages read so far`
      options?.summaries?.push(summary)
      return ScriptedModel.text(summary)
    }
    turn++
    return turn <= turns ? ScriptedModel.toolCall("fetch", { n: turn }, `t${turn}`) : ScriptedModel.text(`read ${turns} pages`)
  })
}

const agentWith = (context: LlmPlanner.ContextOptions, size: (n: number) => number = () => 200) =>
  Agent.make({
    name: "reader",
    instructions: "You read pages.",
    tools: [makeFetch(size)],
    planner: LlmPlanner.make({ context }),
    budget: { maxSteps: 1000, maxTurns: 1000 }
  })

const journalOf = (runId: string) => Journal.Journal.use((journal) => journal.read(runId))

const eventsOf = <T extends RunEvent.RunEvent["_tag"]>(events: ReadonlyArray<RunEvent.RunEvent>, tag: T) =>
  events.filter((event): event is Extract<RunEvent.RunEvent, { readonly _tag: T }> => event._tag === tag)

/** Runs `agent` on a model, then replays its journal with a model that must not be called. */
const runAndReplay = (agent: Agent.Agent<any, any>, model: Layer.Layer<any, any>) =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "read every page")
    const events = yield* journalOf(result.runId)
    return { result, events }
  }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, model)))

const replayWithoutModel = (agent: Agent.Agent<any, any>, events: ReadonlyArray<RunEvent.RunEvent>) =>
  Replay.replay(agent, events).pipe(Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([]))))

/** Every prompt the run sent (model calls and summaries) stayed within `limit` tokens (the scripted model's count). */
const assertWithin = (events: ReadonlyArray<RunEvent.RunEvent>, limit: number) => {
  for (const call of eventsOf(events, "ModelCalled")) {
    assert.isAtMost(call.response.usage.inputTokens, limit, `model call ${call.call} sent ${call.response.usage.inputTokens} tokens`)
  }
  for (const compaction of eventsOf(events, "ContextCompacted")) assert.isAtMost(compaction.tokensAfter, limit)
  for (const tokens of summaryPrompts.splice(0)) assert.isAtMost(tokens, limit, "a summarizer's prompt")
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

describe("LlmPlanner: context that stays within the window", () => {
  it.effect("a 200-turn conversation with a small limit never sends a prompt over it, and replays identically", () =>
    Effect.gen(function*() {
      const limit = 2000
      const agent = agentWith({ limit })
      const summaries: Array<string> = []
      const { events, result } = yield* runAndReplay(agent, conversationModel(200, { summaries }))
      assert.strictEqual(result.answer, "read 200 pages")
      assert.strictEqual(result.steps.length, 200)
      assertWithin(events, limit)
      const compactions = eventsOf(events, "ContextCompacted")
      assert.isAbove(compactions.length, 5)
      // Each compaction's summary is the last the model wrote for it (it may have summarized the turns in chunks).
      assert.includeMembers(summaries, compactions.map((event) => event.summary!))
      assert.strictEqual(compactions.at(-1)!.summary, summaries.at(-1))
      for (const compaction of compactions) {
        assert.strictEqual(compaction.policy, "summarize")
        assert.strictEqual(compaction.removed % 2, 0)
        assert.isBelow(compaction.tokensAfter, compaction.tokensBefore)
      }
      // Each summary's tokens are in the run's usage.
      const summaryTokens = compactions.reduce((sum, event) => sum + event.usage!.inputTokens, 0)
      const callTokens = eventsOf(events, "ModelCalled").reduce((sum, event) => sum + event.response.usage.inputTokens, 0)
      assert.strictEqual(result.usage.inputTokens, summaryTokens + callTokens)
      // The latest summary is in the prompt after its compaction; the turns it covers are not.
      const after = eventsOf(events, "ModelCalled").find((event) => event.call === compactions[0]!.call)!
      assert.include(JSON.stringify(after.request.messages), compactions[0]!.summary!)
      // Replay: no model (summaries come from the journal), the same events.
      const report = yield* replayWithoutModel(agent, events)
      assert.strictEqual(report.identical, events.length)
      assert.deepStrictEqual(report.outcome, { answer: "read 200 pages" })
    }))

  it.effect("resume after a crash between a compaction and its model call applies the journaled compaction", () =>
    Effect.gen(function*() {
      const agent = agentWith({ limit: 1500 })
      const written: Array<string> = []
      const { events } = yield* runAndReplay(agent, conversationModel(30, { summaries: written }))
      const at = events.findIndex((event) => event._tag === "ContextCompacted")
      const compaction = events[at] as Extract<RunEvent.RunEvent, { readonly _tag: "ContextCompacted" }>
      // The crash came right after the compaction was journaled.
      const summaries: Array<string> = []
      const resumed = yield* Replay.resume(agent, events.slice(0, at + 1)).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, conversationModel(30, { summaries, start: compaction.call - 1 })))
      )
      assert.strictEqual(resumed.answer, "read 30 pages")
      const recorded = eventsOf(events, "ContextCompacted")
      // The journaled compaction was applied, not asked again: only the later ones needed the model.
      // (The original wrote the first compaction's summary in `indexOf + 1` calls: the resume made none of them.)
      assert.strictEqual(summaries.length, written.length - written.indexOf(compaction.summary!) - 1)
      assert.strictEqual(eventsOf(resumed.events, "ContextCompacted")[0]!.summary, compaction.summary)
      assert.strictEqual(eventsOf(resumed.events, "ContextCompacted").length, recorded.length)
      const again = eventsOf(resumed.events, "ModelCalled").find((event) => event.call === compaction.call)!
      const original = eventsOf(events, "ModelCalled").find((event) => event.call === compaction.call)!
      assert.deepStrictEqual(again.request, original.request)
    }))

  it.effect("fuzz: many seeds, result sizes, limits and policies stay within the limit and replay identically", () =>
    Effect.gen(function*() {
      for (let seed = 1; seed <= 24; seed++) {
        const next = random(seed)
        const limit = 900 + Math.floor(next() * 2000)
        const sizes = Array.from({ length: 40 }, () => Math.floor(next() * (next() < 0.2 ? 6000 : 600)))
        const policy = (["summarize", "keep-last-n", "custom"] as const)[seed % 3]!
        const custom: LlmPlanner.CustomCompaction = (input) =>
          Effect.succeed({ removeTurns: Math.floor(input.messages.length / 4), summary: `custom summary ${seed}` })
        const agent = agentWith(
          {
            limit,
            keep: 1 + (seed % 5),
            maxToolResult: 200 + Math.floor(next() * 1500),
            policy: policy === "custom" ? custom : policy
          },
          (n) => sizes[(n - 1) % sizes.length]!
        )
        const { events, result } = yield* runAndReplay(agent, conversationModel(40, { refuseSummary: policy !== "summarize" }))
        assert.strictEqual(result.answer, "read 40 pages", `seed ${seed}`)
        assertWithin(events, limit)
        const report = yield* replayWithoutModel(agent, events)
        assert.strictEqual(report.identical, events.length, `seed ${seed}`)
      }
    }))

  it.effect("keep-last-n drops the oldest turns without asking the model, keeping at most n turns", () =>
    Effect.gen(function*() {
      const agent = agentWith({ limit: 1500, policy: "keep-last-n", keep: 2 })
      const calls: Array<number> = []
      const model = ScriptedModel.layerFunction((request) => {
        assert.isFalse(isSummaryCall(request.prompt))
        calls.push(request.prompt.content.length)
        return request.index < 30 ? ScriptedModel.toolCall("fetch", { n: request.index }) : ScriptedModel.text("ok")
      })
      const { events } = yield* runAndReplay(agent, model)
      const compactions = eventsOf(events, "ContextCompacted")
      assert.isAbove(compactions.length, 0)
      for (const compaction of compactions) {
        assert.strictEqual(compaction.policy, "keep-last-n")
        assert.isUndefined(compaction.summary)
        assert.isUndefined(compaction.usage)
      }
      // system + input + at most 2 kept turns + the newest turn.
      for (const compaction of compactions) assert.isAtMost(calls[compaction.call - 1]!, 2 + 2 * 3)
      assertWithin(events, 1500)
    }))

  it.effect("a custom policy decides; replay applies its journaled decision without calling it", () =>
    Effect.gen(function*() {
      let invoked = 0
      const seen: Array<LlmPlanner.CompactionInput> = []
      const custom: LlmPlanner.CustomCompaction = (input) =>
        Effect.sync(() => {
          invoked++
          seen.push(input)
          return { removeTurns: input.messages.length / 2 - 1, summary: `kept the last turn (${invoked})` }
        })
      const agent = agentWith({ limit: 1500, policy: custom })
      const { events } = yield* runAndReplay(agent, conversationModel(20, { refuseSummary: true }))
      const compactions = eventsOf(events, "ContextCompacted")
      assert.strictEqual(compactions.length, invoked)
      assert.isAbove(invoked, 0)
      assert.strictEqual(compactions[0]!.summary, "kept the last turn (1)")
      assert.strictEqual(compactions[0]!.policy, "custom")
      assert.isAbove(seen[0]!.tokens, seen[0]!.budget)
      const before = invoked
      const report = yield* replayWithoutModel(agent, events)
      assert.strictEqual(report.identical, events.length)
      assert.strictEqual(invoked, before)
    }))

  it.effect("a custom policy that asks for an impossible removal fails the run with PlannerFailed", () =>
    Effect.gen(function*() {
      for (const removeTurns of [-1, 1.5, 10_000]) {
        const agent = agentWith({ limit: 1500, policy: () => Effect.succeed({ removeTurns }) })
        const error = yield* Effect.flip(
          AgentRuntime.run(agent, "read").pipe(Effect.provide(Layer.mergeAll(Testing.layer, conversationModel(50))))
        )
        assert.strictEqual(error._tag, "PlannerFailed")
        assert.include(error.message, `remove ${removeTurns} turns`)
      }
    }))

  it.effect("an opening larger than the window fails before the model is called", () =>
    Effect.gen(function*() {
      const agent = agentWith({ limit: 300 })
      const model = ScriptedModel.layer([])
      const error = yield* Effect.flip(
        AgentRuntime.run(agent, "x".repeat(4000)).pipe(Effect.provide(Layer.mergeAll(Testing.layer, model)))
      )
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "context window of 300 tokens")
    }))

  it.effect("a tool result over the size is cut in the prompt with a marker and kept whole in the journal", () =>
    Effect.gen(function*() {
      const agent = agentWith({ limit: 100_000, maxToolResult: 100 }, () => 5000)
      const { events } = yield* runAndReplay(agent, conversationModel(1))
      const succeeded = eventsOf(events, "StepSucceeded")[0]!
      assert.strictEqual((succeeded.result as string).length, 5008)
      const second = eventsOf(events, "ModelCalled")[1]!
      const tool = second.request.messages.find((message: any) => message.role === "tool") as any
      const shown = tool.results[0].result as string
      assert.strictEqual(shown.slice(0, 100), (succeeded.result as string).slice(0, 100))
      assert.include(shown, "[truncated by Graphent: 100 of 5008 characters shown")
    }))

  it.effect("no window known: nothing is measured, compacted or cut", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "reader", tools: [makeFetch(() => 50_000)], planner: LlmPlanner.make() })
      const { events } = yield* runAndReplay(agent, conversationModel(3))
      assert.strictEqual(eventsOf(events, "ContextCompacted").length, 0)
      assert.notInclude(JSON.stringify(events), "truncated by Graphent")
    }))
})
