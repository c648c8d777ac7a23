/**
 * An in-memory journal: the default for tests and embedded use
 * (`LocalRuntime.layerMemory`).
 *
 * It keeps what a live run needs, plus a small window of finished runs:
 *
 * - a run in progress, or one that stopped without an outcome (waiting for
 *   approval, stopped by resume), is kept whole: resuming or approving it
 *   reads it back;
 * - a finished run (completed, failed, interrupted) stays readable while it is
 *   among the last `maxRuns` finished runs (default {@link defaults}: 100)
 *   and the finished runs hold at most `maxEvents` events in all (default
 *   10,000); older ones are evicted first.
 *
 * These two are the journal's only retention knobs. A process that needs its
 * runs afterwards (replay, `graphent trace`) records them to a durable
 * journal (file, PostgreSQL) instead of raising them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Journal, type JournalShape } from "../services/Journal.js"
import { isTerminal, type RunEvent } from "../services/RunEvent.js"

/**
 * How many finished runs the journal keeps (see the module's description).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Finished runs kept, the most recent ones (default 100). */
  readonly maxRuns?: number | undefined
  /** Events of all finished runs kept (default 10,000); the most recent finished run is always kept. */
  readonly maxEvents?: number | undefined
}

/**
 * The default retention: a window of recent finished runs, small enough that
 * a long-lived process holds a few megabytes of them at most.
 *
 * @since 0.2.0
 * @category models
 */
export const defaults = { maxRuns: 100, maxEvents: 10_000 } as const

const positive = (name: string, value: number) => {
  if (!Number.isInteger(value) || value < 1) throw new Error(`graphent: JournalMemory ${name} must be >= 1, got ${value}`)
  return value
}

/**
 * An in-memory journal with the given retention.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): JournalShape => {
  const maxRuns = positive("maxRuns", options?.maxRuns ?? defaults.maxRuns)
  const maxEvents = positive("maxEvents", options?.maxEvents ?? defaults.maxEvents)
  const byRun = new Map<string, Array<RunEvent>>()
  /** Finished runs, oldest first: the only ones that may be evicted. */
  const finished: Array<string> = []
  let finishedEvents = 0

  const evict = () => {
    while (finished.length > maxRuns || (finishedEvents > maxEvents && finished.length > 1)) {
      const runId = finished.shift()!
      finishedEvents -= byRun.get(runId)?.length ?? 0
      byRun.delete(runId)
    }
  }

  return {
    append: (event) =>
      Effect.sync(() => {
        let events = byRun.get(event.runId)
        if (events === undefined) {
          events = []
          byRun.set(event.runId, events)
        }
        events.push(event)
        if (isTerminal(event)) {
          finished.push(event.runId)
          finishedEvents += events.length
          evict()
        }
      }),
    read: (runId) => Effect.sync(() => byRun.get(runId)?.slice() ?? []),
    runs: Effect.sync(() => [...byRun.keys()])
  }
}

/**
 * The in-memory journal as a layer; each build starts empty.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Journal> => Layer.sync(Journal, () => make(options))
