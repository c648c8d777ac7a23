/**
 * The `graphent` command line.
 *
 * Exit codes: 0 success, 1 the agent's run failed, 2 bad usage or bad input
 * (unknown flag, missing file, a file that holds no agent), 3 the run is
 * paused until someone approves or rejects a step (`graphent approve`).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Argument from "effect/cli/Argument"
import * as CliError from "effect/cli/CliError"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as JournalFile from "../layers/JournalFile.js"
import * as JournalMemory from "../layers/JournalMemory.js"
import { AgentRuntime, type RunOptions } from "../services/AgentRuntime.js"
import * as Replay from "../layers/Replay.js"
import { version } from "../version.js"
import {
  agentFlag,
  Exit,
  inMemory,
  jsonFlag,
  load,
  openRecording,
  printEvents,
  runFlag,
  runWith,
  usageError,
  writeLine
} from "./cliSupport.js"
import * as CliStorage from "./cliStorage.js"
import { printStream } from "./cliStream.js"
import { dev } from "./cliDev.js"
import * as CliSecurity from "./cliSecurity.js"

const run = Command.make(
  "run",
  {
    file: Argument.String("agent-file").pipe(
      Argument.withDescription("A TypeScript or JavaScript module whose default export is an agent")
    ),
    input: Flag.String("input").pipe(
      Flag.withAlias("i"),
      Flag.withDescription("The input of the run"),
      Flag.withDefault("")
    ),
    json: jsonFlag,
    record: Flag.String("record").pipe(
      Flag.withDescription("Write the run's journal to this JSON Lines file (replaced if it exists)"),
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
  Effect.fn("graphent.cli.run")(function*({ file, input, json, record, thread, stream }) {
    if (json && stream) return yield* usageError("--json and --stream cannot be used together")
    const module = yield* load(file)
    if (Option.isSome(record)) {
      yield* Effect.try({
        try: () => fs.writeFileSync(record.value, ""),
        catch: (error) => usageError(`cannot write --record file: ${(error as Error).message}`)
      })
    }
    const options: RunOptions = {
      threadId: Option.getOrUndefined(thread),
      // Relative to the working directory, so a journal committed with a project replays from any checkout.
      metadata: { agentFile: path.relative(process.cwd(), module.file) },
      principal: yield* CliSecurity.runPrincipal
    }
    yield* runWith(
      module,
      CliStorage.runStores(record),
      Effect.gen(function*() {
        const runtime = yield* AgentRuntime
        if (json) {
          yield* runtime.stream(module.agent, input, options).pipe(Stream.runForEach(printEvents(true)))
        } else if (stream) {
          yield* printStream(runtime.stream(module.agent, input, options))
        } else {
          const result = yield* runtime.run(module.agent, input, options)
          yield* writeLine(result.answer)
        }
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
    }
  ])
)

const replay = Command.make(
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
      Flag.withDescription("A request field that may differ (dot path, * for any key), e.g. args.timestamp"),
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

const resume = Command.make(
  "resume",
  {
    journal: Argument.String("journal").pipe(Argument.withDescription("The journal of a run that did not finish")),
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
    const { events, recorded, module } = yield* openRecording(journal, agent, run)
    const result = yield* runWith(
      module,
      CliStorage.resumeStores(journal),
      Replay.resume(module.agent, events, { runId: recorded.runId, assumeDone, retry })
    )
    if (json) yield* Effect.forEach(result.events, printEvents(true), { discard: true })
    else yield* writeLine(result.answer)
  })
).pipe(Command.withDescription("Continue a run that crashed or was interrupted, from its journal"))

// `trace list` and `trace show`, on journal files and on journal databases (--db).
const trace = CliStorage.trace

const graphent = Command.make("graphent").pipe(
  Command.withDescription("Graphent: build, run and inspect agents"),
  Command.withSubcommands([run, replay, resume, trace, dev, CliSecurity.approve, CliSecurity.reject, CliSecurity.audit])
)

/**
 * Runs the CLI on `argv` (without the node and script entries) and returns
 * the exit code.
 *
 * @since 0.1.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  Command.runWith(graphent, { version })(argv).pipe(
    Effect.as(0),
    Effect.catch((error: unknown) =>
      Effect.sync(() => {
        if (error instanceof Exit) {
          process.stderr.write(`error: ${error.reason}\n`)
          return error.code
        }
        // Parse errors were already shown with the help text by the CLI module.
        if (CliError.isCliError(error)) return error._tag === "ShowHelp" && error.errors.length === 0 ? 0 : 2
        process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`)
        return 1
      })
    ),
    Effect.provide(NodeServices.layer)
  ) as Effect.Effect<number>

/**
 * Runs the CLI as the process's main program: exits with {@link main}'s code.
 *
 * @since 0.1.0
 * @category running
 */
export const runMain = (argv: ReadonlyArray<string>): void =>
  NodeRuntime.runMain(main(argv), {
    teardown: (exit, onExit) => onExit(exit._tag === "Success" ? exit.value as number : 1)
  })
