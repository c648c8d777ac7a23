/**
 * The smallest agent: it answers its input through an `echo` tool.
 *
 *   npx graphent run examples/echo.ts --input "hello"
 */
import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"

export const echo = Tool.make("echo", {
  description: "Repeats the text it is given.",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  idempotent: true,
  handler: ({ text }) => Effect.succeed(text)
})

export default Agent.make({
  name: "echo",
  description: "Answers its input through the echo tool.",
  tools: [echo],
  planner: SequencePlanner.rules([
    { match: () => true, steps: (input) => [{ id: "echo", tool: "echo", args: { text: input } }] }
  ])
})
