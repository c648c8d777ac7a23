/**
 * The extractor: a receipt's text → a typed expense, saved to PostgreSQL and indexed in vector memory.
 *
 *   npx graphent run src/extractor.ts --input-file receipts/cafe-nord.txt
 *
 * A fixed DAG: `extract_expense` (the model), then `save_expense` and `index_expense`, which both depend on it.
 * Offline (no `GRAPHENT_MODEL`), a small rule-based "model" reads the receipt; with `GRAPHENT_MODEL` a real one
 * does, and its answer must still decode with the `Expense` Schema.
 */
import { createHash } from "node:crypto"
import { Layer } from "effect"
import { Agent, ModelConfig, Planner, ScriptedModel, SequencePlanner } from "graphent"
import type { Expense } from "./schema.js"
import * as Store from "./store.js"
import { extractExpense, indexExpense, saveExpense } from "./tools.js"

export default Agent.make({
  name: "extractor",
  description: "Turns a receipt into a typed expense record, saved and indexed for questions.",
  tools: [extractExpense, saveExpense, indexExpense],
  planner: SequencePlanner.rules([{
    match: (input) => input.trim() !== "",
    steps: (input) => {
      // The document's hash keys its row: extracting the same receipt twice keeps one record.
      const source = `sha256:${createHash("sha256").update(input.trim()).digest("hex").slice(0, 16)}`
      return [
        { id: "extract", tool: "extract_expense", args: { text: input } },
        { id: "save", tool: "save_expense", args: { source, expense: Planner.ref("extract") } },
        { id: "index", tool: "index_expense", args: { id: Planner.ref("save"), expense: Planner.ref("extract"), text: input } }
      ]
    },
    answer: (results) => {
      const expense = results.extract as Expense
      return `${results.save as string}: ${expense.vendor}, ${expense.amount} ${expense.currency} on ${expense.date} (${expense.category})`
    }
  }], { fallback: () => "Give me the text of a receipt." })
})

const categories: ReadonlyArray<readonly [Expense["category"], RegExp]> = [
  ["travel", /train|flight|taxi|hotel|rail|airline/i],
  ["meals", /caf[eé]|restaurant|lunch|dinner|coffee|bistro/i],
  ["software", /subscription|licen[cs]e|saas|software/i],
  ["office", /paper|printer|desk|chair|stationery/i]
]
const currencies: Record<string, string> = { "€": "EUR", "$": "USD", "£": "GBP" }

/** What the offline model reads from a receipt: the first line, the total, the date, a category by keyword. */
export const readReceipt = (text: string): Expense => {
  const total = /total(?: due)?[^\d€$£A-Z]*([A-Z]{3}|[€$£])?\s*(\d+(?:[.,]\d{2})?)\s*([A-Z]{3}|[€$£])?/i.exec(text)
  const symbol = total?.[1] ?? total?.[3] ?? "EUR"
  return {
    vendor: text.trim().split("\n")[0]!.trim(),
    amount: Number((total?.[2] ?? "0").replace(",", ".")),
    currency: currencies[symbol] ?? symbol.toUpperCase(),
    date: /(\d{4}-\d{2}-\d{2})/.exec(text)?.[1] ?? "1970-01-01",
    category: categories.find(([, pattern]) => pattern.test(text))?.[0] ?? "other"
  }
}

/** The model: `GRAPHENT_MODEL` when set, else the rule-based reader above (answering JSON, as a model would). */
export const model = ModelConfig.layerConfigOrElse(
  ScriptedModel.layerFunction(({ prompt }) => ScriptedModel.text(JSON.stringify(readReceipt(ScriptedModel.lastUserText(prompt)))))
)

/** The model and the expense store (`EXPENSES_DATABASE_URL` / `GRAPHENT_DATABASE_URL`, else PGlite in `.data/`). */
export const layer = Layer.mergeAll(model, Store.layerConfig)
