/**
 * Datasets of eval cases: what an experiment (`Eval.run`) runs an agent on.
 *
 * A dataset is a JSON Lines file, one case a line:
 *
 * ```json
 * {"id":"sum","input":"what is 2 + 3?","expected":"The answer is 5.","tools":["calculator"],"tags":["math"]}
 * ```
 *
 * `input` is required; `id` defaults to `case-<line>`; `thread` is the
 * conversation thread the case runs in; `expected` is the reference answer
 * (a string) or value (any JSON, compared with the agent's output); `tools`
 * the reference tool-call trajectory; `source` the recorded run the case was
 * taken from (`graphent eval dataset add`), whose model calls answer the
 * experiment's while the prompt is unchanged.
 *
 * @since 0.3.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import { issueOf } from "../internal/issue.js"
import type { Recording } from "./Replay.js"

/**
 * The recorded run a case comes from: a journal file and the run's id in it.
 *
 * @since 0.3.0
 * @category models
 */
export const Source = Schema.Struct({
  /** The journal file, relative to the dataset file's folder (or absolute). */
  journal: Schema.String,
  runId: Schema.String
})

/**
 * @since 0.3.0
 * @category models
 */
export type Source = typeof Source.Type

/**
 * One line of a dataset file.
 *
 * @since 0.3.0
 * @category models
 */
export const CaseLine = Schema.Struct({
  id: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  input: Schema.String,
  thread: Schema.optionalKey(Schema.String),
  /** The reference answer (a string) or output value (any JSON). */
  expected: Schema.optionalKey(Schema.Unknown),
  /** The reference tool-call trajectory: tool names in the order they were called. */
  tools: Schema.optionalKey(Schema.Array(Schema.String)),
  tags: Schema.optionalKey(Schema.Array(Schema.String)),
  source: Schema.optionalKey(Source)
})

/**
 * A case of a dataset: a {@link CaseLine} with its id.
 *
 * @since 0.3.0
 * @category models
 */
export type Case = typeof CaseLine.Type & { readonly id: string }

/**
 * A dataset: its cases, in file order, with unique ids.
 *
 * @since 0.3.0
 * @category models
 */
export interface Dataset {
  /** The file it was read from, if any (a case's `source.journal` is relative to its folder). */
  readonly file: string | undefined
  readonly cases: ReadonlyArray<Case>
}

/**
 * A dataset file that cannot be read or decoded. `line` is 1-based (0 when
 * the file itself cannot be read).
 *
 * @since 0.3.0
 * @category errors
 */
export class DatasetInvalid extends Schema.TaggedError<DatasetInvalid>()("DatasetInvalid", {
  file: Schema.String,
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return this.line === 0 ? `dataset ${this.file}: ${this.reason}` : `dataset ${this.file}, line ${this.line}: ${this.reason}`
  }
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

const decodeLine = Schema.decodeUnknownExit(CaseLine)

/**
 * Decodes the text of a dataset file. Blank lines are skipped; a line that is
 * not JSON, not a case, or repeats an id fails with {@link DatasetInvalid}
 * naming its line.
 *
 * @since 0.3.0
 * @category decoding
 */
export const parse = (text: string, file = "<dataset>"): Effect.Effect<Dataset, DatasetInvalid> =>
  Effect.suspend(() => {
    const cases: Array<Case> = []
    const seen = new Set<string>()
    const lines = text.split("\n")
    for (let index = 0; index < lines.length; index++) {
      const raw = lines[index]!.trim()
      if (raw === "") continue
      const line = index + 1
      const invalid = (reason: string) => Effect.fail(new DatasetInvalid({ file, line, reason }))
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch (error) {
        return invalid(`not JSON: ${(error as Error).message}`)
      }
      const decoded = decodeLine(json)
      if (decoded._tag === "Failure") return invalid(issueOf(decoded))
      const id = decoded.value.id ?? `case-${line}`
      if (seen.has(id)) return invalid(`the id "${id}" is already used by an earlier case`)
      seen.add(id)
      cases.push({ ...decoded.value, id })
    }
    return Effect.succeed({ file, cases })
  })

/**
 * Reads and decodes a dataset file.
 *
 * @since 0.3.0
 * @category decoding
 */
export const read = (file: string): Effect.Effect<Dataset, DatasetInvalid> =>
  Effect.flatMap(
    Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (error) => new DatasetInvalid({ file, line: 0, reason: `cannot read: ${(error as Error).message}` })
    }),
    (text) => parse(text, file)
  )

/**
 * A dataset from cases written in code (ids default to `case-<n>`, from 1).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (cases: ReadonlyArray<typeof CaseLine.Type>): Dataset => ({
  file: undefined,
  cases: cases.map((line, index) => ({ ...line, id: line.id ?? `case-${index + 1}` }))
})

/**
 * The dataset's cases as JSON Lines (the file format {@link parse} reads).
 *
 * @since 0.3.0
 * @category encoding
 */
export const render = (cases: ReadonlyArray<typeof CaseLine.Type>): string =>
  cases.map((line) => JSON.stringify(line) + "\n").join("")

/**
 * The case a finished recorded run gives: its input and thread, its answer as
 * the expected one, its tool calls as the reference trajectory, and the run as
 * its source. `journal` is the path stored in `source` (make it relative to
 * the dataset's folder). `undefined` when the run did not complete.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromRecording = (recording: Recording, journal: string): Case | undefined => {
  const end = recording.end?.event
  if (end === undefined || end._tag !== "RunCompleted") return undefined
  const tools = recording.events.flatMap((event) => event._tag === "StepStarted" ? [event.tool] : [])
  return {
    id: recording.runId,
    input: recording.input,
    ...(recording.threadId === undefined ? {} : { thread: recording.threadId }),
    expected: end.answer,
    tools,
    source: { journal, runId: recording.runId }
  }
}

/**
 * Where a case's source journal is: `source.journal` resolved against the
 * dataset file's folder.
 *
 * @since 0.3.0
 * @category utils
 */
export const sourcePath = (dataset: Dataset, source: Source): string =>
  path.resolve(dataset.file === undefined ? "." : path.dirname(dataset.file), source.journal)
