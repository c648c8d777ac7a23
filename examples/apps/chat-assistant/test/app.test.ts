/**
 * The chat assistant: thread memory and notes recalled by meaning across threads, streamed answers, a 40-turn run
 * that stays inside a 3,000-token window by compaction (and replays identically from its golden journal), and the
 * eval dataset gating the app's CI.
 */
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Stream } from "effect"
import { AgentRuntime, ScriptedModel } from "graphent"
import { Dataset, Eval, Scorer } from "graphent/eval"
import * as Testing from "graphent/testing"
import chat, { contextLimit, layer, offlineReply } from "../src/agent.js"

const app = path.resolve(import.meta.dirname, "..")
// The offline model, whatever the machine's GRAPHENT_MODEL says.
const offline = ScriptedModel.layerFunction(offlineReply)
const live = Layer.mergeAll(Testing.layer, offline)
const say = (threadId: string, input: string) => AgentRuntime.run(chat, input, { threadId }).pipe(Effect.map((result) => result.answer))

describe("chat assistant", () => {
  it.effect("keeps each thread's conversation, and finds a note taken in one thread from another, by meaning", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* say("monday", "remember that the dentist is on Friday at 10"), "Noted: the dentist is on Friday at 10.")
      assert.strictEqual(yield* say("monday", "remember that my passport expires in March"), "Noted: my passport expires in March.")
      assert.strictEqual(yield* say("monday", "how are you"), "You said: \"how are you\" (2 earlier messages in view).")
      assert.strictEqual(yield* say("tuesday", "hi"), "You said: \"hi\" (0 earlier messages in view).")
      assert.strictEqual(yield* say("tuesday", "when is the dentist?"), "From your notes: the dentist is on Friday at 10.")
      assert.strictEqual(yield* say("tuesday", "when does my passport expire?"), "From your notes: my passport expires in March.")
    }).pipe(Effect.provide(live)))

  it.effect("streams its answer as text deltas before the run ends", () =>
    Effect.gen(function*() {
      const events = yield* AgentRuntime.stream(chat, "hello there").pipe(Stream.runCollect)
      const tags = Array.from(events, (event) => event._tag)
      assert.include(tags, "TextDelta")
      assert.isBelow(tags.indexOf("TextDelta"), tags.indexOf("RunCompleted"))
    }).pipe(Effect.provide(live)))

  it.effect("a 40-note list: 41 model calls, none over the window, compacted on the way, every note kept", () =>
    Effect.gen(function*() {
      const items = Array.from({ length: 40 }, (_, i) => `errand number ${i + 1}: pick up parcel ${i + 1} at the post office`)
      const result = yield* AgentRuntime.run(chat, `remember these: ${items.join("; ")}`)
      assert.strictEqual(result.answer, "Noted 40 notes.")
      assert.isAbove(result.events.filter((event) => event._tag === "ContextCompacted").length, 0)
      // Every prompt, of the turns and of the summaries, as the (scripted) model counted its tokens.
      for (const event of result.events) {
        if (event._tag === "ModelCalled") assert.isAtMost(event.response.usage.inputTokens, contextLimit)
        if (event._tag === "ContextCompacted" && event.usage !== undefined) assert.isAtMost(event.usage.inputTokens, contextLimit)
      }
      assert.strictEqual(result.events.filter((event) => event._tag === "ModelCalled").length, 41)
      assert.strictEqual(yield* say("later", "what is parcel 37 about?"), `From your notes: ${items[36]}.`)
    }).pipe(Effect.provide(live)))

  // Recorded with: npx graphent run src/agent.ts --input "remember these: …" --record test/fixtures/long-list.jsonl
  // Its compactions come from the journal: the replay calls no model, not even for the summaries.
  it.effect("replays its golden journal (a run with compactions)", () =>
    Testing.replayJournal(chat, path.join(app, "test/fixtures/long-list.jsonl")).pipe(Effect.provide(layer)))

  // The CI gate: `npm test` fails when a case no longer passes (`graphent eval run … --threshold pass=1` in a shell).
  it.effect("passes every case of its eval dataset (answers and tool trajectories)", () =>
    Effect.gen(function*() {
      const cases = yield* Dataset.read(path.join(app, "evals/cases.jsonl"))
      const report = yield* Eval.run(chat, cases, [Scorer.exactMatch(), Scorer.trajectory()])
      yield* Eval.check(report, [{ name: "pass", min: 1 }])
    }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))))))))
})
