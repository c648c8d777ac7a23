/**
 * Where programs (the CLI, the dev server) keep memory and journals, chosen by
 * configuration, with persistence and vector recall by default and no
 * services to run.
 *
 * | configuration | memory | journal |
 * |---|---|---|
 * | nothing | embedded PGlite (pgvector) under `.graphent/`, opened on first use | one JSON Lines file per run in `.graphent/runs/` |
 * | `GRAPHENT_DATABASE_URL` | PostgreSQL (`MemoryPg`, pgvector when installed) | PostgreSQL (`JournalPg`) |
 * | `GRAPHENT_REDIS_URL` | Redis (`MemoryRedis`) | PostgreSQL if `GRAPHENT_DATABASE_URL`, else `.graphent/runs/` |
 * | `GRAPHENT_STORE=pglite` | embedded PGlite | the same database (as before 0.2: one process at a time) |
 * | `GRAPHENT_STORE=memory` | in memory (nothing kept) | in memory |
 *
 * The runs a server accepted (`AcceptedRuns`) are kept beside the journal:
 * in `<runs folder>/.accepted/` with journal files, in the journal's database
 * (table `<prefix>_accepted_runs`) otherwise.
 *
 * Every run stays listed by `graphent trace list`. Tables are `<prefix>_…`
 * and Redis keys `<prefix>:…` with `GRAPHENT_STORE_PREFIX` (default
 * `graphent`), so several stores can share a server. URLs are read as secrets
 * (`Redacted`): they may hold passwords.
 *
 * **Journals as files** ({@link JournalFolder}): a run's file is written as
 * the run goes, one event per `write(2)`. Files need no lock (one run, one
 * file, one writer), so a dev server and CLI commands keep their runs in one
 * project at once, and a run that uses no memory never starts a database:
 * a CLI process stays small and quick.
 *
 * **The embedded database** is PGlite (`@electric-sql/pglite`, Postgres
 * compiled to WebAssembly, with `@electric-sql/pglite-pgvector`) in
 * `<home>/pglite`, where `<home>` is `GRAPHENT_HOME`, or `.graphent` in the
 * project: the nearest folder up from the working directory that holds a
 * `package.json` (else the working directory). By default it is opened when a
 * run first uses memory, not before (it costs about a second and a few
 * hundred MB). It is reached through a direct `SqlClient` adapter
 * ({@link Pglite}), not through `@electric-sql/pglite-socket` and the `pg`
 * wire protocol: the adapter compiles statements with `@effect/sql-pg`'s own
 * compiler, so the SQL is byte for byte what `PgClient` sends to a server.
 *
 * **One process at a time in the database.** PGlite is a single-process
 * database: two processes writing one data directory would corrupt it. It is
 * therefore locked while open, with an exclusive SQLite lock on `<home>/lock`
 * (`node:sqlite`; a POSIX record lock held by the kernel for the process, so
 * a process that dies, even by `SIGKILL`, releases it at once and no stale
 * lock file is left to clean up). A second process waits for it, up to
 * `GRAPHENT_LOCK_TIMEOUT` (default 30 seconds), then fails with
 * {@link StorageLocked} naming the holder's pid. Two runs that use memory
 * thus run one after the other. For several processes at once, use a server
 * (`GRAPHENT_DATABASE_URL`).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { DatabaseSync } from "node:sqlite"
import type * as AiError from "effect/ai/AiError"
import type * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { SqlClient } from "effect/sql/SqlClient"
import * as Errors from "../services/Errors.js"
import * as Project from "../internal/project.js"
import type * as SqlStore from "../internal/sqlStore.js"
import { AcceptedRuns, type AcceptedRunsShape } from "../services/AcceptedRuns.js"
import { Journal, type JournalShape } from "../services/Journal.js"
import { Memory, MemoryError, type MemoryShape } from "../services/Memory.js"
import * as EmbeddingConfig from "./EmbeddingConfig.js"
import * as AcceptedRunsFolder from "./AcceptedRunsFolder.js"
import * as AcceptedRunsMemory from "./AcceptedRunsMemory.js"
import type * as AcceptedRunsSql from "./AcceptedRunsSql.js"
import * as JournalFolder from "./JournalFolder.js"
import * as JournalMemory from "./JournalMemory.js"
import type * as JournalPg from "./JournalPg.js"
import * as MemoryInMemory from "./MemoryInMemory.js"
import type * as MemoryPg from "./MemoryPg.js"
import type * as MemoryRedis from "./MemoryRedis.js"
import type * as Pglite from "./Pglite.js"

/**
 * Where a store lives.
 *
 * @since 0.1.0
 * @category models
 */
