/**
 * A long conversation that stays within a small context window: a reader
 * fetches 60 pages, one a turn, with a window of 2000 tokens; the LLM planner
 * summarizes the older turns whenever the next prompt would overflow.
 *
 *   npx graphent run examples/long-chat.ts --input "read 60 pages"
 *   npx graphent trace show <run-id> --db      # the compactions, with their summaries
 *
 * Offline on a scripted model (it fetches pages, then answers, and writes a
 * one-line summary when asked); live with `GRAPHENT_MODEL`.
 */
import { Effect, Schema } from "effect"
import { Agent, LlmPlanner, ModelConfig, ScriptedModel, Tool } from "graphent"

export const fetchPage = Tool.make("fetch_page", {
  description: "Fetches page n of the book.",
  parameters: Schema.Struct({ n: Schema.Int }),
  success: Schema.String,
  idempotent: true,
  handler: ({ n }) => Effect.succeed(`Page ${n}. ` + "The tale goes on. ".repeat(20))
})

export default Agent.make({
  name: "long-chat",
  instructions: "You read the book page by page, then say how many pages you read.",
  tools: [fetchPage],
  planner: LlmPlanner.make({
    context: {
      limit: 2000, // tokens; by default the model's own window (Pricing.knownContextWindows, GRAPHENT_CONTEXT_WINDOWS)
      policy: "summarize", // or "keep-last-n" (with `keep`), or a function
      maxToolResult: 400 // characters of a tool result shown to the model; the journal keeps it whole
    }
  }),
  budget: { maxTurns: 200, maxSteps: 200 }
})

/** Reads 60 pages, one per call; asked for a summary (its system prompt says so), writes one line. */
const offlineModel = ScriptedModel.layerFunction(({ prompt }) => {
  const system = prompt.content[0]
  if (system?.role === "system" && system.content.startsWith("You condense")) {
    return ScriptedModel.text("The reader has fetched the earlier pages; the tale goes on.")
  }
  // Count on from the last page the prompt shows (earlier ones may be summarized away).
  const last = [...JSON.stringify(prompt.content).matchAll(/Page (\d+)\./g)].map((match) => Number(match[1])).pop()
  const next = (last ?? 0) + 1
  return next <= 60 ? ScriptedModel.toolCall("fetch_page", { n: next }) : ScriptedModel.text(`I read ${next - 1} pages.`)
})

export const layer = ModelConfig.layerConfigOrElse(offlineModel)
