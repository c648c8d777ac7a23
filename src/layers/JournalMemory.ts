/**
 * An in-memory journal: the default for tests and embedded use.
 *
 * Runs in progress are always kept whole. Finished runs are kept, oldest
 * evicted first, while there are at most `maxRuns` of them (default 1,000)
 * holding at most `maxEvents` events in all (default 100,000), so that a
 * long-lived process does not grow without bound.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Journal, type JournalShape } from "../services/Journal.js"
import { isTerminal, type RunEvent } from "../services/RunEvent.js"

/**
 * How many finished runs (`maxRuns`, default 1,000) and events (`maxEvents`, default 100,000) the journal keeps.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly maxRuns?: number | undefined
  readonly maxEvents?: number | undefined
}

const positive = (name: string, value: number) => {
  if (!Number.isInteger(value) || value < 1) throw new Error(`graphent: JournalMemory ${name} must be >= 1, got ${value}`)
  return value
}

/**
 * Builds an in-memory journal (a bound option below 1 throws).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): JournalShape => {
  const maxRuns = positive("maxRuns", options?.maxRuns ?? 1_000)
  const maxEvents = positive("maxEvents", options?.maxEvents ?? 100_000)
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
 * Provides an in-memory journal as the `Journal` service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Journal> => Layer.sync(Journal, () => make(options))