export type Backend = "embedded" | "files" | "postgres" | "redis" | "memory"

/**
 * Which stores to use for memory and journals, and how to open them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** A PostgreSQL server for memory and journals, e.g. `postgres://user:pass@host:5432/db`. */
  readonly databaseUrl?: Redacted.Redacted<string> | string | undefined
  /** A Redis server for memory, e.g. `redis://127.0.0.1:6379/0`. */
  readonly redisUrl?: Redacted.Redacted<string> | string | undefined
  /** The embedded store's folder (default: {@link projectHome} of the working directory). */
  readonly home?: string | undefined
  /** Tables are `<prefix>_…`, Redis keys `<prefix>:…` (default `graphent`): lowercase letters, digits, `_`. */
  readonly prefix?: string | undefined
  /** How long to wait for the embedded store while another process has it (default 30 seconds). */
  readonly lockTimeout?: Duration.Input | undefined
  /** Keep nothing: memory and journal in this process's memory. */
  readonly ephemeral?: boolean | undefined
  /**
   * Without a server, keep journals in the embedded database beside memory (opened at once, one
   * process at a time) instead of one file per run in `<home>/runs` (default false).
   */
  readonly journalInDatabase?: boolean | undefined
  /**
   * When the embedded database is opened on first use (the default), close it again once memory has
   * not been used for this long, so that other processes can open it (default: keep it open).
   */
  readonly releaseIdleAfter?: Duration.Input | undefined
}

/**
 * What was chosen: the `Storage` service, provided beside `Memory` and `Journal`.
 *
 * @since 0.1.0
 * @category models
 */
export interface StorageShape {
  readonly memory: Backend
  readonly journal: Backend
  /** The embedded store's folder, when memory or journal are there (journal files in `<home>/runs`). */
  readonly home: string | undefined
  readonly prefix: string
}

/**
 * The stores chosen for memory and journals (see {@link StorageShape}).
 *
 * @since 0.1.0
 * @category services
 */
export class Storage extends Context.Service<Storage, StorageShape>()("graphent/Storage") {}

