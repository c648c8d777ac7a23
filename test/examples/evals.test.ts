import { it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { Dataset, Eval, Scorer } from "graphent/eval"
import * as Testing from "graphent/testing"
import assistant, { layer as model } from "../../examples/assistant.js"

// The assistant's offline model (GRAPHENT_MODEL unset), on the test runtime.
const layers = Layer.mergeAll(Testing.layer, model.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })))))

it.effect("the assistant still answers its cases", () =>
  Effect.gen(function*() {
    const cases = yield* Dataset.read("examples/assistant-cases.jsonl")
    const report = yield* Eval.run(assistant, cases, [Scorer.exactMatch(), Scorer.trajectory()])
    // Fails with ThresholdMissed, naming each figure that is too low.
    yield* Eval.check(report, [{ name: "pass", min: 1 }, { name: "exact", min: 1 }])
  }).pipe(Effect.provide(layers)))

// The docs show the test above verbatim (docs/evals.md, "regression-test an agent").
it("docs/evals.md shows this test", async () => {
  const fs = await import("node:fs")
  const source = fs.readFileSync(new URL(import.meta.url), "utf8")
  const shown = source.slice(0, source.indexOf("\n// The docs show"))
  const docs = fs.readFileSync(new URL("../../docs/evals.md", import.meta.url), "utf8")
  if (!docs.includes("```ts\n" + shown + "```")) throw new Error("docs/evals.md does not show test/examples/evals.test.ts verbatim")
})
