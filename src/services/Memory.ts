/**
 * Memory: what agents remember between steps, runs and processes.
 *
 * Everything lives in a {@link Namespace} (an agent, a thread or a user), and
 * each namespace holds a conversation history (an ordered list of messages)
 * and key/value facts (JSON values, optionally expiring). The interface is the
 * one every backend implements; backends live in `src/layers/Memory*.ts`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"

/**
 * Where memories live, e.g. `agent:todo`, `thread:42`, `user:ada`.
 *
 * @since 0.1.0
 * @category models
 */
export const Namespace = Schema.Struct({
  scope: Schema.Literals(["agent", "thread", "user"]),
  id: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type Namespace = typeof Namespace.Type

/**
 * The namespace of one agent: what it keeps across all its threads and users.
 *
 * @since 0.1.0
 * @category constructors
 */
export const agent = (id: string): Namespace => ({ scope: "agent", id })

/**
 * The namespace of one conversation thread.
 *
 * @since 0.1.0
 * @category constructors
 */
export const thread = (id: string): Namespace => ({ scope: "thread", id })

/**
 * The namespace of one user, shared by the agents that serve them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const user = (id: string): Namespace => ({ scope: "user", id })

/**
 * The storage key of a namespace, `scope:id`.
 *
 * @since 0.1.0
 * @category utils
 */
export const key = (namespace: Namespace): string => `${namespace.scope}:${namespace.id}`

/**
 * One message of a conversation.
 *
 * @since 0.1.0
 * @category models
 */
export const Message = Schema.Struct({
  role: Schema.Literals(["system", "user", "assistant", "tool"]),
  content: Schema.String,
  /** The tool's name, for `tool` messages. */
  name: Schema.optionalKey(Schema.String),
  at: Schema.optionalKey(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A text stored for semantic recall, with metadata to filter on.
 *
 * @since 0.1.0
 * @category models
 */
export const Document = Schema.Struct({
  id: Schema.String,
  text: Schema.String,
  metadata: Schema.Record(Schema.String, Schema.Json)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Document = typeof Document.Type

/**
 * A recalled document and its similarity to the query (cosine, 1 = same direction).
 *
 * @since 0.1.0
 * @category models
 */
export interface Recalled extends Document {
  readonly score: number
}

/**
 * Options of {@link MemoryShape.recall}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecallOptions {
  /** How many documents at most (default 5). */
  readonly k?: number | undefined
  /** Keep only documents whose metadata has exactly these values. */
  readonly filter?: Readonly<Record<string, Schema.Json>> | undefined
}

/**
 * A backend could not serve a memory operation.
 *
 * What to do: check the memory backend the message names (PostgreSQL, Redis or the embedded store) is
 * reachable; the run stops before acting on missing memory and can be resumed.
 *
 * @since 0.1.0
 * @category errors
 */
export class MemoryError extends Schema.TaggedError<MemoryError>()(
  "MemoryError",
  Errors.backendFields(Schema.String)
) {
  override get message(): string {
    return Errors.backendMessage("memory", this)
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

/**
 * The memory interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryShape {
  /** Appends messages to the namespace's history, in order, atomically. */
  readonly append: (namespace: Namespace, messages: ReadonlyArray<Message>) => Effect.Effect<void, MemoryError>
  /** The history, oldest first; with `last`, only the last `last` messages. */
  readonly history: (
    namespace: Namespace,
    options?: { readonly last?: number | undefined }
  ) => Effect.Effect<ReadonlyArray<Message>, MemoryError>
  /** Keeps only the last `keep` messages. */
  readonly trim: (namespace: Namespace, keep: number) => Effect.Effect<void, MemoryError>
  readonly get: (namespace: Namespace, key: string) => Effect.Effect<Option.Option<Schema.Json>, MemoryError>
  readonly set: (
    namespace: Namespace,
    key: string,
    value: Schema.Json,
    options?: { readonly ttl?: Duration.Input | undefined }
  ) => Effect.Effect<void, MemoryError>
  /** Deletes a fact; `true` if it existed. */
  readonly delete: (namespace: Namespace, key: string) => Effect.Effect<boolean, MemoryError>
  /** The keys of the facts that have not expired, sorted. */
  readonly keys: (namespace: Namespace) => Effect.Effect<ReadonlyArray<string>, MemoryError>
  /** Stores a document for semantic recall (embedding its text); a document with the same id is replaced. */
  readonly remember: (namespace: Namespace, document: Document) => Effect.Effect<void, MemoryError>
  /** The documents most similar to `query`, most similar first. */
  readonly recall: (
    namespace: Namespace,
    query: string,
    options?: RecallOptions
  ) => Effect.Effect<ReadonlyArray<Recalled>, MemoryError>
  /** Deletes a document; `true` if it existed. */
  readonly forget: (namespace: Namespace, id: string) => Effect.Effect<boolean, MemoryError>
  /** Forgets the namespace's history, facts and documents. */
  readonly clear: (namespace: Namespace) => Effect.Effect<void, MemoryError>
}

/**
 * An agent's memory: conversation history, facts and documents recalled by
 * similarity, each kept per namespace (an agent, a thread, a user).
 *
 * **Example** (Facts and history of a thread)
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const memory = yield* Memory.Memory
 *   const thread = Memory.thread("me")
 *   yield* memory.set(thread, "meeting", "3pm")
 *   yield* memory.append(thread, [{ role: "user", content: "when is the meeting?" }])
 *   const meeting = yield* memory.get(thread, "meeting") // Option.some("3pm")
 * }).pipe(Effect.provide(MemoryInMemory.layer))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Memory extends Context.Service<Memory, MemoryShape>()("graphent/Memory") {}

/**
 * Reads a fact and decodes it with a Schema; a value that does not decode is a
 * `MemoryError` (the stored data does not match what the caller expects).
 *
 * @since 0.1.0
 * @category accessors
 */
export const getAs = <S extends Schema.ConstraintDecoder<unknown>>(
  namespace: Namespace,
  factKey: string,
  schema: S
): Effect.Effect<Option.Option<S["Type"]>, MemoryError, Memory> =>
  Effect.gen(function*() {
    const memory = yield* Memory
    const found = yield* memory.get(namespace, factKey)
    if (Option.isNone(found)) return Option.none()
    return yield* Schema.decodeUnknownEffect(schema)(found.value).pipe(
      Effect.map(Option.some),
      Effect.mapError((error) =>
        new MemoryError({
          backend: "schema",
          operation: "get",
          reason: `fact "${factKey}" in ${key(namespace)} does not decode: ${error.message}`
        })
      )
    ) as Effect.Effect<Option.Option<S["Type"]>, MemoryError>
  })