/**
 * The store could not be configured or opened (bad option, unreachable
 * server, unreadable folder).
 *
 * What to do: check the store's settings (`GRAPHENT_HOME`, `GRAPHENT_DATABASE_URL`, `GRAPHENT_REDIS_URL`): the
 * message names the backend, the operation and the reason.
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageError extends Schema.TaggedError<StorageError>()(
  "StorageError",
  Errors.backendFields(Schema.Literals(["configure", "lock", "open"]))
) {
  override get message(): string {
    return Errors.backendMessage("storage", this)
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

/**
 * Another process kept the embedded store open for longer than the lock
 * timeout.
 *
 * What to do: another `graphent` process (often `graphent dev`) holds the embedded store: wait, or stop it;
 * `GRAPHENT_LOCK_TIMEOUT` sets how long to wait. For several processes at once use PostgreSQL
 * (`GRAPHENT_DATABASE_URL`).
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageLocked extends Schema.TaggedError<StorageLocked>()("StorageLocked", {
  home: Schema.String,
  /** The process that has it, when known. */
  holder: Schema.optionalKey(Schema.Number),
  waitedMs: Schema.Number
}) {
  override get message(): string {
    const who = this.holder === undefined
      ? "another process"
      : this.holder === process.pid
      ? "this process (it is already open here)"
      : `another process (pid ${this.holder})`
    return `the embedded store ${this.home} is in use by ${who}; waited ${
      Duration.format(Duration.millis(this.waitedMs))
    }. It opens in one process at a time: retry when that one ends, raise GRAPHENT_LOCK_TIMEOUT, ` +
      `or use a PostgreSQL server (GRAPHENT_DATABASE_URL) for several processes at once`
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

// =============================================================================
// The project's folder
// =============================================================================

/**
 * The embedded store's default folder: `.graphent` in the nearest folder up
 * from `cwd` that holds a `package.json`, else in `cwd`.
 *
 * @since 0.1.0
 * @category utils
 */
export const projectHome: (cwd?: string) => string = Project.projectHome

/**
 * The folder of an embedded store's journal files: `<home>/runs`, or
 * `<home>/runs-<prefix>` for another prefix than `graphent` (stores apart in one home).
 *
 * @since 0.1.0
 * @category utils
 */
export const runsDir = (home: string, prefix: string = "graphent"): string =>
  path.join(home, prefix === "graphent" ? "runs" : `runs-${prefix}`)

// =============================================================================
// The lock
// =============================================================================

/** Another connection holds the lock (internal to {@link lock}). */
class Busy {
  readonly _tag = "Busy"
}

const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6

const isBusy = (error: unknown): boolean => {
  const code = (error as { readonly errcode?: unknown })?.errcode
  return code === SQLITE_BUSY || code === SQLITE_LOCKED
}

const readHolder = (ownerFile: string): number | undefined => {
  try {
    const pid = Number(JSON.parse(fs.readFileSync(ownerFile, "utf8")).pid)
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Locks the embedded store in `home` for the scope: waits while another
 * process (or this one) has it, up to `timeout`, then fails with
 * {@link StorageLocked}. The lock is the kernel's: it ends with the scope or
 * with the process, however it ends.
 *
 * @since 0.1.0
 * @category constructors
 */
export const lock = (
  home: string,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.Effect<void, StorageError | StorageLocked, Scope.Scope> =>
  Effect.gen(function*() {
    const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(options?.timeout ?? "30 seconds"))
    const lockFile = path.join(home, "lock")
    const ownerFile = path.join(home, "lock.owner")
    const lockError = (reason: string, cause: unknown) =>
      new StorageError({ backend: "embedded", operation: "lock", reason, cause })
    // Loaded on use: importing graphent does not load SQLite (an experimental module before Node 24).
    const { DatabaseSync } = yield* Effect.tryPromise({
      try: () => import("node:sqlite"),
      catch: (cause) => lockError(`node:sqlite is not available (Node.js >= 22.13 is needed): ${cause}`, cause)
    })
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(home, { recursive: true })
        // Nothing in the store belongs in version control.
        const ignore = path.join(home, ".gitignore")
        if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, "*\n")
      },
      catch: (cause) => lockError(`cannot create ${home}: ${(cause as Error).message}`, cause)
    })
    /** The locked handle, or `undefined` while another connection holds the lock. */
    const attempt = Effect.try({
      try: (): DatabaseSync | undefined => {
        const db = new DatabaseSync(lockFile, { timeout: 0 })
        try {
          db.exec("PRAGMA locking_mode = EXCLUSIVE")
          db.exec("BEGIN EXCLUSIVE")
          return db
        } catch (error) {
          db.close()
          if (isBusy(error)) return undefined
          throw error
        }
      },
      catch: (cause) => lockError(`cannot lock ${lockFile}: ${(cause as Error).message}`, cause)
    })
    const release = (db: DatabaseSync) =>
      Effect.sync(() => {
        if (readHolder(ownerFile) === process.pid) fs.rmSync(ownerFile, { force: true })
        db.close()
      })
    // Only a successful attempt registers a release; the waiting between attempts stays interruptible.
    const acquire = Effect.acquireRelease(
      Effect.flatMap(attempt, (db) => db === undefined ? Effect.fail(new Busy()) : Effect.succeed(db)),
      release
    ).pipe(
      Effect.as(true),
      Effect.catchTag("Busy", () => Effect.succeed(false))
    )
    const start = yield* Clock.currentTimeMillis
    let logged = false
    for (;;) {
      if (yield* acquire) break
      const waited = (yield* Clock.currentTimeMillis) - start
      const holder = readHolder(ownerFile)
      if (waited >= timeoutMs) {
        return yield* new StorageLocked({ home, waitedMs: waited, ...(holder === undefined ? {} : { holder }) })
      }
      if (!logged) {
        logged = true
        yield* Effect.logInfo(
          `waiting for the embedded store ${home}, in use by ${holder === undefined ? "another process" : `pid ${holder}`}`
        )
      }
      yield* Effect.sleep(Math.min(100, timeoutMs - waited))
    }
    yield* Effect.try({
      try: () => fs.writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, since: new Date().toISOString() })),
      catch: (cause) => lockError(`cannot write ${ownerFile}: ${(cause as Error).message}`, cause)
    })
  })

// =============================================================================
// Databases
// =============================================================================

/**
 * The modules of the backends, loaded when a store first needs one: a process
 * that keeps its journal in files and never uses memory loads no database
 * client (nor `import "graphent"` any).
 */
