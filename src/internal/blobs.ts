/**
 * Content-addressed storage of large payloads inside a journal file.
 *
 * Agents re-send their whole conversation on every model call, so journaling
 * payloads inline grows with the square of the conversation. Instead, a large
 * value is written once as a blob line and events refer to it by hash:
 *
 * - a long string or a large object field: `{"_tag":"Blob","hash":h,"value":v}`;
 * - a large array: `{"_tag":"Blob","hash":h,"list":{"prefix":p,"items":[...]}}`,
 *   where `prefix` names an earlier list blob this array extends — a history
 *   that grew by two messages costs two items, not the whole history again;
 *   items larger than a few bytes are blobs of their own.
 *
 * In events, a reference is `{"$graphent:blob": h}`.
 */
import { createHash } from "node:crypto"

/** The key of a reference object; unlikely to appear in user data. */
export const refKey = "$graphent:blob"

/** Values whose JSON is at most this long stay inline. */
export const inlineLimit = 1024
const itemLimit = 96

export type Blob =
  | { readonly _tag: "Blob"; readonly hash: string; readonly value: unknown }
  | {
    readonly _tag: "Blob"
    readonly hash: string
    readonly list: { readonly prefix?: string; readonly items: ReadonlyArray<unknown> }
  }

const digest = (text: string): string => createHash("sha256").update(text).digest("hex").slice(0, 24)

const ref = (hash: string) => ({ [refKey]: hash })

export const isRef = (u: unknown): u is Record<typeof refKey, string> =>
  typeof u === "object" && u !== null && !Array.isArray(u) &&
  typeof (u as Record<string, unknown>)[refKey] === "string" && Object.keys(u).length === 1

/**
 * A writer remembers which blobs its file already holds. `encode` returns the
 * blob lines to write first (new ones only) and the event with references.
 */
export const makeWriter = (known: Set<string> = new Set()) => {
  /** Hashes of stored lists: the hash of a list is chained over its items' hashes. */
  const lists = new Set<string>()

  const encode = (value: unknown, out: Array<Blob>): unknown => {
    if (typeof value === "string") {
      if (value.length <= inlineLimit) return value
      const hash = digest(JSON.stringify(value))
      if (!known.has(hash)) {
        known.add(hash)
        out.push({ _tag: "Blob", hash, value })
      }
      return ref(hash)
    }
    if (typeof value !== "object" || value === null) return value
    const json = JSON.stringify(value)
    if (json === undefined || json.length <= inlineLimit) return value
    if (Array.isArray(value)) return encodeList(value, out)
    const fields: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(value)) fields[key] = encode(field, out)
    return fields
  }

  const encodeList = (items: ReadonlyArray<unknown>, out: Array<Blob>): unknown => {
    const encoded: Array<unknown> = []
    const chain: Array<string> = []
    let hash = "list"
    for (const item of items) {
      const json = JSON.stringify(item) ?? "null"
      let entry: unknown = item
      if (json.length > itemLimit) {
        const inner = encode(item, out)
        const itemHash = digest(JSON.stringify(inner))
        if (!known.has(itemHash)) {
          known.add(itemHash)
          out.push({ _tag: "Blob", hash: itemHash, value: inner })
        }
        entry = ref(itemHash)
      }
      encoded.push(entry)
      hash = digest(hash + JSON.stringify(entry))
      chain.push(hash)
    }
    if (!known.has(hash)) {
      // The longest stored list this one extends.
      let prefix = -1
      for (let i = chain.length - 2; i >= 0; i--) {
        if (lists.has(chain[i]!)) {
          prefix = i
          break
        }
      }
      known.add(hash)
      lists.add(hash)
      out.push({
        _tag: "Blob",
        hash,
        list: prefix === -1 ? { items: encoded } : { prefix: chain[prefix]!, items: encoded.slice(prefix + 1) }
      })
    }
    return ref(hash)
  }

  return {
    encode: (value: unknown): { readonly blobs: ReadonlyArray<Blob>; readonly value: unknown } => {
      const blobs: Array<Blob> = []
      return { value: encode(value, blobs), blobs }
    },
    /** Registers a blob read back from the file (when reopening it). */
    remember: (blob: Blob) => {
      known.add(blob.hash)
      if ("list" in blob) lists.add(blob.hash)
    }
  }
}

/** The error of a reference to a blob the file does not hold. */
export class MissingBlob {
  constructor(readonly hash: string) {}
}

/**
 * Resolves references against the blobs of a file. Lists are resolved once and
 * shared: the prefix of a long history is not rebuilt for every turn.
 */
export const makeResolver = (blobs: ReadonlyMap<string, Blob>) => {
  const lists = new Map<string, ReadonlyArray<unknown>>()
  const resolve = (value: unknown): unknown => {
    if (typeof value !== "object" || value === null) return value
    if (isRef(value)) {
      const hash = value[refKey]
      const blob = blobs.get(hash)
      if (blob === undefined) throw new MissingBlob(hash)
      if ("value" in blob) return resolve(blob.value)
      let list = lists.get(hash)
      if (list === undefined) {
        const prefix = blob.list.prefix === undefined ? [] : resolve(ref(blob.list.prefix)) as ReadonlyArray<unknown>
        list = [...prefix, ...blob.list.items.map(resolve)]
        lists.set(hash, list)
      }
      return list.slice()
    }
    if (Array.isArray(value)) return value.map(resolve)
    const out: Record<string, unknown> = {}
    for (const [key, field] of Object.entries(value)) out[key] = resolve(field)
    return out
  }
  return resolve
}
