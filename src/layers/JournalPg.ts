/**
 * The {@link Journal} on PostgreSQL, through effect/sql's `SqlClient`: the
 * same SQL on a server (`PgClient`, {@link layerPg}) and on the embedded
 * PGlite ({@link layerPglite}).
 *
 * Two tables, prefixed (default `graphent_`) and created by effect/sql's
 * generic `Migrator` (table `<prefix>journal_migrations`; `PgMigrator` only
 * adds a `pg_dump` schema dump, which PGlite cannot run):
 *
 * - `runs`: one row per run, from its `RunStarted` (agent, input, trace and
 *   thread ids, `started_at`), updated by the events that end it (`status`
 *   `running` / `completed` / `failed` / `interrupted`, `finished_at`, the
 *   `answer` or the `error`) and by `RunResumed` (back to `running`). Times
 *   are the events' own `at`, i.e. the run's clock.
 * - `events`: `(run_id, seq)` primary key, the event's `tag` and the event as
 *   `jsonb`. `seq` counts 1, 2, 3, ... per run: an append takes a transaction
 *   lock on its run, so appends from several fibers or processes are numbered
 *   in the order they commit. Each append carries an id, so one retried after
 *   its commit was in fact done is not recorded twice, and the event's key
 *   (`event_key`: its identity in the run, see `cluster`).
 *
 * {@link listRuns} pages through the runs table for `graphent trace list`;
 * {@link pageRuns} adds what a run's events tell (for a server's listing).
 * Memory and journal can share one database: provide one `SqlClient` (e.g.
 * `Pglite.layer({ dataDir })`, which must not be opened twice) to both
 * `layerNoDeps`.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { randomUUID } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { Journal, JournalError, type JournalShape, type TreeFilter } from "../services/Journal.js"
import { ErrorInfo, RunEvent, Usage } from "../services/RunEvent.js"
import { RunInfo } from "../services/Runs.js"
import { keyOf } from "../internal/eventKey.js"
import * as SqlStore from "../internal/sqlStore.js"
import * as Pglite from "./Pglite.js"

/**
 * The PostgreSQL connection and table prefix of the journal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlStore.StoreOptions {
  /**
   * The journal of cluster runs (`graphent worker`, `ClusterRuntime`), whose
   * body a shard move can hand from one runner to another mid-run. Two
   * things follow, both off by default:
   *
   * - an event whose identity the run's journal holds already (its start, a
   *   decision's turn, a step's start or outcome, a model call, its end, ...)
   *   is not appended again: while a shard moves, the old owner of a run and
   *   its new owner may both journal it, and it is journaled once.
   * - only what records an effect outside the run waits for the WAL flush:
   *   a step's outcome and the run's end. The other events (a decision, a
   *   model call, a value, a step's start) commit without waiting
   *   (`synchronous_commit = off`); the next flush (a step's begin mark, which
   *   precedes every non-idempotent call; an outcome) makes them durable
   *   too. A PostgreSQL crash loses at most events that nothing outside has
   *   acted on yet, which the run makes again. A runner's crash loses nothing.
   *
   * Leave it off for a journal of its own (`LocalRuntime`, `graphent resume`):
   * there a resumed run journals a second outcome of a step it retries.
   */
  readonly cluster?: boolean | undefined
}

/** Events that record an effect outside the run (a step's outcome, the run's end): they wait for the disk. */
const recordsEffect = (event: RunEvent): boolean => {
  switch (event._tag) {
    case "StepSucceeded":
    case "StepFailed":
    case "StepSkipped":
    case "RunCompleted":
    case "RunFailed":
    case "RunInterrupted":
      return true
    default:
      return false
  }
}

/**
 * Where a run stands: `paused` while a step waits for a human's approval;
 * `unfinished` when it has no end and the process running it (the one that
 * started it, or resumed it last) is gone: journal files say so, a database
 * stores `running` and `graphent trace list --db` shows it `unfinished`.
 *
 * @since 0.1.0
 * @category models
 */
