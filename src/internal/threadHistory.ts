/**
 * A thread's earlier messages as the LLM planner shows them when it knows the
 * model's context window: the thread's summary (kept in the thread's memory,
 * as a fact) and the messages it does not cover. The summary remembers how far
 * it reaches, so the next run of the thread reads and summarizes only what
 * came after it.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Memory from "../services/Memory.js"

/** The fact of the thread's namespace that holds its summary. */
export const summaryKey = "graphent.thread-summary"

/**
 * The stored summary: it covers the thread's first `through` messages, the
 * last of them being `last` (a fingerprint: a thread trimmed at the front
 * shifts the positions, and the covered message is then looked for).
 */
export const StoredSummary = Schema.Struct({
  summary: Schema.optionalKey(Schema.String),
  through: Schema.Number,
  last: Schema.String
})

/** The stored summary's type. */
export type StoredSummary = typeof StoredSummary.Type

/** What a run reads of its thread (journaled, so that replay sees the same). */
export interface ThreadHistory {
  /** The summary of the messages before `from`, if any. */
  readonly summary?: string | undefined
  /** The position in the thread of `messages[0]`. */
  readonly from: number
  /** The thread's messages the summary does not cover, oldest first. */
  readonly messages: ReadonlyArray<Memory.Message>
}

/** A message, recognizably: its role, length and beginning. */
export const fingerprint = (message: Memory.Message): string =>
  `${message.role}:${message.content.length}:${message.content.slice(0, 64)}`

/**
 * Where the messages the summary does not cover begin: after the covered
 * message, found at `through - 1` or (a thread trimmed at the front) before;
 * not found, every message is shown (the summary may then repeat some).
 */
export const startOf = (history: ReadonlyArray<Memory.Message>, stored: StoredSummary | undefined): number => {
  if (stored === undefined) return 0
  for (let i = Math.min(stored.through, history.length) - 1; i >= 0; i--) {
    if (fingerprint(history[i]!) === stored.last) return i + 1
  }
  return 0
}

const decodeStored = Schema.decodeUnknownOption(StoredSummary)

/** Reads the thread's summary and the messages after it. */
export const read = (
  memory: Memory.MemoryShape,
  namespace: Memory.Namespace
): Effect.Effect<ThreadHistory, Memory.MemoryError> =>
  Effect.gen(function*() {
    const fact = yield* memory.get(namespace, summaryKey)
    const stored = Option.getOrUndefined(Option.flatMap(fact, decodeStored))
    const history = yield* memory.history(namespace)
    const from = startOf(history, stored)
    const messages = history.slice(from)
    return stored?.summary === undefined ? { from, messages } : { summary: stored.summary, from, messages }
  })

/**
 * The stored summary after a compaction that removed the first `removed` of
 * the messages shown (`shown`: their positions in `thread.messages`).
 */
export const storedAfter = (
  thread: ThreadHistory,
  shown: ReadonlyArray<number>,
  removed: number,
  summary: string | undefined
): StoredSummary => {
  // The messages the planner does not show (system, tool) up to the last removed one are covered too.
  const lastRemoved = shown[removed - 1]!
  const last = fingerprint(thread.messages[lastRemoved]!)
  const through = thread.from + lastRemoved + 1
  return summary === undefined ? { through, last } : { summary, through, last }
}
