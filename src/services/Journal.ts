/**
 * The journal: the append-only record of a run's events.
 *
 * It is the single seam for trace, replay and resume: whatever a run could not
 * recompute (tool results, decisions, clock readings, ids) is in its events.
 * Backends live in `src/layers/Journal*.ts`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import type { RunEvent } from "./RunEvent.js"

/**
 * A journal backend could not connect, open its tables, write or read.
 *
 * What to do: check the store the journal lives in: the file's folder is writable, the PostgreSQL URL answers
 * (`pg_isready`), the embedded store is not corrupted. Nothing is lost: a run whose event cannot be written
 * stops, and `graphent resume` continues it once the store is back.
 *
 * @since 0.1.0
 * @category errors
 */
export class JournalError extends Schema.TaggedError<JournalError>()(
  "JournalError",
  Errors.backendFields(Schema.Literals(["connect", "open", "append", "read", "list"]))
) {
  override get message(): string {
    return Errors.backendMessage("journal", this)
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

/**
 * The journal interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface JournalShape {
  /** Appends one event; when it returns, the event is as durable as the backend makes it. */
  readonly append: (event: RunEvent) => Effect.Effect<void, JournalError>
  /** The events of one run, in the order they were appended (empty if unknown). */
  readonly read: (runId: string) => Effect.Effect<ReadonlyArray<RunEvent>, JournalError>
  /** The ids of the runs this journal holds, oldest first. */
  readonly runs: Effect.Effect<ReadonlyArray<string>, JournalError>
  /**
   * Appends events, in order, in one write where the backend can (one
   * transaction on PostgreSQL); absent, {@link appendAll} appends them one by
   * one. A wrapper that changes `append` must change this too.
   */
  readonly appendAll?: ((events: ReadonlyArray<RunEvent>) => Effect.Effect<void, JournalError>) | undefined
}

/**
 * Appends `events` to `journal` in order: in one write when the journal has
 * `appendAll`, one `append` each otherwise.
 *
 * @since 0.3.0
 * @category accessors
 */
export const appendAll = (journal: JournalShape, events: ReadonlyArray<RunEvent>): Effect.Effect<void, JournalError> =>
  events.length === 0
    ? Effect.void
    : events.length === 1 || journal.appendAll === undefined
    ? Effect.forEach(events, journal.append, { discard: true })
    : journal.appendAll(events)

/**
 * The journal of runs: every event a run emits is appended here before the
 * run goes on, and `Replay` re-runs a run from what it reads back.
 *
 * **Example** (Reading the events of a run)
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const result = yield* AgentRuntime.run(agent, "hello")
 *   const journal = yield* Journal.Journal
 *   const events = yield* journal.read(result.runId)
 *   // events[0]._tag === "RunStarted", events.at(-1)._tag === "RunCompleted"
 * }).pipe(Effect.provide(LocalRuntime.layer), Effect.provide(JournalFile.layer({ path: "runs.jsonl" })))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Journal extends Context.Service<Journal, JournalShape>()("graphent/Journal") {}

/**
 * Which runs a listing shows: `top` (runs no other run started), `all`, or
 * `{ parentRunId }` (the child runs that run started).
 *
 * @since 0.3.0
 * @category models
 */
export type TreeFilter = "top" | "all" | { readonly parentRunId: string }

/**
 * Whether a run with parent `parentRunId` (none: a top-level run) passes `filter` (default `top`).
 *
 * @since 0.3.0
 * @category filters
 */
export const inTree = (filter: TreeFilter | undefined, parentRunId: string | undefined): boolean =>
  filter === "all" ? true : filter === undefined || filter === "top" ? parentRunId === undefined : parentRunId === filter.parentRunId