export const RunStatus = Schema.Literals(["running", "paused", "unfinished", "completed", "failed", "interrupted"])

/**
 * @since 0.1.0
 * @category models
 */
export type RunStatus = typeof RunStatus.Type

/**
 * One row of {@link listRuns}.
 *
 * @since 0.1.0
 * @category models
 */
export const RunSummary = Schema.Struct({
  runId: Schema.String,
  traceId: Schema.String,
  agent: Schema.String,
  input: Schema.String,
  threadId: Schema.optionalKey(Schema.String),
  status: RunStatus,
  /** Epoch milliseconds, the run's clock. */
  startedAt: Schema.Number,
  finishedAt: Schema.optionalKey(Schema.Number),
  answer: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(ErrorInfo),
  /** A child run (a sub-agent's call, a handoff): the run that started it, and the step. */
  parentRunId: Schema.optionalKey(Schema.String),
  parentStepId: Schema.optionalKey(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type RunSummary = typeof RunSummary.Type

/**
 * Options of {@link listRuns}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListOptions {
  readonly agent?: string | undefined
  readonly status?: RunStatus | undefined
  /** At most this many runs (default 50). */
  readonly limit?: number | undefined
  /** Skip this many runs first (default 0). */
  readonly offset?: number | undefined
  /**
   * Which runs: `top` (default) the runs no other run started; `all` child
   * runs (sub-agents, handoffs) too; a run id: the child runs of that run.
   */
  readonly tree?: TreeFilter | undefined
  readonly tablePrefix?: string | undefined
}



const decodeEvents = Schema.decodeUnknownEffect(Schema.Array(RunEvent))
const decodeSummaries = Schema.decodeUnknownEffect(Schema.Array(RunSummary))

interface Db {
  readonly sql: SqlClient
  readonly runs: string
  readonly events: string
  readonly run: <A>(operation: JournalError["operation"], effect: Effect.Effect<A, SqlError>) => Effect.Effect<A, JournalError>
  readonly fail: (operation: JournalError["operation"], reason: string, cause?: unknown) => JournalError
}

const makeDb = (options: Options, operation: JournalError["operation"]) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const backend = SqlStore.backendOf(sql)
    const { invalid, prefix } = SqlStore.tablePrefix(options)
    const fail = (operation: JournalError["operation"], reason: string, cause?: unknown) =>
      new JournalError(cause === undefined ? { backend, operation, reason } : { backend, operation, reason, cause })
    if (invalid !== undefined) return yield* fail(operation, invalid)
    const run = <A>(operation: JournalError["operation"], effect: Effect.Effect<A, SqlError>) =>
      SqlStore.guard(options, (reason, cause) => fail(operation, reason, cause))(effect)
    const db: Db = { sql, runs: `${prefix}runs`, events: `${prefix}events`, run, fail }
    return db
  })

/** A table name as SQL text (table prefixes are checked: lowercase letters, digits and `_`). */
const quoteIdent = (name: string) => `"${name}"`
const quoteLiteral = (name: string) => `'${name}'`

const terminal = {
  RunCompleted: "completed",
  RunFailed: "failed",
  RunInterrupted: "interrupted"
} as const

