import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { AiError, EmbeddingModel } from "effect/ai"
import { TestClock } from "effect/testing"
import { Memory, MemoryInMemory } from "graphent"
import { memoryContract } from "./memoryContract.js"

const ns = Memory.agent("todo")
const msg = (content: string, role: Memory.Message["role"] = "user"): Memory.Message => ({ role, content })
const contents = (messages: ReadonlyArray<Memory.Message>) => messages.map((message) => message.content)

memoryContract("MemoryInMemory contract", MemoryInMemory.layer)

describe("MemoryInMemory history", () => {
  it.effect("append keeps order; history returns everything, oldest first", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.append(ns, [msg("a"), msg("b")])
      yield* memory.append(ns, [msg("c", "assistant")])
      const history = yield* memory.history(ns)
      assert.deepStrictEqual(history, [msg("a"), msg("b"), msg("c", "assistant")])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("an unknown namespace has an empty history", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      assert.deepStrictEqual(yield* memory.history(Memory.thread("nobody")), [])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("history({ last }) returns only the last N", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.append(ns, ["1", "2", "3", "4", "5"].map((c) => msg(c)))
      assert.deepStrictEqual(contents(yield* memory.history(ns, { last: 2 })), ["4", "5"])
      assert.deepStrictEqual(contents(yield* memory.history(ns, { last: 5 })), ["1", "2", "3", "4", "5"])
      assert.deepStrictEqual(contents(yield* memory.history(ns, { last: 50 })), ["1", "2", "3", "4", "5"])
      assert.deepStrictEqual(contents(yield* memory.history(ns, { last: 0 })), [])
      assert.deepStrictEqual(contents(yield* memory.history(ns, { last: undefined })), ["1", "2", "3", "4", "5"])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("the returned history is a copy: later appends do not change it", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.append(ns, [msg("a")])
      const before = yield* memory.history(ns)
      yield* memory.append(ns, [msg("b")])
      assert.deepStrictEqual(contents(before), ["a"])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("trim keeps only the last `keep` messages", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.append(ns, ["1", "2", "3", "4"].map((c) => msg(c)))
      yield* memory.trim(ns, 3)
      assert.deepStrictEqual(contents(yield* memory.history(ns)), ["2", "3", "4"])
      yield* memory.trim(ns, 10)
      assert.deepStrictEqual(contents(yield* memory.history(ns)), ["2", "3", "4"])
      yield* memory.trim(ns, 0)
      assert.deepStrictEqual(yield* memory.history(ns), [])
      yield* memory.append(ns, [msg("after")])
      assert.deepStrictEqual(contents(yield* memory.history(ns)), ["after"])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("trim with a negative keep is a MemoryError", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const error = yield* Effect.flip(memory.trim(ns, -1))
      assert.strictEqual(error._tag, "MemoryError")
      assert.strictEqual(error.operation, "trim")
      assert.include(error.message, "keep must be >= 0, got -1")
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("100 concurrent appends are all kept, each batch contiguous", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const indices = Array.from({ length: 100 }, (_, i) => i)
      yield* Effect.forEach(
        indices,
        (i) => Effect.yieldNow.pipe(Effect.andThen(memory.append(ns, [msg(`q${i}`), msg(`a${i}`, "assistant")]))),
        { concurrency: "unbounded", discard: true }
      )
      const history = yield* memory.history(ns)
      assert.strictEqual(history.length, 200)
      assert.sameMembers(contents(history), indices.flatMap((i) => [`q${i}`, `a${i}`]))
      for (let index = 0; index < history.length; index += 2) {
        assert.strictEqual(history[index + 1]!.content, history[index]!.content.replace("q", "a"))
      }
    }).pipe(Effect.provide(MemoryInMemory.layer)))
})

describe("MemoryInMemory facts", () => {
  it.effect("set then get; a missing key is None", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "count", 3)
      yield* memory.set(ns, "profile", { name: "Ada", tags: ["x", "y"], active: true, score: null })
      assert.deepStrictEqual(yield* memory.get(ns, "count"), Option.some(3))
      assert.deepStrictEqual(
        yield* memory.get(ns, "profile"),
        Option.some({ name: "Ada", tags: ["x", "y"], active: true, score: null })
      )
      assert.deepStrictEqual(yield* memory.get(ns, "nothing"), Option.none())
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("set overwrites", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "k", "old")
      yield* memory.set(ns, "k", "new")
      assert.deepStrictEqual(yield* memory.get(ns, "k"), Option.some("new"))
      assert.deepStrictEqual(yield* memory.keys(ns), ["k"])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("delete: true if the fact existed, false otherwise", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "k", 1)
      assert.strictEqual(yield* memory.delete(ns, "k"), true)
      assert.deepStrictEqual(yield* memory.get(ns, "k"), Option.none())
      assert.strictEqual(yield* memory.delete(ns, "k"), false)
      assert.strictEqual(yield* memory.delete(Memory.user("ghost"), "k"), false)
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("keys are sorted", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      for (const k of ["zeta", "alpha", "mid"]) yield* memory.set(ns, k, k)
      assert.deepStrictEqual(yield* memory.keys(ns), ["alpha", "mid", "zeta"])
      assert.deepStrictEqual(yield* memory.keys(Memory.user("nobody")), [])
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("TTL: a fact expires after its ttl (TestClock)", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "session", "abc", { ttl: "10 seconds" })
      yield* memory.set(ns, "forever", "x")
      yield* TestClock.adjust("9999 millis")
      assert.deepStrictEqual(yield* memory.get(ns, "session"), Option.some("abc"))
      assert.deepStrictEqual(yield* memory.keys(ns), ["forever", "session"])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(yield* memory.get(ns, "session"), Option.none())
      assert.deepStrictEqual(yield* memory.keys(ns), ["forever"])
      assert.strictEqual(yield* memory.delete(ns, "session"), false)
      yield* TestClock.adjust("1 day")
      assert.deepStrictEqual(yield* memory.get(ns, "forever"), Option.some("x"))
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("TTL: setting again without a ttl makes the fact permanent", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "k", 1, { ttl: "1 second" })
      yield* memory.set(ns, "k", 2)
      yield* TestClock.adjust("1 hour")
      assert.deepStrictEqual(yield* memory.get(ns, "k"), Option.some(2))
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("TTL: an expired fact can be set again", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "k", 1, { ttl: "1 second" })
      yield* TestClock.adjust("2 seconds")
      yield* memory.set(ns, "k", 2, { ttl: "1 second" })
      assert.deepStrictEqual(yield* memory.get(ns, "k"), Option.some(2))
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("a stored fact is a snapshot: mutating the caller's object afterwards does not change it", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const value = { items: ["a"] }
      yield* memory.set(ns, "list", value)
      value.items.push("b")
      assert.deepStrictEqual(yield* memory.get(ns, "list"), Option.some({ items: ["a"] }))
    }).pipe(Effect.provide(MemoryInMemory.layer)))
})

describe("MemoryInMemory namespaces", () => {
  it.effect("namespaces are isolated (same id in other scopes, other ids)", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const a = Memory.agent("x")
      const t = Memory.thread("x")
      const u = Memory.user("x")
      const other = Memory.agent("y")
      yield* memory.append(a, [msg("for agent x")])
      yield* memory.set(a, "k", "agent")
      yield* memory.set(t, "k", "thread")
      assert.deepStrictEqual(contents(yield* memory.history(a)), ["for agent x"])
      assert.deepStrictEqual(yield* memory.history(t), [])
      assert.deepStrictEqual(yield* memory.history(other), [])
      assert.deepStrictEqual(yield* memory.get(a, "k"), Option.some("agent"))
      assert.deepStrictEqual(yield* memory.get(t, "k"), Option.some("thread"))
      assert.deepStrictEqual(yield* memory.get(u, "k"), Option.none())
      assert.deepStrictEqual(yield* memory.get(other, "k"), Option.none())
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("clear forgets one namespace's history and facts only", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const a = Memory.agent("a")
      const b = Memory.agent("b")
      yield* memory.append(a, [msg("1")])
      yield* memory.set(a, "k", 1)
      yield* memory.append(b, [msg("2")])
      yield* memory.set(b, "k", 2)
      yield* memory.clear(a)
      assert.deepStrictEqual(yield* memory.history(a), [])
      assert.deepStrictEqual(yield* memory.keys(a), [])
      assert.deepStrictEqual(contents(yield* memory.history(b)), ["2"])
      assert.deepStrictEqual(yield* memory.get(b, "k"), Option.some(2))
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it("namespace constructors and keys", () => {
    assert.deepStrictEqual(Memory.agent("a"), { scope: "agent", id: "a" })
    assert.strictEqual(Memory.key(Memory.thread("42")), "thread:42")
    assert.strictEqual(Memory.key(Memory.user("ada")), "user:ada")
  })

  it.effect("each layer build is a fresh store", () =>
    Effect.gen(function*() {
      yield* Memory.Memory.use((memory) => memory.set(ns, "k", 1)).pipe(Effect.provide(MemoryInMemory.layer))
      const found = yield* Memory.Memory.use((memory) => memory.get(ns, "k")).pipe(Effect.provide(MemoryInMemory.layer))
      assert.deepStrictEqual(found, Option.none())
    }))
})

describe("Memory.getAs", () => {
  const Todo = Schema.Struct({ id: Schema.Number, text: Schema.String })

  it.effect("decodes a stored fact", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "todo", { id: 1, text: "milk" })
      const found = yield* Memory.getAs(ns, "todo", Todo)
      assert.deepStrictEqual(found, Option.some({ id: 1, text: "milk" }))
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("a missing fact is None", () =>
    Effect.gen(function*() {
      const found = yield* Memory.getAs(ns, "todo", Todo)
      assert.deepStrictEqual(found, Option.none())
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("a fact that does not decode: MemoryError naming the key, the namespace and the issue", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "todo", { id: "one", text: "milk" })
      const error = yield* Effect.flip(Memory.getAs(ns, "todo", Todo))
      assert.strictEqual(error._tag, "MemoryError")
      assert.strictEqual(error.operation, "get")
      assert.include(error.reason, `fact "todo" in agent:todo does not decode`)
      assert.include(error.reason, "Expected number")
      assert.include(error.reason, `["id"]`)
      assert.notInclude(error.message, "[object Object]")
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("decoding transforms (e.g. NumberFromString)", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.set(ns, "n", "12")
      const found = yield* Memory.getAs(ns, "n", Schema.NumberFromString)
      assert.deepStrictEqual(found, Option.some(12))
    }).pipe(Effect.provide(MemoryInMemory.layer)))
})

describe("MemoryInMemory recall", () => {
  const failingEmbedder = Layer.effect(
    EmbeddingModel.EmbeddingModel,
    EmbeddingModel.make({
      embedMany: () =>
        Effect.fail(AiError.make({
          module: "Test",
          method: "embedMany",
          reason: new AiError.UnknownError({ description: "model offline" })
        }))
    })
  )

  it.effect("an embedding failure is a MemoryError naming the operation", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const remembered = yield* Effect.flip(memory.remember(ns, { id: "x", text: "hello", metadata: {} }))
      assert.strictEqual(remembered._tag, "MemoryError")
      assert.strictEqual(remembered.backend, "memory")
      assert.strictEqual(remembered.operation, "remember")
      assert.include(remembered.reason, "embedding failed")
      assert.deepStrictEqual(yield* memory.recall(ns, "hello"), [], "nothing was stored, so nothing to embed")
    }).pipe(Effect.provide(MemoryInMemory.layerNoDeps.pipe(Layer.provide(failingEmbedder)))))

  it.effect("layerNoDeps uses the EmbeddingModel provided; a failing query embedding is a MemoryError", () =>
    Effect.gen(function*() {
      let calls = 0
      const flaky = Layer.effect(
        EmbeddingModel.EmbeddingModel,
        EmbeddingModel.make({
          embedMany: ({ inputs }) =>
            ++calls > 1
              ? Effect.fail(AiError.make({ module: "Test", method: "embedMany", reason: new AiError.UnknownError({}) }))
              : Effect.succeed({ results: inputs.map(() => [1, 0]), usage: { inputTokens: undefined } })
        })
      )
      const error = yield* Effect.gen(function*() {
        const memory = yield* Memory.Memory
        yield* memory.remember(ns, { id: "x", text: "hello", metadata: {} })
        return yield* Effect.flip(memory.recall(ns, "hello"))
      }).pipe(Effect.provide(MemoryInMemory.layerNoDeps.pipe(Layer.provide(flaky))))
      assert.strictEqual(error.operation, "recall")
      assert.include(error.reason, "embedding failed")
    }))

  it.effect("a bad k is a MemoryError", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      yield* memory.remember(ns, { id: "x", text: "hello", metadata: {} })
      for (const k of [-1, 1.5]) {
        const error = yield* Effect.flip(memory.recall(ns, "hello", { k }))
        assert.strictEqual(error.operation, "recall")
        assert.include(error.reason, `k must be an integer >= 0, got ${k}`)
      }
    }).pipe(Effect.provide(MemoryInMemory.layer)))

  it.effect("recalled documents are copies", () =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const metadata = { tags: ["a"] }
      yield* memory.remember(ns, { id: "x", text: "hello", metadata })
      metadata.tags.push("b")
      const [first] = yield* memory.recall(ns, "hello")
      assert.deepStrictEqual(first!.metadata, { tags: ["a"] })
      ;(first!.metadata.tags as Array<string>).push("c")
      const [again] = yield* memory.recall(ns, "hello")
      assert.deepStrictEqual(again!.metadata, { tags: ["a"] })
    }).pipe(Effect.provide(MemoryInMemory.layer)))
})

