import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { AgentRuntime } from "graphent"
import * as Testing from "graphent/testing"
import agent from "../src/agent.js"

it.effect("greets the name it is given", () =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "Ada")
    assert.strictEqual(result.answer, "Hello, Ada!")
  }).pipe(Effect.provide(Testing.layer)))

// Recorded with: npx graphent run src/agent.ts --input Ada --record test/fixtures/agent.jsonl
// After an intended change: npx graphent replay test/fixtures/agent.jsonl --update
it.effect("replays its golden journal", () => Testing.replayJournal(agent, "test/fixtures/agent.jsonl"))
