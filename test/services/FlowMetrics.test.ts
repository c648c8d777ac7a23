import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Metric, Stream } from "effect"
import { Errors, RateLimits, RateLimitsMemory, Runs, RunSlots, RunsLocal, Telemetry } from "graphent"
import * as Testing from "graphent/testing"
import * as Gated from "../support/gatedAgent.js"


describe("flow metrics", () => {
  it.effect("queue depth and running runs follow the slots; a full queue is RunsOverloaded (overloaded)", () =>
    Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const a = yield* runs.start({ agent: "gated", input: "fm-a" })
      const b = yield* runs.start({ agent: "gated", input: "fm-b" })
      const c = yield* runs.start({ agent: "gated", input: "fm-c" })
      assert.deepStrictEqual([a.status, b.status, c.status], ["running", "queued", "queued"])
      assert.strictEqual((yield* Metric.value(RunSlots.gauges.running)).value, 1)
      assert.strictEqual((yield* Metric.value(RunSlots.gauges.queued)).value, 2)
      const refused = yield* Effect.flip(runs.start({ agent: "gated", input: "fm-d" }))
      assert.strictEqual(refused._tag, "RunsOverloaded")
      assert.deepStrictEqual(Errors.outcomeOf(refused), Errors.overloaded)
      for (const gate of ["fm-a", "fm-b", "fm-c"]) yield* Gated.open(gate)
      yield* Stream.runDrain(yield* runs.events(c.id))
      assert.strictEqual((yield* Metric.value(RunSlots.gauges.queued)).value, 0)
      const text = yield* Telemetry.prometheusText
      assert.include(text, "graphent_runs_queued")
      assert.include(text, "graphent_runs_running")
    }).pipe(Effect.provide(
      RunsLocal.layer({ agents: [Gated.gated], maxConcurrent: 1, maxQueued: 2 }).pipe(Layer.provideMerge(Testing.layer))
    )))

  it.effect("rate-limit waits are recorded by key", () =>
    Effect.gen(function*() {
      const limits = yield* RateLimits.RateLimits
      yield* limits.acquire("tool:metered")
      yield* limits.acquire("tool:metered")
      const text = yield* Telemetry.prometheusText
      assert.match(text, /graphent_rate_limit_wait_seconds_count\{key="tool:metered"\} 2/)
    }).pipe(Effect.provide(RateLimitsMemory.layer({ "tool:metered": "1000/second burst 5" }))))
})
