/**
 * `graphent fork`: time travel with an edit. Replays a recorded run up to a
 * step or a turn (no side effect runs again, no model is called), applies an
 * edit there, and goes on live — or offline with `--model scripted:FILE`.
 * The fork is a new run: kept in the project's store like `graphent run`'s,
 * and with `--record FILE` in a journal file too, with its parent in
 * `RunStarted.forkedFrom` (see `Replay.fork`, docs/fork.md).
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as RunOwner from "../internal/runOwner.js"
import * as Replay from "../layers/Replay.js"
import * as ScriptedModel from "../layers/ScriptedModel.js"
import * as Storage from "../layers/Storage.js"
import type { Recording } from "../services/Replay.js"
import type { ForkEdit } from "../services/RunEvent.js"
import {
  agentFlag,
  jsonFlag,
  printEvents,
  runFlag,
  runWith,
  startRecording,
  usageError,
  writeLine
} from "./cliSupport.js"
import * as CliSecurity from "./cliSecurity.js"
import * as CliStorage from "./cliStorage.js"

/**
 * The fork point of `--at`: `turn:N`, `step:ID`, or a bare value — a step of
 * the recording when it has one by that id (todo's steps are `1`, `2`, …),
 * else a turn when it is a number, else a step (which `Replay.fork` reports
 * as unknown, with the steps there are).
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseForkPoint = (text: string, recorded: Pick<Recording, "started" | "outcomes">): string | number => {
  const turn = /^turn:(.*)$/.exec(text)
  if (turn !== null) return /^\d+$/.test(turn[1]!.trim()) ? Number(turn[1]) : Number.NaN
  const step = /^step:(.*)$/.exec(text)
  if (step !== null) return step[1]!
  if (recorded.started.has(text) || recorded.outcomes.has(text)) return text
  return /^\d+$/.test(text) ? Number(text) : text
}

/** `KEY=VALUE`, split at the first `=`. */
const splitAssignment = (flag: string, text: string, key: string) => {
  const at = text.indexOf("=")
  if (at <= 0) return Effect.fail(usageError(`${flag} takes ${key}=VALUE, got ${JSON.stringify(text)}`))
  return Effect.succeed([text.slice(0, at), text.slice(at + 1)] as const)
}

/** `N=TEXT` of a flag that names a model call. */
const callAssignment = (flag: string, text: string) =>
  Effect.flatMap(splitAssignment(flag, text, "N"), ([call, value]) =>
    /^\d+$/.test(call) && Number(call) >= 1
      ? Effect.succeed([Number(call), value] as const)
      : Effect.fail(usageError(`${flag} N=TEXT: N is a model call number (1, 2, …), got ${JSON.stringify(call)}`)))

/** The edit of the flags: at most one of them. */
const editOf = (
  setResult: Option.Option<string>,
  setInput: Option.Option<string>,
  editMessage: Option.Option<string>,
  setReply: Option.Option<string>
) =>
  Effect.gen(function*() {
    const given = [setResult, setInput, editMessage, setReply].filter(Option.isSome).length
    if (given > 1) return yield* usageError("give one edit: --set-result, --set-input, --edit-message or --set-reply")
    if (Option.isSome(setResult)) {
      const [step, json] = yield* splitAssignment("--set-result", setResult.value, "STEP")
      const result = yield* Effect.try({
        try: (): unknown => JSON.parse(json),
        catch: (error) => usageError(`--set-result ${step}=…: the result is not JSON: ${(error as Error).message}`)
      })
      return Replay.setResult(step, result)
    }
    if (Option.isSome(setInput)) return Replay.setInput(setInput.value)
    if (Option.isSome(editMessage)) {
      const [call, text] = yield* callAssignment("--edit-message", editMessage.value)
      return Replay.editMessage(call, text)
    }
    if (Option.isSome(setReply)) {
      const [call, text] = yield* callAssignment("--set-reply", setReply.value)
      return Replay.setReply(call, text)
    }
    return undefined
  })

/** A reply of a `--model scripted:FILE` script: text, or tool calls (with optional text). */
const ScriptReply = Schema.Union([
  Schema.String,
  Schema.Struct({ text: Schema.String }),
  Schema.Struct({
    toolCalls: Schema.Array(Schema.Struct({ name: Schema.String, params: Schema.Unknown, id: Schema.optionalKey(Schema.String) })),
    text: Schema.optionalKey(Schema.String)
  })
])

const decodeReply = Schema.decodeUnknownExit(ScriptReply)

/**
 * The replies of a model script: a JSON array, or JSON Lines (one reply a
 * line); a reply is a string (the model's text), `{ "text": … }`, or
 * `{ "toolCalls": [{ "name", "params" }], "text"? }`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseScript = (source: string, file: string): Effect.Effect<Array<ScriptedModel.Reply>, ReturnType<typeof usageError>> =>
  Effect.gen(function*() {
    const trimmed = source.trim()
    let entries: Array<{ readonly where: string; readonly value: unknown }>
    try {
      entries = trimmed.startsWith("[")
        ? (JSON.parse(trimmed) as Array<unknown>).map((value, index) => ({ where: `reply ${index + 1}`, value }))
        : source.split("\n").flatMap((line, index) =>
          line.trim() === "" ? [] : [{ where: `line ${index + 1}`, value: JSON.parse(line) as unknown }]
        )
    } catch (error) {
      return yield* usageError(`${file}: not a JSON array or JSON Lines of replies: ${(error as Error).message}`)
    }
    const replies: Array<ScriptedModel.Reply> = []
    for (const { value, where } of entries) {
      const decoded = decodeReply(value)
      if (decoded._tag === "Failure") {
        return yield* usageError(
          `${file}, ${where}: a reply is "text", {"text": …} or {"toolCalls": [{"name": …, "params": …}]}`
        )
      }
      const reply = decoded.value
      replies.push(
        typeof reply === "string"
          ? ScriptedModel.text(reply)
          : "toolCalls" in reply
          ? ScriptedModel.toolCalls(reply.toolCalls, { text: reply.text })
          : ScriptedModel.text(reply.text)
      )
    }
    return replies
  })

/** `--model scripted:FILE`: the model layer that answers the fork's live model calls. */
const modelOf = (model: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isNone(model)) return Layer.empty
    const file = /^scripted:(.+)$/.exec(model.value)?.[1]
    if (file === undefined) {
      return yield* usageError(`--model takes scripted:FILE (a live model is set with GRAPHENT_MODEL), got ${model.value}`)
    }
    const source = yield* Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (error) => usageError(`--model: cannot read ${file}: ${(error as Error).message}`)
    })
    return ScriptedModel.layer(yield* parseScript(source, file))
  })

