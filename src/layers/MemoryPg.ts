/**
 * {@link Memory} on PostgreSQL, through effect/sql's `SqlClient`: the same SQL
 * runs on a server (`@effect/sql-pg`'s `PgClient`, {@link layerPg}) and on the
 * embedded PGlite ({@link layerPglite}).
 *
 * Tables carry a prefix (default `graphent_`), so several stores can share a
 * database, and are created by effect/sql's generic `Migrator` (table
 * `<prefix>memory_migrations`). `PgMigrator` is the same migrator plus a
 * `pg_dump` schema dump, which needs a `pg_dump` binary and a server to point
 * it at: it cannot work for PGlite, and nothing here needs the dump.
 *
 * - History: one row per message, ordered by `(seq, position)`. One `append`
 *   is one statement taking one `seq` from a sequence, so its messages stay
 *   contiguous and in order under any concurrency. It carries a batch id, so a
 *   retried append that had in fact committed is not written twice.
 * - Facts: `(namespace, key)` primary key and an `expires_at` compared with the
 *   database's `now()` (one clock for every process); expired facts are
 *   invisible at once and deleted, a hundred at a time, by later `set`s.
 * - Documents: `(namespace, id)` primary key. Where the database has pgvector
 *   (checked, and `create extension` tried, at build), embeddings are a
 *   `vector(dims)` column with an HNSW index (`vector_cosine_ops`); `recall`
 *   orders by `<=>` with `hnsw.ef_search` raised for the query, and with
 *   pgvector 0.8's strict iterative scan, which keeps reading the index (up to
 *   `hnsw.max_scan_tuples`) until the namespace and metadata filter leave `k`
 *   rows. Small tables are searched exactly: the planner prefers a scan there.
 *   Without pgvector they are a `double precision[]` column and `recall`
 *   scores every document of the namespace exactly, in process, as
 *   {@link MemoryInMemory} does (same scores, same ties).
 *   The mode is the column's: a store created without pgvector stays exact.
 *   Metadata filters are `metadata @> filter` plus jsonb equality for array
 *   and object values, i.e. every filter key has an equal value.
 *
 * A failed statement is a `MemoryError` (`backend` "postgres" or "pglite"),
 * after retries, per a `Schedule`, of the failures that may pass (connection
 * lost or terminated, deadlock, serialization, timeouts); every operation has
 * an overall timeout, and {@link layerPg} sets connect and statement timeouts
 * on its `PgClient`. An operation that succeeded is committed.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { randomUUID } from "node:crypto"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import type * as AiError from "effect/ai/AiError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Schema from "effect/Schema"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Vector from "../internal/vector.js"
import {
  type Document,
  key,
  Memory,
  MemoryError,
  type MemoryShape,
  Message,
  type Namespace,
  type RecallOptions
} from "../services/Memory.js"
import * as SqlStore from "../internal/sqlStore.js"
import * as Pglite from "./Pglite.js"

/**
 * The PostgreSQL connection, table prefix and recall tuning of the memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlStore.StoreOptions {
  /** `hnsw.ef_search` for `recall` (default 200, at most 1000): higher is closer to exact, and slower. */
  readonly efSearch?: number | undefined
  /**
   * The embedding size for the `vector` column when it is created (default:
   * `EmbeddingModel.Dimensions` if in context, else measured on one embedding).
   */
  readonly dimensions?: number | undefined
}

const Messages = Schema.Array(Message)
const decodeMessages = Schema.decodeUnknownEffect(Messages)

interface DocumentRow {
  readonly id: string
  readonly text: string
  readonly metadata: Record<string, Schema.Json>
}