/**
 * Builds the journal over the `SqlClient` in context: creates or migrates the
 * tables, then serves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<JournalShape, JournalError, SqlClient> =>
  Effect.gen(function*() {
    const { fail, run, sql, ...names } = yield* makeDb(options, "open")
    const prefix = options.tablePrefix ?? "graphent_"
    const cluster = options.cluster === true
    const runs = sql(names.runs)
    const events = sql(names.events)
    const appendFunction = `${prefix}journal_append`

    const migrations = {
      "1_tables": Effect.gen(function*() {
        yield* sql`CREATE TABLE ${runs} (
          run_id text PRIMARY KEY,
          seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
          trace_id text NOT NULL,
          agent text NOT NULL,
          input text NOT NULL,
          thread_id text,
          status text NOT NULL,
          started_at timestamptz NOT NULL,
          finished_at timestamptz,
          answer text,
          error jsonb
        )`
        yield* sql`CREATE INDEX ${sql(`${prefix}runs_agent`)} ON ${runs} (agent, seq)`
        yield* sql`CREATE TABLE ${events} (
          run_id text NOT NULL,
          seq integer NOT NULL,
          tag text NOT NULL,
          append_id uuid NOT NULL,
          event jsonb NOT NULL,
          PRIMARY KEY (run_id, seq)
        )`
      }),
      "2_event_key": sql`ALTER TABLE ${events} ADD COLUMN event_key text`,
      // Child runs (sub-agents, handoffs): listings show the top-level runs and nest the others under them.
      "3_parent_runs": Effect.gen(function*() {
        yield* sql`ALTER TABLE ${runs} ADD COLUMN parent_run_id text, ADD COLUMN parent_step_id text`
        yield* sql`
          UPDATE ${runs} AS r SET parent_run_id = e.event->>'parentRunId', parent_step_id = e.event->>'parentStepId'
          FROM ${events} AS e
          WHERE e.run_id = r.run_id AND e.tag = 'RunStarted' AND e.event ? 'parentRunId'`
        yield* sql`CREATE INDEX ${sql(`${prefix}runs_parent`)} ON ${runs} (parent_run_id, seq)`
      }),
      // An append in one round trip (a statement of its own is a transaction of its own) instead of four:
      // lock the run, skip an append already done (its id) or a keyed event already held, number it next.
      // Each check is an index lookup, so an append costs the same at a run's 1,000th event as at its first.
      "4_append_function": Effect.gen(function*() {
        yield* sql`CREATE UNIQUE INDEX ${sql(`${prefix}events_append`)} ON ${events} (append_id)`
        yield* sql`CREATE INDEX ${sql(`${prefix}events_key`)} ON ${events} (run_id, event_key) WHERE event_key IS NOT NULL`
        yield* sql.unsafe(`
        CREATE OR REPLACE FUNCTION ${appendFunction}(
          p_run_id text, p_tag text, p_append_id uuid, p_key text, p_once boolean, p_event jsonb, p_async boolean
        ) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          IF p_async THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
          PERFORM pg_advisory_xact_lock(hashtext(${quoteLiteral(names.events)}), hashtext(p_run_id));
          IF EXISTS (SELECT 1 FROM ${quoteIdent(names.events)} WHERE append_id = p_append_id)
            OR (p_once AND EXISTS (
              SELECT 1 FROM ${quoteIdent(names.events)} WHERE run_id = p_run_id AND event_key = p_key
            ))
          THEN
            RETURN false;
          END IF;
          INSERT INTO ${quoteIdent(names.events)} (run_id, seq, tag, append_id, event_key, event)
          SELECT p_run_id, COALESCE(MAX(seq), 0) + 1, p_tag, p_append_id, p_key, p_event
          FROM ${quoteIdent(names.events)} WHERE run_id = p_run_id;
          RETURN true;
        END
        $$`)
        // Several events in one statement (one transaction), in order: `p_batch` is a JSON array of
        // { run_id, tag, append_id, key, event }.
        yield* sql.unsafe(`
        CREATE OR REPLACE FUNCTION ${appendFunction}_all(p_batch jsonb, p_once boolean, p_async boolean)
        RETURNS void LANGUAGE plpgsql AS $$
        DECLARE item jsonb;
        BEGIN
          FOR item IN SELECT value FROM jsonb_array_elements(p_batch) WITH ORDINALITY ORDER BY ordinality LOOP
            PERFORM ${appendFunction}(item->>'run_id', item->>'tag', (item->>'append_id')::uuid, item->>'key',
              p_once, item->'event', p_async);
          END LOOP;
        END
        $$`)
      })
    }
    yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: `${prefix}journal_migrations` }).pipe(
      Effect.mapError((error) => fail(SqlStore.openOperation(error), `migrations failed: ${error.message}`, error)),
      Effect.catchDefect((defect) => Effect.fail(fail("open", `migrations failed: ${String(defect)}`, defect)))
    )

    const at = (millis: number) => sql`to_timestamp(${millis}::float8 / 1000)`
    const updateRun = (event: RunEvent) => {
      switch (event._tag) {
        case "RunStarted":
          return sql`
            INSERT INTO ${runs} (run_id, trace_id, agent, input, thread_id, status, started_at, parent_run_id, parent_step_id)
            VALUES (${event.runId}, ${event.traceId}, ${event.agent}, ${event.input}, ${event.threadId ?? null},
              'running', ${at(event.at)}, ${event.parentRunId ?? null}, ${event.parentStepId ?? null})
            ON CONFLICT (run_id) DO NOTHING`
        case "RunResumed":
          return sql`
            UPDATE ${runs} SET status = 'running', finished_at = NULL, answer = NULL, error = NULL
            WHERE run_id = ${event.runId}`
        case "ApprovalRequested":
          // Until RunResumed: the run waits for `graphent approve` / `reject` (or the API's decision).
          return sql`UPDATE ${runs} SET status = 'paused' WHERE run_id = ${event.runId}`
        case "RunCompleted":
        case "RunFailed":
        case "RunInterrupted":
          return sql`
            UPDATE ${runs} SET status = ${terminal[event._tag]}, finished_at = ${at(event.at)},
              answer = ${event._tag === "RunCompleted" ? event.answer : null},
              error = ${event._tag === "RunFailed" ? JSON.stringify(event.error) : null}::jsonb
            WHERE run_id = ${event.runId}`
        default:
          return undefined
      }
    }

    const journal: JournalShape = {
      append: Effect.fn("JournalPg.append")(function*(event: RunEvent) {
        const update = updateRun(event)
        // The run's lock is taken by the function (its transaction's, released at commit).
        const appended = sql<{ readonly appended: boolean }>`
          SELECT ${sql(appendFunction)}(${event.runId}, ${event._tag}, ${randomUUID()}::uuid, ${keyOf(event) ?? null},
            ${cluster}, ${JSON.stringify(event)}::jsonb, ${cluster && !recordsEffect(event)}) AS appended`
        yield* run(
          "append",
          update === undefined
            ? appended
            : sql.withTransaction(Effect.gen(function*() {
              const [row] = yield* appended
              if (row?.appended === true) yield* update
            }))
        )
      }),
      appendAll: Effect.fn("JournalPg.appendAll")(function*(batch: ReadonlyArray<RunEvent>) {
        // An event that updates the runs table is appended with its update, in a transaction of its own.
        if (batch.some((event) => updateRun(event) !== undefined)) {
          return yield* Effect.forEach(batch, journal.append, { discard: true })
        }
        const items = batch.map((event) => ({
          run_id: event.runId,
          tag: event._tag,
          append_id: randomUUID(),
          key: keyOf(event) ?? null,
          event
        }))
        yield* run(
          "append",
          sql`SELECT ${sql(`${appendFunction}_all`)}(${JSON.stringify(items)}::jsonb, ${cluster}, ${
            cluster && !batch.some(recordsEffect)
          })`
        )
      }),
      read: Effect.fn("JournalPg.read")(function*(runId: string) {
        const rows = yield* run(
          "read",
          sql<{ readonly event: unknown }>`SELECT event FROM ${events} WHERE run_id = ${runId} ORDER BY seq`
        )
        return yield* decodeEvents(rows.map((row) => row.event)).pipe(
          Effect.mapError((error) => fail("read", `stored events of run ${runId} do not decode: ${error.message}`, error))
        )
      }),
      runs: run("read", sql<{ readonly run_id: string }>`SELECT run_id FROM ${runs} ORDER BY seq`).pipe(
        Effect.map((rows) => rows.map((row) => row.run_id)),
        Effect.withSpan("JournalPg.runs")
      )
    }
    return journal
  })

/** A listing's table and filters, or `undefined` when the database has no journal tables. */
const listing = (options: ListOptions & Options) =>
  Effect.gen(function*() {
    const db = yield* makeDb(options, "list")
    const { fail, run, sql } = db
    const limit = options.limit ?? 50
    const offset = options.offset ?? 0
    if (!Number.isInteger(limit) || limit < 0) return yield* fail("list", `limit must be an integer >= 0, got ${limit}`)
    if (!Number.isInteger(offset) || offset < 0) return yield* fail("list", `offset must be an integer >= 0, got ${offset}`)
    const exists = yield* run(
      "list",
      sql<{ readonly found: boolean; readonly tree: boolean }>`
        SELECT to_regclass(${db.runs}) IS NOT NULL AS found,
          EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(${db.runs}) AND attname = 'parent_run_id'
            AND NOT attisdropped) AS tree`
    )
    if (exists[0]?.found !== true) return undefined
    const tree = exists[0].tree
    return {
      db,
      limit,
      offset,
      // Tables no journal of this version has opened yet (it adds the parent columns): every run counts as top-level.
      parents: tree ? sql`parent_run_id, parent_step_id` : sql`NULL AS parent_run_id, NULL AS parent_step_id`,
      // The filters on the runs table, but the status.
      filters: [
        ...(options.agent === undefined ? [] : [sql`agent = ${options.agent}`]),
        ...(options.tree === "all" || !tree
          ? []
          : options.tree === undefined || options.tree === "top"
          ? [sql`parent_run_id IS NULL`]
          : [sql`parent_run_id = ${options.tree.parentRunId}`])
      ]
    }
  })

