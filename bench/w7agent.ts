/**
 * W7's agent: one step per turn, each a tool call that waits `latencyMs` (a remote call's latency, with no
 * CPU; not idempotent, so a durable runtime marks each call begun), `steps` steps, then the answer. Input: JSON `{ "steps": n, "latencyMs": ms }`. Loaded by the
 * `graphent worker` runners of W7 and run in-process for the single-process baseline.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Agent, Planner, Tool } from "../src/index.js"

const Input = Schema.fromJsonString(Schema.Struct({ steps: Schema.Number, latencyMs: Schema.Number }))

const call = Tool.make("call", {
  description: "A remote call: waits its latency.",
  parameters: Schema.Struct({ n: Schema.Number, latencyMs: Schema.Number }),
  success: Schema.Number,
  handler: ({ latencyMs, n }) => latencyMs > 0 ? Effect.as(Effect.sleep(latencyMs), n) : Effect.succeed(n)
})

export default Agent.make({
  name: "w7",
  tools: [call],
  planner: {
    decide: (state) =>
      Effect.sync(() => {
        const input = Schema.decodeUnknownSync(Input)(state.input)
        return state.turn <= input.steps
          ? Planner.runSteps([{ id: `s${state.turn}`, tool: "call", args: { n: state.turn, latencyMs: input.latencyMs } }])
          : Planner.answer("done")
      })
  },
  budget: { maxSteps: 1000, maxTurns: 1001 }
})
