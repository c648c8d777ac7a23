/**
 * The thread's summary in its memory: which messages it covers, also after the thread was trimmed at the
 * front (positions shift) or cleared (the summary goes with it). Class of inputs: threads of 0–30 messages,
 * summaries at every position, trims of every size.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Memory, MemoryInMemory } from "graphent"
import * as ThreadHistory from "../../src/internal/threadHistory.js"

const messages = (count: number): Array<Memory.Message> =>
  Array.from({ length: count }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: `message ${i}` }))

describe("threadHistory", () => {
  it.effect("the messages after the summary, at every summary position and every trim", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      for (let count = 1; count <= 30; count += 7) {
        for (let through = 1; through <= count; through++) {
          for (let trimmed = 0; trimmed <= count; trimmed += 3) {
            const thread = Memory.thread(`t${count}-${through}-${trimmed}`)
            const all = messages(count)
            yield* memory.append(thread, all)
            const shown = all.map((_, i) => i)
            const stored = ThreadHistory.storedAfter({ from: 0, messages: all }, shown, through, "the summary")
            assert.strictEqual(stored.through, through)
            yield* memory.set(thread, ThreadHistory.summaryKey, stored)
            if (trimmed > 0) yield* memory.trim(thread, count - trimmed)
            const read = yield* ThreadHistory.read(memory, thread)
            assert.strictEqual(read.summary, "the summary")
            // What came after the covered message; when the trim took it, everything that is left.
            const expected = trimmed >= through ? all.slice(trimmed) : all.slice(through)
            assert.deepStrictEqual(read.messages, expected, `${count} messages, summary through ${through}, ${trimmed} trimmed`)
          }
        }
      }
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("no summary: every message; a cleared thread forgets its summary", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const thread = Memory.thread("t")
      yield* memory.append(thread, messages(4))
      assert.deepStrictEqual(yield* ThreadHistory.read(memory, thread), { from: 0, messages: messages(4) })
      yield* memory.set(thread, ThreadHistory.summaryKey, { summary: "s", through: 2, last: ThreadHistory.fingerprint(messages(4)[1]!) })
      assert.deepStrictEqual(yield* ThreadHistory.read(memory, thread), { summary: "s", from: 2, messages: messages(4).slice(2) })
      yield* memory.clear(thread)
      assert.deepStrictEqual(yield* ThreadHistory.read(memory, thread), { from: 0, messages: [] })
    }).pipe(Effect.provide(MemoryInMemory.layer)))
})
