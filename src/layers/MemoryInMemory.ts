/**
 * In-memory {@link Memory}: for tests, demos and single-process use. Expiry is
 * measured with Effect's `Clock`, so `TestClock` controls it in tests.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import { key, Memory, MemoryError, type MemoryShape, type Message } from "../services/Memory.js"

interface Fact {
  readonly value: Schema.Json
  readonly expiresAt: number | undefined
}

interface Space {
  history: Array<Message>
  readonly facts: Map<string, Fact>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<MemoryShape> = Effect.sync(() => {
  const spaces = new Map<string, Space>()
  const space = (namespace: Parameters<MemoryShape["append"]>[0]): Space => {
    const k = key(namespace)
    let found = spaces.get(k)
    if (found === undefined) {
      found = { history: [], facts: new Map() }
      spaces.set(k, found)
    }
    return found
  }
  const live = (fact: Fact | undefined, now: number): fact is Fact =>
    fact !== undefined && (fact.expiresAt === undefined || fact.expiresAt > now)
  const invalid = (operation: string, reason: string) =>
    Effect.fail(new MemoryError({ backend: "memory", operation, reason }))

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
    clear: (namespace) => Effect.sync(() => void spaces.delete(key(namespace)))
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Memory> = Layer.effect(Memory, make)
