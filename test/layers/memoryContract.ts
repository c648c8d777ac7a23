/**
 * The contract every `Memory` backend must pass.
 *
 * ```ts
 * import { memoryContract } from "./memoryContract.js"
 * memoryContract("redis", MemoryRedis.layer({ url }).pipe(Layer.provide(EmbeddingLocal.layer)))
 * ```
 *
 * - The layer is built once per suite and shared by its tests; every test
 *   works in fresh, random namespaces, so the suite can run again and again
 *   against a shared server without cleaning up between runs.
 * - Tests run on the live clock (`excludeTestServices`): Redis and Postgres
 *   expire facts on real time, so TTL is checked with a real 1.1 s TTL.
 * - Recall expectations hold for any embedder that ranks texts sharing more
 *   words higher, which includes the offline `EmbeddingLocal` (use it in
 *   tests: it is deterministic).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, type Layer, Option, type Schema } from "effect"
import { randomUUID } from "node:crypto"
import { Memory } from "graphent"

const msg = (content: string, role: Memory.Message["role"] = "user"): Memory.Message => ({ role, content })
const contents = (messages: ReadonlyArray<Memory.Message>) => messages.map((message) => message.content)
const ids = (recalled: ReadonlyArray<Memory.Recalled>) => recalled.map((document) => document.id)

/** Fresh namespaces for one test: the same random id in each scope. */
const fresh = () => {
  const id = `contract-${randomUUID()}`
  return { id, agent: Memory.agent(id), thread: Memory.thread(id), user: Memory.user(id) }
}

const doc = (id: string, text: string, metadata: Record<string, Schema.Json> = {}): Memory.Document => ({
  id,
  text,
  metadata
})

/**
 * Registers `describe(name, ...)` with the tests every backend must pass.
 */
