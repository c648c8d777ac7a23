/**
 * A calculator agent whose plan comes from a service in another language: the
 * tools are TypeScript, the planning is `server.py` (Python, standard library
 * only), reached through `RemotePlanner` over HTTP.
 *
 *   python3 examples/remote-planner/server.py --port 8765 &
 *   GRAPHENT_PLANNER_URL=http://127.0.0.1:8765/decide \
 *     npx graphent run examples/remote-planner/agent.ts --input "(2 + 3) * (4 + 5)"
 *
 * The agent declares no planner of its own; the module's `layer` provides the
 * `Planner` service from the environment (`GRAPHENT_PLANNER_URL`, and
 * optionally `GRAPHENT_PLANNER_TOKEN`, `GRAPHENT_PLANNER_TIMEOUT`,
 * `GRAPHENT_PLANNER_MAX_RETRIES`).
 */
import { Effect, Schema } from "effect"
import { Agent, RemotePlanner, Tool } from "graphent"

const Operands = Schema.Struct({
  a: Schema.Finite.annotate({ description: "The left operand" }),
  b: Schema.Finite.annotate({ description: "The right operand" })
})

class DivisionByZero extends Schema.TaggedError<DivisionByZero>()("DivisionByZero", { a: Schema.Number }) {
  override get message(): string {
    return `cannot divide ${this.a} by zero`
  }
}

const arithmetic = (name: string, description: string, apply: (a: number, b: number) => number) =>
  Tool.make(name, {
    description,
    parameters: Operands,
    success: Schema.Finite,
    idempotent: true,
    handler: ({ a, b }) => Effect.succeed(apply(a, b))
  })

export const add = arithmetic("add", "Adds b to a", (a, b) => a + b)
export const subtract = arithmetic("subtract", "Subtracts b from a", (a, b) => a - b)
export const multiply = arithmetic("multiply", "Multiplies a by b", (a, b) => a * b)

export const divide = Tool.make("divide", {
  description: "Divides a by b; fails when b is 0",
  parameters: Operands,
  success: Schema.Number,
  idempotent: true,
  handler: ({ a, b }) => b === 0 ? Effect.fail(new DivisionByZero({ a })) : Effect.succeed(a / b)
})

export default Agent.make({
  name: "calculator",
  description: "Evaluates arithmetic expressions, one operation per tool call, as a remote planner decides.",
  instructions: "Evaluate the arithmetic expression in the input with the tools; answer with the number.",
  tools: [add, subtract, multiply, divide]
})

/** The `Planner` service: the remote planner at `GRAPHENT_PLANNER_URL`. */
export const layer = RemotePlanner.layerConfig({ timeout: "10 seconds" })
