/**
 * The LLM planner with a context window and a thread: a thread's earlier messages go through the context
 * policy (summarized, dropped or cut by a function) instead of being cut at a message count. Class of inputs:
 * threads of many runs on a scripted model, with random message sizes, limits and each policy; the first run
 * states a fact (a code) that only the thread's summary can carry to the last run.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import type * as Prompt from "effect/ai/Prompt"
import { randomUUID } from "node:crypto"
import {
  Agent,
  AgentRuntime,
  EmbeddingLocal,
  JournalMemory,
  LlmPlanner,
  LocalRuntime,
  Memory,
  MemoryInMemory,
  Replay,
  type RunEvent,
  ScriptedModel
} from "graphent"
import { MemoryPg } from "graphent/postgres"
import { MemoryRedis } from "graphent/redis"
import * as Testing from "graphent/testing"
import { pgConfig, redisUrl } from "../support/services.js"
import { random } from "../support/killFuzz.js"
import * as Store from "../support/store.js"

// The real stores' data of this file: its own table prefix and Redis key prefix, removed at the end.
const testId = randomUUID().slice(0, 8)
const pgPrefix = `graphent_thread${testId}_`
const redisPrefix = `graphent-test:thread:${testId}:`
afterAll(async () => {
  await Store.dropPgPrefixes([pgPrefix])
  await Store.deleteRedisKeys([`${redisPrefix}*`])
})

type Event = RunEvent.RunEvent

const textOf = (prompt: Prompt.Prompt) => JSON.stringify(prompt.content)

const codesIn = (text: string) => [...new Set([...text.matchAll(/code is (C\d+X)/g)].map((match) => match[1]!))]

const isSummaryCall = (prompt: Prompt.Prompt) => {
  const first = prompt.content[0]
  return first?.role === "system" && typeof first.content === "string" && first.content.startsWith("You condense")
}

/**
 * A chat model: asked for a summary, it keeps every code it sees (and says how many summaries it wrote);
 * asked for the code, it answers with one it sees in its prompt; otherwise it answers at some length.
 */
const chatModel = (summaries: Array<string>, summaryPrompts: Array<number>) =>
  ScriptedModel.layerFunction(({ prompt }) => {
    if (isSummaryCall(prompt)) {
      summaryPrompts.push(Math.ceil(textOf(prompt).length / 4))
      const summary = `the code is ${codesIn(textOf(prompt)).join(", the code is ")} (summary ${summaries.length + 1})`
      summaries.push(summary)
      return ScriptedModel.text(summary)
    }
    const asked = ScriptedModel.lastUserText(prompt)
    if (asked.startsWith("what is the code?")) {
      const codes = codesIn(textOf(prompt))
      return ScriptedModel.text(codes.length === 0 ? "I do not know." : `The code is ${codes[0]}.`)
    }
    return ScriptedModel.text(`Noted (${asked.length} characters). ` + "fine ".repeat(10))
  })

const chat = (context: LlmPlanner.ContextOptions) =>
  Agent.make({ name: "chat", instructions: "You chat.", tools: [], planner: LlmPlanner.make({ context }) })

const eventsOf = <T extends Event["_tag"]>(events: ReadonlyArray<Event>, tag: T) =>
  events.filter((event): event is Extract<Event, { readonly _tag: T }> => event._tag === tag)

/**
 * Every prompt within `limit`: the answers' by the scripted model's own count, the summarizer's (a compaction
 * may take several calls, its event sums them) by their JSON's length (longer than their text).
 */
const assertWithin = (events: ReadonlyArray<Event>, summaryPrompts: ReadonlyArray<number>, limit: number, label: string) => {
  for (const call of eventsOf(events, "ModelCalled")) assert.isAtMost(call.response.usage.inputTokens, limit, label)
  for (const compaction of eventsOf(events, "ContextCompacted")) assert.isAtMost(compaction.tokensAfter, limit, label)
  for (const tokens of summaryPrompts) assert.isAtMost(tokens, limit, `${label}: a summarizer's prompt`)
}

/** How many thread messages a run read from its memory (journaled: what its opening could show). */
const messagesRead = (events: ReadonlyArray<Event>) => {
  for (const event of eventsOf(events, "ValueRecorded")) {
    if (event.key === "thread") return (event.value as { readonly messages: ReadonlyArray<unknown> }).messages.length
    if (event.key === "history") return (event.value as ReadonlyArray<unknown>).length
  }
  return 0
}

/**
 * `runs` runs of `agent` on one thread, the first stating the code and the last asking for it; each run is
 * replayed (no model: an empty script fails if called) and must be identical.
 */
const thread = (
  agent: Agent.Agent<any, any>,
  runs: number,
  next: () => number,
  code: string,
  memory: Layer.Layer<Memory.Memory, unknown> = MemoryInMemory.layer
) =>
  Effect.gen(function*() {
    const summaries: Array<string> = []
    const summaryPrompts: Array<number> = []
    const model = chatModel(summaries, summaryPrompts)
    const all: Array<{ readonly answer: string; readonly events: ReadonlyArray<Event> }> = []
    for (let i = 1; i <= runs; i++) {
      const filler = "and so on ".repeat(Math.floor(next() * 40))
      const input = i === 1 ? `remember this: the code is ${code}. ${filler}` : i === runs ? "what is the code?" : `message ${i}: ${filler}`
      const result = yield* AgentRuntime.run(agent, input, { threadId: "t" }).pipe(Effect.provide(model))
      const report = yield* Replay.replay(agent, result.events).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([])))
      )
      assert.strictEqual(report.identical, result.events.length, `run ${i} replays identically`)
      all.push({ answer: result.answer, events: result.events })
    }
    const stored = yield* Memory.Memory.use((memory) => memory.get(Memory.thread("t"), "graphent.thread-summary"))
    return { runs: all, summaries, summaryPrompts, stored: Option.getOrUndefined(stored) }
  }).pipe(Effect.provide(Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(JournalMemory.layer())),
    Layer.fresh(memory),
    Testing.layerSequentialIds()
  )))

