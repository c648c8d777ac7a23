/**
 * Accepted runs: what a server promised to run. `POST /v1/runs` answers
 * `202` only once the request is recorded here, in the same store as the
 * journal, so a server that dies before (or while) running it takes it up
 * again when it starts (`RunsLocal`).
 *
 * A record stays `pending` until its run is settled: it ended (its journal
 * has `RunCompleted`, `RunFailed` or `RunInterrupted`), or it was cancelled
 * before it started. Backends: in memory (`src/layers/AcceptedRunsMemory.ts`)
 * and SQL next to `JournalPg` (`src/layers/AcceptedRunsSql.ts`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { JournalError } from "./Journal.js"
import { ForkEdit } from "./RunEvent.js"

/**
 * Limits a request set on its run (`StartRun.budget`), as accepted.
 *
 * @since 0.1.0
 * @category models
 */
export const AcceptedBudget = Schema.Struct({
  maxSteps: Schema.optionalKey(Schema.Number),
  maxTurns: Schema.optionalKey(Schema.Number),
  maxWallTimeMs: Schema.optionalKey(Schema.Number)
})

/**
 * One accepted run: everything needed to start it in another process.
 *
 * @since 0.1.0
 * @category models
 */
export const AcceptedRun = Schema.Struct({
  runId: Schema.String,
  agent: Schema.String,
  input: Schema.String,
  threadId: Schema.optionalKey(Schema.String),
  /** The request's metadata merged with the agent's own (e.g. `agentFile`). */
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  budget: Schema.optionalKey(AcceptedBudget),
  /** Who the run acts for. */
  principal: Schema.optionalKey(Schema.Struct({ id: Schema.String, roles: Schema.Array(Schema.String) })),
  /** When it was accepted, epoch milliseconds. */
  acceptedAt: Schema.Number,
  /**
   * Set when the run is a fork (`POST /v1/runs/:id/fork`): the parent run, the fork point and the edit, as
   * requested, so that a fork that had not begun when its server stopped is planned again from the parent.
   */
  fork: Schema.optionalKey(Schema.Struct({
    runId: Schema.String,
    at: Schema.optionalKey(Schema.Union([Schema.String, Schema.Number])),
    edit: Schema.optionalKey(ForkEdit)
  }))
})

/**
 * @since 0.1.0
 * @category models
 */
export type AcceptedRun = typeof AcceptedRun.Type

/**
 * How an accepted run was settled: it `ended` (its journal says how), or it
 * was `cancelled` before it started (its journal is empty).
 *
 * @since 0.1.0
 * @category models
 */
export type Settlement = "ended" | "cancelled"

/**
 * An accepted run with where it stands here.
 *
 * @since 0.1.0
 * @category models
 */
export interface AcceptedEntry {
  readonly run: AcceptedRun
  /** `undefined` while the run is pending. */
  readonly settled: Settlement | undefined
}

/**
 * The accepted-runs interface. Failures are the journal store's
 * ({@link JournalError}): the records live next to the journal.
 *
 * @since 0.1.0
 * @category models
 */
export interface AcceptedRunsShape {
  /** Records the run; when it returns the record is as durable as the journal's events. Idempotent per `runId`. */
  readonly accept: (run: AcceptedRun) => Effect.Effect<void, JournalError>
  /** The run's record, if it was accepted here. */
  readonly get: (runId: string) => Effect.Effect<AcceptedEntry | undefined, JournalError>
  /** The runs not settled yet, oldest first. */
  readonly pending: Effect.Effect<ReadonlyArray<AcceptedRun>, JournalError>
  /** Marks the run settled; it is no longer pending. */
  readonly settle: (runId: string, settlement: Settlement) => Effect.Effect<void, JournalError>
}

/**
 * Where the server keeps the runs it accepted, so that they survive a restart.
 *
 * @since 0.1.0
 * @category services
 */
export class AcceptedRuns extends Context.Service<AcceptedRuns, AcceptedRunsShape>()("graphent/AcceptedRuns") {}
