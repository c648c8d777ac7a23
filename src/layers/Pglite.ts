/**
 * An embedded PostgreSQL (PGlite, Postgres compiled to WebAssembly) as an
 * effect/sql `SqlClient`, with the pgvector extension loaded.
 *
 * It is a direct adapter: statements are compiled by @effect/sql-pg's own
 * compiler (`PgClient.makeCompiler`), so the SQL, the placeholders and the
 * `PgTypes` parameters are exactly those of `PgClient`, and run through
 * PGlite's `query`. The alternative, serving PGlite on a socket
 * (`@electric-sql/pglite-socket`) and connecting `PgClient` to it, would add
 * a package, a TCP hop and a port to manage for no gain in fidelity: the
 * dialect is already identical. Results match `PgClient`'s for the common
 * types (`int8` is a `bigint`, `jsonb` is parsed, `timestamptz` is a `Date`).
 *
 * PGlite is one connection: statements and transactions are serialized with a
 * semaphore (a transaction holds it from `BEGIN` to `COMMIT`), and a statement,
 * once started, runs to its end even if its fiber is interrupted, since PGlite
 * cannot cancel it. A stream is the whole result, not a cursor. A data
 * directory must be open once at a time: in one process, share one layer
 * between the memory and the journal.
 *
 * @since 0.1.0
 */
import type { PGlite, Results } from "@electric-sql/pglite"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgTypes from "@effect/sql-pg/PgTypes"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Client from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import {
  AuthenticationError,
  AuthorizationError,
  ConnectionError,
  ConstraintError,
  DeadlockError,
  LockTimeoutError,
  SerializationError,
  SqlError,
  type SqlErrorReason,
  SqlSyntaxError,
  StatementTimeoutError,
  UniqueViolation,
  UnknownError
} from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"

/**
 * Where the embedded database lives and what it loads.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where the database lives, e.g. `.graphent/db`; in memory when absent. */
  readonly dataDir?: string | undefined
  /** Load pgvector (default `true`); `create extension vector` is still the caller's. */
  readonly vector?: boolean | undefined
  /** Trade durability of the last transactions for speed (PGlite's option). */
  readonly relaxedDurability?: boolean | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  readonly transformJson?: boolean | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
}

/**
 * A `SqlClient` over PGlite, with the PGlite instance for what SQL cannot do
 * (e.g. `dumpDataDir`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PgliteClient extends Client.SqlClient {
  /**
   * The PGlite instance. Typed loosely so that Graphent's public types do not
   * pull in PGlite's (whose declarations do not check with `skipLibCheck: false`);
   * cast to `PGlite` from "@electric-sql/pglite" for its full API.
   */
  readonly pglite: { readonly closed: boolean; readonly dataDir?: string | undefined }
}

/**
 * @since 0.1.0
 * @category services
 */
export const PgliteClient = Context.Service<PgliteClient>("graphent/Pglite/PgliteClient")

// The parameter types `PgClient` infers for plain values, so that PGlite
// describes a statement's parameters the same way Postgres does for PgClient.
const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

const jsonText = (value: unknown) =>
  JSON.stringify(value, (_, inner) => typeof inner === "bigint" ? inner.toString() : inner)

const bindParams = (params: ReadonlyArray<unknown>) => {
  const values: Array<unknown> = []
  const types: Array<number> = []
  for (const param of params) {
    if (PgTypes.isParameter(param)) {
      const json = param.oid === PgTypes.OID.json || param.oid === PgTypes.OID.jsonb
      values.push(json && param.value !== null ? jsonText(param.value) : param.value)
      types.push(param.oid)
      continue
    }
    values.push(param === undefined ? null : param)
    switch (typeof param) {
      case "boolean":
        types.push(PgTypes.OID.bool)
        break
      case "bigint":
        types.push(PgTypes.OID.int8)
        break
      case "number":
        types.push(
          Number.isInteger(param) && param >= INT32_MIN && param <= INT32_MAX
            ? PgTypes.OID.int4
            : Number.isSafeInteger(param)
            ? PgTypes.OID.int8
            : PgTypes.OID.float8
        )
        break
      default:
        types.push(
          param instanceof Date
            ? PgTypes.OID.timestamptz
            : param instanceof Uint8Array
            ? PgTypes.OID.bytea
            // An array of strings names its element type, as in PgClient; others are inferred by the server.
            : Array.isArray(param) && param.length > 0 && param.every((item) => typeof item === "string")
            ? PgTypes.OID.textArray
            : 0
        )
    }
  }
  return { values, types }
}

// PgClient decodes int8 as bigint; PGlite would give a number.
const parsers = { [PgTypes.OID.int8]: (value: string) => BigInt(value) }

