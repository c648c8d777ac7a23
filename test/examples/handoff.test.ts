/**
 * examples/handoff.ts: a triage agent looks the customer up and hands the run
 * to billing or support through the model's `transfer_to_<agent>` calls
 * (offline model), passing the conversation (trimmed for support); and the
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
      // Billing refunds the account the triage looked up: it got the conversation, the lookup's result included.
      assert.strictEqual(billed.answer, "Billing: refunded acct-42 (double charge).")
      const decisions = billed.events.flatMap((event) => event._tag === "DecisionMade" ? [event.decision] : [])
      assert.deepStrictEqual(decisions.at(-1), { _tag: "Handoff", agent: "billing", input: "I was charged twice" })
      const child = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1/handoff-2"))
      const started = child[0]?._tag === "RunStarted" ? child[0] : undefined
      assert.strictEqual(started?.agent, "billing")
      assert.deepStrictEqual(started?.conversation, [
        { _tag: "UserMessage", text: "I was charged twice" },
        { _tag: "ToolCall", id: "lookup", tool: "account", args: {}, result: "acct-42" }
      ])
      // Support's handoff drops the tool calls (inputFilter: Agent.removeToolCalls): the user's message only.
      const helped = yield* AgentRuntime.run(triage, "how do I export?")
      assert.strictEqual(helped.answer, `Support: about "how do I export?" (1 messages handed over), see the manual.`)
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
