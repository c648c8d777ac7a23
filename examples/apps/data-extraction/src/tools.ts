/**
 * The tools of both agents. Records go to the expense store (PostgreSQL); their text goes to Graphent's vector
 * memory (`Memory.agent("expenses")`), so questions find them by meaning; answers cite records by id.
 */
import { Effect, Schema } from "effect"
import { LlmTool, Memory, Tool } from "graphent"
import { Expense } from "./schema.js"
import { ExpenseStore, Saved } from "./store.js"

/** Where the expenses' texts are indexed for semantic recall. */
export const namespace = Memory.agent("expenses")

/** Receipt text → a typed `Expense` (the model's JSON must decode with the Schema, or the step fails). */
export const extractExpense = LlmTool.extract("extract_expense", {
  description: "The expense a receipt or invoice records: vendor, total amount, currency, date and category",
  schema: Expense
})

export const saveExpense = Tool.make("save_expense", {
  description: "Saves an expense to the database; returns its id.",
  parameters: Schema.Struct({ source: Schema.String, expense: Expense }),
  success: Schema.String,
  // Keyed by the source document: saving it again returns the same row.
  idempotent: true,
  capabilities: ["db:write:expenses"],
  handler: ({ expense, source }) => ExpenseStore.use((store) => store.save(source, expense))
})

/** The text an expense is found by: what it is, then the receipt itself. */
const indexText = (expense: Expense, text: string) =>
  `${expense.category} expense: ${expense.vendor}, ${expense.amount} ${expense.currency} on ${expense.date}.\n${text}`

export const indexExpense = Tool.make("index_expense", {
  description: "Indexes an expense's receipt in vector memory under its id.",
  parameters: Schema.Struct({ id: Schema.String, expense: Expense, text: Schema.String }),
  success: Schema.String,
  idempotent: true,
  capabilities: ["memory:write"],
  handler: ({ expense, id, text }) =>
    Memory.Memory.use((memory) =>
      memory.remember(namespace, { id, text: indexText(expense, text), metadata: { category: expense.category } })
    ).pipe(Effect.as(id))
})

export const searchExpenses = Tool.make("search_expenses", {
  description: "Finds the expenses whose receipts best match a question; each has an id to cite.",
  parameters: Schema.Struct({ query: Schema.String, k: Schema.optionalKey(Schema.Int) }),
  success: Schema.Array(Schema.Struct({ ...Saved.fields, score: Schema.Number })),
  idempotent: true,
  capabilities: ["memory:read", "db:read:expenses"],
  handler: ({ k, query }) =>
    Effect.gen(function*() {
      const found = yield* Memory.Memory.use((memory) => memory.recall(namespace, query, { k: k ?? 3 }))
      const records = yield* ExpenseStore.use((store) => store.byIds(found.map((document) => document.id)))
      const scores = new Map(found.map((document) => [document.id, Math.round(document.score * 1000) / 1000]))
      return records.map((record) => ({ ...record, score: scores.get(record.id) ?? 0 }))
    })
})

export const totalSpent = Tool.make("total_spent", {
  description: "The total spent per currency, of all expenses or of one category.",
  parameters: Schema.Struct({ category: Schema.optionalKey(Expense.fields.category) }),
  success: Schema.Array(Schema.Struct({ currency: Schema.String, total: Schema.Number, count: Schema.Int })),
  idempotent: true,
  capabilities: ["db:read:expenses"],
  handler: ({ category }) => ExpenseStore.use((store) => store.totals(category))
})