/** A runs-table row (see {@link listing}) as a {@link RunSummary}'s fields, not yet decoded. */
const summaryFields = (row: any) => ({
  runId: row.run_id,
  traceId: row.trace_id,
  agent: row.agent,
  input: row.input,
  ...(row.thread_id === null ? {} : { threadId: row.thread_id }),
  status: row.status,
  startedAt: Math.round(Number(row.started_at)),
  ...(row.finished_at === null ? {} : { finishedAt: Math.round(Number(row.finished_at)) }),
  ...(row.answer === null ? {} : { answer: row.answer }),
  ...(row.error === null ? {} : { error: row.error }),
  ...(row.parent_run_id === null ? {} : { parentRunId: row.parent_run_id }),
  ...(row.parent_step_id === null ? {} : { parentStepId: row.parent_step_id })
})

/**
 * The runs of a journal's database, newest first, optionally of one agent or
 * status, a page at a time. A database without journal tables has no runs.
 *
 * @since 0.1.0
 * @category accessors
 */
export const listRuns: (
  options?: ListOptions & Options
) => Effect.Effect<ReadonlyArray<RunSummary>, JournalError, SqlClient> = Effect.fn("JournalPg.listRuns")(
  function*(options: ListOptions & Options = {}) {
    const found = yield* listing(options)
    if (found === undefined) return []
    const { db: { fail, run, sql, runs }, filters, limit, offset, parents } = found
    const rows = yield* run(
      "list",
      sql`
        SELECT run_id, trace_id, agent, input, thread_id, status, answer, error, ${parents},
          extract(epoch FROM started_at) * 1000 AS started_at,
          extract(epoch FROM finished_at) * 1000 AS finished_at
        FROM ${sql(runs)}
        WHERE ${sql.and([...filters, ...(options.status === undefined ? [] : [sql`status = ${options.status}`])])}
        ORDER BY seq DESC LIMIT ${limit} OFFSET ${offset}`
    )
    return yield* decodeSummaries(rows.map(summaryFields)).pipe(
      Effect.mapError((error) => fail("list", `stored runs do not decode: ${error.message}`, error))
    )
  }
)

