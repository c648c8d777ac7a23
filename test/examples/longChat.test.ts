import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { AgentRuntime, Journal, Replay, ScriptedModel } from "graphent"
import * as Testing from "graphent/testing"
import longChat, { layer } from "../../examples/long-chat.js"

describe("examples/long-chat.ts", () => {
  it.effect("reads 60 pages within a 2000-token window, compacting, and replays with no model", () =>
    Effect.gen(function*() {
      const { events, result } = yield* Effect.gen(function*() {
        const result = yield* AgentRuntime.run(longChat, "read 60 pages")
        return { result, events: yield* Journal.Journal.use((journal) => journal.read(result.runId)) }
      }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, layer)))
      assert.strictEqual(result.answer, "I read 60 pages.")
      const compactions = events.filter((event) => event._tag === "ContextCompacted")
      assert.isAbove(compactions.length, 1)
      for (const event of events) {
        if (event._tag === "ModelCalled") assert.isAtMost(event.response.usage.inputTokens, 2000)
      }
      const report = yield* Replay.replay(longChat, events).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([])))
      )
      assert.strictEqual(report.identical, events.length)
    }))

  it("docs/context.md shows examples/long-chat.ts and examples/context-options.ts verbatim (tsc checks them)", () => {
    const docs = fs.readFileSync("docs/context.md", "utf8")
    const blocks = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1])
    assert.deepStrictEqual(blocks, [
      fs.readFileSync("examples/long-chat.ts", "utf8"),
      fs.readFileSync("examples/context-options.ts", "utf8")
    ])
  })
})
