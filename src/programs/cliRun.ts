/**
 * The commands that run agents: `graphent run`, `replay` and `resume`.
 *
 * @since 0.2.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as JournalFile from "../layers/JournalFile.js"
import * as JournalMemory from "../layers/JournalMemory.js"
import * as Storage from "../layers/Storage.js"
import { AgentRuntime, Ids, type RunOptions } from "../services/AgentRuntime.js"
import * as Replay from "../layers/Replay.js"
import * as RunOwner from "../internal/runOwner.js"
import {
  agentFlag,
  inMemory,
  jsonFlag,
  load,
  openRecording,
  printEvents,
  runFlag,
  runWith,
  startRecording,
  usageError,
  writeLine
} from "./cliSupport.js"
import * as CliStorage from "./cliStorage.js"
import { printStream } from "./cliStream.js"
import * as CliSecurity from "./cliSecurity.js"

/** The one line `graphent run` prints when it is interrupted (Ctrl-C): the run id, and how to go on. */
const interruptedNotice = (runId: string, kept: boolean, record: Option.Option<string>): string => {
  if (kept) return `interrupted: run ${runId}; continue it with: graphent resume ${runId}`
  return Option.match(record, {
    onNone: () => `interrupted: run ${runId}; it was kept nowhere (GRAPHENT_STORE=memory, no --record): it cannot be resumed`,
    onSome: (file) => `interrupted: run ${runId}; continue it with: graphent resume ${file}`
  })
}

const readStream = async (stream: NodeJS.ReadableStream): Promise<string> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString("utf8")
}

/** The run's input: `--input TEXT`, `--input -` (standard input), `--input-file PATH`, or empty. */
const readInput = (text: Option.Option<string>, file: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(text) && Option.isSome(file)) return yield* usageError("give --input or --input-file, not both")
    const source = Option.isSome(file) ? file.value : Option.isSome(text) && text.value === "-" ? 0 : undefined
    if (source === undefined) return Option.getOrElse(text, () => "")
    // Standard input is read as a stream: a pipe may be non-blocking, where a synchronous read fails with EAGAIN.
    return yield* Effect.tryPromise({
      try: () => source === 0 ? readStream(process.stdin) : fs.promises.readFile(source, "utf8"),
      catch: (error) =>
        usageError(`cannot read the input from ${source === 0 ? "standard input" : source}: ${(error as Error).message}`)
    })
  })

/**
 * `graphent run`.
 *
 * @since 0.2.0
 * @category commands
 */
