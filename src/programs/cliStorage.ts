/**
 * The CLI's stores and the `graphent trace` commands.
 *
 * - `graphent run` keeps memory and journal in the configured store
 *   (`Storage.layerConfig()`: the embedded `.graphent/` by default,
 *   `GRAPHENT_DATABASE_URL`, `GRAPHENT_REDIS_URL`). With `--record FILE` the
 *   journal is written to the file first, then to the store, so the run is
 *   listed by `trace list --db` like any other, and the file stays a portable
 *   copy for replay, resume and golden tests.
 * - `graphent resume` appends to its journal file only (the store may not hold
 *   the run's beginning) and uses the configured memory (the tools run live).
 * - `graphent trace list|show` read a journal file, or with `--db` a journal
 *   database: bare `--db` is the project's (`GRAPHENT_DATABASE_URL`, else the
 *   embedded store), `--db=URL` or `--db URL` a PostgreSQL server,
 *   `--db=FOLDER` an embedded store's folder. Without `--db`, what is not a
 *   journal file is looked up in the project's store (`trace list` with no
 *   file lists it, `trace show RUN-ID` shows a run of it).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Context from "effect/Context"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import { SqlClient } from "effect/sql/SqlClient"
import * as FlowConfig from "../layers/FlowConfig.js"
import * as JournalFile from "../layers/JournalFile.js"
import * as JournalFolder from "../layers/JournalFolder.js"
import type * as JournalPg from "../layers/JournalPg.js"
import * as Storage from "../layers/Storage.js"
import { Journal, JournalError, type JournalShape } from "../services/Journal.js"
import * as Replay from "../layers/Replay.js"
import * as RunOwner from "../internal/runOwner.js"
import type { RunEvent } from "../services/RunEvent.js"
import {
  openRecording,
  readJournal,
  recordingOf,
  runFlag,
  type Stores,
  usageError,
  writeLine
} from "./cliSupport.js"
import * as TraceView from "./traceView.js"

// =============================================================================
// Stores of the run commands
// =============================================================================

/**
 * The journal of `run --record FILE` (and of a run resumed from a file):
 * appends to the file, then to the store's journal (the `Journal` it is
 * given); reads from the file. `prepare` runs first, on both.
 */
const tee = (
  file: string,
  prepare?: (file: JournalShape, stored: JournalShape) => Effect.Effect<void, JournalError>
): Layer.Layer<Journal, JournalError, Journal> =>
  Layer.effect(
    Journal,
    Effect.gen(function*() {
      const stored = yield* Journal
      const recorded = yield* JournalFile.make(file)
      if (prepare !== undefined) yield* prepare(recorded, stored)
      return {
        append: (event: RunEvent) => Effect.andThen(recorded.append(event), stored.append(event)),
        read: recorded.read,
        runs: recorded.runs
      }
    })
  )

/**
 * The stores of `graphent run`: the configured store (or `stored`, a store
 * already open), and with `--record` the journal file too; with the rate
 * limits and the run notices the environment names (`FlowConfig`).
 */
export const runStores = (record: Option.Option<string>, stored: Stores = Storage.layerConfig()): Stores =>
  FlowConfig.withFlow(Option.isNone(record) ? stored : tee(record.value).pipe(Layer.provideMerge(stored)))

/**
 * The stores of a run continued from a journal file (`resume`, `approve`,
 * `reject`): the file, mirrored into the configured store's journal — first
 * the events of `runId` the store lacks (it may hold none, or a prefix), then
 * each new one — so the store's status of the run follows its end. A store
 * that holds more of the run than the file (it was resumed from the store) is
 * an error: the file is stale.
 */
export const resumeStores = (journalFile: string, runId: string): Stores =>
  tee(journalFile, (file, stored) =>
    Effect.gen(function*() {
      const inFile = yield* file.read(runId)
      const inStore = yield* stored.read(runId)
      if (inStore.length > inFile.length) {
        return yield* new JournalError({
          backend: "file",
          operation: "read",
          reason: `the store holds ${inStore.length} events of run ${runId}, ${journalFile} only ${inFile.length}: ` +
            `the file is stale; continue from the store: graphent resume ${runId}`
        })
      }
      yield* Effect.forEach(inFile.slice(inStore.length), stored.append, { discard: true })
    })).pipe(Layer.provideMerge(Storage.layerConfig()))

/**
 * The run `resume`, `approve` and `reject` continue, and where its
 * continuation is written: `target` is a journal file (see
 * {@link resumeStores}), or the id of a run in the configured store (or a
 * unique prefix of one), continued there.
 *
 * @since 0.1.0
 * @category running
 */
