/**
 * A JSON Lines journal file.
 *
 * The first line is a header (format, version, Graphent version, creation
 * time); every other line is one event. Each event is written with one
 * `write(2)` as soon as it is appended, so a process killed mid-run leaves
 * every event it reported, and at worst a torn last line, which reading drops.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { Journal, JournalError, type JournalShape } from "../services/Journal.js"
import { RunEvent } from "../services/RunEvent.js"
import { version } from "../version.js"
import * as Blobs from "../internal/blobs.js"
import { issueOf } from "../internal/issue.js"

/**
 * The first line of a journal file.
 *
 * @since 0.1.0
 * @category models
 */
export const Header = Schema.Struct({
  _tag: Schema.Literal("JournalHeader"),
  format: Schema.Literal("graphent-journal"),
  version: Schema.Number,
  graphent: Schema.String,
  createdAt: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Header = typeof Header.Type

/**
 * The journal format version this code writes and reads.
 *
 * @since 0.1.0
 * @category models
 */
export const formatVersion = 1

const BlobLine = Schema.Struct({
  _tag: Schema.Literal("Blob"),
  hash: Schema.String,
  value: Schema.optionalKey(Schema.Unknown),
  list: Schema.optionalKey(Schema.Struct({
    prefix: Schema.optionalKey(Schema.String),
    items: Schema.Array(Schema.Unknown)
  }))
})

const decodeHeader = Schema.decodeUnknownExit(Header)
const decodeBlob = Schema.decodeUnknownExit(BlobLine)
const decodeEvent = Schema.decodeUnknownExit(RunEvent)
const backend = "file"

const failure = (operation: JournalError["operation"], reason: string, cause?: unknown) =>
  new JournalError(cause === undefined ? { backend, operation, reason } : { backend, operation, reason, cause })

/**
 * The contents of a journal file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Contents {
  readonly header: Header
  readonly events: ReadonlyArray<RunEvent>
  /** The payloads stored once and referenced by events (already resolved in `events`). */
  readonly blobs: ReadonlyArray<Blobs.Blob>
  /** Whether a torn (incomplete) last line was found and dropped. */
  readonly tornTail: boolean
}

/**
 * Parses the text of a journal file. Errors name the line (1-based).
 *
 * @since 0.1.0
 * @category decoding
 */
export const parse = (text: string, path: string): Effect.Effect<Contents, JournalError> =>
  Effect.suspend(() => {
    const lines = text.split("\n")
    // A complete file ends with "\n": the last element is then "". Anything else is a torn tail.
    const tail = lines.pop()!
    const tornTail = tail !== ""
    if (lines.length === 0) {
      return Effect.fail(failure("read", `${path}: empty file, expected a journal header on line 1`))
    }
    const events: Array<RunEvent> = []
    const blobs = new Map<string, Blobs.Blob>()
    const resolve = Blobs.makeResolver(blobs)
    let header: Header | undefined
    for (let index = 0; index < lines.length; index++) {
      const line = lines[index]!
      const lineNo = index + 1
      if (line.trim() === "") continue
      let json: unknown
      try {
        json = JSON.parse(line)
      } catch (error) {
        return Effect.fail(failure("read", `${path}:${lineNo}: not JSON (${(error as Error).message})`))
      }
      if (header === undefined) {
        const decoded = decodeHeader(json)
        if (decoded._tag === "Failure") {
          const found = json as Record<string, unknown> | null
          if (found?._tag === "JournalHeader" && typeof found.version === "number" && found.version !== formatVersion) {
            return Effect.fail(failure(
              "read",
              `${path}:${lineNo}: unknown journal version ${found.version} (this Graphent reads version ${formatVersion})`
            ))
          }
          return Effect.fail(failure("read", `${path}:${lineNo}: expected a journal header, ${issueOf(decoded)}`))
        }
        if (decoded.value.version !== formatVersion) {
          return Effect.fail(failure(
            "read",
            `${path}:${lineNo}: unknown journal version ${decoded.value.version} (this Graphent reads version ${formatVersion})`
          ))
        }
        header = decoded.value
        continue
      }
      if ((json as { _tag?: unknown } | null)?._tag === "Blob") {
        const blob = decodeBlob(json)
        if (blob._tag === "Failure") return Effect.fail(failure("read", `${path}:${lineNo}: not a valid blob: ${issueOf(blob)}`))
        blobs.set(blob.value.hash, blob.value as Blobs.Blob)
        continue
      }
      if (line.includes(Blobs.refKey)) {
        try {
          json = resolve(json)
        } catch (error) {
          if (!(error instanceof Blobs.MissingBlob)) throw error
          return Effect.fail(failure("read", `${path}:${lineNo}: refers to blob ${error.hash}, which the file does not hold`))
        }
      }
      const decoded = decodeEvent(json)
      if (decoded._tag === "Failure") {
        return Effect.fail(failure("read", `${path}:${lineNo}: not a valid event: ${issueOf(decoded)}`))
      }
      events.push(decoded.value)
    }
    if (header === undefined) return Effect.fail(failure("read", `${path}: no journal header`))
    return Effect.succeed({ header, events, blobs: [...blobs.values()], tornTail })
  })

/**
 * Reads and parses a journal file.
 *
 * @since 0.1.0
 * @category decoding
 */
export const readFile = (path: string): Effect.Effect<Contents, JournalError> =>
  Effect.try({
    try: () => fs.readFileSync(path, "utf8"),
    catch: (error) => failure("read", `${path}: ${(error as Error).message}`, error)
  }).pipe(Effect.flatMap((text) => parse(text, path)))

/**
 * Cuts an incomplete last line (left by a process that died mid-write), so the
 * next event starts on a line of its own.
 */
const dropTornTail = (fd: number): void => {
  const size = fs.fstatSync(fd).size
  if (size === 0) return
  const chunk = Buffer.alloc(Math.min(size, 64 * 1024))
  let end = size
  while (end > 0) {
    const length = Math.min(chunk.length, end)
    fs.readSync(fd, chunk, 0, length, end - length)
    const newline = chunk.subarray(0, length).lastIndexOf(10)
    if (newline !== -1) {
      const keep = end - length + newline + 1
      if (keep !== size) fs.ftruncateSync(fd, keep)
      return
    }
    end -= length
  }
  fs.ftruncateSync(fd, 0)
}

/** The lines (each ended by "\n") that store `event`: the blobs it needs that `writer` has not written yet, then the event. */
const linesOf = (writer: ReturnType<typeof Blobs.makeWriter>, event: RunEvent): string => {
  const line = JSON.stringify(event)
  if (line.length <= Blobs.inlineLimit) return line + "\n"
  const { blobs, value } = writer.encode(event)
  return [...blobs, value].map((entry) => JSON.stringify(entry) + "\n").join("")
}

/**
 * The text of a journal file holding `events`: the header, then each event
 * (and the blobs it refers to) as {@link layer} would have appended it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const render = (events: ReadonlyArray<RunEvent>, createdAt: number = Date.now()): string => {
  const header: Header = { _tag: "JournalHeader", format: "graphent-journal", version: formatVersion, graphent: version, createdAt }
  const writer = Blobs.makeWriter()
  let text = JSON.stringify(header) + "\n"
  for (const event of events) text += linesOf(writer, event)
  return text
}

/**
 * Opens (or creates) the file and returns a journal that appends to it.
 * The file is closed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (path: string) =>
  Effect.gen(function*() {
    const fd = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const fd = fs.openSync(path, "a+")
          dropTornTail(fd)
          if (fs.fstatSync(fd).size === 0) {
            const header: Header = {
              _tag: "JournalHeader",
              format: "graphent-journal",
              version: formatVersion,
              graphent: version,
              createdAt: Date.now()
            }
            fs.writeSync(fd, JSON.stringify(header) + "\n")
          }
          return fd
        },
        catch: (error) => failure("open", `cannot open ${path}: ${(error as Error).message}`, error)
      }),
      (fd) => Effect.sync(() => fs.closeSync(fd))
    )
    const writer = Blobs.makeWriter()
    // Reopened (resume): the blobs already in the file need not be written again.
    if (fs.fstatSync(fd).size > 0) {
      const existing = yield* readFile(path).pipe(Effect.mapError((error) => failure("open", error.reason, error)))
      for (const blob of existing.blobs) writer.remember(blob)
    }
    const readAll = readFile(path)
    const journal: JournalShape = {
      append: (event) =>
        Effect.try({
          // One write for the blobs and the event that needs them.
          try: () => void fs.writeSync(fd, linesOf(writer, event)),
          catch: (error) => failure("append", `${path}: ${(error as Error).message}`, error)
        }),
      read: (runId) => Effect.map(readAll, (contents) => contents.events.filter((event) => event.runId === runId)),
      runs: Effect.map(readAll, (contents) => [
        ...new Set(contents.events.flatMap((event) => event._tag === "RunStarted" ? [event.runId] : []))
      ])
    }
    return journal
  })

/**
 * A journal kept in one JSON Lines file, any number of runs per file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly path: string }): Layer.Layer<Journal, JournalError> =>
  Layer.effect(Journal, make(options.path))
