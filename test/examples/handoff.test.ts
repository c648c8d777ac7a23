/**
 * examples/handoff.ts: a triage agent hands the run to billing or support
 * through the model's `transfer_to_<agent>` calls (offline model); and the
 * TypeScript blocks of docs/multi-agent.md are excerpts of the examples, so
 * they compile (tsc) and run (these tests and examples/research.test.ts).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { AgentRuntime, Journal } from "graphent"
import * as Testing from "graphent/testing"
import triage, { layer as modelLayer } from "../../examples/handoff.js"

const offline = Layer.mergeAll(
  Testing.layer,
  modelLayer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))))
)

const root = path.resolve(import.meta.dirname, "../..")

describe("examples/handoff.ts (offline model)", () => {
  it.effect("a charge goes to billing, a question to support: a Handoff decision, the specialist's answer", () =>
    Effect.gen(function*() {
      const billed = yield* AgentRuntime.run(triage, "I was charged twice")
      assert.strictEqual(billed.answer, "Billing: refunded (double charge).")
      const decision = billed.events.find((event) => event._tag === "DecisionMade")
      assert.deepStrictEqual(decision?._tag === "DecisionMade" ? decision.decision : undefined, {
        _tag: "Handoff",
        agent: "billing",
        input: "I was charged twice"
      })
      const child = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1/handoff-1"))
      assert.strictEqual(child[0]?._tag === "RunStarted" ? child[0].agent : undefined, "billing")
      const helped = yield* AgentRuntime.run(triage, "how do I export?")
      assert.strictEqual(helped.answer, `Support: about "how do I export?", see the manual.`)
    }).pipe(Effect.provide(offline)))

  it("every TypeScript block of docs/multi-agent.md is an excerpt of an example", () => {
    const doc = fs.readFileSync(path.join(root, "docs/multi-agent.md"), "utf8")
    const examples = ["examples/research.ts", "examples/handoff.ts"].map((file) =>
      fs.readFileSync(path.join(root, file), "utf8")
    )
    const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)
    assert.isAtLeast(blocks.length, 2)
    for (const block of blocks) assert.isTrue(examples.some((example) => example.includes(block)), block)
  })
})