export const openRun = (target: string, agent: Option.Option<string>, run: Option.Option<string>) =>
  Effect.gen(function*() {
    if (fs.existsSync(target) || /[/\\]|\.jsonl?$/.test(target)) {
      const opened = yield* openRecording(target, agent, run)
      return { ...opened, source: "file" as const, stores: resumeStores(target, opened.recorded.runId) as Stores }
    }
    if (Option.isSome(run)) return yield* usageError(`--run picks a run of a journal file; ${target} is not a file`)
    const context = yield* Layer.build(Storage.layerConfig()).pipe(Effect.mapError((error) => usageError(error.message)))
    const journal = Context.get(context, Journal)
    const storage = Context.get(context, Storage.Storage)
    const where = storage.journal === "embedded" || storage.journal === "files"
      ? `the store in ${storage.home}`
      : `the ${storage.journal} store`
    const ids = yield* journal.runs.pipe(Effect.mapError(journalError))
    const matching = ids.includes(target) ? [target] : ids.filter((id) => id.startsWith(target))
    if (matching.length === 0) return yield* usageError(`${target}: no such journal file, and no run ${target} in ${where}`)
    if (matching.length > 1) {
      return yield* usageError(`${target} names several runs in ${where} (${matching.slice(0, 3).join(", ")}…): give more of the id`)
    }
    const events = yield* journal.read(matching[0]!).pipe(Effect.mapError(journalError))
    const opened = yield* recordingOf(events, agent, Option.some(matching[0]!))
    return { ...opened, source: "store" as const, stores: Layer.succeedContext(context) as Stores }
  })

// =============================================================================
// graphent trace
// =============================================================================

const dbFlag = Flag.String("db").pipe(
  Flag.withOptionalValue(""),
  Flag.withDescription(
    "Read a journal database instead of a file: the project's (no value: GRAPHENT_DATABASE_URL, else the embedded " +
      ".graphent store), a postgres:// URL, or an embedded store's folder"
  ),
  Flag.optional
)

const isUrl = (value: string) => /^postgres(ql)?:\/\//i.test(value)

/** A database URL without its password, for messages. */
const describeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.password = ""
    return parsed.toString()
  } catch {
    return "the database URL"
  }
}

/** Where `trace` reads runs: a folder of journal files, or a journal database. */
type Target =
  | { readonly _tag: "Files"; readonly dir: string; readonly description: string }
  | {
    readonly _tag: "Database"
    readonly database: Storage.Database
    readonly description: string
    /** An embedded store that was never created: it holds no runs. */
    readonly empty: boolean
  }

const storeOptions = Storage.config.pipe(Effect.mapError((error) => usageError(error.message)))

/** The runs of an embedded store's folder: its journal files, or (`GRAPHENT_STORE=pglite`, older stores) its database. */
const embeddedTarget = (home: string, options: Storage.Options): Target => {
  const dir = Storage.runsDir(home, options.prefix)
  const database = fs.existsSync(path.join(home, "pglite"))
  return options.journalInDatabase === true || (database && !fs.existsSync(dir))
    ? { _tag: "Database", database: { _tag: "Embedded", home }, description: home, empty: !database }
    : { _tag: "Files", dir, description: dir }
}

/** The runs `--db[=value]` names (no value: the project's). */
const resolveTarget = (value: string) =>
  Effect.gen(function*() {
    const options = yield* storeOptions
    if (value === "") {
      const database = yield* Storage.databaseConfig.pipe(Effect.mapError((error) => usageError(error.message)))
      return database._tag === "Postgres"
        ? { _tag: "Database", database, description: "GRAPHENT_DATABASE_URL", empty: false }
        : embeddedTarget(database.home, options)
    }
    if (isUrl(value)) {
      return {
        _tag: "Database",
        database: { _tag: "Postgres", url: Redacted.make(value) },
        description: describeUrl(value),
        empty: false
      }
    }
    const home = path.resolve(value)
    if (!fs.existsSync(path.join(home, "pglite")) && !fs.existsSync(Storage.runsDir(home, options.prefix))) {
      return yield* usageError(
        `--db: ${value} is neither a postgres:// URL nor an embedded store (no ${home}/pglite, no ${
          Storage.runsDir(home, options.prefix)
        })`
      )
    }
    return embeddedTarget(home, options)
  }) as Effect.Effect<Target, ReturnType<typeof usageError>>

