/**
 * Experiments kept for the team: the report of every `graphent eval run`
 * (see `Eval.run`), stored beside the project's journals so that
 * `graphent dev` lists them (`GET /v1/evals`), shows one (`GET
 * /v1/evals/:id`) and links each case to its run in the viewer.
 *
 * Backend: a folder of report files (`src/layers/ExperimentsFolder.ts`).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import { type Report, Totals } from "./Eval.js"

/**
 * One experiment in a listing: what it ran and its totals (the cases are in {@link ExperimentsShape.get}).
 *
 * @since 0.3.0
 * @category models
 */
export const ExperimentSummary = Schema.Struct({
  /** The experiment's id: `GET /v1/evals/:id`. */
  id: Schema.String,
  agent: Schema.String,
  dataset: Schema.optionalKey(Schema.String),
  scorers: Schema.Array(Schema.String),
  startedAt: Schema.Number,
  durationMs: Schema.Number,
  totals: Totals,
  /** The experiment was compared with a baseline (its report has a `comparison`). */
  compared: Schema.Boolean
})

/**
 * @since 0.3.0
 * @category models
 */
export type ExperimentSummary = typeof ExperimentSummary.Type

/**
 * The listing entry of a report kept as `id`.
 *
 * @since 0.3.0
 * @category models
 */
export const summaryOf = (id: string, report: Report): ExperimentSummary => ({
  id,
  agent: report.agent,
  ...(report.dataset === undefined ? {} : { dataset: report.dataset }),
  scorers: report.scorers,
  startedAt: report.startedAt,
  durationMs: report.durationMs,
  totals: report.totals,
  compared: report.comparison !== undefined
})

/**
 * No experiment with that id is kept here.
 *
 * What to do: list the kept experiments (`GET /v1/evals`, or the viewer's "Experiments"); only `graphent eval run`
 * with a store that keeps runs (not `GRAPHENT_STORE=memory`) keeps its report.
 *
 * @since 0.3.0
 * @category errors
 */
export class ExperimentNotFound extends Schema.TaggedError<ExperimentNotFound>()("ExperimentNotFound", {
  id: Schema.String
}) {
  override get message(): string {
    return `no experiment with id "${this.id}"`
  }
  /** {@link Errors.notFound}: exit 2, HTTP 404. */
  get outcome(): Errors.Outcome {
    return Errors.notFound
  }
}

/**
 * The experiments store cannot be read or written (a file system error, a report that does not decode).
 *
 * What to do: read `reason`: check that the project's home (`GRAPHENT_HOME`, default `.graphent/`) is writable,
 * and move away the report file it names if another tool wrote it.
 *
 * @since 0.3.0
 * @category errors
 */
export class ExperimentsError extends Schema.TaggedError<ExperimentsError>()("ExperimentsError", {
  operation: Schema.Literals(["list", "read", "write"]),
  reason: Schema.String
}) {
  override get message(): string {
    return `experiments (${this.operation}): ${this.reason}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The experiments interface.
 *
 * @since 0.3.0
 * @category models
 */
export interface ExperimentsShape {
  /** Keeps a report; succeeds with its id. */
  readonly save: (report: Report) => Effect.Effect<string, ExperimentsError>
  /** Every kept experiment, newest first (a report that does not decode is left out, with a warning). */
  readonly list: Effect.Effect<ReadonlyArray<ExperimentSummary>, ExperimentsError>
  /** A kept report. */
  readonly get: (id: string) => Effect.Effect<Report, ExperimentNotFound | ExperimentsError>
}

/**
 * Where experiment reports are kept.
 *
 * @since 0.3.0
 * @category services
 */
export class Experiments extends Context.Service<Experiments, ExperimentsShape>()("graphent/Experiments") {}
