/**
 * An agent with a shell tool and an HTTP tool, under a policy.
 *
 *   GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=me npx graphent run src/agent.ts --input "count test/fixtures/poem.txt"
 *   GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=me npx graphent run src/agent.ts --input "latest effect"
 *
 * As `guest` (no `web` role) the second one is denied: the run fails with ToolDenied, and `npx graphent audit`
 * shows the decision.
 */
import { NodeServices } from "@effect/platform-node"
import { Layer } from "effect"
import { Agent, SequencePlanner } from "graphent"
import { HttpTool } from "graphent/http-tool"
import { countWords, latestVersion } from "./tools.js"

export default Agent.make({
  name: "toolbox",
  description: "Counts the words of a project file, or looks up a package's latest version.",
  tools: [countWords, latestVersion],
  planner: SequencePlanner.rules([
    {
      match: /^count (.+)$/,
      steps: (_input, match) => [{ id: "count", tool: "count_words", args: { file: match![1]!.trim() } }],
      answer: (results) => {
        const [lines, words] = (results.count as { readonly stdout: string }).stdout.trim().split(/\s+/)
        return `${words} words in ${lines} lines`
      }
    },
    {
      match: /^latest (.+)$/,
      steps: (_input, match) => [{ id: "latest", tool: "latest_version", args: { name: match![1]!.trim() } }],
      answer: (results) => {
        const { name, version } = results.latest as { readonly name: string; readonly version: string }
        return `${name} ${version}`
      }
    }
  ])
})

/** What the tools need: a process spawner for the shell tool, a guarded HTTP client for the HTTP tool. */
export const layer = Layer.mergeAll(NodeServices.layer, HttpTool.layerClient())
