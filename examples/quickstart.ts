import { Effect, Schema } from "effect"
import { Agent, AgentRuntime, LocalRuntime, SequencePlanner, Tool } from "graphent"

const shout = Tool.make("shout", {
  description: "Upper-cases a text",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  handler: ({ text }) => Effect.succeed(text.toUpperCase())
})

const agent = Agent.make({
  name: "shouter",
  tools: [shout],
  planner: SequencePlanner.rules([{ match: /.+/, steps: (input) => [{ id: "shout", tool: "shout", args: { text: input } }] }])
})

const result = await Effect.runPromise(AgentRuntime.run(agent, "hello").pipe(Effect.provide(LocalRuntime.layerMemory)))
console.log(result.answer) // HELLO
