import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import { LanguageModel, Prompt } from "effect/ai"
import { ScriptedModel } from "graphent"

describe("ScriptedModel", () => {
  it.effect("answers with the script in order, records the calls, and knows when it is used up", () =>
    Effect.gen(function*() {
      const first = yield* LanguageModel.generateText({ prompt: "hello" })
      assert.strictEqual(first.text, "hi there")
      assert.strictEqual(first.usage.inputTokens.total, 2)
      assert.strictEqual(first.usage.outputTokens.total, 3)
      const unused = yield* Effect.flip(ScriptedModel.assertUsedUp)
      assert.strictEqual(unused._tag, "ScriptNotUsedUp")
      assert.strictEqual(unused.remaining, 1)
      assert.include(unused.message, "1 replies left after 1 calls")

      const second = yield* LanguageModel.generateText({ prompt: "again" })
      assert.strictEqual(second.text, "bye")
      yield* ScriptedModel.assertUsedUp
      const calls = yield* ScriptedModel.calls
      assert.deepStrictEqual(calls.map((call) => call.method), ["generateText", "generateText"])
      assert.strictEqual(ScriptedModel.lastUserText(calls[1]!.prompt), "again")

      // Past the end of the script: a typed AiError, not a hang or a throw.
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "more" }))
      assert.strictEqual(error._tag, "AiError")
      assert.include(error.message, "no reply for call 3")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.text("hi there", { inputTokens: 2, outputTokens: 3 }),
      ScriptedModel.text("bye")
    ]))))

  it.effect("a scripted error fails the call with that AiError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "x" }))
      assert.include(error.message, "rate limited")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.fail("rate limited")]))))

  it.effect("streams text in word-sized deltas; stream chunks also answer a non-streaming call", () =>
    Effect.gen(function*() {
      const parts = yield* LanguageModel.streamText({ prompt: "x" }).pipe(Stream.runCollect)
      const deltas = parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])
      assert.deepStrictEqual(deltas, ["one ", "two ", "three"])
      const assembled = yield* LanguageModel.generateText({ prompt: "y" })
      assert.strictEqual(assembled.text, "ab")
      assert.strictEqual(assembled.finishReason, "stop")
    }).pipe(Effect.provide(ScriptedModel.layer([
      ScriptedModel.text("one two three"),
      ScriptedModel.chunks([
        { type: "text-start", id: "t" },
        { type: "text-delta", id: "t", delta: "a" },
        { type: "text-delta", id: "t", delta: "b" },
        { type: "text-end", id: "t" },
        { type: "finish", reason: "stop", usage: { inputTokens: { total: 1 }, outputTokens: { total: 1 } } }
      ])
    ]))))

  it.effect("a function-driven model computes each reply from the request", () =>
    Effect.gen(function*() {
      const a = yield* LanguageModel.generateText({ prompt: "ping" })
      const b = yield* LanguageModel.generateText({ prompt: "pong" })
      assert.deepStrictEqual([a.text, b.text], ["0:PING", "1:PONG"])
      assert.strictEqual(yield* ScriptedModel.ScriptedModel.use((model) => model.remaining), 0)
    }).pipe(Effect.provide(ScriptedModel.layerFunction(({ index, prompt }) =>
      ScriptedModel.text(`${index}:${ScriptedModel.lastUserText(prompt).toUpperCase()}`)
    ))))

  it.effect("a function-driven model keeps no calls unless told to; reading them then is a defect that says how", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "a" })
      yield* LanguageModel.generateText({ prompt: "b" })
      assert.strictEqual(yield* ScriptedModel.ScriptedModel.use((model) => model.received), 2)
      const exit = yield* Effect.exit(ScriptedModel.calls)
      assert(Exit.isFailure(exit))
      assert.include(String(Cause.squash(exit.cause)), "{ record: true }")
    }).pipe(Effect.provide(ScriptedModel.layerFunction(() => ScriptedModel.text("ok")))))

  it.effect("told to record, a function-driven model keeps every call", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "a" })
      const calls = yield* ScriptedModel.calls
      assert.deepStrictEqual(calls.map((call) => ScriptedModel.lastUserText(call.prompt)), ["a"])
    }).pipe(Effect.provide(ScriptedModel.layerFunction(() => ScriptedModel.text("ok"), { record: true }))))

  it.effect("a script that does not record still reports the calls it received when replies are left", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generateText({ prompt: "a" })
      const unused = yield* Effect.flip(ScriptedModel.assertUsedUp)
      assert.include(unused.message, "1 replies left after 1 calls")
    }).pipe(Effect.provide(ScriptedModel.layer([ScriptedModel.text("x"), ScriptedModel.text("y")], { record: false }))))

  it.effect("estimated input tokens count every message of the prompt, also the ones re-sent from an earlier call", () =>
    Effect.gen(function*() {
      const system = Prompt.makeMessage("system", { content: "s".repeat(40) })
      const user = Prompt.makeMessage("user", { content: [Prompt.makePart("text", { text: "u".repeat(20) })] })
      const call = Prompt.makeMessage("assistant", {
        content: [Prompt.makePart("tool-call", { id: "c1", name: "add", params: { a: 1 }, providerExecuted: false })]
      })
      const first = yield* LanguageModel.generateText({ prompt: Prompt.fromMessages([system, user]) })
      const second = yield* LanguageModel.generateText({ prompt: Prompt.fromMessages([system, user, call]) })
      // 40 + 20 characters, then 40 + 20 + "add" + '{"a":1}': 4 characters a token, rounded up.
      assert.strictEqual(first.usage.inputTokens.total, 15)
      assert.strictEqual(second.usage.inputTokens.total, Math.ceil((60 + 3 + 7) / 4))
    }).pipe(Effect.provide(ScriptedModel.layerFunction(() => ScriptedModel.text("ok")))))
})
