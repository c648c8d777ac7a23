/**
 * An in-memory journal: the default for tests and embedded use.
 *
 * It keeps the most recent `maxRuns` runs (default 1,000) so that a long-lived
 * process does not grow without bound.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Journal, type JournalShape } from "../services/Journal.js"
import type { RunEvent } from "../services/RunEvent.js"

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: { readonly maxRuns?: number | undefined }): JournalShape => {
  const maxRuns = options?.maxRuns ?? 1_000
  if (!Number.isInteger(maxRuns) || maxRuns < 1) throw new Error(`graphent: JournalMemory maxRuns must be >= 1, got ${maxRuns}`)
  const byRun = new Map<string, Array<RunEvent>>()
  return {
    append: (event) =>
      Effect.sync(() => {
        const events = byRun.get(event.runId)
        if (events !== undefined) {
          events.push(event)
          return
        }
        if (byRun.size >= maxRuns) byRun.delete(byRun.keys().next().value!)
        byRun.set(event.runId, [event])
      }),
    read: (runId) => Effect.sync(() => byRun.get(runId)?.slice() ?? []),
    runs: Effect.sync(() => [...byRun.keys()])
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: { readonly maxRuns?: number | undefined }): Layer.Layer<Journal> =>
  Layer.sync(Journal, () => make(options))
