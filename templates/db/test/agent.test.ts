import { assert, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { AgentRuntime, EmbeddingLocal, Memory } from "graphent"
import { MemoryPg } from "graphent/postgres"
import * as Testing from "graphent/testing"
import agent from "../src/agent.js"

const input = "remember the deploy key is in the vault; remember lunch is at noon; recall where is the deploy key?"

// The agent's memory on PostgreSQL with pgvector: the server GRAPHENT_DATABASE_URL names (tables notes_test_…),
// else an embedded PGlite, in memory.
const url = process.env.GRAPHENT_DATABASE_URL ?? ""
const memory = (url === ""
  ? MemoryPg.layerPglite()
  : MemoryPg.layerPg({ pg: { url: Redacted.make(url) }, tablePrefix: "notes_test_" })).pipe(Layer.provide(EmbeddingLocal.layer))

it.effect("recalls the note closest in meaning, from PostgreSQL/pgvector", () =>
  Effect.gen(function*() {
    yield* Memory.Memory.use((memory) => memory.clear(Memory.agent(agent.name)))
    const result = yield* AgentRuntime.run(agent, input)
    const [first, second, best, next] = result.answer.split("\n")
    assert.strictEqual(first, "Remembered: the deploy key is in the vault")
    assert.strictEqual(second, "Remembered: lunch is at noon")
    assert.match(best!, /^0\.\d\d {2}the deploy key is in the vault$/)
    assert.match(next!, /^0\.\d\d {2}lunch is at noon$/)
  }).pipe(Effect.provide(memory), Effect.provide(Testing.layer)), 60_000)

it.effect("answers what it does not understand without running a tool", () =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "forget everything")
    assert.match(result.answer, /^I did not understand/)
    assert.isFalse(result.events.some((event) => event._tag === "StepStarted"))
  }).pipe(Effect.provide(Testing.layer)))

// Recorded with: npx graphent run src/agent.ts --input "<the input above>" --record test/fixtures/agent.jsonl
// The recalled notes come from the journal: the replay opens no database.
it.effect("replays its golden journal", () => Testing.replayJournal(agent, "test/fixtures/agent.jsonl"))
