/**
 * The {@link Audit} log in PostgreSQL, through effect/sql's `SqlClient`: one
 * table (`<prefix>audit`, default `graphent_audit`) with an index on time,
 * run and principal, created by effect/sql's `Migrator` (table
 * `<prefix>audit_migrations`). Works on a server ({@link layerPg}) and on
 * the embedded PGlite (`layerNoDeps` over `Pglite.layer`).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as SqlStore from "../internal/sqlStore.js"
import { Audit, AuditError, type AuditShape, defaultLimit, Entry, type Query } from "../services/Audit.js"

/**
 * The PostgreSQL connection and table prefix of the audit log.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlStore.StoreOptions {}

const decodeEntries = Schema.decodeUnknownEffect(Schema.Array(Entry))

/**
 * Builds the audit log over the `SqlClient` in context: creates or migrates
 * its table, then serves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<AuditShape, AuditError, SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const backend = SqlStore.backendOf(sql)
    const fail = (operation: AuditError["operation"], reason: string, cause?: unknown) =>
      new AuditError(cause === undefined ? { backend, operation, reason } : { backend, operation, reason, cause })
    const { invalid, prefix } = SqlStore.tablePrefix(options)
    if (invalid !== undefined) return yield* fail("append", invalid)
    const guard = (operation: AuditError["operation"]) => SqlStore.guard(options, (reason, cause) => fail(operation, reason, cause))
    const table = sql(`${prefix}audit`)

    const migrations = {
      "1_audit": Effect.gen(function*() {
        yield* sql`CREATE TABLE ${table} (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          at timestamptz NOT NULL,
          run_id text NOT NULL,
          step_id text NOT NULL,
          agent text NOT NULL,
          principal text NOT NULL,
          roles jsonb NOT NULL,
          tool text NOT NULL,
          args_hash text NOT NULL,
          capabilities jsonb NOT NULL,
          decision text NOT NULL,
          rule text NOT NULL,
          approved_by text,
          outcome text NOT NULL,
          error jsonb,
          duration_ms double precision NOT NULL
        )`
        yield* sql`CREATE INDEX ${sql(`${prefix}audit_at`)} ON ${table} (at)`
        yield* sql`CREATE INDEX ${sql(`${prefix}audit_run`)} ON ${table} (run_id)`
        yield* sql`CREATE INDEX ${sql(`${prefix}audit_principal`)} ON ${table} (principal, at)`
      })
    }
    yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: `${prefix}audit_migrations` }).pipe(
      Effect.mapError((error) => fail("append", `migrations failed: ${error.message}`, error)),
      Effect.catchDefect((defect) => Effect.fail(fail("append", `migrations failed: ${String(defect)}`, defect)))
    )

    const at = (millis: number) => sql`to_timestamp(${millis}::float8 / 1000)`
    const append = (entry: Entry): Effect.Effect<void, AuditError> =>
      guard("append")(
        sql`INSERT INTO ${table} (at, run_id, step_id, agent, principal, roles, tool, args_hash, capabilities,
            decision, rule, approved_by, outcome, error, duration_ms)
          VALUES (${at(entry.at)}, ${entry.runId}, ${entry.stepId}, ${entry.agent}, ${entry.principal},
            ${JSON.stringify(entry.roles)}::jsonb, ${entry.tool}, ${entry.argsHash}, ${JSON.stringify(entry.capabilities)}::jsonb,
            ${entry.decision}, ${entry.rule}, ${entry.approvedBy ?? null}, ${entry.outcome},
            ${entry.error === undefined ? null : JSON.stringify(entry.error)}::jsonb, ${entry.durationMs})` as Effect.Effect<
              unknown,
              SqlError
            >
      ).pipe(Effect.asVoid, Effect.withSpan("AuditPg.append"))

    const query = (query: Query): Effect.Effect<ReadonlyArray<Entry>, AuditError> =>
      Effect.gen(function*() {
        const limit = query.limit ?? defaultLimit
        if (!Number.isInteger(limit) || limit < 0) return yield* fail("query", `limit must be an integer >= 0, got ${limit}`)
        const rows = yield* guard("query")(sql<Record<string, unknown>>`
          SELECT * FROM (
            SELECT seq, extract(epoch FROM at) * 1000 AS at_ms, run_id, step_id, agent, principal, roles, tool, args_hash,
              capabilities, decision, rule, approved_by, outcome, error, duration_ms
            FROM ${table}
            WHERE ${
          sql.and([
            ...(query.runId === undefined ? [] : [sql`run_id = ${query.runId}`]),
            ...(query.principal === undefined ? [] : [sql`principal = ${query.principal}`]),
            ...(query.tool === undefined ? [] : [sql`tool = ${query.tool}`]),
            ...(query.decision === undefined ? [] : [sql`decision = ${query.decision}`]),
            ...(query.outcome === undefined ? [] : [sql`outcome = ${query.outcome}`]),
            ...(query.since === undefined ? [] : [sql`at >= ${at(query.since)}`]),
            ...(query.until === undefined ? [] : [sql`at < ${at(query.until)}`])
          ])
        }
            ORDER BY seq DESC LIMIT ${limit}
          ) recent ORDER BY seq`)
        const json = (value: unknown) => typeof value === "string" ? JSON.parse(value) : value
        return yield* decodeEntries(rows.map((row) => ({
          at: Math.round(Number(row.at_ms)),
          runId: row.run_id,
          stepId: row.step_id,
          agent: row.agent,
          principal: row.principal,
          roles: json(row.roles),
          tool: row.tool,
          argsHash: row.args_hash,
          capabilities: json(row.capabilities),
          decision: row.decision,
          rule: row.rule,
          ...(row.approved_by === null ? {} : { approvedBy: row.approved_by }),
          outcome: row.outcome,
          ...(row.error === null ? {} : { error: json(row.error) }),
          durationMs: Number(row.duration_ms)
        }))).pipe(Effect.mapError((error) => fail("query", `stored entries do not decode: ${error.message}`, error)))
      }).pipe(Effect.withSpan("AuditPg.query"))

    return { append, query }
  })

/**
 * The audit log over the `SqlClient` you provide; a failure to build (e.g.
 * the migrations) is a defect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = (options: Options = {}): Layer.Layer<Audit, never, SqlClient> =>
  Layer.effect(Audit, make(options)).pipe(Layer.orDie)

/**
 * Options of {@link layerPg}: the `PgClient` pool's and the audit log's.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgOptions extends Options, SqlStore.PgOptions {}

/**
 * The audit log on a PostgreSQL server (pool defaults as for `JournalPg.layerPg`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (options: PgOptions): Layer.Layer<Audit, AuditError> =>
  Layer.effect(
    Audit,
    Effect.gen(function*() {
      const client = yield* SqlStore.makePgClient(options.pg).pipe(
        Effect.mapError((error) => new AuditError({ backend: "postgres", operation: "append", reason: error.message, cause: error }))
      )
      return yield* make(options).pipe(Effect.provideService(SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))
