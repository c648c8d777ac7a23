/**
 * A journal kept as one JSON Lines file per run in a folder: `<dir>/<runId>.jsonl`, each in
 * the format of {@link JournalFile} (so `graphent replay`, `resume` and `trace show` take the
 * file as it is).
 *
 * It is the embedded store's default journal (`.graphent/runs/`): opening it costs nothing
 * (no database to start), and it needs no lock, since each run has its own file and one
 * writer: several processes — `graphent dev` and CLI commands in the same project — keep
 * their runs in one folder at once, and each sees the others' runs.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { inTree, Journal, JournalError, type JournalShape, type TreeFilter } from "../services/Journal.js"
import { isTerminal, type RunEvent } from "../services/RunEvent.js"
import * as RunOwner from "../internal/runOwner.js"
import * as JournalFile from "./JournalFile.js"
import type { RunStatus, RunSummary } from "./JournalPg.js"

const failure = (operation: JournalError["operation"], reason: string, cause?: unknown) =>
  new JournalError(
    cause === undefined ? { backend: "files", operation, reason } : { backend: "files", operation, reason, cause }
  )

/**
 * The file of run `runId` in `dir` (the id is percent-encoded: it never names another folder).
 *
 * @since 0.1.0
 * @category utils
 */
export const fileOf = (dir: string, runId: string): string => path.join(dir, `${encodeURIComponent(runId)}.jsonl`)

const runFiles = (dir: string): ReadonlyArray<string> => {
  try {
    return fs.readdirSync(dir).filter((name) => name.endsWith(".jsonl")).map((name) => path.join(dir, name))
  } catch {
    return []
  }
}

/**
 * The ids of the runs kept in `dir` (from the file names), in no particular order.
 *
 * @since 0.1.0
 * @category accessors
 */
export const runIds = (dir: string): ReadonlyArray<string> =>
  runFiles(dir).map((file) => decodeURIComponent(path.basename(file, ".jsonl")))

const statusOf: Record<string, RunStatus> = {
  RunCompleted: "completed",
  RunFailed: "failed",
  RunInterrupted: "interrupted",
  RunResumed: "running",
  // A step waits for a human; the run goes on (RunResumed) once it is approved or rejected.
  ApprovalRequested: "paused"
}

/** The summary of one run's events (as `JournalPg.listRuns` gives it), or `undefined` without a `RunStarted`. */
const summarize = (events: ReadonlyArray<RunEvent>): RunSummary | undefined => {
  const started = events.find((event) => event._tag === "RunStarted")
  if (started === undefined || started._tag !== "RunStarted") return undefined
  let summary: RunSummary = {
    runId: started.runId,
    traceId: started.traceId,
    agent: started.agent,
    input: started.input,
    ...(started.threadId === undefined ? {} : { threadId: started.threadId }),
    status: "running",
    startedAt: started.at,
    ...(started.parentRunId === undefined ? {} : { parentRunId: started.parentRunId }),
    ...(started.parentStepId === undefined ? {} : { parentStepId: started.parentStepId })
  }
  for (const event of events) {
    const status = statusOf[event._tag]
    if (status === undefined) continue
    const { answer: _a, error: _e, finishedAt: _f, ...base } = summary
    summary = { ...base, status }
    if (event._tag === "RunCompleted") summary = { ...summary, finishedAt: event.at, answer: event.answer }
    if (event._tag === "RunFailed") summary = { ...summary, finishedAt: event.at, error: event.error }
    if (event._tag === "RunInterrupted") summary = { ...summary, finishedAt: event.at }
  }
  // No end, and the process running it (the one that started it, or resumed it last) is gone: it crashed, or was killed.
  if (summary.status === "running" && RunOwner.state(events) === "gone") summary = { ...summary, status: "unfinished" }
  return summary
}

/**
 * The runs kept in `dir`, newest first, optionally of one agent or status, a page at a
 * time (as `JournalPg.listRuns`). A missing folder holds no runs.
 *
 * @since 0.1.0
 * @category accessors
 */
export const listRuns = (
  dir: string,
  options: {
    readonly agent?: string | undefined
    readonly status?: RunStatus | undefined
    readonly limit?: number | undefined
    readonly offset?: number | undefined
    /** Which runs: top-level ones (default), all, or the child runs of one run (see `Journal.TreeFilter`). */
    readonly tree?: TreeFilter | undefined
  } = {}
): Effect.Effect<ReadonlyArray<RunSummary>, JournalError> =>
  Effect.gen(function*() {
    const summaries: Array<RunSummary> = []
    for (const file of runFiles(dir)) {
      const contents = yield* JournalFile.readFile(file).pipe(
        Effect.mapError((error) => failure("list", error.reason, error))
      )
      const summary = summarize(contents.events)
      if (summary === undefined) continue
      if (options.agent !== undefined && summary.agent !== options.agent) continue
      if (options.status !== undefined && summary.status !== options.status) continue
      if (!inTree(options.tree, summary.parentRunId)) continue
      summaries.push(summary)
    }
    summaries.sort((a, b) => b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : -1))
    const offset = options.offset ?? 0
    return summaries.slice(offset, offset + (options.limit ?? 50))
  })

/**
 * Opens the folder (creating it on the first append) and returns a journal that keeps each
 * run in its own file. A run's file is open from its first append to its last event
 * (completed, failed, interrupted) or the end of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (dir: string): Effect.Effect<JournalShape, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const open = new Map<string, { readonly journal: JournalShape; readonly scope: Scope.Closeable }>()
    // Opening a run's file is one step at a time: concurrent steps of a run share one writer.
    const opening = yield* Semaphore.make(1)

    const writerOf = (runId: string) =>
      opening.withPermits(1)(Effect.gen(function*() {
        const known = open.get(runId)
        if (known !== undefined) return known
        yield* Effect.try({
          try: () => fs.mkdirSync(dir, { recursive: true }),
          catch: (error) => failure("append", `cannot create ${dir}: ${(error as Error).message}`, error)
        })
        const runScope = yield* Scope.fork(scope)
        const journal = yield* JournalFile.make(fileOf(dir, runId)).pipe(
          Scope.provide(runScope),
          Effect.onError((cause) => Scope.close(runScope, Exit.failCause(cause)))
        )
        const writer = { journal, scope: runScope }
        open.set(runId, writer)
        return writer
      }))

    const journal: JournalShape = {
      append: (event) =>
        Effect.gen(function*() {
          const writer = yield* writerOf(event.runId)
          yield* writer.journal.append(event)
          if (isTerminal(event)) {
            open.delete(event.runId)
            yield* Scope.close(writer.scope, Exit.void)
          }
        }),
      read: (runId) => {
        const file = fileOf(dir, runId)
        if (!fs.existsSync(file)) return Effect.succeed([])
        return JournalFile.readFile(file).pipe(
          Effect.map((contents) => contents.events.filter((event) => event.runId === runId))
        )
      },
      runs: Effect.map(listRuns(dir, { limit: Number.MAX_SAFE_INTEGER }), (runs) => runs.map((run) => run.runId).reverse())
    }
    return journal
  })

/**
 * A journal kept in a folder, one JSON Lines file per run.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly dir: string }): Layer.Layer<Journal> =>
  Layer.effect(Journal, make(options.dir))
