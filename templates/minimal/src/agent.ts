/**
 * The agent: its input is a name; it answers through the greet tool.
 *
 *   npx graphent run src/agent.ts --input Ada
 */
import { Agent, SequencePlanner } from "graphent"
import { greet } from "./tools.js"

export default Agent.make({
  name: "greeter",
  description: "Greets whoever its input names.",
  tools: [greet],
  planner: SequencePlanner.rules([
    { match: () => true, steps: (input) => [{ id: "greet", tool: "greet", args: { name: input.trim() || "world" } }] }
  ])
})
