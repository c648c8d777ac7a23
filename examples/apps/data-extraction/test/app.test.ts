/**
 * The data-extraction app on the real PostgreSQL server (its own table and memory tables, dropped at the end):
 * receipts → typed rows + vector index; questions → answers whose every citation is a row of the table; a model
 * answer that does not fit the Schema saves nothing; and both golden journals replay with no database and no model.
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { PgClient } from "@effect/sql-pg"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { AgentRuntime, EmbeddingLocal, JournalMemory, LocalRuntime, ScriptedModel } from "graphent"
import { MemoryPg } from "graphent/postgres"
import * as Testing from "graphent/testing"
import { pgConfig, pgUrl } from "../../../../test/support/services.js"
import { dropTables } from "../../../../test/support/store.js"
import analyst, { model as analystModel } from "../src/analyst.js"
import extractor, { model as extractorModel } from "../src/extractor.js"
import * as Store from "../src/store.js"

const app = path.resolve(import.meta.dirname, "..")
const receipt = (name: string) => fs.readFileSync(path.join(app, "receipts", name), "utf8")
const testId = randomUUID().slice(0, 8)
const table = `expenses_t${testId}`
const memoryPrefix = `graphent_x${testId}_`

const Admin = PgClient.layer({ ...pgConfig, applicationName: `graphent-app-test-${testId}` })
const count = SqlClient.SqlClient.use((sql) => sql<{ n: string }>`SELECT COUNT(*) AS n FROM ${sql(table)}`).pipe(
  Effect.map((rows) => Number(rows[0]!.n)),
  Effect.provide(Admin)
)

// One runtime for the file: the local runtime, PostgreSQL memory (pgvector or its exact fallback) and the store.
const Live = Layer.mergeAll(
  LocalRuntime.layer.pipe(Layer.provideMerge(JournalMemory.layer())),
  MemoryPg.layerPg({ pg: pgConfig, tablePrefix: memoryPrefix }).pipe(Layer.provide(EmbeddingLocal.layer)),
  Store.layerPg(Redacted.make(pgUrl), table)
)
const extract = (text: string) => AgentRuntime.run(extractor, text).pipe(Effect.provide(extractorModel))
const ask = (question: string) => AgentRuntime.run(analyst, question).pipe(Effect.provide(analystModel))

afterAll(async () => {
  await Effect.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
    yield* dropTables([memoryPrefix])
  }).pipe(Effect.provide(Admin)))
}, 60_000)

describe("data extraction", () => {
  it.effect("receipts become typed rows, indexed for recall; the same receipt twice keeps one row", () =>
    Effect.gen(function*() {
      const answers = []
      for (const name of ["cafe-nord.txt", "rail-europe.txt", "cloudly.txt", "bistro.txt"]) answers.push((yield* extract(receipt(name))).answer)
      assert.match(answers[0]!, /^expense:\d+: Café Nord, 12\.4 EUR on 2026-11-02 \(meals\)$/)
      assert.match(answers[1]!, /: Rail Europe, 89 EUR on 2026-11-05 \(travel\)$/)
      assert.match(answers[2]!, /: Cloudly Inc\., 250 USD on 2026-11-30 \(software\)$/)
      assert.match(answers[3]!, /: Bistro Lumière, 96\.5 EUR on 2026-11-12 \(meals\)$/)
      const again = yield* extract(receipt("cafe-nord.txt"))
      assert.strictEqual(again.answer, answers[0])
      assert.strictEqual(yield* count, 4)
    }).pipe(Effect.provide(Live)))

  it.effect("answers with citations, each one a row of the table (meals: both meals, and their total)", () =>
    Effect.gen(function*() {
      const meals = yield* ask("How much did I spend on meals?")
      const cited = [...meals.answer.matchAll(/\[(expense:\d+)\]/g)].map((match) => match[1]!)
      assert.strictEqual(cited.length, 2, meals.answer)
      const rows = yield* Store.ExpenseStore.use((store) => store.byIds(cited))
      assert.deepStrictEqual(rows.map((row) => row.vendor).sort(), ["Bistro Lumière", "Café Nord"])
      assert.include(meals.answer, "In total: 108.90 EUR over 2.")
      // By meaning, not by category: the train receipt is the best match for a question about a trip to Lyon.
      const trip = yield* ask("Which receipt is about my trip to Lyon?")
      const first = /\[(expense:\d+)\]/.exec(trip.answer)?.[1]
      const [row] = yield* Store.ExpenseStore.use((store) => store.byIds([first ?? ""]))
      assert.strictEqual(row?.vendor, "Rail Europe", trip.answer)
    }).pipe(Effect.provide(Live)))

  it.effect("a model answer that does not fit the Expense Schema fails the run and saves nothing", () =>
    Effect.gen(function*() {
      const before = yield* count
      const wrong = ScriptedModel.layerFunction(() => ScriptedModel.text(JSON.stringify({ vendor: "X", amount: "a lot" })))
      const exit = yield* Effect.exit(AgentRuntime.run(extractor, receipt("cloudly.txt") + "\n(copy)").pipe(Effect.provide(wrong)))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* count, before)
    }).pipe(Effect.provide(Live)))
})

// Recorded with the commands of the README ("Re-record the golden journals"): the replays need no database, no
// memory and no model — every tool result and model answer comes from the journal.
describe("data extraction: golden journals", () => {
  // A store whose every call fails: a replay that touched it would fail.
  const untouchable = (operation: string) => Effect.fail(new Store.ExpenseStoreError({ operation, cause: "a replay touched the store" }))
  const NoStore = Layer.succeed(Store.ExpenseStore, Store.ExpenseStore.of({
    save: () => untouchable("save"),
    byIds: () => untouchable("read"),
    totals: () => untouchable("totals")
  }))
  it.effect("the extractor replays", () =>
    Testing.replayJournal(extractor, path.join(app, "test/fixtures/extractor.jsonl")).pipe(
      Effect.provide(Layer.merge(extractorModel, NoStore))
    ))
  it.effect("the analyst replays", () =>
    Testing.replayJournal(analyst, path.join(app, "test/fixtures/analyst.jsonl")).pipe(
      Effect.provide(Layer.merge(analystModel, NoStore))
    ))
})