/**
 * Builds the memory over the `SqlClient` and `EmbeddingModel` in context:
 * creates or migrates the tables, then serves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<MemoryShape, MemoryError, SqlClient | EmbeddingModel.EmbeddingModel> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const embedder = yield* EmbeddingModel.EmbeddingModel
    const backend = SqlStore.backendOf(sql)
    const { invalid: invalidPrefix, prefix } = SqlStore.tablePrefix(options)
    const efSearch = options.efSearch ?? 200

    const fail = (operation: string, reason: string, cause?: unknown) =>
      new MemoryError(cause === undefined ? { backend, operation, reason } : { backend, operation, reason, cause })
    if (invalidPrefix !== undefined) return yield* fail("build", invalidPrefix)
    if (!Number.isInteger(efSearch) || efSearch < 1 || efSearch > 1000) {
      return yield* fail("build", `efSearch must be an integer from 1 to 1000, got ${efSearch}`)
    }

    /** Runs statements: retried, bounded in time, failures as `MemoryError`. */
    const run = <A>(operation: string, effect: Effect.Effect<A, SqlError>): Effect.Effect<A, MemoryError> =>
      SqlStore.guard(options, (reason, cause) => fail(operation, reason, cause))(effect)
    const embed = (operation: string, text: string) =>
      embedder.embed(text).pipe(
        Effect.map((response) => response.vector),
        Effect.mapError((error: AiError.AiError) => fail(operation, `embedding failed: ${error.message}`, error))
      )

    const names = {
      seq: `${prefix}history_seq`,
      history: `${prefix}history`,
      facts: `${prefix}facts`,
      documents: `${prefix}documents`
    }
    const history = sql(names.history)
    const facts = sql(names.facts)
    const documents = sql(names.documents)

    // pgvector: installed, or installable by us; otherwise the exact fallback.
    const vectorVersion = sql<{ readonly version: string }>`
      SELECT extversion AS version FROM pg_extension WHERE extname = 'vector'`.pipe(
        Effect.map((rows) => rows[0]?.version)
      )
    let pgvector = yield* run("build", vectorVersion)
    if (pgvector === undefined) {
      yield* sql`CREATE EXTENSION IF NOT EXISTS vector`.pipe(
        Effect.catch((error) => Effect.logDebug("MemoryPg: no pgvector, recall will search exactly", error.message))
      )
      pgvector = yield* run("build", vectorVersion)
    }
    const dimensions = Effect.gen(function*() {
      if (options.dimensions !== undefined) return options.dimensions
      const fromContext = yield* Effect.serviceOption(EmbeddingModel.Dimensions)
      if (Option.isSome(fromContext)) return fromContext.value
      return (yield* embed("build", "dimensions")).length
    })

    const migrations = {
      "1_tables": Effect.gen(function*() {
        yield* sql`CREATE SEQUENCE ${sql(names.seq)}`
        yield* sql`CREATE TABLE ${history} (
          namespace text NOT NULL,
          seq bigint NOT NULL,
          position integer NOT NULL,
          batch uuid NOT NULL,
          message jsonb NOT NULL,
          PRIMARY KEY (namespace, seq, position)
        )`
        yield* sql`CREATE UNIQUE INDEX ${sql(`${prefix}history_batch`)} ON ${history} (batch) WHERE position = 0`
        yield* sql`CREATE TABLE ${facts} (
          namespace text NOT NULL,
          key text NOT NULL,
          value jsonb NOT NULL,
          expires_at timestamptz,
          PRIMARY KEY (namespace, key)
        )`
        yield* sql`CREATE INDEX ${sql(`${prefix}facts_expires_at`)} ON ${facts} (expires_at) WHERE expires_at IS NOT NULL`
        yield* sql`CREATE TABLE ${documents} (
          namespace text NOT NULL,
          id text NOT NULL,
          text text NOT NULL,
          metadata jsonb NOT NULL,
          PRIMARY KEY (namespace, id)
        )`
      }),
      "2_embeddings": Effect.gen(function*() {
        if (pgvector === undefined) {
          yield* sql`ALTER TABLE ${documents} ADD COLUMN embedding double precision[] NOT NULL`
          return
        }
        const dims = yield* dimensions
        if (!Number.isInteger(dims) || dims < 1) return yield* fail("build", `dimensions must be an integer >= 1, got ${dims}`)
        yield* sql`ALTER TABLE ${documents} ADD COLUMN embedding ${sql.literal(`vector(${dims})`)} NOT NULL`
        yield* sql`CREATE INDEX ${sql(`${prefix}documents_embedding`)} ON ${documents}
          USING hnsw (embedding vector_cosine_ops)`
      })
    }
    yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: `${prefix}memory_migrations` }).pipe(
      Effect.mapError((error) =>
        error._tag === "MigrationError" && error.cause instanceof MemoryError
          ? error.cause
          : fail("build", `migrations failed: ${error.message}`, error)
      ),
      Effect.catchDefect((defect) => Effect.fail(fail("build", `migrations failed: ${String(defect)}`, defect)))
    )

    const column = yield* run(
      "build",
      sql<{ readonly type: string }>`
        SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = to_regclass(${names.documents}) AND attname = 'embedding'`
    )
    const indexed = column[0]?.type.startsWith("vector") === true
    // pgvector 0.8 can keep scanning the index until a filtered query has its k rows.
    const iterative = pgvector !== undefined && Number(pgvector.split(".")[0]) * 100 + Number(pgvector.split(".")[1]) >= 8
    const embeddingValue = (vector: ReadonlyArray<number>) =>
      indexed ? sql`${`[${vector.join(",")}]`}::vector` : sql`${`{${vector.join(",")}}`}::double precision[]`

    const filterOf = (filter: Readonly<Record<string, Schema.Json>> | undefined) => {
      if (filter === undefined || Object.keys(filter).length === 0) return []
      // `@>` is equality for scalars but containment for arrays and objects: those also need `=`.
      return [
        sql`metadata @> ${JSON.stringify(filter)}::jsonb`,
        ...Object.entries(filter).filter(([, value]) => value !== null && typeof value === "object").map((
          [name, value]
        ) => sql`metadata -> ${name}::text = ${JSON.stringify(value)}::jsonb`)
      ]
    }
    const invalid = (operation: string, reason: string) => Effect.fail(fail(operation, reason))

    const memory: MemoryShape = {
      append: Effect.fn("MemoryPg.append")(function*(namespace: Namespace, messages: ReadonlyArray<Message>) {
        if (messages.length === 0) return
        const batch = randomUUID()
        yield* run(
          "append",
          sql`
            WITH next AS MATERIALIZED (SELECT nextval(${names.seq}) AS seq)
            INSERT INTO ${history} (namespace, seq, position, batch, message)
            SELECT ${key(namespace)}, next.seq, m.position - 1, ${batch}::uuid, m.message
            FROM next, jsonb_array_elements(${JSON.stringify(messages)}::jsonb) WITH ORDINALITY AS m(message, position)
            WHERE NOT EXISTS (SELECT 1 FROM ${history} WHERE batch = ${batch}::uuid AND position = 0)`
        )
      }),
      history: Effect.fn("MemoryPg.history")(function*(namespace: Namespace, options?: { readonly last?: number | undefined }) {
        const last = options?.last
        if (last !== undefined && last <= 0) return []
        const rows = yield* run(
          "history",
          last === undefined
            ? sql<{ readonly message: unknown }>`
              SELECT message FROM ${history} WHERE namespace = ${key(namespace)} ORDER BY seq, position`
            : sql<{ readonly message: unknown }>`
              SELECT message FROM (
                SELECT seq, position, message FROM ${history} WHERE namespace = ${key(namespace)}
                ORDER BY seq DESC, position DESC LIMIT ${Math.floor(last)}
              ) AS tail ORDER BY seq, position`
        )
        return yield* decodeMessages(rows.map((row) => row.message)).pipe(
          Effect.mapError((error) => fail("history", `stored history does not decode: ${error.message}`, error))
        )
      }),
      trim: Effect.fn("MemoryPg.trim")(function*(namespace: Namespace, keep: number) {
        if (keep < 0) return yield* invalid("trim", `keep must be >= 0, got ${keep}`)
        yield* run(
          "trim",
          keep === 0
            ? sql`DELETE FROM ${history} WHERE namespace = ${key(namespace)}`
            : sql`
              DELETE FROM ${history} WHERE namespace = ${key(namespace)} AND (seq, position) < (
                SELECT seq, position FROM ${history} WHERE namespace = ${key(namespace)}
                ORDER BY seq DESC, position DESC OFFSET ${Math.floor(keep) - 1} LIMIT 1
              )`
        )
      }),
      get: Effect.fn("MemoryPg.get")(function*(namespace: Namespace, factKey: string) {
        const rows = yield* run(
          "get",
          sql<{ readonly value: Schema.Json }>`
            SELECT value FROM ${facts} WHERE namespace = ${key(namespace)} AND key = ${factKey}
            AND (expires_at IS NULL OR expires_at > now())`
        )
        return rows.length === 0 ? Option.none() : Option.some(rows[0]!.value)
      }),
      set: Effect.fn("MemoryPg.set")(
        function*(namespace: Namespace, factKey: string, value: Schema.Json, options?: { readonly ttl?: Duration.Input | undefined }) {
          const ttl = options?.ttl === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(options.ttl))
          const ttlMillis = ttl === undefined || !Number.isFinite(ttl) ? null : ttl
          yield* run(
            "set",
            sql`
              WITH purged AS (
                DELETE FROM ${facts} WHERE (namespace, key) IN (
                  SELECT namespace, key FROM ${facts} WHERE expires_at <= now()
                  AND NOT (namespace = ${key(namespace)} AND key = ${factKey}) LIMIT 100
                )
              )
              INSERT INTO ${facts} (namespace, key, value, expires_at)
              VALUES (${key(namespace)}, ${factKey}, ${JSON.stringify(value)}::jsonb,
                now() + ${ttlMillis}::float8 * interval '1 millisecond')
              ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`
          )
        }
      ),
      delete: Effect.fn("MemoryPg.delete")(function*(namespace: Namespace, factKey: string) {
        const rows = yield* run(
          "delete",
          sql<{ readonly live: boolean }>`
            DELETE FROM ${facts} WHERE namespace = ${key(namespace)} AND key = ${factKey}
            RETURNING (expires_at IS NULL OR expires_at > now()) AS live`
        )
        return rows[0]?.live === true
      }),
      keys: Effect.fn("MemoryPg.keys")(function*(namespace: Namespace) {
        const rows = yield* run(
          "keys",
          sql<{ readonly key: string }>`
            SELECT key FROM ${facts} WHERE namespace = ${key(namespace)} AND (expires_at IS NULL OR expires_at > now())`
        )
        // Sorted here, not by the database's collation, so the order is the same on every backend.
        return rows.map((row) => row.key).sort()
      }),
      remember: Effect.fn("MemoryPg.remember")(function*(namespace: Namespace, document: Document) {
        const vector = yield* embed("remember", document.text)
        yield* run(
          "remember",
          sql`
            INSERT INTO ${documents} (namespace, id, text, metadata, embedding)
            VALUES (${key(namespace)}, ${document.id}, ${document.text}, ${JSON.stringify(document.metadata)}::jsonb,
              ${embeddingValue(vector)})
            ON CONFLICT (namespace, id) DO UPDATE
            SET text = excluded.text, metadata = excluded.metadata, embedding = excluded.embedding`
        )
      }),
      recall: Effect.fn("MemoryPg.recall")(function*(namespace: Namespace, query: string, options?: RecallOptions) {
        const k = Vector.resolveK(options?.k)
        if (typeof k === "string") return yield* invalid("recall", k)
        if (k === 0) return []
        const vector = yield* embed("recall", query)
        const where = sql.and([sql`namespace = ${key(namespace)}`, ...filterOf(options?.filter)])
        if (indexed) {
          const rows = yield* run(
            "recall",
            sql.withTransaction(Effect.gen(function*() {
              // Local to this transaction: other sessions keep their settings.
              const ef = String(Math.min(1000, Math.max(efSearch, k)))
              yield* iterative
                ? sql`SELECT set_config('hnsw.ef_search', ${ef}, true), set_config('hnsw.iterative_scan', 'strict_order', true)`
                : sql`SELECT set_config('hnsw.ef_search', ${ef}, true)`
              return yield* sql<DocumentRow & { readonly distance: number }>`
                SELECT id, text, metadata, embedding <=> ${embeddingValue(vector)} AS distance
                FROM ${documents} WHERE ${where}
                ORDER BY distance, id LIMIT ${k}`
            }))
          )
          // A zero vector has no direction: pgvector gives NaN, the exact search a score of 0.
          return rows.map(({ distance, id, metadata, text }) => ({
            id,
            text,
            metadata,
            score: Number.isNaN(distance) ? 0 : Math.max(-1, Math.min(1, 1 - distance))
          }))
        }
        const rows = yield* run(
          "recall",
          sql<DocumentRow & { readonly embedding: ReadonlyArray<number> }>`
            SELECT id, text, metadata, embedding FROM ${documents} WHERE ${where}`
        )
        const candidates: Array<Vector.Scored<DocumentRow>> = []
        for (const row of rows) {
          if (row.embedding.length !== vector.length) {
            return yield* invalid(
              "recall",
              `document "${row.id}" has a ${row.embedding.length}-dimension vector, the query ${vector.length}: was the embedding model changed?`
            )
          }
          candidates.push({ id: row.id, score: Vector.cosine(vector, row.embedding), item: row })
        }
        return Vector.topK(candidates, k).map(({ item, score }) => ({
          id: item.id,
          text: item.text,
          metadata: item.metadata,
          score
        }))
      }),
      forget: Effect.fn("MemoryPg.forget")(function*(namespace: Namespace, id: string) {
        const rows = yield* run(
          "forget",
          sql`DELETE FROM ${documents} WHERE namespace = ${key(namespace)} AND id = ${id} RETURNING id`
        )
        return rows.length > 0
      }),
      clear: Effect.fn("MemoryPg.clear")(function*(namespace: Namespace) {
        yield* run(
          "clear",
          sql.withTransaction(Effect.all([
            sql`DELETE FROM ${history} WHERE namespace = ${key(namespace)}`,
            sql`DELETE FROM ${facts} WHERE namespace = ${key(namespace)}`,
            sql`DELETE FROM ${documents} WHERE namespace = ${key(namespace)}`
          ], { discard: true }))
        )
      })
    }
    return memory
  })