const classify = (cause: unknown, operation: string, closed: boolean): SqlErrorReason => {
  const error = cause as { readonly code?: unknown; readonly message?: unknown; readonly constraint?: unknown }
  const code = typeof error?.code === "string" ? error.code : undefined
  const props = { cause, message: typeof error?.message === "string" ? error.message : String(cause), operation }
  if (closed) return new ConnectionError(props)
  // Same classes as PgClient's classification of SQLSTATEs.
  if (code === undefined) return new UnknownError(props)
  if (code.startsWith("08")) return new ConnectionError(props)
  if (code.startsWith("28")) return new AuthenticationError(props)
  if (code === "42501") return new AuthorizationError(props)
  if (code.startsWith("42")) return new SqlSyntaxError(props)
  if (code === "23505") {
    return new UniqueViolation({ ...props, constraint: typeof error.constraint === "string" ? error.constraint : "unknown" })
  }
  if (code.startsWith("23")) return new ConstraintError(props)
  if (code === "40P01") return new DeadlockError(props)
  if (code === "40001") return new SerializationError(props)
  if (code === "55P03") return new LockTimeoutError(props)
  if (code === "57014") return new StatementTimeoutError(props)
  return new UnknownError(props)
}

class PgliteConnection implements Connection {
  readonly pglite: PGlite
  constructor(pglite: PGlite) {
    this.pglite = pglite
  }

  private run(sql: string, params: ReadonlyArray<unknown>, rowMode: "object" | "array") {
    const { types, values } = bindParams(params)
    // PGlite cannot cancel a statement: once started it finishes, and holds the connection until it does.
    return Effect.uninterruptible(Effect.tryPromise({
      try: () => this.pglite.query<any>(sql, values, { rowMode, paramTypes: types, parsers }),
      catch: (cause) => new SqlError({ reason: classify(cause, "execute", this.pglite.closed) })
    }))
  }

  execute(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    const rows = Effect.map(this.run(sql, params, "object"), (result) => result.rows as ReadonlyArray<any>)
    return transformRows ? Effect.map(rows, transformRows) : rows
  }
  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return this.run(sql, params, "object")
  }
  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.map(this.run(sql, params, "array"), (result) => result.rows as ReadonlyArray<ReadonlyArray<unknown>>)
  }
  executeValuesUnprepared(sql: string, params: ReadonlyArray<unknown>) {
    return this.executeValues(sql, params)
  }
  executeUnprepared(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return this.execute(sql, params, transformRows)
  }
  executeStream(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    // PGlite returns whole results: the stream is the result's rows.
    return Stream.fromIterableEffect(this.execute(sql, params, transformRows))
  }
}

/** PostgreSQL answers `COMMIT` with `ROLLBACK` when the transaction had failed: that is no commit. */
const commit = (conn: Connection): Effect.Effect<void, SqlError> =>
  Effect.flatMap(conn.executeRaw("COMMIT", []) as Effect.Effect<Results, SqlError>, (result) =>
    result.command === "ROLLBACK"
      ? Effect.fail(
        new SqlError({
          reason: new UnknownError({
            cause: new Error("COMMIT rolled back an aborted transaction"),
            message: "Pglite: COMMIT rolled back an aborted transaction",
            operation: "commit"
          })
        })
      )
      : Effect.void)

/**
 * Opens PGlite (creating the data directory when new) and closes it with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<PgliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const pglite = yield* Effect.acquireRelease(
      Effect.tryPromise({
        // Loaded on use: importing graphent does not load the WebAssembly Postgres.
        try: async () => {
          const { PGlite } = await import("@electric-sql/pglite")
          const extensions = options.vector === false
            ? {}
            : { vector: (await import("@electric-sql/pglite-pgvector")).vector }
          return await PGlite.create({
            ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
            ...(options.relaxedDurability === undefined ? {} : { relaxedDurability: options.relaxedDurability }),
            extensions
          })
        },
        catch: (cause) => new SqlError({ reason: new ConnectionError({ cause, message: `cannot open PGlite: ${cause}`, operation: "connect" }) })
      }),
      (pglite) => Effect.promise(() => pglite.close())
    )
    const acquirers = Client.makeSqliteAcquirers({
      connection: Effect.succeed(new PgliteConnection(pglite)),
      semaphore: yield* Semaphore.make(1)
    })
    const client = yield* Client.make({
      acquirer: acquirers.acquirer,
      borrower: acquirers.borrower,
      transactionAcquirer: acquirers.transactionAcquirer,
      onCommitFailure: acquirers.onCommitFailure,
      driver: "pglite",
      compiler: PgClient.makeCompiler(options.transformQueryNames, options.transformJson),
      commit,
      releaseSavepoint: (name) => `RELEASE SAVEPOINT ${name}`,
      spanAttributes: [
        ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
        ["db.system.name", "postgresql"],
        ["db.namespace", options.dataDir ?? "memory"]
      ],
      transformRows: options.transformResultNames
        ? Statement.defaultTransforms(options.transformResultNames, options.transformJson).array
        : undefined
    })
    return Object.assign(client, { pglite })
  })

/**
 * PGlite as both `PgliteClient` and effect/sql's `SqlClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<PgliteClient | Client.SqlClient, SqlError> =>
  Layer.effectContext(
    Effect.map(make(options), (client) => Context.make(PgliteClient, client).pipe(Context.add(Client.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
