/**
 * What the SQL-backed stores (memory, journal) share: their options, how a
 * statement is retried and bounded in time, and the `PgClient` defaults.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { SqlClient } from "effect/sql/SqlClient"
import { ConnectionError, isSqlError, type SqlError } from "effect/sql/SqlError"

/** Options every SQL store has. */
export interface StoreOptions {
  /** Prefix of the table names (default `graphent_`): lowercase letters, digits and `_`. */
  readonly tablePrefix?: string | undefined
  /**
   * How statements that failed for a reason that may pass are retried
   * (default: 3 retries, exponential backoff from 100 ms).
   */
  readonly retry?: Schedule.Schedule<unknown, SqlError> | undefined
  /** Upper bound on one operation, retries included (default 60 seconds). */
  readonly timeout?: Duration.Input | undefined
}

/** 3 retries, 100, 200 and 400 ms apart. */
const defaultRetry: Schedule.Schedule<unknown, SqlError> = Schedule.max([
  Schedule.exponential("100 millis"),
  Schedule.recurs(3)
])

// The server ended the session (pg_terminate_backend, shutdown, restart): a new connection may work.
const terminated = new Set(["57P01", "57P02", "57P03"])

const isRetryable = (error: SqlError): boolean => {
  if (error.reason.isRetryable) return true
  const code = (error.reason.cause as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" && terminated.has(code)
}

/** The backend name errors carry. */
export const backendOf = (sql: SqlClient): "pglite" | "postgres" => sql.driver === "pglite" ? "pglite" : "postgres"

/** The table prefix, or why it is not acceptable. */
export const tablePrefix = (options: StoreOptions): { readonly prefix: string; readonly invalid?: string } => {
  const prefix = options.tablePrefix ?? "graphent_"
  return /^[a-z_][a-z0-9_]*$/.test(prefix)
    ? { prefix }
    : { prefix, invalid: `tablePrefix must be lowercase letters, digits and _, got ${JSON.stringify(prefix)}` }
}

/**
 * Wraps statements: retried per the store's schedule, bounded in time, and
 * failures turned into the store's own error by `fail`.
 */
export const guard = <E>(options: StoreOptions, fail: (reason: string, cause?: unknown) => E) => {
  const retry = options.retry ?? defaultRetry
  const timeout = options.timeout ?? Duration.seconds(60)
  return <A>(effect: Effect.Effect<A, SqlError>): Effect.Effect<A, E> =>
    effect.pipe(
      // A transaction whose connection died cannot roll back, and effect/sql reports that as a defect;
      // the transaction did not commit, so it is a failure like any other.
      Effect.catchDefect((defect) => isSqlError(defect) ? Effect.fail(defect) : Effect.die(defect)),
      Effect.retry({ schedule: retry, while: isRetryable }),
      Effect.mapError((error) => fail(`${error.reason._tag}: ${error.reason.message ?? error.message}`, error)),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () => Effect.fail(fail(`timed out after ${Duration.format(Duration.fromInputUnsafe(timeout))}`))
      })
    )
}

/**
 * The operation a store names when it cannot open: `connect` when the database could not be reached (the
 * first query of a lazy pool is the migrations'), else `open`.
 */
export const openOperation = (error: unknown): "connect" | "open" =>
  isSqlError(error) && error.reason instanceof ConnectionError ? "connect" : "open"

/** Options of the `layerPg` constructors: the store's, plus the `PgClient` pool's. */
export interface PgOptions {
  readonly pg: PgClient.PgPoolConfig
}

/**
 * A `PgClient` with `application_name` `graphent`, a 5 s connect timeout, TCP
 * keepalive after 30 s and a 30 s `statement_timeout`; `pg` overrides any of them.
 */
export const makePgClient = (pg: PgClient.PgPoolConfig) =>
  PgClient.make({
    applicationName: "graphent",
    connectTimeout: Duration.seconds(5),
    keepAlive: Duration.seconds(30),
    ...pg,
    startupParameters: { statement_timeout: "30000", ...pg.startupParameters }
  })
