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
