/**
 * {@link AcceptedRuns} as files, beside a folder of journal files
 * ({@link JournalFolder}): the embedded store's default. Each accepted run is
 * `<dir>/<runId>.json`, written to a temporary file, flushed and renamed into
 * place, so a record is either whole or absent after a crash; settling it
 * writes `<dir>/<runId>.settled` the same way. No lock is needed: a run id is
 * accepted by one server, and a rename is atomic.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import {
  AcceptedRun,
  type AcceptedEntry,
  AcceptedRuns,
  type AcceptedRunsShape,
  type Settlement
} from "../services/AcceptedRuns.js"
import { JournalError } from "../services/Journal.js"
import { writeAtomically } from "../internal/writeAtomically.js"

const failure = (operation: JournalError["operation"], reason: string, cause: unknown) =>
  new JournalError({ backend: "files", operation, reason, cause })

const decodeRun = Schema.decodeUnknownExit(Schema.fromJsonString(AcceptedRun))

const readOrUndefined = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/**
 * Accepted runs kept in `dir` (created when missing).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (dir: string): AcceptedRunsShape => {
  // Run ids are percent-encoded in file names: an id never names another folder.
  const base = (runId: string) => path.join(dir, encodeURIComponent(runId))
  const attempt = <A>(operation: JournalError["operation"], what: string, run: () => A) =>
    Effect.try({ try: run, catch: (cause) => failure(operation, `${what}: ${String(cause)}`, cause) })

  const read = (runId: string): Effect.Effect<AcceptedEntry | undefined, JournalError> =>
    Effect.flatMap(
      attempt("read", `cannot read accepted run ${runId}`, () => readOrUndefined(`${base(runId)}.json`)),
      (text) => {
        if (text === undefined) return Effect.succeed(undefined)
        const decoded = decodeRun(text)
        if (decoded._tag === "Failure") {
          return Effect.fail(failure("read", `accepted run ${runId} is corrupt: ${String(decoded.cause)}`, decoded.cause))
        }
        return Effect.map(
          attempt("read", `cannot read accepted run ${runId}`, () => readOrUndefined(`${base(runId)}.settled`)),
          (settled): AcceptedEntry => ({ run: decoded.value, settled: settled?.trim() as Settlement | undefined })
        )
      }
    )

  return {
    accept: (run) =>
      attempt("append", `cannot record accepted run ${run.runId}`, () => {
        fs.mkdirSync(dir, { recursive: true })
        if (!fs.existsSync(`${base(run.runId)}.json`)) {
          writeAtomically(`${base(run.runId)}.json`, JSON.stringify(Schema.encodeSync(AcceptedRun)(run)))
        }
      }),
    get: read,
    pending: Effect.gen(function*() {
      const names = yield* attempt("list", `cannot list ${dir}`, () => {
        try {
          return fs.readdirSync(dir)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return []
          throw error
        }
      })
      const runs: Array<AcceptedRun> = []
      for (const name of names) {
        if (!name.endsWith(".json")) continue
        const entry = yield* read(decodeURIComponent(name.slice(0, -".json".length)))
        if (entry !== undefined && entry.settled === undefined) runs.push(entry.run)
      }
      return runs.sort((a, b) => a.acceptedAt - b.acceptedAt || (a.runId < b.runId ? -1 : 1))
    }),
    settle: (runId, settlement) =>
      attempt("append", `cannot settle accepted run ${runId}`, () => {
        if (fs.existsSync(`${base(runId)}.json`) && !fs.existsSync(`${base(runId)}.settled`)) {
          writeAtomically(`${base(runId)}.settled`, settlement)
        }
      })
  }
}

/**
 * Accepted runs in `dir`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (dir: string): Layer.Layer<AcceptedRuns> => Layer.sync(AcceptedRuns, () => make(dir))
