/**
 * The analyst: answers questions over the extracted expenses, citing each record it uses as `[expense:N]`.
 *
 *   npx graphent run src/analyst.ts --input "what did I spend on meals?"
 *
 * An LLM-planned agent with two tools: `search_expenses` (vector recall over the receipts, joined with their rows)
 * and `total_spent` (SQL). Offline, a rule-based "model" calls them and writes the answer from their results.
 */
import { Layer } from "effect"
import { Agent, LlmPlanner, ModelConfig, ScriptedModel } from "graphent"
import type { Saved } from "./store.js"
import * as Store from "./store.js"
import { searchExpenses, totalSpent } from "./tools.js"

export default Agent.make({
  name: "analyst",
  description: "Answers questions about expenses, with citations.",
  instructions: "Answer questions about the user's expenses with the tools. Cite every expense you use as " +
    "[expense:N] (its id). If the tools find nothing relevant, say so; never invent an expense.",
  tools: [searchExpenses, totalSpent],
  planner: LlmPlanner.make()
})

const categoryIn = (question: string) => /\b(travel|meals|software|office)\b/i.exec(question)?.[1]?.toLowerCase()

/** The offline model: search (and total, for "how much" questions), then answer from the results with citations. */
const offline = ScriptedModel.layerFunction(({ prompt }) => {
  const results = ScriptedModel.lastToolResults(prompt)
  const question = ScriptedModel.lastUserText(prompt)
  if (results.length === 0) {
    const category = categoryIn(question)
    const calls: Array<ScriptedModel.ScriptedToolCall> = [{ name: "search_expenses", params: { query: question } }]
    if (/how much|total|spend|spent/i.test(question)) {
      calls.push({ name: "total_spent", params: category === undefined ? {} : { category } })
    }
    return ScriptedModel.toolCalls(calls)
  }
  const found = results.find((result) => result.name === "search_expenses")?.result as ReadonlyArray<Saved> | undefined
  const totals = results.find((result) => result.name === "total_spent")?.result as
    | ReadonlyArray<{ currency: string; total: number; count: number }>
    | undefined
  const category = categoryIn(question)
  const relevant = (found ?? []).filter((expense) => category === undefined || expense.category === category)
  if (relevant.length === 0) return ScriptedModel.text("I found no expense that matches.")
  const cited = relevant.map((expense) => `${expense.vendor}, ${expense.amount} ${expense.currency} on ${expense.date} [${expense.id}]`)
  const sum = totals === undefined || totals.length === 0
    ? ""
    : ` In total: ${totals.map((total) => `${total.total.toFixed(2)} ${total.currency} over ${total.count}`).join(", ")}.`
  return ScriptedModel.text(`${cited.join("; ")}.${sum}`)
})

/** The model: `GRAPHENT_MODEL` when set, else the offline one. */
export const model = ModelConfig.layerConfigOrElse(offline)

/** The model and the expense store (`EXPENSES_DATABASE_URL` / `GRAPHENT_DATABASE_URL`, else PGlite in `.data/`). */
export const layer = Layer.mergeAll(model, Store.layerConfig)