describe("LlmPlanner: a thread's history within the window", () => {
  it.effect("summarize: a long thread never overflows, the first run's fact survives, the summary is kept and reused", () =>
    Effect.gen(function*() {
      const limit = 1200
      const { runs, stored, summaries, summaryPrompts } = yield* thread(chat({ limit }), 40, random(7), "C42X")
      for (const [i, run] of runs.entries()) assertWithin(run.events, summaryPrompts, limit, `run ${i + 1}`)
      // The fact of run 1 reached run 40 through the summaries (80 messages later).
      assert.strictEqual(runs.at(-1)!.answer, "The code is C42X.")
      const compactions = runs.flatMap((run) => eventsOf(run.events, "ContextCompacted"))
      assert.isAbove(compactions.length, 3)
      for (const compaction of compactions) {
        assert.isTrue(compaction.history, "only the thread's history needed compacting")
        assert.strictEqual(compaction.call, 1)
        assert.strictEqual(compaction.policy, "summarize")
      }
      // Each compaction's summary is the last the model wrote for it (it may have summarized in chunks).
      assert.includeMembers(summaries, compactions.map((event) => event.summary!))
      assert.strictEqual(compactions.at(-1)!.summary, summaries.at(-1))
      // The summary is kept in the thread's memory: later runs read only what came after it, never the whole thread.
      assert.strictEqual((stored as { readonly summary: string }).summary, summaries.at(-1))
      const read = runs.map((run) => messagesRead(run.events))
      assert.isAtMost(Math.max(...read), 24, `messages read per run: ${read.join(",")}`)
      // Each later summary builds on the one before (the summarizer is shown it), not on the whole thread again.
      for (const compaction of compactions) assert.isAtMost(compaction.removed, 24)
    }))

  it.effect("fuzz: seeds, limits and policies — within the limit, identical replays; keep-last-n forgets, summaries remember", () =>
    Effect.gen(function*() {
      for (let seed = 1; seed <= 15; seed++) {
        const next = random(seed * 7919)
        const limit = 700 + Math.floor(next() * 1200)
        const policy = (["summarize", "keep-last-n", "custom"] as const)[seed % 3]!
        // A custom policy: remove half the turns, keeping the codes of what it removes in its summary.
        const custom: LlmPlanner.CustomCompaction = (input) => {
          const removeTurns = Math.ceil(input.messages.length / 4)
          const codes = codesIn(`${input.summary ?? ""} ${JSON.stringify(input.messages.slice(0, 2 * removeTurns))}`)
          return Effect.succeed({ removeTurns, summary: codes.map((code) => `the code is ${code}`).join("; ") })
        }
        const agent = chat({ limit, keep: 1 + (seed % 3), policy: policy === "custom" ? custom : policy })
        const code = `C${seed}X`
        const { runs, summaryPrompts } = yield* thread(agent, 16, next, code)
        for (const [i, run] of runs.entries()) assertWithin(run.events, summaryPrompts, limit, `seed ${seed} (${policy}) run ${i + 1}`)
        const answer = runs.at(-1)!.answer
        assert.strictEqual(answer, policy === "keep-last-n" ? "I do not know." : `The code is ${code}.`, `seed ${seed} (${policy})`)
      }
    }))

  it.effect("the thread's summary is kept in PostgreSQL and Redis memory alike, and read back by the next runs", () =>
    Effect.gen(function*() {
      const stores = {
        postgres: MemoryPg.layerPg({ pg: pgConfig, tablePrefix: pgPrefix }).pipe(Layer.provide(EmbeddingLocal.layer)),
        redis: MemoryRedis.layer({ url: redisUrl, keyPrefix: redisPrefix }).pipe(Layer.provide(EmbeddingLocal.layer))
      }
      for (const [name, memory] of Object.entries(stores)) {
        const limit = 900
        const { runs, stored, summaries, summaryPrompts } = yield* thread(chat({ limit }), 24, random(11), "C9X", memory)
        for (const [i, run] of runs.entries()) assertWithin(run.events, summaryPrompts, limit, `${name} run ${i + 1}`)
        assert.strictEqual(runs.at(-1)!.answer, "The code is C9X.", name)
        assert.isAbove(summaries.length, 1, name)
        assert.strictEqual((stored as { readonly summary: string }).summary, summaries.at(-1), name)
        assert.isAtMost(Math.max(...runs.map((run) => messagesRead(run.events))), 24, name)
      }
    }), 30_000)

  it.effect("without a known window the thread's history is the last `history` messages, as before (no compaction)", () =>
    Effect.gen(function*() {
      const agent = Agent.make({ name: "chat", tools: [], planner: LlmPlanner.make({ history: 4 }) })
      const { runs } = yield* thread(agent, 6, random(3), "C1X")
      assert.deepStrictEqual(runs.map((run) => messagesRead(run.events)), [0, 2, 4, 4, 4, 4])
      assert.strictEqual(runs.flatMap((run) => eventsOf(run.events, "ContextCompacted")).length, 0)
      assert.strictEqual(runs.at(-1)!.answer, "I do not know.")
    }))
})