export const memoryContract = (name: string, memoryLayer: Layer.Layer<Memory.Memory, unknown>): void => {
  layer(memoryLayer, { excludeTestServices: true, timeout: "60 seconds" })(name, (it) => {
    // ---------------------------------------------------------------- history

    it.effect("history: append keeps order and round-trips every message field", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        const tool: Memory.Message = { role: "tool", content: "{\"ok\":true}", name: "search", at: 1_700_000_000_123 }
        const tricky = msg("héllo 👋\nline two \"quoted\" \\ back\\slash", "assistant")
        yield* memory.append(agent, [msg("a", "system"), msg("b")])
        yield* memory.append(agent, [tool, tricky])
        yield* memory.append(agent, [])
        assert.deepStrictEqual(yield* memory.history(agent), [msg("a", "system"), msg("b"), tool, tricky])
      }))

    it.effect("history: an unknown namespace is empty", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { thread } = fresh()
        assert.deepStrictEqual(yield* memory.history(thread), [])
        assert.deepStrictEqual(yield* memory.history(thread, { last: 3 }), [])
      }))

    it.effect("history: { last } returns only the last N", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* memory.append(agent, ["1", "2", "3", "4", "5"].map((c) => msg(c)))
        assert.deepStrictEqual(contents(yield* memory.history(agent, { last: 2 })), ["4", "5"])
        assert.deepStrictEqual(contents(yield* memory.history(agent, { last: 1 })), ["5"])
        assert.deepStrictEqual(contents(yield* memory.history(agent, { last: 5 })), ["1", "2", "3", "4", "5"])
        assert.deepStrictEqual(contents(yield* memory.history(agent, { last: 50 })), ["1", "2", "3", "4", "5"])
        assert.deepStrictEqual(contents(yield* memory.history(agent, { last: 0 })), [])
        assert.deepStrictEqual(contents(yield* memory.history(agent, { last: undefined })), ["1", "2", "3", "4", "5"])
      }))

    it.effect("history: trim keeps only the last `keep` messages", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* memory.append(agent, ["1", "2", "3", "4"].map((c) => msg(c)))
        yield* memory.trim(agent, 3)
        assert.deepStrictEqual(contents(yield* memory.history(agent)), ["2", "3", "4"])
        yield* memory.trim(agent, 10)
        assert.deepStrictEqual(contents(yield* memory.history(agent)), ["2", "3", "4"])
        yield* memory.append(agent, [msg("5")])
        assert.deepStrictEqual(contents(yield* memory.history(agent)), ["2", "3", "4", "5"])
        yield* memory.trim(agent, 0)
        assert.deepStrictEqual(yield* memory.history(agent), [])
        yield* memory.append(agent, [msg("after")])
        assert.deepStrictEqual(contents(yield* memory.history(agent)), ["after"])
        yield* memory.trim(fresh().agent, 2)
      }))

    it.effect("history: trim with a negative keep is a MemoryError", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* memory.append(agent, [msg("kept")])
        const error = yield* Effect.flip(memory.trim(agent, -1))
        assert.strictEqual(error._tag, "MemoryError")
        assert.strictEqual(error.operation, "trim")
        assert.deepStrictEqual(contents(yield* memory.history(agent)), ["kept"])
      }))

    it.effect("history: 100 concurrent appends are all kept, batches contiguous, each writer in order", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        const writers = 20
        const appendsPerWriter = 5
        // 20 writers run concurrently; each appends its own sequence of 5 two-message batches.
        yield* Effect.forEach(
          Array.from({ length: writers }, (_, w) => w),
          (w) =>
            Effect.forEach(
              Array.from({ length: appendsPerWriter }, (_, i) => i),
              (i) =>
                Effect.yieldNow.pipe(
                  Effect.andThen(memory.append(agent, [msg(`w${w}-q${i}`), msg(`w${w}-a${i}`, "assistant")]))
                ),
              { discard: true }
            ),
          { concurrency: "unbounded", discard: true }
        )
        const history = contents(yield* memory.history(agent))
        const expected = Array.from({ length: writers }, (_, w) =>
          Array.from({ length: appendsPerWriter }, (_, i) => [`w${w}-q${i}`, `w${w}-a${i}`]).flat()).flat()
        assert.strictEqual(history.length, writers * appendsPerWriter * 2)
        assert.sameMembers(history, expected)
        for (let index = 0; index < history.length; index += 2) {
          assert.strictEqual(history[index + 1], history[index]!.replace("-q", "-a"), `batch at ${index} is torn`)
        }
        for (let w = 0; w < writers; w++) {
          const mine = history.filter((content) => content.startsWith(`w${w}-`))
          assert.deepStrictEqual(mine, expected.filter((content) => content.startsWith(`w${w}-`)), `writer ${w}`)
        }
      }))

    // ------------------------------------------------------------------ facts

    it.effect("facts: JSON values round-trip (nested objects, arrays, numbers, booleans, null)", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { user } = fresh()
        const values: Record<string, Schema.Json> = {
          string: "héllo 👋 \"quoted\"\n",
          empty: "",
          int: 42,
          negative: -7,
          float: 0.1,
          big: 1e21,
          small: 1.5e-10,
          true: true,
          false: false,
          null: null,
          array: [1, "two", [3, [4]], { five: 5 }, null, false],
          emptyArray: [],
          emptyObject: {},
          nested: { name: "Ada", tags: ["x", "y"], active: true, score: null, deep: { list: [{ a: 1 }, { b: [] }] } }
        }
        for (const [k, value] of Object.entries(values)) yield* memory.set(user, k, value)
        for (const [k, value] of Object.entries(values)) {
          assert.deepStrictEqual(yield* memory.get(user, k), Option.some(value), k)
        }
        assert.deepStrictEqual(yield* memory.get(user, "missing"), Option.none())
        assert.deepStrictEqual(yield* memory.keys(user), Object.keys(values).sort())
      }))

    it.effect("facts: set overwrites; keys are sorted and may contain separators", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* memory.set(agent, "k", "old")
        yield* memory.set(agent, "k", "new")
        assert.deepStrictEqual(yield* memory.get(agent, "k"), Option.some("new"))
        assert.deepStrictEqual(yield* memory.keys(agent), ["k"])
        for (const k of ["zeta", "alpha", "mid", "a:b c/d"]) yield* memory.set(agent, k, k)
        assert.deepStrictEqual(yield* memory.keys(agent), ["a:b c/d", "alpha", "k", "mid", "zeta"])
        assert.deepStrictEqual(yield* memory.get(agent, "a:b c/d"), Option.some("a:b c/d"))
        assert.deepStrictEqual(yield* memory.keys(fresh().agent), [])
      }))

    it.effect("facts: delete is true if the fact existed, false otherwise", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent, user } = fresh()
        yield* memory.set(agent, "k", 1)
        yield* memory.set(agent, "other", 2)
        assert.strictEqual(yield* memory.delete(agent, "k"), true)
        assert.deepStrictEqual(yield* memory.get(agent, "k"), Option.none())
        assert.strictEqual(yield* memory.delete(agent, "k"), false)
        assert.strictEqual(yield* memory.delete(user, "k"), false)
        assert.deepStrictEqual(yield* memory.keys(agent), ["other"])
      }))

    it.effect("facts: TTL expires on real time; a later set without TTL is permanent", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        const ttl = "1100 millis"
        yield* memory.set(agent, "session", { token: "abc" }, { ttl })
        yield* memory.set(agent, "forever", "x")
        yield* memory.set(agent, "renewed", 1, { ttl })
        yield* memory.set(agent, "renewed", 2)
        yield* memory.set(agent, "reset", 1, { ttl })
        assert.deepStrictEqual(yield* memory.get(agent, "session"), Option.some({ token: "abc" }))
        assert.deepStrictEqual(yield* memory.keys(agent), ["forever", "renewed", "reset", "session"])
        yield* Effect.sleep("1600 millis")
        assert.deepStrictEqual(yield* memory.get(agent, "session"), Option.none())
        assert.deepStrictEqual(yield* memory.get(agent, "renewed"), Option.some(2))
        assert.deepStrictEqual(yield* memory.get(agent, "forever"), Option.some("x"))
        assert.deepStrictEqual(yield* memory.keys(agent), ["forever", "renewed"])
        assert.strictEqual(yield* memory.delete(agent, "session"), false)
        // An expired fact can be set again.
        yield* memory.set(agent, "reset", 3, { ttl: "1 minute" })
        assert.deepStrictEqual(yield* memory.get(agent, "reset"), Option.some(3))
        assert.deepStrictEqual(yield* memory.keys(agent), ["forever", "renewed", "reset"])
      }))

    // ------------------------------------------------------------- namespaces

    it.effect("namespaces: agent:x, thread:x and user:x are isolated", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent, thread, user } = fresh()
        const other = fresh().agent
        yield* memory.append(agent, [msg("for agent")])
        yield* memory.set(agent, "k", "agent")
        yield* memory.set(thread, "k", "thread")
        yield* memory.remember(user, doc("d", "notes for the user"))
        assert.deepStrictEqual(contents(yield* memory.history(agent)), ["for agent"])
        assert.deepStrictEqual(yield* memory.history(thread), [])
        assert.deepStrictEqual(yield* memory.history(user), [])
        assert.deepStrictEqual(yield* memory.history(other), [])
        assert.deepStrictEqual(yield* memory.get(agent, "k"), Option.some("agent"))
        assert.deepStrictEqual(yield* memory.get(thread, "k"), Option.some("thread"))
        assert.deepStrictEqual(yield* memory.get(user, "k"), Option.none())
        assert.deepStrictEqual(yield* memory.get(other, "k"), Option.none())
        assert.deepStrictEqual(yield* memory.keys(user), [])
        assert.deepStrictEqual(ids(yield* memory.recall(user, "notes for the user")), ["d"])
        assert.deepStrictEqual(yield* memory.recall(agent, "notes for the user"), [])
        assert.deepStrictEqual(yield* memory.recall(thread, "notes for the user"), [])
      }))

    it.effect("namespaces: ids containing separators do not collide", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { id } = fresh()
        const plain = Memory.agent(id)
        const suffixed = [":history", ":fact:k", ":facts", ":doc:d", ":docs", "}", "{x}", "/", " "].map((s) =>
          Memory.agent(`${id}${s}`)
        )
        yield* memory.append(plain, [msg("plain")])
        yield* memory.set(plain, "k", "plain")
        yield* memory.remember(plain, doc("d", "plain document"))
        for (const namespace of suffixed) {
          assert.deepStrictEqual(yield* memory.history(namespace), [], Memory.key(namespace))
          assert.deepStrictEqual(yield* memory.keys(namespace), [], Memory.key(namespace))
          assert.deepStrictEqual(yield* memory.get(namespace, "k"), Option.none(), Memory.key(namespace))
          assert.deepStrictEqual(yield* memory.recall(namespace, "plain document"), [], Memory.key(namespace))
        }
        yield* Effect.forEach(suffixed, (namespace) => memory.clear(namespace), { discard: true })
        assert.deepStrictEqual(contents(yield* memory.history(plain)), ["plain"])
        assert.deepStrictEqual(yield* memory.get(plain, "k"), Option.some("plain"))
        assert.deepStrictEqual(ids(yield* memory.recall(plain, "plain document")), ["d"])
      }))

    it.effect("namespaces: clear forgets one namespace's history, facts and documents only", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const a = fresh().agent
        const b = fresh().agent
        for (const namespace of [a, b]) {
          yield* memory.append(namespace, [msg("1")])
          yield* memory.set(namespace, "k", 1)
          yield* memory.set(namespace, "t", 2, { ttl: "1 minute" })
          yield* memory.remember(namespace, doc("d", "a remembered text"))
        }
        yield* memory.clear(a)
        assert.deepStrictEqual(yield* memory.history(a), [])
        assert.deepStrictEqual(yield* memory.keys(a), [])
        assert.deepStrictEqual(yield* memory.get(a, "k"), Option.none())
        assert.deepStrictEqual(yield* memory.recall(a, "a remembered text"), [])
        assert.strictEqual(yield* memory.forget(a, "d"), false)
        assert.deepStrictEqual(contents(yield* memory.history(b)), ["1"])
        assert.deepStrictEqual(yield* memory.keys(b), ["k", "t"])
        assert.deepStrictEqual(ids(yield* memory.recall(b, "a remembered text")), ["d"])
        // A cleared namespace can be used again; clearing an unknown one is fine.
        yield* memory.append(a, [msg("again")])
        yield* memory.set(a, "k", "again")
        yield* memory.remember(a, doc("e", "another text"))
        assert.deepStrictEqual(contents(yield* memory.history(a)), ["again"])
        assert.deepStrictEqual(yield* memory.keys(a), ["k"])
        assert.deepStrictEqual(ids(yield* memory.recall(a, "another text")), ["e"])
        yield* memory.clear(fresh().thread)
      }))

    // ---------------------------------------------------------------- recall

    it.effect("recall: an empty namespace recalls nothing", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        assert.deepStrictEqual(yield* memory.recall(agent, "anything at all"), [])
        assert.deepStrictEqual(yield* memory.recall(agent, "anything", { k: 10, filter: { kind: "x" } }), [])
      }))

    it.effect("recall: most similar first, with cosine scores and the stored document", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        const query = "red apples and green pears in a wooden basket"
        yield* memory.remember(agent, doc("none", "quantum chromodynamics lecture notes", { n: 4 }))
        yield* memory.remember(agent, doc("some", "red apples", { n: 3 }))
        yield* memory.remember(agent, doc("same", query, { n: 1, tags: ["fruit", "basket"], nested: { ok: true } }))
        yield* memory.remember(agent, doc("most", "red apples and green pears", { n: 2 }))
        const recalled = yield* memory.recall(agent, query, { k: 4 })
        assert.deepStrictEqual(ids(recalled), ["same", "most", "some", "none"])
        const [same, most, some, none] = recalled
        assert.deepStrictEqual(
          { id: same!.id, text: same!.text, metadata: same!.metadata },
          { id: "same", text: query, metadata: { n: 1, tags: ["fruit", "basket"], nested: { ok: true } } }
        )
        assert.closeTo(same!.score, 1, 1e-3)
        assert.isAbove(same!.score, most!.score)
        assert.isAbove(most!.score, some!.score)
        assert.isAbove(some!.score, none!.score)
        for (const { score } of recalled) assert.isTrue(score >= -1 - 1e-6 && score <= 1 + 1e-6, `score ${score}`)
      }))

    it.effect("recall: k limits the results (default 5)", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { thread } = fresh()
        const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]
        yield* Effect.forEach(words, (word, i) => memory.remember(thread, doc(`d${i}`, `${word} report`)), {
          discard: true
        })
        assert.strictEqual((yield* memory.recall(thread, "alpha report")).length, 5)
        assert.deepStrictEqual(ids(yield* memory.recall(thread, "alpha report", { k: 1 })), ["d0"])
        assert.strictEqual((yield* memory.recall(thread, "alpha report", { k: 2 })).length, 2)
        assert.strictEqual((yield* memory.recall(thread, "alpha report", { k: 100 })).length, 7)
        assert.deepStrictEqual(yield* memory.recall(thread, "alpha report", { k: 0 }), [])
      }))

    it.effect("recall: ties in score are broken by id", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        for (const id of ["b", "c", "a"]) yield* memory.remember(agent, doc(id, "identical twin texts"))
        const recalled = yield* memory.recall(agent, "identical twin texts", { k: 2 })
        assert.deepStrictEqual(ids(recalled), ["a", "b"])
        assert.strictEqual(recalled[0]!.score, recalled[1]!.score)
      }))

    it.effect("recall: a metadata filter keeps exact matches only, before taking k", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { user } = fresh()
        yield* memory.remember(user, doc("a", "walk the dog in the park", { kind: "chore", day: 1, done: false }))
        yield* memory.remember(user, doc("b", "walk the dog", { kind: "chore", day: 2, done: true }))
        yield* memory.remember(user, doc("c", "walk the dog in the park at noon", { kind: "note", day: 1 }))
        yield* memory.remember(user, doc("d", "buy dog food", { kind: "chore", day: 1, done: false, tags: ["a", "b"] }))
        yield* memory.remember(user, doc("e", "dog park", { kind: "chore", tags: ["a"], owner: null }))
        const query = "walk the dog in the park"
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 10, filter: {} })).sort(), [
          "a",
          "b",
          "c",
          "d",
          "e"
        ])
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 1, filter: { kind: "note" } })), ["c"])
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 10, filter: { kind: "chore", day: 1 } })), [
          "a",
          "d"
        ])
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 10, filter: { done: true } })), ["b"])
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 10, filter: { tags: ["a"] } })), ["e"])
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 10, filter: { tags: ["a", "b"] } })), ["d"])
        assert.deepStrictEqual(ids(yield* memory.recall(user, query, { k: 10, filter: { owner: null } })), ["e"])
        assert.deepStrictEqual(yield* memory.recall(user, query, { k: 10, filter: { kind: "other" } }), [])
        assert.deepStrictEqual(yield* memory.recall(user, query, { k: 10, filter: { day: "1" } }), [])
      }))

    it.effect("recall: remembering an id again replaces its text and metadata", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* memory.remember(agent, doc("x", "the meeting is on monday", { version: 1, stale: true }))
        yield* memory.remember(agent, doc("y", "lunch order for friday"))
        yield* memory.remember(agent, doc("x", "the meeting moved to thursday", { version: 2 }))
        const recalled = yield* memory.recall(agent, "the meeting moved to thursday", { k: 10 })
        assert.deepStrictEqual(ids(recalled), ["x", "y"])
        assert.strictEqual(recalled[0]!.text, "the meeting moved to thursday")
        assert.deepStrictEqual(recalled[0]!.metadata, { version: 2 })
        assert.closeTo(recalled[0]!.score, 1, 1e-3)
        assert.deepStrictEqual(yield* memory.recall(agent, "monday", { k: 10, filter: { version: 1 } }), [])
      }))

    it.effect("recall: forget removes a document; true only if it existed", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* memory.remember(agent, doc("x", "first document"))
        yield* memory.remember(agent, doc("y", "second document"))
        assert.strictEqual(yield* memory.forget(agent, "x"), true)
        assert.strictEqual(yield* memory.forget(agent, "x"), false)
        assert.strictEqual(yield* memory.forget(agent, "never"), false)
        assert.strictEqual(yield* memory.forget(fresh().agent, "y"), false)
        assert.deepStrictEqual(ids(yield* memory.recall(agent, "first document", { k: 10 })), ["y"])
        assert.strictEqual(yield* memory.forget(agent, "y"), true)
        assert.deepStrictEqual(yield* memory.recall(agent, "second document"), [])
        yield* memory.remember(agent, doc("x", "first document, back again"))
        assert.deepStrictEqual(ids(yield* memory.recall(agent, "first document")), ["x"])
      }))

    it.effect("recall: concurrent remembers are all kept", () =>
      Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const { agent } = fresh()
        yield* Effect.forEach(
          Array.from({ length: 30 }, (_, i) => i),
          (i) => memory.remember(agent, doc(`doc-${String(i).padStart(2, "0")}`, `item number ${i}`, { i })),
          { concurrency: "unbounded", discard: true }
        )
        const recalled = yield* memory.recall(agent, "item number", { k: 100 })
        assert.strictEqual(recalled.length, 30)
        for (const document of recalled) assert.strictEqual(document.id, `doc-${String(document.metadata.i).padStart(2, "0")}`)
      }))
  })
}