/**
 * Memory over the `SqlClient` and `EmbeddingModel` you provide; a failure to
 * build (e.g. the migrations) is a defect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = (
  options: Options = {}
): Layer.Layer<Memory, never, SqlClient | EmbeddingModel.EmbeddingModel> =>
  Layer.effect(Memory, make(options)).pipe(Layer.orDie)

/**
 * Options of {@link layerPg}: the `PgClient` pool's and the memory's.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgOptions extends Options {
  readonly pg: PgClient.PgPoolConfig
}

/**
 * Memory on a PostgreSQL server. The pool defaults to `application_name`
 * `graphent`, a 5 s connect timeout, TCP keepalive after 30 s and a 30 s
 * `statement_timeout`; `pg` overrides any of them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = (options: PgOptions): Layer.Layer<Memory, MemoryError, EmbeddingModel.EmbeddingModel> =>
  Layer.effect(
    Memory,
    Effect.gen(function*() {
      const client = yield* SqlStore.makePgClient(options.pg).pipe(
        Effect.mapError((error) =>
          new MemoryError({ backend: "postgres", operation: "connect", reason: error.message, cause: error })
        )
      )
      return yield* make(options).pipe(Effect.provideService(SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * Options of {@link layerPglite}: where PGlite keeps its data, and the memory's.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgliteOptions extends Options, Pglite.Options {}

/**
 * Memory in an embedded PGlite database (e.g. `{ dataDir: ".graphent/db" }`),
 * with pgvector. The database is open while the layer is.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPglite = (
  options: PgliteOptions = {}
): Layer.Layer<Memory, MemoryError, EmbeddingModel.EmbeddingModel> =>
  Layer.effect(
    Memory,
    Effect.gen(function*() {
      const client = yield* Pglite.make(options).pipe(
        Effect.mapError((error) =>
          new MemoryError({ backend: "pglite", operation: "connect", reason: error.message, cause: error })
        )
      )
      return yield* make(options).pipe(Effect.provideService(SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))
