/**
 * The run loop reaches the world only through its ports: a PortProvider
 * passed as `RunOptions.replay` sees every event, tool call and clock reading
 * of the run, and what it answers is what the run uses.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Agent, AgentRuntime, type RunEvent, type RunPorts, SequencePlanner, Tool } from "graphent"
import * as Testing from "graphent/testing"

let handlerCalls = 0
const double = Tool.make("double", {
  description: "Doubles a number",
  parameters: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  handler: ({ n }) =>
    Effect.sync(() => {
      handlerCalls++
      return n * 2
    })
})

const agent = Agent.make({
  name: "doubler",
  tools: [double],
  concurrency: 2,
  planner: SequencePlanner.plan({
    steps: [
      { id: "a", tool: "double", args: { n: 1 } },
      { id: "b", tool: "double", args: { n: 2 } }
    ],
    answer: (results) => `${results["a"]} ${results["b"]}`
  })
})

describe("RunPorts", () => {
  it.effect("a provider sees every tool call and journaled event, and the run is unchanged", () =>
    Effect.gen(function*() {
      const calls: Array<string> = []
      const journaled: Array<RunEvent.RunEvent["_tag"]> = []
      const watching: RunPorts.PortProvider = {
        provide: (live) => ({
          ...live,
          journal: (event) => {
            journaled.push(event._tag)
            return live.journal(event)
          },
          tools: {
            execute: (registry, call, context, defaults) => {
              calls.push(call.stepId)
              return live.tools.execute(registry, call, context, defaults)
            }
          }
        })
      }
      const result = yield* AgentRuntime.run(agent, "go", { replay: watching })
      assert.strictEqual(result.answer, "2 4")
      assert.deepStrictEqual([...calls].sort(), ["a", "b"])
      assert.deepStrictEqual(journaled, result.events.map((event) => event._tag))
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the tool port's answer is the step's result: the handler does not run", () =>
    Effect.gen(function*() {
      handlerCalls = 0
      const answering: RunPorts.PortProvider = {
        provide: (live) => ({
          ...live,
          tools: { execute: () => Effect.succeed({ value: 100, result: 100 }) }
        })
      }
      const result = yield* AgentRuntime.run(agent, "go", { replay: answering })
      assert.strictEqual(result.answer, "100 100")
      assert.strictEqual(handlerCalls, 0)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("every event carries the clock port's time; the journal port may publish its own copy", () =>
    Effect.gen(function*() {
      const fixed: RunPorts.PortProvider = {
        provide: (live) => ({
          ...live,
          now: () => 42,
          journal: (event) => Effect.as(live.journal(event), event._tag === "RunCompleted" ? { ...event, at: 43 } : event)
        })
      }
      const result = yield* AgentRuntime.run(agent, "go", { replay: fixed })
      assert.deepStrictEqual(result.events.map((event) => event.at), [...result.events.map(() => 42).slice(1), 43])
      assert.strictEqual(result.finishedAt - result.startedAt, 1)
    }).pipe(Effect.provide(Testing.layer)))
})