const backends = {
  sqlStore: (): Promise<typeof SqlStore> => import("../internal/sqlStore.js"),
  pglite: (): Promise<typeof Pglite> => import("./Pglite.js"),
  journalPg: (): Promise<typeof JournalPg> => import("./JournalPg.js"),
  memoryPg: (): Promise<typeof MemoryPg> => import("./MemoryPg.js"),
  memoryRedis: (): Promise<typeof MemoryRedis> => import("./MemoryRedis.js"),
  acceptedRunsSql: (): Promise<typeof AcceptedRunsSql> => import("./AcceptedRunsSql.js")
}

/**
 * A journal database: a PostgreSQL server, or an embedded store's folder.
 *
 * @since 0.1.0
 * @category models
 */
export type Database =
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "Embedded"; readonly home: string }

const redacted = (value: Redacted.Redacted<string> | string): Redacted.Redacted<string> =>
  typeof value === "string" ? Redacted.make(value) : value

const given = (value: Redacted.Redacted<string> | string | undefined): Redacted.Redacted<string> | undefined =>
  value === undefined || Redacted.value(redacted(value)).trim() === "" ? undefined : redacted(value)

/**
 * An effect/sql `SqlClient` on a database: a `PgClient` pool on a server, or
 * PGlite on the embedded store, locked (see {@link lock}) while the scope is open.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlClient = (
  database: Database,
  options?: { readonly lockTimeout?: Duration.Input | undefined }
): Effect.Effect<SqlClient, StorageError | StorageLocked, Scope.Scope | Reactivity.Reactivity> => {
  if (database._tag === "Postgres") {
    return Effect.promise(backends.sqlStore).pipe(
      Effect.flatMap((backend) => backend.makePgClient({ url: database.url })),
      Effect.mapError((error) =>
        new StorageError({ backend: "postgres", operation: "open", reason: error.message, cause: error })
      )
    )
  }
  return Effect.gen(function*() {
    yield* lock(database.home, { timeout: options?.lockTimeout })
    const pglite = yield* Effect.promise(backends.pglite)
    return yield* pglite.make({ dataDir: path.join(database.home, "pglite") }).pipe(
      Effect.mapError((error) =>
        new StorageError({ backend: "embedded", operation: "open", reason: error.message, cause: error })
      )
    )
  })
}

// =============================================================================
// Layers
// =============================================================================

/**
 * Memory that opens its backend on first use, in the scope of the store: a
 * run that never touches memory never starts the database. A failure to open
 * is the failure of that memory call (and of the next one, which tries again).
 * With `releaseIdleAfter`, the backend is closed (and its lock released) once
 * no call has been made for that long, and opened again by the next call: a
 * long-lived process (`graphent dev`) then lets other processes use it between
 * its own runs.
 */
const lazyMemory = <R>(
  backend: Backend,
  open: Effect.Effect<MemoryShape, StorageError | StorageLocked, R | Scope.Scope>,
  releaseIdleAfter: Duration.Input | undefined
): Effect.Effect<MemoryShape, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const context = yield* Effect.context<R>()
    const lock = yield* Semaphore.make(1)
    let current: { readonly memory: MemoryShape; readonly scope: Scope.Closeable } | undefined
    let inFlight = 0
    let calls = 0
    const acquire = lock.withPermits(1)(Effect.gen(function*() {
      if (current === undefined) {
        const opened = yield* Scope.fork(scope)
        const memory = yield* open.pipe(
          Effect.provideService(Scope.Scope, opened),
          Effect.provideContext(context),
          Effect.onError(() => Scope.close(opened, Exit.void)),
          Effect.mapError((error) => new MemoryError({ backend, operation: "open", reason: error.message, cause: error }))
        )
        current = { memory, scope: opened }
      }
      inFlight++
      calls++
      return current.memory
    }))
    const closeIfIdle = (seen: number) =>
      lock.withPermits(1)(Effect.suspend(() => {
        if (inFlight > 0 || calls !== seen || current === undefined) return Effect.void
        const closing = current.scope
        current = undefined
        return Scope.close(closing, Exit.void)
      }))
    const release = Effect.suspend(() => {
      inFlight--
      if (releaseIdleAfter === undefined || inFlight > 0) return Effect.void
      const seen = calls
      return Effect.asVoid(Effect.forkIn(scope)(Effect.andThen(Effect.sleep(releaseIdleAfter), closeIfIdle(seen))))
    })
    const via = <K extends keyof MemoryShape>(key: K): MemoryShape[K] =>
      ((...args: ReadonlyArray<unknown>) =>
        Effect.acquireUseRelease(
          acquire,
          (memory) => (memory[key] as (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, MemoryError>)(...args),
          () => release
        )) as unknown as MemoryShape[K]
    return {
      append: via("append"),
      history: via("history"),
      trim: via("trim"),
      get: via("get"),
      set: via("set"),
      delete: via("delete"),
      keys: via("keys"),
      remember: via("remember"),
      recall: via("recall"),
      forget: via("forget"),
      clear: via("clear")
    }
  })

