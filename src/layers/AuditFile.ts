/**
 * The {@link Audit} log as a JSON Lines file: a header line, then one entry
 * per line, each written with a single `write(2)` on a file opened for
 * appending (mode 0600), so several processes can append to one file and a
 * crash leaves at worst a torn last line, which reading drops and the next
 * writer to open the file cuts.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Audit, AuditError, type AuditShape, defaultLimit, Entry, matches, type Query } from "../services/Audit.js"

/**
 * The first line of an audit file.
 *
 * @since 0.1.0
 * @category models
 */
export const Header = Schema.Struct({
  _tag: Schema.Literal("AuditHeader"),
  format: Schema.Literal("graphent-audit"),
  version: Schema.Literal(1),
  createdAt: Schema.Number
})

/**
 * Where the audit log's JSON Lines file is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly path: string
}

const backend = "file"
const decodeHeader = Schema.decodeUnknownExit(Header)
const decodeEntry = Schema.decodeUnknownExit(Entry)

const failure = (operation: AuditError["operation"], reason: string, cause?: unknown) =>
  new AuditError(cause === undefined ? { backend, operation, reason } : { backend, operation, reason, cause })

/**
 * Reads the entries of an audit file matching `query` (an absent file holds none).
 *
 * @since 0.1.0
 * @category accessors
 */
export const read = (file: string, query: Query = {}): Effect.Effect<ReadonlyArray<Entry>, AuditError> =>
  Effect.gen(function*() {
    const text = yield* Effect.try({
      try: () => fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "",
      catch: (error) => failure("query", `cannot read ${file}: ${(error as Error).message}`, error)
    })
    if (text === "") return []
    const lines = text.split("\n")
    // Every complete line ends with "\n": the last piece is empty, or a torn line (a crash mid-write), dropped.
    const complete = lines.slice(0, -1)
    const found: Array<Entry> = []
    for (let index = 0; index < complete.length; index++) {
      const line = complete[index]!
      if (line === "") continue
      let json: unknown
      try {
        json = JSON.parse(line)
      } catch {
        return yield* failure("query", `${file}:${index + 1}: not JSON`)
      }
      if (index === 0) {
        if (decodeHeader(json)._tag === "Failure") {
          return yield* failure("query", `${file}:1: not a graphent audit file (no AuditHeader)`)
        }
        continue
      }
      const entry = decodeEntry(json)
      if (entry._tag === "Failure") return yield* failure("query", `${file}:${index + 1}: not an audit entry`)
      if (matches(entry.value, query)) found.push(entry.value)
    }
    const limit = query.limit ?? defaultLimit
    return limit === 0 ? [] : found.slice(-limit)
  })

/** A torn last line (a crash mid-write) is cut before the next entry is appended, as the journal does. */
const cutTornTail = (file: string, fd: number): void => {
  const size = fs.fstatSync(fd).size
  const reader = fs.openSync(file, "r")
  try {
    const chunk = Buffer.alloc(64 * 1024)
    let end = size
    while (end > 0) {
      const start = Math.max(0, end - chunk.length)
      const read = fs.readSync(reader, chunk, 0, end - start, start)
      const newline = chunk.subarray(0, read).lastIndexOf(0x0a)
      if (newline !== -1) {
        const keep = start + newline + 1
        if (keep < size) fs.ftruncateSync(fd, keep)
        return
      }
      end = start
    }
  } finally {
    fs.closeSync(reader)
  }
}

/**
 * Opens (creating it with its header when missing) an audit file for the
 * layer's lifetime.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true })
        const fd = fs.openSync(options.path, "a", 0o600)
        if (fs.fstatSync(fd).size === 0) {
          const header = { _tag: "AuditHeader", format: "graphent-audit", version: 1, createdAt: Date.now() }
          fs.writeSync(fd, JSON.stringify(header) + "\n")
        } else {
          cutTornTail(options.path, fd)
        }
        return fd
      },
      catch: (error) => failure("append", `cannot open ${options.path}: ${(error as Error).message}`, error)
    }),
    (fd) => Effect.sync(() => fs.closeSync(fd))
  ).pipe(
    Effect.map((fd): AuditShape => ({
      append: (entry) =>
        Effect.try({
          try: () => void fs.writeSync(fd, JSON.stringify(Schema.encodeSync(Entry)(entry)) + "\n"),
          catch: (error) => failure("append", `cannot write ${options.path}: ${(error as Error).message}`, error)
        }),
      query: (query) => read(options.path, query)
    }))
  )

/**
 * The audit log in the file at `options.path`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Audit, AuditError> => Layer.effect(Audit, make(options))