/**
 * One row of {@link pageRuns}: a {@link RunSummary} and what the run's
 * events add. Its `status` is `paused` only while a step waits for a
 * decision (`awaiting`); a run whose decisions are all in, and that has not
 * ended, is `running`.
 *
 * @since 0.3.0
 * @category models
 */
export const RunDetails = Schema.Struct({
  ...RunSummary.fields,
  /** Events journaled so far. */
  events: Schema.Number,
  /** Who the run acts for (its principal's id), when its start names one. */
  startedBy: Schema.optionalKey(Schema.String),
  /** An ended run's usage, as its end records it. */
  usage: Schema.optionalKey(Usage),
  /** A paused run's steps that wait for a human's decision, in the order they asked (as `Runs.RunInfo` has them). */
  awaiting: RunInfo.fields.awaiting
})

/**
 * @since 0.3.0
 * @category models
 */
export type RunDetails = typeof RunDetails.Type

const decodeDetails = Schema.decodeUnknownEffect(Schema.Array(RunDetails))

/**
 * A page of the runs of a journal's database, newest first, as
 * {@link RunDetails}, and how many runs match the filter on every page: one
 * query over the runs table (its indexes), which reads of each listed run's
 * events only its first and last, its count and its open approval requests.
 *
 * @since 0.3.0
 * @category accessors
 */
