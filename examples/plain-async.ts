import { Agent, Graphent, SequencePlanner } from "graphent"

const { Schema } = Graphent

// A tool is a plain async function; its arguments are checked against `parameters` first.
const temperature = Graphent.tool("temperature", {
  description: "The temperature in a city, in °C",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Number,
  handler: async ({ city }) => {
    const known: Record<string, number> = { Paris: 21, Rome: 26 }
    if (!(city in known)) throw new Error(`no weather station in ${city}`)
    return known[city]!
  }
})

const agent = Agent.make({
  name: "weather",
  tools: [temperature],
  planner: SequencePlanner.rules([{ match: /.+/, steps: (input) => [{ id: "t", tool: "temperature", args: { city: input } }] }])
})

// One Graphent per application, built once: every run shares its runtime, journal and memory.
const graphent = Graphent.create({ agents: [agent] })

const result = await graphent.run(agent, "Paris")
console.log(result.answer) // 21

for await (const event of graphent.stream(agent, "Rome")) {
  if (event._tag === "RunCompleted") console.log(event.answer) // 26
}

try {
  await graphent.run(agent, "Atlantis")
} catch (error) {
  if (error instanceof Graphent.ToolFailed) console.log(error.message)
}

await graphent.close()