const prefixError = (prefix: string) =>
  /^[a-z_][a-z0-9_]*$/.test(prefix)
    ? undefined
    : `the prefix must be lowercase letters, digits and _, got ${JSON.stringify(prefix)}`

/**
 * Opens the store per `options`: memory, journal, the runs a server
 * accepted (beside the journal) and what was chosen.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  Context.Context<Memory | Journal | AcceptedRuns | Storage>,
  StorageError | StorageLocked,
  EmbeddingModel.EmbeddingModel | Scope.Scope | Reactivity.Reactivity
> =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? "graphent"
    const invalidPrefix = prefixError(prefix)
    if (invalidPrefix !== undefined) {
      return yield* new StorageError({ backend: "config", operation: "configure", reason: invalidPrefix })
    }
    const databaseUrl = given(options.databaseUrl)
    const redisUrl = given(options.redisUrl)
    const ephemeral = options.ephemeral === true
    const home = options.home === undefined ? projectHome() : path.resolve(options.home)
    const memoryBackend: Backend = ephemeral ? "memory" : redisUrl ? "redis" : databaseUrl ? "postgres" : "embedded"
    const journalBackend: Backend = ephemeral
      ? "memory"
      : databaseUrl
      ? "postgres"
      : options.journalInDatabase === true
      ? "embedded"
      : "files"
    const tablePrefix = `${prefix}_`
    const database: Database = databaseUrl === undefined ? { _tag: "Embedded", home } : { _tag: "Postgres", url: databaseUrl }

    const opened = (backend: Backend, cause: { readonly message: string }) =>
      new StorageError({ backend, operation: "open", reason: cause.message, cause })

    // A server that cannot be reached fails before the embedded store is opened (which takes a while).
    const redisMemory = memoryBackend === "redis"
      ? yield* Effect.promise(backends.memoryRedis).pipe(
        Effect.flatMap((backend) => backend.make({ url: redisUrl, keyPrefix: `${prefix}:` })),
        Effect.mapError((error) => opened("redis", error))
      )
      : undefined

    // The database is opened now when the journal lives there, else on the first use of memory.
    const sql = journalBackend === "postgres" || journalBackend === "embedded"
      ? yield* sqlClient(database, { lockTimeout: options.lockTimeout })
      : undefined

    const journal: JournalShape = journalBackend === "memory"
      ? JournalMemory.make()
      : journalBackend === "files"
      ? yield* JournalFolder.make(runsDir(home, prefix))
      : yield* Effect.promise(backends.journalPg).pipe(
        Effect.flatMap((backend) => backend.make({ tablePrefix })),
        Effect.provideService(SqlClient, sql!),
        Effect.mapError((error) => opened(journalBackend, error))
      )

    // The runs a server accepted live next to the journal: accepted and journaled runs survive together.
    const accepted: AcceptedRunsShape = journalBackend === "files"
      ? AcceptedRunsFolder.make(path.join(runsDir(home, prefix), ".accepted"))
      : sql === undefined
      ? AcceptedRunsMemory.make()
      : yield* Effect.promise(backends.acceptedRunsSql).pipe(
        Effect.flatMap((backend) => backend.make({ tablePrefix })),
        Effect.provideService(SqlClient, sql),
        Effect.mapError((error) => opened(journalBackend, error))
      )

    const openMemoryPg = (client: SqlClient) =>
      Effect.promise(backends.memoryPg).pipe(
        Effect.flatMap((backend) => backend.make({ tablePrefix })),
        Effect.provideService(SqlClient, client),
        Effect.mapError((error) => opened(memoryBackend, error))
      )
    const memory: MemoryShape = memoryBackend === "memory"
      ? yield* MemoryInMemory.make
      : redisMemory !== undefined
      ? redisMemory
      : sql !== undefined
      ? yield* openMemoryPg(sql)
      : yield* lazyMemory(
        memoryBackend,
        Effect.flatMap(sqlClient(database, { lockTimeout: options.lockTimeout }), openMemoryPg),
        options.releaseIdleAfter
      )

    const info: StorageShape = {
      memory: memoryBackend,
      journal: journalBackend,
      home: memoryBackend === "embedded" || journalBackend === "embedded" || journalBackend === "files" ? home : undefined,
      prefix
    }
    return Context.make(Memory, memory).pipe(
      Context.add(Journal, journal),
      Context.add(AcceptedRuns, accepted),
      Context.add(Storage, info)
    )
  })

/**
 * Memory, journal and {@link Storage} per `options`, with the embedding model
 * you provide.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Memory | Journal | AcceptedRuns | Storage, StorageError | StorageLocked, EmbeddingModel.EmbeddingModel> =>
  Layer.effectContext(make(options)).pipe(Layer.provide(Reactivity.layer))

const nonEmpty = <A>(config: Config.Config<A>, isEmpty: (value: A) => boolean) =>
  Config.option(config).pipe(Config.map(Option.filter((value) => !isEmpty(value))))

const invalidConfig = (message: string) => new Config.ConfigError(new ConfigProvider.SourceError({ message }))

/**
 * The {@link Options} read from the environment: `GRAPHENT_DATABASE_URL`,
 * `GRAPHENT_REDIS_URL` (secrets), `GRAPHENT_HOME`, `GRAPHENT_STORE_PREFIX`,
 * `GRAPHENT_LOCK_TIMEOUT` (e.g. `10 seconds`) and `GRAPHENT_STORE` (`auto`,
 * the default; `memory` to keep nothing; `pglite` to keep journals in the
 * embedded database too).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  store: Config.Literals(["auto", "memory", "pglite"], "GRAPHENT_STORE").pipe(Config.withDefault("auto" as const)),
  databaseUrl: nonEmpty(Config.Redacted("GRAPHENT_DATABASE_URL"), (url) => Redacted.value(url).trim() === ""),
  redisUrl: nonEmpty(Config.Redacted("GRAPHENT_REDIS_URL"), (url) => Redacted.value(url).trim() === ""),
  home: nonEmpty(Config.String("GRAPHENT_HOME"), (home) => home.trim() === ""),
  prefix: Config.String("GRAPHENT_STORE_PREFIX").pipe(Config.withDefault("graphent")),
  lockTimeout: Config.Duration("GRAPHENT_LOCK_TIMEOUT").pipe(Config.withDefault(Duration.seconds(30)))
}).pipe(
  Config.mapEffect(({ databaseUrl, home, lockTimeout, prefix, redisUrl, store }) => {
    const invalid = prefixError(prefix)
    if (invalid !== undefined) return Effect.fail(invalidConfig(`GRAPHENT_STORE_PREFIX: ${invalid}`))
    return Effect.succeed({
      ephemeral: store === "memory",
      journalInDatabase: store === "pglite",
      databaseUrl: Option.getOrUndefined(databaseUrl),
      redisUrl: Option.getOrUndefined(redisUrl),
      home: Option.getOrUndefined(home),
      prefix,
      lockTimeout
    })
  })
)

/**
 * The journal database `graphent trace list --db` reads by default:
 * `GRAPHENT_DATABASE_URL` when set, else the embedded store
 * (`GRAPHENT_HOME` or the project's `.graphent`).
 *
 * @since 0.1.0
 * @category config
 */
export const databaseConfig: Config.Config<Database> = config.pipe(
  Config.map((options): Database => {
    const url = given(options.databaseUrl)
    return url !== undefined ? { _tag: "Postgres", url } : { _tag: "Embedded", home: options.home ?? projectHome() }
  })
)

/**
 * The store named by the environment ({@link config}), with the embedding
 * model named by `GRAPHENT_EMBEDDING_MODEL` ({@link EmbeddingConfig}).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  overrides?: Partial<Options>
): Layer.Layer<
  Memory | Journal | AcceptedRuns | Storage,
  StorageError | StorageLocked | Config.ConfigError | AiError.AiError
> =>
  Layer.unwrap(Effect.map(config, (options) => layer({ ...options, ...overrides }))).pipe(
    Layer.provide(EmbeddingConfig.layerConfig())
  )
