import { assert, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { AgentRuntime, ScriptedModel } from "graphent"
import * as Testing from "graphent/testing"
import agent, { offlineModel } from "../src/agent.js"

it.effect("calls the calculator the model asks for, and answers with its result", () =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "what is 6 * 7?")
    assert.strictEqual(result.answer, "42 it is.")
    yield* ScriptedModel.assertUsedUp
  }).pipe(Effect.provide(Layer.mergeAll(
    Testing.layer,
    ScriptedModel.layer([ScriptedModel.toolCall("calculator", { expression: "6 * 7" }), ScriptedModel.text("42 it is.")])
  ))))

// Recorded with: npx graphent run src/agent.ts --input "what is (2 + 3) * 4?" --record test/fixtures/agent.jsonl
// Model replies come from the journal: the replay calls no model.
it.effect("replays its golden journal", () => Testing.replayJournal(agent, "test/fixtures/agent.jsonl").pipe(Effect.provide(offlineModel)))