describe("MemoryInMemory recall scoring", () => {
  /** A deterministic generator (mulberry32). */
  const random = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  it.effect("the same scores, order and ties as cosine over every document, then topK (norms computed once)", () =>
    Effect.gen(function*() {
      const next = random(5)
      // Coarse coordinates make exact ties likely; some vectors repeat under other ids, one is zero.
      const vectors = Array.from({ length: 300 }, () => Array.from({ length: 16 }, () => Math.round(next() * 4) - 2))
      vectors.push(vectors[3]!, vectors[3]!, Array.from({ length: 16 }, () => 0))
      const query = Array.from({ length: 16 }, () => Math.round(next() * 4) - 2)
      const texts = new Map<string, ReadonlyArray<number>>(vectors.map((vector, i) => [`d${i}`, vector]))
      const embedder = Layer.effect(
        EmbeddingModel.EmbeddingModel,
        EmbeddingModel.make({
          embedMany: ({ inputs }) =>
            Effect.succeed({
              results: inputs.map((text) => [...(text === "query" ? query : texts.get(text)!)]),
              usage: { inputTokens: undefined }
            })
        })
      )
      const recalled = yield* Effect.gen(function*() {
        const memory = yield* Memory.Memory
        for (const id of texts.keys()) yield* memory.remember(ns, { id, text: id, metadata: {} })
        return yield* memory.recall(ns, "query", { k: 25 })
      }).pipe(Effect.provide(MemoryInMemory.layerNoDeps.pipe(Layer.provide(embedder))))

      const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
        let dot = 0
        let na = 0
        let nb = 0
        for (let i = 0; i < a.length; i++) {
          dot += a[i]! * b[i]!
          na += a[i]! * a[i]!
          nb += b[i]! * b[i]!
        }
        return na === 0 || nb === 0 ? 0 : Math.max(-1, Math.min(1, dot / Math.sqrt(na * nb)))
      }
      const expected = [...texts].map(([id, vector]) => ({ id, score: cosine(query, vector) }))
        .sort((x, y) => y.score - x.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
        .slice(0, 25)
      assert.deepStrictEqual(recalled.map(({ id, score }) => ({ id, score })), expected)
      assert.isTrue(expected.some((entry, i) => i > 0 && entry.score === expected[i - 1]!.score), "the data has ties")
    }))
})
