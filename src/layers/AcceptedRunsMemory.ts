/**
 * {@link AcceptedRuns} in memory: for tests and for the in-memory store,
 * where nothing outlives the process anyway.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type AcceptedEntry, AcceptedRuns, type AcceptedRunsShape } from "../services/AcceptedRuns.js"

/**
 * A new, empty store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): AcceptedRunsShape => {
  // A Map keeps insertion order: pending runs come out oldest first.
  const entries = new Map<string, AcceptedEntry>()
  return {
    accept: (run) => Effect.sync(() => void (entries.has(run.runId) || entries.set(run.runId, { run, settled: undefined }))),
    get: (runId) => Effect.sync(() => entries.get(runId)),
    pending: Effect.sync(() => [...entries.values()].filter((entry) => entry.settled === undefined).map((entry) => entry.run)),
    settle: (runId, settlement) =>
      Effect.sync(() => {
        const entry = entries.get(runId)
        if (entry !== undefined && entry.settled === undefined) entries.set(runId, { ...entry, settled: settlement })
      })
  }
}

/**
 * A store per layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AcceptedRuns> = Layer.sync(AcceptedRuns, make)