export const run = Command.make(
  "run",
  {
    file: Argument.String("agent-file").pipe(
      Argument.withDescription("A TypeScript or JavaScript module whose default export is an agent")
    ),
    input: Flag.String("input").pipe(
      Flag.withAlias("i"),
      Flag.withDescription("The input of the run; - reads it from standard input"),
      Flag.optional
    ),
    inputFile: Flag.String("input-file").pipe(
      Flag.withDescription("Read the input of the run from this file (for inputs longer than a command line takes)"),
      Flag.optional
    ),
    json: jsonFlag,
    record: Flag.String("record").pipe(
      Flag.withDescription("Write the run's journal to this JSON Lines file (replaced if it exists; its folder is created)"),
      Flag.optional
    ),
    thread: Flag.String("thread").pipe(
      Flag.withDescription("The conversation thread id passed to the agent's tools"),
      Flag.optional
    ),
    stream: Flag.Boolean("stream").pipe(
      Flag.withDescription("Print the model's text as it arrives, and tool calls on standard error"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("graphent.cli.run")(function*({ file, input: inputFlag, inputFile, json, record, thread, stream }) {
    if (json && stream) return yield* usageError("--json and --stream cannot be used together")
    const input = yield* readInput(inputFlag, inputFile)
    const module = yield* load(file)
    if (Option.isSome(record)) yield* startRecording(record.value)
    const principal = yield* CliSecurity.runPrincipal
    yield* runWith(
      module,
      CliStorage.runStores(record),
      Effect.gen(function*() {
        const runtime = yield* AgentRuntime
        // The id is chosen here, so that an interrupted run can say how to resume it.
        const runId = (yield* Ids).runId()
        const options: RunOptions = {
          runId,
          threadId: Option.getOrUndefined(thread),
          // Relative to the working directory, so a journal committed with a project replays from any checkout;
          // the process's id, so that a dev server on the same journal shows the run as running while it is.
          metadata: { agentFile: path.relative(process.cwd(), module.file), ...RunOwner.metadata() },
          principal
        }
        const kept = Option.match(yield* Effect.serviceOption(Storage.Storage), {
          onNone: () => true,
          onSome: (storage) => storage.journal !== "memory"
        })
        const running = json
          ? runtime.stream(module.agent, input, options).pipe(Stream.runForEach(printEvents(true)))
          : stream
          ? printStream(runtime.stream(module.agent, input, options))
          : Effect.flatMap(runtime.run(module.agent, input, options), (result) => writeLine(result.answer))
        yield* running.pipe(
          Effect.onInterrupt(() => Effect.sync(() => process.stderr.write(interruptedNotice(runId, kept, record) + "\n")))
        )
      })
    )
  })
).pipe(
  Command.withDescription("Run an agent module on an input and print its answer"),
  Command.withExamples([
    { command: "graphent run examples/echo.ts --input hello", description: "Answer through the echo tool" },
    {
      command: "graphent run examples/todo.ts --input \"add buy milk; list\" --record run.jsonl",
      description: "Keep the run's journal, for replay and trace"
    },
    { command: "cat report.txt | graphent run examples/wordstats.ts --input -", description: "The input from stdin" }
  ])
)

/**
 * `graphent replay`.
 *
 * @since 0.2.0
 * @category commands
 */
export const replay = Command.make(
  "replay",
  {
    journal: Argument.String("journal").pipe(Argument.withDescription("A journal written by graphent run --record")),
    agent: agentFlag,
    run: runFlag,
    update: Flag.Boolean("update").pipe(
      Flag.withDescription("Show the divergence, then re-record the journal, live from the first divergence"),
      Flag.withDefault(false)
    ),
    ignore: Flag.String("ignore").pipe(
      Flag.withDescription(
        "A request field that may differ: its exact dot path (args.timestamp is a tool call's argument; " +
          "steps.*.args.timestamp the plan's); * is any one key, ** any number (**.timestamp: everywhere)"
      ),
      Flag.atLeast(0)
    )
  },
  Effect.fn("graphent.cli.replay")(function*({ journal, agent, run, update, ignore }) {
    const { events, recorded, module } = yield* openRecording(journal, agent, run)
    const options = { ignore, runId: recorded.runId }
    if (!update) {
      const report = yield* runWith(module, inMemory(JournalMemory.layer()), Replay.replay(module.agent, events, options))
      yield* writeLine(`identical: ${report.identical} events`)
      return
    }
    // Re-record next to the journal, then replace it: an interrupted update leaves the old journal intact.
    const next = `${journal}.update-${process.pid}`
    const outcome = yield* runWith(module, inMemory(JournalFile.layer({ path: next })), Replay.update(module.agent, events, options)).pipe(
      Effect.tap((outcome) =>
        Effect.sync(() => {
          if (outcome.divergence !== undefined) fs.renameSync(next, journal)
        })
      ),
      Effect.ensuring(Effect.sync(() => fs.rmSync(next, { force: true })))
    )
    if (outcome.divergence === undefined) {
      yield* writeLine(`up to date: ${outcome.result.events.length} events, nothing re-recorded`)
    } else {
      yield* writeLine(outcome.divergence.message)
      yield* writeLine(`re-recorded ${journal}: ${outcome.result.events.length} events`)
    }
  })
).pipe(
  Command.withDescription(
    "Re-run a recorded run with no side effects; exit 0 when identical, 1 at the first divergence"
  )
)

/**
 * `graphent resume`.
 *
 * @since 0.2.0
 * @category commands
 */
export const resume = Command.make(
  "resume",
  {
    journal: Argument.String("journal-or-run").pipe(
      Argument.withDescription(
        "The run to continue: a journal file, or the id of a run in the project's store (or a unique prefix of one)"
      )
    ),
    agent: agentFlag,
    run: runFlag,
    json: jsonFlag,
    assumeDone: Flag.String("assume-done").pipe(
      Flag.withDescription("A step that was in flight at the crash and did take effect: do not run it again"),
      Flag.atLeast(0)
    ),
    retry: Flag.String("retry").pipe(
      Flag.withDescription("A step that was in flight at the crash and did not take effect: run it again"),
      Flag.atLeast(0)
    )
  },
  Effect.fn("graphent.cli.resume")(function*({ journal, agent, run, json, assumeDone, retry }) {
    const { events, recorded, module, stores } = yield* CliStorage.openRun(journal, agent, run)
    const result = yield* runWith(
      module,
      stores,
      Replay.resume(module.agent, events, { runId: recorded.runId, assumeDone, retry })
    )
    if (json) yield* Effect.forEach(result.events, printEvents(true), { discard: true })
    else yield* writeLine(result.answer)
  }, Effect.scoped)
).pipe(
  Command.withDescription("Continue a run that crashed or was interrupted, from a journal file or the project's store"),
  Command.withExamples([
    { command: "graphent resume 6c63c2f1", description: "Continue the run the store keeps under that id (prefix)" },
    { command: "graphent resume run.jsonl --retry s3", description: "From a --record file; step s3 was in flight: run it again" }
  ])
)
