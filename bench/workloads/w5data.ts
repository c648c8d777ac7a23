/**
 * W5's data, the same in every child process: `size` unit vectors of 384
 * dimensions drawn around 1,000 random topic centres (text embeddings cluster
 * by topic; uniform random vectors in 384 dimensions have no near neighbours
 * to find), and queries drawn the same way. Seeded, so every process builds
 * the same vectors. No Effect, no Graphent here.
 */

export const dimensions = 384
const topics = 1_000
/** How far a vector strays from its topic's centre (per coordinate, before normalizing). */
const spread = 0.06

/** mulberry32: a small seeded generator. */
const generator = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const gaussian = (next: () => number) => () => {
  const u = 1 - next()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next())
}

const normalize = (vector: Float32Array): Float32Array => {
  let norm = 0
  for (let i = 0; i < vector.length; i++) norm += vector[i]! * vector[i]!
  norm = Math.sqrt(norm)
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / norm
  return vector
}

const centres = (() => {
  const next = gaussian(generator(1))
  return Array.from({ length: topics }, () => normalize(Float32Array.from({ length: dimensions }, next)))
})()

const draw = (count: number, seed: number): Array<Float32Array> => {
  const pick = generator(seed)
  const next = gaussian(generator(seed + 1))
  return Array.from({ length: count }, () => {
    const centre = centres[Math.floor(pick() * topics)]!
    return normalize(Float32Array.from({ length: dimensions }, (_, i) => centre[i]! + spread * next()))
  })
}

/** The stored vectors: document `i` has id `v<i>`. */
export const documents = (size: number): Array<Float32Array> => draw(size, 7)

/** The queries: query `j` is the text `q<j>`. */
export const queries = (count: number): Array<Float32Array> => draw(count, 99)

const dot = (a: Float32Array, b: Float32Array): number => {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!
  return sum
}

/**
 * Exact top-`k` by cosine (the vectors are unit length, so by dot product),
 * ties by id, as plain JavaScript: the floor of exact search, and the ground
 * truth of recall@k.
 */
export const exactTopK = (stored: ReadonlyArray<Float32Array>, query: Float32Array, k: number): Array<number> => {
  const best: Array<{ index: number; score: number }> = []
  for (let index = 0; index < stored.length; index++) {
    const score = dot(stored[index]!, query)
    if (best.length === k && score <= best[k - 1]!.score) continue
    let at = best.length
    while (at > 0 && best[at - 1]!.score < score) at--
    best.splice(at, 0, { index, score })
    if (best.length > k) best.pop()
  }
  return best.map((entry) => entry.index)
}

/** The share of the true top-k ids found, averaged over queries. */
export const recallAt = (truth: ReadonlyArray<ReadonlyArray<string>>, found: ReadonlyArray<ReadonlyArray<string>>) => {
  let hits = 0
  let total = 0
  for (let q = 0; q < truth.length; q++) {
    const expected = new Set(truth[q])
    total += expected.size
    for (const id of found[q] ?? []) if (expected.has(id)) hits++
  }
  return total === 0 ? 1 : hits / total
}

/** The vector as pgvector's text form (9 significant digits: a float32 exactly). */
export const vectorText = (vector: Float32Array): string =>
  `[${Array.from(vector, (value) => value.toPrecision(9)).join(",")}]`