const describeEdit = (edit: ForkEdit | undefined): string => {
  switch (edit?._tag) {
    case undefined:
      return "no edit"
    case "SetResult":
      return `step ${edit.stepId} answers ${JSON.stringify(edit.result)}`
    case "SetInput":
      return `input ${JSON.stringify(edit.input)}`
    case "EditMessage":
      return `the message model call ${edit.call} answers says ${JSON.stringify(edit.text)}`
    case "SetReply":
      return `the model's reply to call ${edit.call} says ${JSON.stringify(edit.text)}`
  }
}

/** An optional string flag. */
const option = (name: string, description: string) => Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

/**
 * `graphent fork`.
 *
 * @since 0.2.0
 * @category commands
 */
export const fork = Command.make(
  "fork",
  {
    journal: Argument.String("journal-or-run").pipe(
      Argument.withDescription("The run to fork: a journal file, or the id of a run in the project's store (or a unique prefix)")
    ),
    at: option(
      "at",
      "The fork point: a step id or a turn number (turn:N, step:ID when ambiguous); before it, the run is replayed. " +
        "Default: the point of the edit"
    ),
    setResult: option("set-result", "STEP=JSON: the step answers with this result instead of running (the fork starts at it)"),
    setInput: option("set-input", "The run's input, changed (the fork starts at turn 1 unless --at says otherwise)"),
    editMessage: option(
      "edit-message",
      "N=TEXT: the message model call N answers (its prompt's last: the input, or the tool results before it) says " +
        "TEXT; the model answers it live or from --model (the fork starts at that turn)"
    ),
    setReply: option("set-reply", "N=TEXT: the model's reply to its call N is this message, no model called (the fork starts at that turn)"),
    record: option("record", "Write the fork's journal to this JSON Lines file too (replaced if it exists; its folder is created)"),
    model: option("model", "scripted:FILE answers the fork's live model calls from a script (JSON array or lines of replies)"),
    ignore: Flag.String("ignore").pipe(
      Flag.withDescription("A request field that may differ before the fork point, as graphent replay --ignore takes it"),
      Flag.atLeast(0)
    ),
    agent: agentFlag,
    run: runFlag,
    json: jsonFlag
  },
  Effect.fn("graphent.cli.fork")(function*(
    { agent, at, editMessage, ignore, journal, json, model, record, run, setInput, setReply, setResult }
  ) {
    const edit = yield* editOf(setResult, setInput, editMessage, setReply)
    const modelLayer = yield* modelOf(model)
    const opened = yield* CliStorage.openRun(journal, agent, run)
    const { events, module, recorded } = opened
    if (Option.isSome(record)) yield* startRecording(record.value)
    const principal = yield* CliSecurity.runPrincipal
    // A run of the store is forked into the store already open; a journal file is never written to.
    const stores = CliStorage.runStores(record, opened.source === "store" ? opened.stores : Storage.layerConfig())
    const forked = yield* runWith(
      module,
      stores,
      Replay.fork(module.agent, events, {
        runId: recorded.runId,
        at: Option.getOrUndefined(Option.map(at, (text) => parseForkPoint(text, recorded))),
        edit,
        ignore,
        metadata: RunOwner.metadata(),
        principal
      }).pipe(Effect.provide(modelLayer))
    )
    process.stderr.write(
      `forked run ${forked.result.runId} from run ${forked.forkedFrom.runId} at ${forked.forkedFrom.at} ` +
        `(${describeEdit(forked.forkedFrom.edit)}); ${forked.replayed} events replayed\n`
    )
    if (json) yield* Effect.forEach(forked.result.events, printEvents(true), { discard: true })
    else yield* writeLine(forked.result.answer)
  }, Effect.scoped)
).pipe(
  Command.withDescription(
    "Fork a recorded run at a step or turn with an edit: replayed up to there, live from there; exit 2 on a bad fork point"
  ),
  Command.withExamples([
    {
      command: "graphent fork run.jsonl --at words --set-result 'words=3' --record forked.jsonl",
      description: "What if step words had returned 3? The steps after it run live"
    },
    {
      command: "graphent fork run.jsonl --at 2 --model scripted:replies.json",
      description: "Turn 2 on: the model answers from a script (offline)"
    },
    { command: "graphent fork 6c63c2f1 --set-input 'other text'", description: "A run of the store, with another input" },
    {
      command: "graphent fork run.jsonl --edit-message '2=the file is empty' --model scripted:replies.json",
      description: "What if the tool results model call 2 answered had said this? The model answers it from the script"
    }
  ])
)
