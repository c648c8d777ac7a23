/**
 * Agents that call agents: a coordinator that delegates to a "searcher" and a
 * "writer" sub-agent (`Agent.asTool`). Each delegation is a child run with its
 * own section of the journal, under the coordinator's budget and principal.
 *
 *   npx graphent run examples/research.ts --input "effect" --record research.jsonl
 *   npx graphent trace show research.jsonl     # the child runs nested under the coordinator's steps
 *   npx graphent replay research.jsonl         # the whole tree, offline, no model
 *
 * With no `GRAPHENT_MODEL` it runs offline on a scripted model (a function of
 * the request: which tools are offered tells which agent is asking). With
 * `GRAPHENT_MODEL=openai:gpt-4.1-mini` (and `OPENAI_API_KEY`) the same agents
 * run live.
 */
import { Effect, Schema } from "effect"
import { Agent, LlmPlanner, ModelConfig, ScriptedModel, Tool } from "graphent"

// ---------------------------------------------------------------------------
// the searcher: a search tool over a small offline corpus
// ---------------------------------------------------------------------------

const corpus: ReadonlyArray<{ readonly title: string; readonly text: string }> = [
  { title: "Effect", text: "Effect is a TypeScript library for typed, composable, concurrent programs." },
  { title: "Fibers", text: "Effect runs programs on fibers: lightweight threads with structured concurrency." },
  { title: "Layers", text: "Layers build services and their dependencies; tests swap them for doubles." },
  { title: "Schema", text: "Schema describes data once to decode, encode and validate it." },
  { title: "Journal", text: "Graphent journals every run so that it can be replayed and resumed." }
]

/** Finds the corpus entries that mention any word of the query. */
export const search = Tool.make("search", {
  description: "Searches the library for a query; returns matching passages.",
  parameters: Schema.Struct({ query: Schema.String }),
  success: Schema.Array(Schema.String),
  idempotent: true,
  handler: ({ query }) =>
    Effect.sync(() => {
      const words = query.toLowerCase().split(/\W+/).filter((word) => word.length > 2)
      return corpus
        .filter((entry) => words.some((word) => `${entry.title} ${entry.text}`.toLowerCase().includes(word)))
        .map((entry) => `${entry.title}: ${entry.text}`)
    })
})

export const searcher = Agent.make({
  name: "searcher",
  description: "Finds passages on a topic and lists them as notes",
  instructions: "You are a researcher. Search for the topic, then list what you found as short notes.",
  tools: [search],
  planner: LlmPlanner.make(),
  budget: { maxTurns: 4 }
})

// ---------------------------------------------------------------------------
// the writer: no tools, writes a paragraph from notes
// ---------------------------------------------------------------------------

export const writer = Agent.make({
  name: "writer",
  description: "Writes a short paragraph from notes",
  instructions: "You are a writer. Turn the notes you are given into one short paragraph.",
  tools: [],
  planner: LlmPlanner.make()
})

// ---------------------------------------------------------------------------
// the coordinator
// ---------------------------------------------------------------------------

export default Agent.make({
  name: "coordinator",
  description: "Researches a topic with a searcher and a writer",
  instructions: "You coordinate research: ask the searcher for notes on the topic, then ask the writer for a " +
    "paragraph from those notes, and answer with the paragraph.",
  tools: [
    Agent.asTool(searcher, { description: "Finds notes on a topic. Input: the topic." }),
    Agent.asTool(writer, { description: "Writes a paragraph. Input: the notes, with the topic." })
  ],
  planner: LlmPlanner.make(),
  budget: { maxSteps: 20, maxTurns: 6 }
})

// ---------------------------------------------------------------------------
// the offline model
// ---------------------------------------------------------------------------

/** One model for the three agents: the tools offered tell which one asks. */
const offlineModel = ScriptedModel.layerFunction(({ prompt, tools }) => {
  const results = ScriptedModel.lastToolResults(prompt)
  const input = ScriptedModel.lastUserText(prompt)
  if (tools.includes("searcher")) {
    // The coordinator: search, then write, then answer with what the writer wrote.
    const last = results[0]
    if (last === undefined) return ScriptedModel.toolCalls([{ name: "searcher", params: { input }, id: "delegate-search" }])
    if (last.name === "searcher") {
      return ScriptedModel.toolCalls([
        { name: "writer", params: { input: `Topic: ${input}\n${String(last.result)}` }, id: "delegate-write" }
      ])
    }
    return ScriptedModel.text(String(last.result))
  }
  if (tools.includes("search")) {
    // The searcher: one search, then the passages as notes.
    if (results.length === 0) return ScriptedModel.toolCalls([{ name: "search", params: { query: input }, id: "search-1" }])
    const found = results[0]!.result as ReadonlyArray<string>
    return ScriptedModel.text(found.length === 0 ? "- nothing found" : found.map((line) => `- ${line}`).join("\n"))
  }
  // The writer: the notes as one paragraph.
  const [topic, ...notes] = input.split("\n")
  const sentences = notes.map((note) => note.replace(/^- [^:]+: /, "")).filter((note) => note !== "")
  return ScriptedModel.text(`${topic?.replace(/^Topic: /, "") ?? ""}. ${sentences.join(" ")}`.trim())
})

/** The model: `GRAPHENT_MODEL` when it is set, the offline one otherwise. */
export const layer = ModelConfig.layerConfigOrElse(offlineModel)
