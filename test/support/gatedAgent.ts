/**
 * An agent whose steps wait for the test: each step waits until its gate is
 * opened, so a test decides exactly when a run moves on (no sleeps, no
 * timing assumptions). The input names the gates: "a,b" runs step `a` (one
 * turn), then step `b`, then answers "passed a,b".
 */
import { Deferred, Effect, Schema } from "effect"
import { Agent, Planner, Tool } from "graphent"

const gates = new Map<string, Deferred.Deferred<void>>()

const gate = (name: string) => {
  let deferred = gates.get(name)
  if (deferred === undefined) {
    deferred = Deferred.makeUnsafe<void>()
    gates.set(name, deferred)
  }
  return deferred
}

/** Lets the step waiting on `name` (now or later) finish. */
export const open = (name: string): Effect.Effect<void> => Effect.asVoid(Deferred.succeed(gate(name), undefined))

/** Whether a step has started waiting on `name` (or it was opened). */
export const known = (name: string): boolean => gates.has(name)

export const wait = Tool.make("wait", {
  description: "Waits for its gate to open.",
  parameters: Schema.Struct({ gate: Schema.String }),
  success: Schema.String,
  handler: ({ gate: name }) => Effect.as(Deferred.await(gate(name)), `passed ${name}`)
})

const gatesOf = (input: string) => input.split(",").map((name) => name.trim()).filter((name) => name !== "")

export const gated = Agent.make({
  name: "gated",
  description: "Each step waits for the test to open its gate.",
  tools: [wait],
  planner: {
    decide: (state) =>
      Effect.sync(() => {
        const names = gatesOf(state.input)
        const next = names[state.turn - 1]
        return next === undefined
          ? Planner.answer(`passed ${names.join(",")}`)
          : Planner.runSteps([{ id: next, tool: "wait", args: { gate: next } }])
      })
  }
})
