/**
 * In-memory {@link Memory}: for tests, demos and single-process use. Expiry is
 * measured with Effect's `Clock`, so `TestClock` controls it in tests.
 *
 * Semantic recall embeds documents with the `EmbeddingModel` in context and
 * searches exactly: every document of the namespace is scored (cosine) on
 * each query, O(n) per query, ties broken by id. {@link layer} uses the
 * offline {@link EmbeddingLocal} embedder (lexical, not semantic);
 * {@link layerNoDeps} takes whichever `EmbeddingModel` you provide.
 *
 * @since 0.1.0
 */
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import type * as AiError from "effect/ai/AiError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as Vector from "../internal/vector.js"
import {
  type Document,
  key,
  Memory,
  MemoryError,
  type MemoryShape,
  type Message,
  type Namespace
} from "../services/Memory.js"
import * as EmbeddingLocal from "./EmbeddingLocal.js"

interface Fact {
  readonly value: Schema.Json
  readonly expiresAt: number | undefined
}

interface Stored {
  readonly document: Document
  readonly vector: Float64Array
  /** The vector's squared norm, computed once. */
  readonly norm: number
}

interface Space {
  history: Array<Message>
  readonly facts: Map<string, Fact>
  readonly documents: Map<string, Stored>
}

const backend = "memory"

const embeddingFailed = (operation: "remember" | "recall") => (error: AiError.AiError) =>
  new MemoryError({ backend, operation, reason: `embedding failed: ${error.message}`, cause: error })

/**
 * Builds an in-memory store that embeds documents with the `EmbeddingModel` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<MemoryShape, never, EmbeddingModel.EmbeddingModel> = Effect.gen(function*() {
  const embedder = yield* EmbeddingModel.EmbeddingModel
  const spaces = new Map<string, Space>()
  const space = (namespace: Namespace): Space => {
    const k = key(namespace)
    let found = spaces.get(k)
    if (found === undefined) {
      found = { history: [], facts: new Map(), documents: new Map() }
      spaces.set(k, found)
    }
    return found
  }
  const live = (fact: Fact | undefined, now: number): fact is Fact =>
    fact !== undefined && (fact.expiresAt === undefined || fact.expiresAt > now)
  const invalid = (operation: string, reason: string) => Effect.fail(new MemoryError({ backend, operation, reason }))

  return {
    // Values are copied in and out, as a persistent backend would: callers cannot alias stored state.
    append: (namespace, messages) => Effect.sync(() => void space(namespace).history.push(...structuredClone(messages))),
    history: (namespace, options) =>
      Effect.sync(() => {
        const history = spaces.get(key(namespace))?.history ?? []
        const last = options?.last
        return structuredClone(last === undefined ? history : last <= 0 ? [] : history.slice(-last))
      }),
    trim: (namespace, keep) =>
      keep < 0 ? invalid("trim", `keep must be >= 0, got ${keep}`) : Effect.sync(() => {
        const found = space(namespace)
        found.history = keep === 0 ? [] : found.history.slice(-keep)
      }),
    get: (namespace, factKey) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const fact = spaces.get(key(namespace))?.facts.get(factKey)
        return live(fact, now) ? Option.some(structuredClone(fact.value)) : Option.none()
      }),
    set: (namespace, factKey, value, options) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const ttl = options?.ttl
        space(namespace).facts.set(factKey, {
          value: structuredClone(value),
          expiresAt: ttl === undefined ? undefined : now + Duration.toMillis(Duration.fromInputUnsafe(ttl))
        })
      }),
    delete: (namespace, factKey) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const facts = spaces.get(key(namespace))?.facts
        const existed = live(facts?.get(factKey), now)
        facts?.delete(factKey)
        return existed
      }),
    keys: (namespace) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const facts = spaces.get(key(namespace))?.facts ?? new Map<string, Fact>()
        return [...facts].filter(([, fact]) => live(fact, now)).map(([k]) => k).sort()
      }),
    remember: Effect.fn("MemoryInMemory.remember")(function*(namespace, document) {
      const embedded = yield* embedder.embed(document.text).pipe(Effect.mapError(embeddingFailed("remember")))
      // Replacing is one synchronous step after the embedding: a concurrent recall sees the old or the new document.
      const vector = Float64Array.from(embedded.vector)
      space(namespace).documents.set(document.id, {
        document: structuredClone({ id: document.id, text: document.text, metadata: document.metadata }),
        vector,
        norm: Vector.squaredNorm(vector)
      })
    }),
    recall: Effect.fn("MemoryInMemory.recall")(function*(namespace, query, options) {
      const k = Vector.resolveK(options?.k)
      if (typeof k === "string") return yield* invalid("recall", k)
      const documents = spaces.get(key(namespace))?.documents
      if (k === 0 || documents === undefined || documents.size === 0) return []
      const embedded = yield* embedder.embed(query).pipe(Effect.mapError(embeddingFailed("recall")))
      const vector = Float64Array.from(embedded.vector)
      const norm = Vector.squaredNorm(vector)
      const filter = options?.filter
      const best = new Vector.TopK<Stored>(k)
      for (const stored of documents.values()) {
        if (filter !== undefined && !Vector.matches(stored.document.metadata, filter)) continue
        if (stored.vector.length !== vector.length) {
          return yield* invalid(
            "recall",
            Vector.dimensionMismatch(stored.document.id, stored.vector.length, vector.length)
          )
        }
        // Scored with the norms computed once: the same value as `Vector.cosine`, a third of the work.
        const score = Vector.cosineWithNorms(vector, norm, stored.vector, stored.norm)
        if (best.accepts(score, stored.document.id)) best.add({ id: stored.document.id, score, item: stored })
      }
      return best.result().map(({ item, score }) => ({ ...structuredClone(item.document), score }))
    }),
    forget: (namespace, id) => Effect.sync(() => spaces.get(key(namespace))?.documents.delete(id) ?? false),
    clear: (namespace) => Effect.sync(() => void spaces.delete(key(namespace)))
  }
})

/**
 * In-memory memory over the `EmbeddingModel` you provide.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps: Layer.Layer<Memory, never, EmbeddingModel.EmbeddingModel> = Layer.effect(Memory, make)

/**
 * In-memory memory with the offline {@link EmbeddingLocal} embedder: each
 * build is a fresh, empty store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Memory> = layerNoDeps.pipe(Layer.provide(EmbeddingLocal.layer))