export const pageRuns: (
  options?: ListOptions & Options
) => Effect.Effect<{ readonly runs: ReadonlyArray<RunDetails>; readonly total: number }, JournalError, SqlClient> = Effect
  .fn("JournalPg.pageRuns")(function*(options: ListOptions & Options = {}) {
    const found = yield* listing(options)
    if (found === undefined) return { runs: [], total: 0 }
    const { db: { events, fail, run, runs, sql }, filters, limit, offset, parents } = found
    // The filtered runs, with a paused run's open approval requests and the status they make.
    const listed = sql`
      WITH listed AS (
        SELECT r.run_id, r.seq, r.trace_id, r.agent, r.input, r.thread_id, r.answer, r.error, ${parents},
          r.started_at, r.finished_at, waiting.awaiting,
          CASE WHEN r.status = 'paused' AND waiting.awaiting IS NULL THEN 'running' ELSE r.status END AS status
        FROM ${sql(runs)} AS r
        LEFT JOIN LATERAL (
          SELECT jsonb_agg(jsonb_build_object('stepId', q.event->>'stepId', 'tool', q.event->>'tool',
            'capability', q.event->>'capability', 'principal', q.event->>'principal') ORDER BY q.seq) AS awaiting
          FROM ${sql(events)} AS q
          WHERE r.status = 'paused' AND q.run_id = r.run_id AND q.tag = 'ApprovalRequested'
            AND NOT EXISTS (
              SELECT 1 FROM ${sql(events)} AS d
              WHERE d.run_id = q.run_id AND d.seq > q.seq AND d.event->>'stepId' = q.event->>'stepId'
                AND d.tag IN ('ApprovalRequested', 'ApprovalDecided', 'StepSucceeded', 'StepFailed'))
        ) AS waiting ON true
        WHERE ${sql.and(filters)}
      )`
    const matching = sql.and(options.status === undefined ? [] : [sql`l.status = ${options.status}`])
    const rows = yield* run(
      "list",
      sql`${listed}
        SELECT run_id, trace_id, agent, input, thread_id, status, answer, error, parent_run_id, parent_step_id, awaiting,
          extract(epoch FROM started_at) * 1000 AS started_at,
          extract(epoch FROM finished_at) * 1000 AS finished_at,
          count(*) OVER () AS total,
          (SELECT count(*) FROM ${sql(events)} AS e WHERE e.run_id = l.run_id) AS events,
          (SELECT e.event->'principal'->>'id' FROM ${sql(events)} AS e
            WHERE e.run_id = l.run_id AND e.tag = 'RunStarted' ORDER BY e.seq LIMIT 1) AS started_by,
          CASE WHEN l.status IN ('completed', 'failed', 'interrupted') THEN
            (SELECT e.event->'usage' FROM ${sql(events)} AS e WHERE e.run_id = l.run_id ORDER BY e.seq DESC LIMIT 1)
          END AS usage
        FROM listed AS l WHERE ${matching}
        ORDER BY seq DESC LIMIT ${limit} OFFSET ${offset}`
    )
    // An empty page past the end (or of no rows) has no row that carries the count: count apart.
    const total = rows.length > 0
      ? Number((rows[0] as any).total)
      : offset === 0 && limit > 0
      ? 0
      : yield* Effect.map(
        run("list", sql<{ readonly n: string }>`${listed} SELECT count(*) AS n FROM listed AS l WHERE ${matching}`),
        (counted) => Number(counted[0]?.n ?? 0)
      )
    const decoded = yield* decodeDetails(rows.map((row: any) => ({
      ...summaryFields(row),
      events: Number(row.events),
      ...(row.started_by === null ? {} : { startedBy: row.started_by }),
      ...(row.usage === null ? {} : { usage: row.usage }),
      ...(row.awaiting === null ? {} : { awaiting: row.awaiting })
    }))).pipe(Effect.mapError((error) => fail("list", `stored runs do not decode: ${error.message}`, error)))
    return { runs: decoded, total }
  })