/** Runs `use` on the target's database, with the store's table prefix and lock timeout. */
const withDatabase = <A, E>(
  database: Storage.Database,
  use: (sql: SqlClient, tablePrefix: string) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const options = yield* storeOptions
    const sql = yield* Storage.sqlClient(database, { lockTimeout: options.lockTimeout }).pipe(
      Effect.mapError((error) => usageError(error.message))
    )
    return yield* use(sql, `${options.prefix ?? "graphent"}_`)
  }).pipe(Effect.scoped, Effect.provide(Reactivity.layer))

const iso = (at: number) => new Date(at).toISOString()

const clip = (text: string, max: number) => {
  const quoted = JSON.stringify(text)
  return quoted.length <= max ? quoted : `${quoted.slice(0, max - 1)}…`
}

/** The PostgreSQL journal, loaded only by a command that reads a journal database. */
const journalPg = Effect.promise((): Promise<typeof JournalPg> => import("../layers/JournalPg.js"))

/**
 * One line per run, as for a journal file, plus its input.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderSummaries = (runs: ReadonlyArray<JournalPg.RunSummary>): string =>
  TraceView.nestRuns(runs).map(({ depth, run }) => {
    const took = run.finishedAt === undefined ? "" : `${Math.max(0, run.finishedAt - run.startedAt)} ms`
    const status = run.status === "completed"
      ? `completed in ${took}`
      : run.status === "failed"
      ? `failed (${run.error?._tag ?? "error"}) after ${took}`
      : run.status === "interrupted"
      ? `interrupted after ${took}`
      : run.status === "paused"
      ? "paused (awaiting approval)"
      : run.status
    return `${TraceView.nestPrefix(depth)}${run.runId}  ${run.agent}  ${iso(run.startedAt)}  ${status}  ${clip(run.input, 60)}`
  }).join("\n")

const journalError = (error: JournalError) => usageError(error.message)

// The statuses a journal database stores (JournalPg.RunStatus), spelled here so that the flag does not load it.
const storedStatuses = ["running", "paused", "unfinished", "completed", "failed", "interrupted"] as const satisfies
  ReadonlyArray<JournalPg.RunStatus>

/**
 * The runs of a journal database, with the status a journal file's listing gives them: a database stores
 * `running` until the run's end, so a run whose process died (SIGKILL, a crash; see `RunOwner`) is shown
 * `unfinished`, and `--status running|unfinished` tell the two apart.
 */
const listSettled = (
  backend: typeof JournalPg,
  tablePrefix: string,
  filters: {
    readonly limit: number
    readonly agent: string | undefined
    readonly status: JournalPg.RunStatus | undefined
    readonly tree: "top" | "all"
  }
) =>
  Effect.gen(function*() {
    const asked = filters.status
    // Asked for either side of `running`: every stored `running` run is settled, then the page is cut.
    const split = asked === "running" || asked === "unfinished"
    const listed = yield* backend.listRuns({
      tablePrefix,
      ...filters,
      status: split ? "running" : asked,
      limit: split ? Number.MAX_SAFE_INTEGER : filters.limit
    })
    if (!listed.some((run) => run.status === "running")) return listed
    const journal = yield* backend.make({ tablePrefix })
    const settled = yield* Effect.forEach(listed, (run) =>
      run.status !== "running"
        ? Effect.succeed(run)
        : Effect.map(journal.read(run.runId), (events) =>
          RunOwner.state(events) === "gone" ? { ...run, status: "unfinished" as const } : run))
    return split ? settled.filter((run) => run.status === asked).slice(0, filters.limit) : settled
  })

