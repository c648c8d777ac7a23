/** What the extractor turns a receipt into. */
import { Schema } from "effect"

/** One expense, as typed records in the store and as the JSON the model must answer with. */
export const Expense = Schema.Struct({
  vendor: Schema.String.annotate({ description: "Who was paid" }),
  amount: Schema.Number.annotate({ description: "The total paid, tax included" }),
  currency: Schema.String.annotate({ description: "ISO 4217 code, e.g. EUR" }),
  date: Schema.String.annotate({ description: "YYYY-MM-DD" }),
  category: Schema.Literals(["travel", "meals", "software", "office", "other"])
})
export type Expense = typeof Expense.Type
