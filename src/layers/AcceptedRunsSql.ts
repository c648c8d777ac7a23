/**
 * {@link AcceptedRuns} on PostgreSQL (a server or the embedded PGlite),
 * through effect/sql's `SqlClient`, next to `JournalPg`'s tables: one table
 * `<prefix>accepted_runs` (default `graphent_accepted_runs`), created by its
 * own migrations (table `<prefix>accepted_migrations`), so stores made before
 * it existed gain it when they are next opened and the journal's tables are
 * left as they are.
 *
 * A row holds the accepted request as `jsonb` (`request`), when it was
 * accepted, and `settled` (`ended` / `cancelled`, `NULL` while pending).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"
import * as SqlStore from "../internal/sqlStore.js"
import { AcceptedRun, AcceptedRuns, type AcceptedRunsShape, type Settlement } from "../services/AcceptedRuns.js"
import { JournalError } from "../services/Journal.js"

/**
 * The SQL connection and table prefix of the accepted runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlStore.StoreOptions {}

const decodeRun = Schema.decodeUnknownEffect(AcceptedRun)

/**
 * Builds the store over the `SqlClient` in context: creates its table if
 * needed, then serves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<AcceptedRunsShape, JournalError, SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const backend = SqlStore.backendOf(sql)
    const { invalid, prefix } = SqlStore.tablePrefix(options)
    const fail = (operation: JournalError["operation"], reason: string, cause?: unknown) =>
      new JournalError(cause === undefined ? { backend, operation, reason } : { backend, operation, reason, cause })
    if (invalid !== undefined) return yield* fail("open", invalid)
    const guarded = (operation: JournalError["operation"]) =>
      SqlStore.guard(options, (reason, cause) => fail(operation, `accepted runs: ${reason}`, cause))
    const table = sql(`${prefix}accepted_runs`)

    yield* Migrator.make({})({
      loader: Migrator.fromRecord({
        "1_accepted_runs": Effect.asVoid(sql`CREATE TABLE ${table} (
          run_id text PRIMARY KEY,
          seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
          request jsonb NOT NULL,
          accepted_at timestamptz NOT NULL,
          settled text
        )`)
      }),
      table: `${prefix}accepted_migrations`
    }).pipe(
      Effect.mapError((error) =>
        fail(SqlStore.openOperation(error), `accepted runs: migrations failed: ${error.message}`, error)
      ),
      Effect.catchDefect((defect) => Effect.fail(fail("open", `accepted runs: migrations failed: ${String(defect)}`, defect)))
    )

    const decode = (operation: JournalError["operation"], request: unknown) =>
      decodeRun(request).pipe(
        Effect.mapError((error) => fail(operation, `accepted runs: a stored request does not decode: ${error.message}`, error))
      )

    return {
      accept: (run) =>
        guarded("append")(sql`
          INSERT INTO ${table} (run_id, request, accepted_at)
          VALUES (${run.runId}, ${JSON.stringify(run)}::jsonb, to_timestamp(${run.acceptedAt}::float8 / 1000))
          ON CONFLICT (run_id) DO NOTHING`).pipe(Effect.asVoid, Effect.withSpan("AcceptedRunsSql.accept")),
      get: (runId) =>
        guarded("read")(
          sql<{ readonly request: unknown; readonly settled: Settlement | null }>`
            SELECT request, settled FROM ${table} WHERE run_id = ${runId}`
        ).pipe(
          Effect.flatMap((rows) =>
            rows[0] === undefined
              ? Effect.succeed(undefined)
              : Effect.map(decode("read", rows[0].request), (run) => ({ run, settled: rows[0]!.settled ?? undefined }))
          ),
          Effect.withSpan("AcceptedRunsSql.get")
        ),
      pending: guarded("list")(
        sql<{ readonly request: unknown }>`SELECT request FROM ${table} WHERE settled IS NULL ORDER BY seq`
      ).pipe(
        Effect.flatMap((rows) => Effect.forEach(rows, (row) => decode("list", row.request))),
        Effect.withSpan("AcceptedRunsSql.pending")
      ),
      settle: (runId, settlement) =>
        guarded("append")(
          sql`UPDATE ${table} SET settled = ${settlement} WHERE run_id = ${runId} AND settled IS NULL`
        ).pipe(Effect.asVoid, Effect.withSpan("AcceptedRunsSql.settle"))
    } satisfies AcceptedRunsShape
  })

/**
 * The store over the `SqlClient` you provide; a failure to build (e.g. the
 * migrations) is a defect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = (options: Options = {}): Layer.Layer<AcceptedRuns, never, SqlClient> =>
  Layer.effect(AcceptedRuns, make(options)).pipe(Layer.orDie)
