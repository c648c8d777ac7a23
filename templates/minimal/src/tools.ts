/** The agent's tools: typed parameters and results, an Effect as the handler. */
import { Effect, Schema } from "effect"
import { Tool } from "graphent"

export const greet = Tool.make("greet", {
  description: "Greets someone by name.",
  parameters: Schema.Struct({ name: Schema.String }),
  success: Schema.String,
  idempotent: true,
  handler: ({ name }) => Effect.succeed(`Hello, ${name}!`)
})
