/**
 * An offline, deterministic local embedder, as an effect/ai `EmbeddingModel`.
 *
 * A text becomes a fixed-size vector by feature hashing: it is lowercased and
 * stripped of accents, split into words, and each word contributes its whole
 * form plus its character 3-grams with boundary markers (`<ca`, `car`, `ar>`
 * for "car"); every feature is hashed to a coordinate with a hashed sign, and
 * the vector is L2-normalized. A few very common English words (`the`, `and`,
 * `of`, ...) are skipped so that they do not dominate short texts.
 *
 * **Good for**: offline tests and demos (no network, no model weights, the same
 * vector for the same text on every machine and every run), lexical
 * similarity (texts that share words rank close), and typo tolerance ("recieve"
 * still shares most of its 3-grams with "receive"), e.g. to exercise a memory
 * backend's recall end to end.
 *
 * **Not good for**: meaning. It is lexical, not semantic: "car" and
 * "automobile" are unrelated to it, and so are a question and an answer that
 * share no words. Use a real embedding model for semantic recall in
 * production, and do not mix vectors from two embedders in one store.
 *
 * @since 0.1.0
 */
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * Options of the local embedder.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The vector size (default {@link defaultDimensions}). */
  readonly dimensions?: number | undefined
}

/**
 * The local embedder's vector size when none is given.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultDimensions = 384

const stopWords = new Set([
  "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he", "her", "his", "i",
  "in", "into", "is", "it", "its", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "then",
  "there", "they", "this", "to", "was", "we", "were", "what", "when", "which", "while", "who", "will", "with",
  "you", "your"
])

const wordWeight = 1
/** The 3-grams of one word share this much weight in all, so long words do not outweigh short ones. */
const gramsWeight = 1.5

/** FNV-1a over UTF-16 code units, 32 bits. */
const fnv1a = (text: string, seed: number): number => {
  let hash = seed >>> 0
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/** Murmur3's finalizer: decorrelates the sign bit from the bucket. */
const mix = (value: number): number => {
  let hash = value
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}

const add = (vector: Float64Array, feature: string, weight: number) => {
  const hash = fnv1a(feature, 0x811c9dc5)
  const sign = (mix(hash ^ 0x9e3779b9) & 1) === 0 ? 1 : -1
  vector[hash % vector.length]! += sign * weight
}

/**
 * The words a text is made of: lowercased, without accents, without stop words.
 *
 * @since 0.1.0
 * @category utils
 */
export const words = (text: string): Array<string> =>
  (text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [])
    .filter((word) => !stopWords.has(word))

/**
 * Embeds one text, synchronously: the same text always gives the same vector.
 * A text without words gives the zero vector.
 *
 * @since 0.1.0
 * @category utils
 */
export const embedText = (text: string, options?: Options): Array<number> => {
  const dimensions = dimensionsOf(options)
  const vector = new Float64Array(dimensions)
  for (const word of words(text)) {
    add(vector, `w:${word}`, wordWeight)
    const marked = `<${word}>`
    const grams = marked.length - 2
    const weight = gramsWeight / Math.sqrt(grams)
    for (let index = 0; index < grams; index++) add(vector, `g:${marked.slice(index, index + 3)}`, weight)
  }
  let norm = 0
  for (const value of vector) norm += value * value
  norm = Math.sqrt(norm)
  return Array.from(vector, (value) => (norm === 0 ? 0 : value / norm))
}

const dimensionsOf = (options: Options | undefined): number => {
  const dimensions = options?.dimensions ?? defaultDimensions
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new Error(`graphent: EmbeddingLocal dimensions must be an integer >= 1, got ${dimensions}`)
  }
  return dimensions
}

/**
 * The local embedder as an `EmbeddingModel` service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): Effect.Effect<EmbeddingModel.EmbeddingModel> =>
  Effect.suspend(() => {
    const dimensions = dimensionsOf(options)
    return EmbeddingModel.make({
      embedMany: ({ inputs }) =>
        Effect.sync(() => ({
          results: inputs.map((input) => embedText(input, { dimensions })),
          usage: { inputTokens: undefined }
        }))
    })
  })

/**
 * The local embedder with {@link defaultDimensions} dimensions.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EmbeddingModel.EmbeddingModel> = Layer.effect(EmbeddingModel.EmbeddingModel, make())