/**
 * Which of `runIds` the runs table of a journal's database holds (the runs
 * that journaled their start).
 *
 * @since 0.3.0
 * @category accessors
 */
export const startedRuns: (
  runIds: ReadonlyArray<string>,
  options?: Options
) => Effect.Effect<ReadonlySet<string>, JournalError, SqlClient> = Effect.fn("JournalPg.startedRuns")(
  function*(runIds: ReadonlyArray<string>, options: Options = {}) {
    if (runIds.length === 0) return new Set<string>()
    const { run, runs, sql } = yield* makeDb(options, "list")
    const rows = yield* run(
      "list",
      sql<{ readonly run_id: string }>`SELECT run_id FROM ${sql(runs)} WHERE ${sql.in("run_id", runIds)}`
    )
    return new Set(rows.map((row) => row.run_id))
  }
)

/**
 * The journal over the `SqlClient` you provide; a failure to build (e.g. the
 * migrations) is a defect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = (options: Options = {}): Layer.Layer<Journal, never, SqlClient> =>
  Layer.effect(Journal, make(options)).pipe(Layer.orDie)

/**
 * Options of {@link layerPg}: the `PgClient` pool's and the journal's.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgOptions extends Options {
  readonly pg: PgClient.PgPoolConfig
}

/**
 * The journal on a PostgreSQL server. The pool defaults to `application_name`
 * `graphent`, a 5 s connect timeout, TCP keepalive after 30 s and a 30 s
 * `statement_timeout`; `pg` overrides any of them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (options: PgOptions): Layer.Layer<Journal, JournalError> =>
  Layer.effect(
    Journal,
    Effect.gen(function*() {
      const client = yield* SqlStore.makePgClient(options.pg).pipe(
        Effect.mapError((error) =>
          new JournalError({ backend: "postgres", operation: "connect", reason: error.message, cause: error })
        )
      )
      return yield* make(options).pipe(Effect.provideService(SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * Options of {@link layerPglite}: where PGlite keeps its data, and the journal's.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgliteOptions extends Options, Pglite.Options {}

/**
 * The journal in an embedded PGlite database (e.g. `{ dataDir: ".graphent/db" }`).
 * The database is open while the layer is.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPglite = (options: PgliteOptions = {}): Layer.Layer<Journal, JournalError> =>
  Layer.effect(
    Journal,
    Effect.gen(function*() {
      const client = yield* Pglite.make(options).pipe(
        Effect.mapError((error) =>
          new JournalError({ backend: "pglite", operation: "connect", reason: error.message, cause: error })
        )
      )
      return yield* make(options).pipe(Effect.provideService(SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))
