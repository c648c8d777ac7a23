/**
 * Exact vector search helpers shared by the memory backends that search in
 * process (in-memory, Redis): cosine similarity, top-k selection, metadata
 * filters, and the Float32 encoding of stored vectors.
 */
import type * as Schema from "effect/Schema"

/**
 * Cosine similarity of two vectors of the same length, in [-1, 1]; 0 when
 * either is the zero vector.
 */
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let dot = 0
  let normA = 0
  let normB = 0
  for (let index = 0; index < a.length; index++) {
    const x = a[index]!
    const y = b[index]!
    dot += x * y
    normA += x * x
    normB += y * y
  }
  if (normA === 0 || normB === 0) return 0
  // Rounding can push identical directions a hair past 1.
  return Math.max(-1, Math.min(1, dot / Math.sqrt(normA * normB)))
}

/** The sum of the squares of a vector's coordinates, added in index order, as {@link cosine} adds them. */
export const squaredNorm = (vector: ArrayLike<number>): number => {
  let sum = 0
  for (let index = 0; index < vector.length; index++) sum += vector[index]! * vector[index]!
  return sum
}

/**
 * {@link cosine} when both vectors' {@link squaredNorm}s are known (e.g.
 * stored beside them): one product per coordinate instead of three, and the
 * very same value, since each sum is added in the same order.
 */
export const cosineWithNorms = (
  a: ArrayLike<number>,
  normA: number,
  b: ArrayLike<number>,
  normB: number
): number => {
  if (normA === 0 || normB === 0) return 0
  let dot = 0
  for (let index = 0; index < a.length; index++) dot += a[index]! * b[index]!
  return Math.max(-1, Math.min(1, dot / Math.sqrt(normA * normB)))
}

/** A scored candidate: higher scores first, ties broken by ascending id. */
export interface Scored<A> {
  readonly id: string
  readonly score: number
  readonly item: A
}

const before = <A>(x: Scored<A>, y: Scored<A>): boolean =>
  x.score > y.score || (x.score === y.score && x.id < y.id)

/**
 * The `k` best candidates, best first (exact: every candidate is considered).
 * Ties in score are broken by ascending id, so the result is deterministic.
 * O(n log k) comparisons plus O(k) per accepted candidate.
 */
export const topK = <A>(candidates: Iterable<Scored<A>>, k: number): Array<Scored<A>> => {
  const best = new TopK<A>(k)
  for (const candidate of candidates) if (best.accepts(candidate.score, candidate.id)) best.add(candidate)
  return best.result()
}

/**
 * The `k` best candidates so far, best first, ties by ascending id: ask
 * {@link TopK.accepts} with the score and id before building a candidate, so
 * that the many that do not make it cost no allocation.
 */
export class TopK<A> {
  private readonly best: Array<Scored<A>> = []
  readonly k: number
  constructor(k: number) {
    this.k = Math.max(0, k)
  }
  /** Whether a candidate with this score and id would be kept now. */
  accepts(score: number, id: string): boolean {
    if (this.best.length < this.k) return true
    if (this.k === 0) return false
    const last = this.best[this.k - 1]!
    return score > last.score || (score === last.score && id < last.id)
  }
  /** Keeps `candidate` if it is among the `k` best. */
  add(candidate: Scored<A>): void {
    if (!this.accepts(candidate.score, candidate.id)) return
    // Binary search for the first element the candidate goes before.
    let low = 0
    let high = this.best.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (before(candidate, this.best[middle]!)) high = middle
      else low = middle + 1
    }
    this.best.splice(low, 0, candidate)
    if (this.best.length > this.k) this.best.pop()
  }
  /** The kept candidates, best first. */
  result(): Array<Scored<A>> {
    return this.best.slice()
  }
}

/** Structural equality of JSON values (object key order does not matter). */
export const jsonEquals = (a: Schema.Json, b: Schema.Json): boolean => {
  if (a === b) return true
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((value, index) => jsonEquals(value, b[index]!))
  }
  const objectA = a as { readonly [key: string]: Schema.Json }
  const objectB = b as { readonly [key: string]: Schema.Json }
  const keysA = Object.keys(objectA)
  if (keysA.length !== Object.keys(objectB).length) return false
  return keysA.every((key) => Object.hasOwn(objectB, key) && jsonEquals(objectA[key]!, objectB[key]!))
}

/**
 * Whether metadata matches a filter: every key of the filter is present in the
 * metadata with an equal JSON value (a missing key does not match `null`).
 */
export const matches = (
  metadata: Readonly<Record<string, Schema.Json>>,
  filter: Readonly<Record<string, Schema.Json>> | undefined
): boolean => {
  if (filter === undefined) return true
  for (const key of Object.keys(filter)) {
    if (!Object.hasOwn(metadata, key) || !jsonEquals(metadata[key]!, filter[key]!)) return false
  }
  return true
}

/** Checks `k` (default 5); returns an error message for a bad one. */
export const resolveK = (k: number | undefined): number | string =>
  k === undefined ? 5 : Number.isInteger(k) && k >= 0 ? k : `k must be an integer >= 0, got ${k}`

/** The reason given when a stored vector and the query's differ in size. */
export const dimensionMismatch = (id: string, stored: number, query: number): string =>
  `document "${id}" has a ${stored}-dimension vector, the query ${query}: was the embedding model changed?`

/** A vector as little-endian Float32 bytes. */
export const toFloat32Bytes = (vector: ArrayLike<number>): Buffer => {
  const bytes = Buffer.allocUnsafe(vector.length * 4)
  for (let index = 0; index < vector.length; index++) bytes.writeFloatLE(vector[index]!, index * 4)
  return bytes
}

/** The inverse of {@link toFloat32Bytes}. */
export const fromFloat32Bytes = (bytes: Uint8Array): Float32Array => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const vector = new Float32Array(bytes.byteLength >>> 2)
  for (let index = 0; index < vector.length; index++) vector[index] = view.getFloat32(index * 4, true)
  return vector
}