const traceList = Command.make(
  "list",
  {
    journal: Argument.String("journal").pipe(
      Argument.withDescription("A journal file (or, after --db, a postgres:// URL)"),
      Argument.optional
    ),
    db: dbFlag,
    agent: Flag.String("agent").pipe(Flag.withDescription("With --db: only this agent's runs"), Flag.optional),
    status: Flag.Literals("status", storedStatuses).pipe(
      Flag.withDescription("With --db: only runs in this state"),
      Flag.optional
    ),
    limit: Flag.Int("limit").pipe(Flag.withDescription("With --db: at most this many runs, newest first"), Flag.withDefault(50)),
    json: Flag.Boolean("json").pipe(Flag.withDescription("With --db: one JSON object per run"), Flag.withDefault(false)),
    all: Flag.Boolean("all").pipe(
      Flag.withDescription("Also list child runs (sub-agents, handoffs), each under its parent; by default only top-level runs"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("graphent.cli.trace.list")(function*({ agent, all, db, journal, json, limit, status }) {
    if (Option.isNone(db) && Option.isSome(journal)) {
      const { events } = yield* readJournal(journal.value)
      yield* writeLine(TraceView.renderList(events, { all }))
      return
    }
    // No journal file: the project's store, as bare --db.
    const dbValue = Option.getOrElse(db, () => "")
    const value = dbValue === "" && Option.isSome(journal) ? journal.value : dbValue
    if (dbValue !== "" && Option.isSome(journal)) {
      return yield* usageError(`with --db=${dbValue}, do not also name a journal (${journal.value})`)
    }
    if (limit < 0) return yield* usageError(`--limit must be >= 0, got ${limit}`)
    const target = yield* resolveTarget(value)
    const filters = {
      limit,
      agent: Option.getOrUndefined(agent),
      status: Option.getOrUndefined(status),
      tree: all ? "all" as const : "top" as const
    }
    const runs = target._tag === "Files"
      ? yield* JournalFolder.listRuns(target.dir, filters).pipe(Effect.mapError(journalError))
      : target.empty
      ? []
      : yield* withDatabase(target.database, (sql, tablePrefix) =>
        Effect.flatMap(journalPg, (backend) => listSettled(backend, tablePrefix, filters)).pipe(
          Effect.provideService(SqlClient, sql),
          Effect.mapError(journalError)
        ))
    if (json) {
      yield* Effect.forEach(runs, (run) => writeLine(JSON.stringify(run)), { discard: true })
    } else if (runs.length > 0) {
      yield* writeLine(renderSummaries(runs))
    }
  })
).pipe(Command.withDescription("List the runs of a journal file, or of a journal database (--db; the project's store when no file is named), newest first"))

const traceShow = Command.make(
  "show",
  {
    target: Argument.String("journal-or-run").pipe(
      Argument.withDescription(
        "A journal file, or a run id (or a unique prefix of one) of the project's store; with --db, of that store"
      )
    ),
    url: Argument.String("url").pipe(Argument.withDescription("After --db: a postgres:// URL"), Argument.optional),
    run: runFlag,
    db: dbFlag
  },
  Effect.fn("graphent.cli.trace.show")(function*({ db, run, target, url }) {
    if (Option.isNone(db) && Option.isSome(url)) return yield* usageError(`unexpected argument ${url.value} (without --db)`)
    // A journal file: one that exists, or a name ending in .jsonl (a child run's id, `<runId>/<stepId>`, is a path too).
    if (Option.isNone(db) && (fs.existsSync(target) || /\.jsonl?$/.test(target))) {
      const { events } = yield* readJournal(target)
      const recorded = yield* Replay.recording(events, Option.getOrUndefined(run)).pipe(
        Effect.mapError((error) => usageError(error.message))
      )
      // The run and its child runs (sub-agents, handoffs: ids `<runId>/<stepId>`), nested.
      yield* writeLine(TraceView.render(events.filter((event) =>
        event.runId === recorded.runId || event.runId.startsWith(`${recorded.runId}/`)
      )))
      return
    }
    // Not a journal file, and no --db: a run of the project's store, as bare --db (and as `trace list` with no file).
    const dbValue = Option.getOrElse(db, () => "")
    const notFound = Option.isSome(db)
      ? ""
      : `, and there is no journal file ${path.resolve(target)}; a run kept elsewhere: graphent trace show ${target} ` +
        "--db URL|FOLDER"
    if (Option.isSome(run)) {
      return yield* usageError(
        Option.isSome(db)
          ? "with --db, name the run as the argument, not with --run"
          : `--run picks a run of a journal file; ${target} is not a file`
      )
    }
    if (dbValue !== "" && Option.isSome(url)) {
      return yield* usageError(`with --db=${dbValue}, do not also give ${url.value}`)
    }
    const resolved = yield* resolveTarget(Option.getOrElse(url, () => dbValue))
    if (resolved._tag === "Files") {
      const runId = yield* pickRun(JournalFolder.runIds(resolved.dir), target, resolved.dir, notFound)
      // The run's file, then its child runs' (sub-agents, handoffs: ids `<runId>/<stepId>`).
      const ids = [runId, ...JournalFolder.runIds(resolved.dir).filter((id) => id.startsWith(`${runId}/`))]
      const files = yield* Effect.forEach(ids, (id) => readJournal(JournalFolder.fileOf(resolved.dir, id)))
      yield* writeLine(TraceView.render(files.flatMap(({ events }, index) => events.filter((event) => event.runId === ids[index]))))
      return
    }
    if (resolved.empty) return yield* usageError(`no run ${target} in ${resolved.description} (it holds no runs)${notFound}`)
    const events = yield* withDatabase(resolved.database, (sql, tablePrefix) =>
      Effect.gen(function*() {
        const runId = yield* findRun(sql, tablePrefix, target, resolved.description, notFound)
        const journal = yield* Effect.flatMap(journalPg, (backend) => backend.make({ tablePrefix })).pipe(
          Effect.mapError(journalError)
        )
        // The run, then its child runs (sub-agents, handoffs: ids `<runId>/<stepId>`), nested under their steps.
        const ids = [runId, ...yield* childRunIds(sql, tablePrefix, runId, resolved.description)]
        const read = yield* Effect.forEach(ids, (id) => journal.read(id).pipe(Effect.mapError(journalError)))
        return read.flat()
      }).pipe(Effect.provideService(SqlClient, sql)))
    yield* writeLine(TraceView.render(events))
  })
).pipe(Command.withDescription(
  "Print a run as a tree: turns, steps with durations, errors, the answer; from a journal file or a store"
))

/**
 * Picks the run `wanted` names among the ids of `description`: itself, or the one id that starts with it;
 * `notFound` ends the message when there is none.
 */
const pickRun = (ids: ReadonlyArray<string>, wanted: string, description: string, notFound: string) => {
  if (ids.includes(wanted)) return Effect.succeed(wanted)
  // A prefix names a run, not the child runs nested in it (`<runId>/<stepId>`): those are named in full.
  const matches = ids.filter((id) => id.startsWith(wanted) && !id.slice(wanted.length).includes("/")).sort()
  if (matches.length === 0) return Effect.fail(usageError(`no run ${wanted} in ${description}${notFound}`))
  if (matches.length > 1) {
    return Effect.fail(
      usageError(`${wanted} names several runs (${matches.slice(0, 3).join(", ")}…): give more of the id`)
    )
  }
  return Effect.succeed(matches[0]!)
}

/** The run id `wanted` names in a journal database, as {@link pickRun} picks it. */
const findRun = (sql: SqlClient, tablePrefix: string, wanted: string, description: string, notFound: string) =>
  Effect.gen(function*() {
    const runs = `${tablePrefix}runs`
    const found = yield* sql<{ readonly found: boolean }>`SELECT to_regclass(${runs}) IS NOT NULL AS found`
    if (found[0]?.found !== true) return yield* usageError(`no run ${wanted} in ${description} (it holds no runs)${notFound}`)
    const pattern = `${likeEscape(wanted)}%`
    const rows = yield* sql<{ readonly run_id: string }>`
      SELECT run_id FROM ${sql(runs)}
      WHERE run_id = ${wanted} OR (run_id LIKE ${pattern} AND strpos(substr(run_id, ${wanted.length + 1}), '/') = 0)
      ORDER BY run_id = ${wanted} DESC, seq LIMIT 3`
    const exact = rows.find((row) => row.run_id === wanted)
    if (exact !== undefined) return exact.run_id
    if (rows.length === 0) return yield* usageError(`no run ${wanted} in ${description}${notFound}`)
    if (rows.length > 1) {
      return yield* usageError(`${wanted} names several runs (${rows.map((row) => row.run_id).join(", ")}…): give more of the id`)
    }
    return rows[0]!.run_id
  }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(usageError(`reading ${description} failed: ${error.message}`))))

/** The ids of the child runs in the tree of `runId` (its sub-agents' and handoffs' runs, theirs, ...), oldest first. */
const childRunIds = (sql: SqlClient, tablePrefix: string, runId: string, description: string) =>
  Effect.map(
    sql<{ readonly run_id: string }>`
      SELECT run_id FROM ${sql(`${tablePrefix}runs`)} WHERE run_id LIKE ${`${likeEscape(runId)}/%`} ORDER BY seq`,
    (rows) => rows.map((row) => row.run_id)
  ).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(usageError(`reading ${description} failed: ${error.message}`))))

/** `text` as a literal in a LIKE pattern. */
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`)

/**
 * `graphent trace`: `list` and `show`, on journal files or journal databases.
 *
 * @since 0.1.0
 * @category commands
 */
export const trace = Command.make("trace").pipe(
  Command.withDescription("Inspect journals: files, or the runs kept in a journal database (--db)"),
  Command.withSubcommands([traceShow, traceList])
)
