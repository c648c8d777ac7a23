/**
 * Where extracted expenses live: a PostgreSQL table (`EXPENSES_DATABASE_URL`, else `GRAPHENT_DATABASE_URL`), or,
 * with neither set, an embedded PostgreSQL (PGlite) in `.data/` — the same SQL either way. A service of its own
 * (not a bare `SqlClient`), so that it never stands in for the SQL client of Graphent's own store.
 */
import { PgClient } from "@effect/sql-pg"
import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Pglite } from "graphent/pglite"
import { Expense } from "./schema.js"

/** The store could not save or read expenses. */
export class ExpenseStoreError extends Schema.TaggedError<ExpenseStoreError>()("ExpenseStoreError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `expense store: ${this.operation} failed: ${String(this.cause)}`
  }
}

/** A saved expense: the record and its id (`expense:<n>`, what answers cite). */
export const Saved = Schema.Struct({ id: Schema.String, ...Expense.fields })
export type Saved = typeof Saved.Type

export class ExpenseStore extends Context.Service<ExpenseStore, {
  /** Saves a record; the same source document saved twice keeps one row (its id is returned again). */
  readonly save: (source: string, expense: Expense) => Effect.Effect<string, ExpenseStoreError>
  /** The expenses with these ids, in the order asked. */
  readonly byIds: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Saved>, ExpenseStoreError>
  /** The total per currency, optionally of one category. */
  readonly totals: (category?: string) => Effect.Effect<ReadonlyArray<{ currency: string; total: number; count: number }>, ExpenseStoreError>
}>()("example/ExpenseStore") {}

/** The store over a SQL client, in the table `table` (created when missing). */
export const make = (table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const fail = (operation: string) => (cause: unknown) => new ExpenseStoreError({ operation, cause })
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
      id SERIAL PRIMARY KEY, source TEXT UNIQUE NOT NULL, vendor TEXT NOT NULL, amount NUMERIC(12, 2) NOT NULL,
      currency TEXT NOT NULL, date DATE NOT NULL, category TEXT NOT NULL)`.pipe(Effect.mapError(fail("create table")))
    const toSaved = (row: Record<string, unknown>): Saved => ({
      id: `expense:${row.id}`,
      vendor: String(row.vendor),
      amount: Number(row.amount),
      currency: String(row.currency),
      date: row.date instanceof Date ? row.date.toISOString().slice(0, 10) : String(row.date).slice(0, 10),
      category: String(row.category) as Expense["category"]
    })
    return ExpenseStore.of({
      save: (source, expense) =>
        sql<{ id: number }>`INSERT INTO ${sql(table)} (source, vendor, amount, currency, date, category)
          VALUES (${source}, ${expense.vendor}, ${expense.amount}, ${expense.currency}, ${expense.date}, ${expense.category})
          ON CONFLICT (source) DO UPDATE SET vendor = EXCLUDED.vendor RETURNING id`.pipe(
          Effect.map((rows) => `expense:${rows[0]!.id}`),
          Effect.mapError(fail("save"))
        ),
      byIds: (ids) => {
        const numbers = ids.map((id) => Number(id.replace(/^expense:/, ""))).filter(Number.isInteger)
        return numbers.length === 0
          ? Effect.succeed([])
          : sql<Record<string, unknown>>`SELECT * FROM ${sql(table)} WHERE id IN ${sql.in(numbers)}`.pipe(
            Effect.map((rows) => {
              const saved = new Map(rows.map((row) => [`expense:${row.id}`, toSaved(row)]))
              return ids.flatMap((id) => saved.get(id) ?? [])
            }),
            Effect.mapError(fail("read"))
          )
      },
      totals: (category) =>
        sql<{ currency: string; total: string; count: string }>`SELECT currency, SUM(amount) AS total, COUNT(*) AS count
          FROM ${sql(table)} ${category === undefined ? sql`` : sql`WHERE category = ${category}`}
          GROUP BY currency ORDER BY currency`.pipe(
          Effect.map((rows) => rows.map((row) => ({ currency: row.currency, total: Number(row.total), count: Number(row.count) }))),
          Effect.mapError(fail("totals"))
        )
    })
  })

/** The store on a PostgreSQL server. */
export const layerPg = (url: Redacted.Redacted<string>, table = "expenses") =>
  Layer.effect(ExpenseStore, make(table)).pipe(Layer.provide(PgClient.layer({ url })))

/** The store in an embedded PostgreSQL (PGlite) in `dataDir`. */
export const layerEmbedded = (dataDir: string, table = "expenses") =>
  Layer.effect(ExpenseStore, make(table)).pipe(Layer.provide(Pglite.layer({ dataDir, vector: false })))

/** `EXPENSES_DATABASE_URL` or `GRAPHENT_DATABASE_URL` when set (table `EXPENSES_TABLE`), else PGlite in `.data/`. */
export const layerConfig = Layer.unwrap(Effect.gen(function*() {
  const url = yield* Config.option(Config.Redacted("EXPENSES_DATABASE_URL").pipe(Config.orElse(() => Config.Redacted("GRAPHENT_DATABASE_URL"))))
  const table = yield* Config.String("EXPENSES_TABLE").pipe(Config.withDefault("expenses"))
  return Option.isSome(url) ? layerPg(url.value, table) : layerEmbedded(".data", table)
}))
