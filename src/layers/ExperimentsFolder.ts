/**
 * {@link Experiments} as a folder of report files: `<dir>/<id>.json`, each
 * the JSON `graphent eval run --report` writes, written whole or not at all.
 * The default folder is `<home>/experiments`, beside the project's journals
 * (`GRAPHENT_HOME`, default `.graphent/` of the project), whatever store the
 * journals use.
 *
 * @since 0.3.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { projectHome } from "../internal/project.js"
import { writeAtomically } from "../internal/writeAtomically.js"
import * as Eval from "../services/Eval.js"
import {
  ExperimentNotFound,
  Experiments,
  ExperimentsError,
  type ExperimentsShape,
  type ExperimentSummary,
  summaryOf
} from "../services/Experiments.js"

/**
 * The id a report is kept under: when it started (UTC, sortable) and its agent, e.g.
 * `2026-12-04T11-20-00-123Z-assistant`.
 *
 * @since 0.3.0
 * @category utils
 */
export const idOf = (report: Eval.Report): string =>
  `${new Date(report.startedAt).toISOString().replace(/[:.]/g, "-")}-${report.agent.replace(/[^A-Za-z0-9._-]/g, "_")}`

/** Ids name files in the folder: nothing that could leave it. */
const isId = (id: string) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)

const attempt = <A>(operation: ExperimentsError["operation"], what: string, run: () => A) =>
  Effect.try({ try: run, catch: (error) => new ExperimentsError({ operation, reason: `${what}: ${(error as Error).message}` }) })

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === "ENOENT"

/**
 * The store over the folder `dir` (created on the first save).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (dir: string): ExperimentsShape => {
  const fileOf = (id: string) => path.join(dir, `${id}.json`)
  const read = (id: string) =>
    Effect.gen(function*() {
      if (!isId(id)) return yield* new ExperimentNotFound({ id })
      const text = yield* attempt("read", `cannot read ${fileOf(id)}`, () => {
        try {
          return fs.readFileSync(fileOf(id), "utf8")
        } catch (error) {
          if (isMissing(error)) return undefined
          throw error
        }
      })
      if (text === undefined) return yield* new ExperimentNotFound({ id })
      return yield* Eval.parseReport(text, fileOf(id)).pipe(
        Effect.mapError((error) => new ExperimentsError({ operation: "read", reason: error.message }))
      )
    })
  return {
    save: (report) =>
      attempt("write", `cannot write in ${dir}`, () => {
        const id = idOf(report)
        fs.mkdirSync(dir, { recursive: true })
        writeAtomically(fileOf(id), JSON.stringify(report, null, 2) + "\n")
        return id
      }),
    get: read,
    list: Effect.gen(function*() {
      const names = yield* attempt("list", `cannot list ${dir}`, () => {
        try {
          return fs.readdirSync(dir)
        } catch (error) {
          if (isMissing(error)) return []
          throw error
        }
      })
      const found: Array<ExperimentSummary> = []
      for (const name of names.filter((name) => name.endsWith(".json"))) {
        const id = name.slice(0, -".json".length)
        const report = yield* Effect.result(read(id))
        if (report._tag === "Success") found.push(summaryOf(id, report.success))
        else yield* Effect.logWarning(`experiment ${id} is left out: ${report.failure.message}`)
      }
      return found.sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1))
    })
  }
}

/**
 * The store over the folder `dir`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (dir: string): Layer.Layer<Experiments> => Layer.sync(Experiments, () => make(dir))

/**
 * The folder of a project home's experiments: `<home>/experiments`.
 *
 * @since 0.3.0
 * @category utils
 */
export const experimentsDir = (home: string): string => path.join(home, "experiments")

/**
 * The store of the project's experiments: `<GRAPHENT_HOME>/experiments` (default: the project's `.graphent/`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Experiments, Config.ConfigError> = Layer.effect(
  Experiments,
  Effect.gen(function*() {
    const home = Option.filter(yield* Config.option(Config.String("GRAPHENT_HOME")), (value) => value.trim() !== "")
    return make(experimentsDir(Option.isSome(home) ? path.resolve(home.value) : projectHome()))
  })
)
