/**
 * The {@link Audit} log in memory: for tests and short-lived programs.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Audit, type AuditShape, defaultLimit, type Entry, matches } from "../services/Audit.js"

/**
 * An in-memory audit log; `entries` is the live list (oldest first).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): AuditShape & { readonly entries: ReadonlyArray<Entry> } => {
  const entries: Array<Entry> = []
  return {
    entries,
    append: (entry) => Effect.sync(() => void entries.push(entry)),
    query: (query) =>
      Effect.sync(() => {
        const found = entries.filter((entry) => matches(entry, query))
        const limit = query.limit ?? defaultLimit
        return limit === 0 ? [] : found.slice(-limit)
      })
  }
}

/**
 * An audit log kept in memory, for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (): Layer.Layer<Audit> => Layer.sync(Audit, make)
