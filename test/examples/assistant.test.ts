import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { AgentRuntime, Memory } from "graphent"
import * as Testing from "graphent/testing"
import assistant, { evaluate, layer as modelLayer } from "../../examples/assistant.js"

/** The example's own model layer, with GRAPHENT_MODEL unset: the offline model. */
const offline = Layer.mergeAll(
  Testing.layer,
  modelLayer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))))
)

const ask = (input: string, threadId = "t") => AgentRuntime.run(assistant, input, { threadId })

describe("examples/assistant.ts (offline model)", () => {
  it.effect("notes and arithmetic in one message: two tool calls in one turn, then one answer", () =>
    Effect.gen(function*() {
      const result = yield* ask("remember that tea is at 5 and what is (2 + 3) * 4?")
      assert.strictEqual(result.answer, "Noted: tea is at 5. The answer is 20.")
      assert.strictEqual(result.usage.turns, 2)
      assert.deepStrictEqual(result.steps.map((step) => step.tool).sort(), ["calculator", "notes"])
    }).pipe(Effect.provide(offline)))

  it.effect("remembers across turns of a thread: notes (facts) and the conversation (history)", () =>
    Effect.gen(function*() {
      yield* ask("my name is Ada")
      yield* ask("remember that the meeting is at 3pm")
      assert.strictEqual((yield* ask("what do you remember?")).answer, "Your notes: the meeting is at 3pm.")
      assert.strictEqual((yield* ask("what is my name?")).answer, "Your name is Ada.")
      // Another thread knows nothing.
      assert.strictEqual((yield* ask("what do you remember?", "other")).answer, "I have no notes yet.")
      assert.strictEqual((yield* ask("what is my name?", "other")).answer, "You have not told me your name.")
      const history = yield* Memory.Memory.use((memory) => memory.history(Memory.thread("t")))
      assert.strictEqual(history.length, 8)
    }).pipe(Effect.provide(offline)))

  it.effect("a bad expression goes back to the model (the calculator is recoverable)", () =>
    Effect.gen(function*() {
      const result = yield* ask("what is 1/0")
      assert.include(result.answer, "division by zero")
      assert.strictEqual(result.steps[0]?._tag, "Failed")
    }).pipe(Effect.provide(offline)))

  it("the calculator parses, and never evaluates code", () => {
    assert.strictEqual(evaluate("2 + 3 * 4"), 14)
    assert.strictEqual(evaluate("(2 + 3) * 4"), 20)
    assert.strictEqual(evaluate("2 ^ 3 ^ 2"), 512)
    assert.strictEqual(evaluate("-3 + 1"), -2)
    assert.throws(() => evaluate("process.exit(1)"), /unexpected/)
    assert.throws(() => evaluate("1 +"), /unexpected end/)
    assert.throws(() => evaluate("(1"), /missing \)/)
  })
})
