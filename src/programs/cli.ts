/**
 * The `graphent` command line.
 *
 * Exit codes: 0 success, 1 the agent's run failed, 2 bad usage or bad input
 * (unknown flag, missing file, a file that holds no agent).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
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
import * as LocalRuntime from "../layers/LocalRuntime.js"
import * as Logging from "../layers/Logging.js"
import * as MemoryInMemory from "../layers/MemoryInMemory.js"
import { AgentRuntime, type RunOptions } from "../services/AgentRuntime.js"
import { version } from "../version.js"
import { type AgentModule, loadAgent } from "./loadAgent.js"

/**
 * Ends the command with an exit code and a message for standard error.
 */
class Exit extends Schema.TaggedError<Exit>()("Exit", { code: Schema.Number, reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

const usageError = (reason: string) => new Exit({ code: 2, reason })

const writeLine = (line: string) => Effect.sync(() => void process.stdout.write(line + "\n"))

/** What an agent module's run needs: runtime, journal, memory, logging, and the module's own layer. */
const runLayer = (module: AgentModule, record: Option.Option<string>) => {
  const journal = Option.match(record, {
    onNone: () => JournalMemory.layer(),
    onSome: (path) => JournalFile.layer({ path })
  })
  const base = Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(journal)),
    MemoryInMemory.layer,
    Logging.layerConfig({ stderr: true })
  )
  return module.layer === undefined ? base : Layer.provideMerge(module.layer, base)
}

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
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print the run's events as JSON lines instead of the answer"),
      Flag.withDefault(false)
    ),
    record: Flag.String("record").pipe(
      Flag.withDescription("Write the run's journal to this JSON Lines file (replaced if it exists)"),
      Flag.optional
    ),
    thread: Flag.String("thread").pipe(
      Flag.withDescription("The conversation thread id passed to the agent's tools"),
      Flag.optional
    )
  },
  Effect.fn("graphent.cli.run")(function*({ file, input, json, record, thread }) {
    const module = yield* loadAgent(file).pipe(Effect.mapError((error) => usageError(error.message)))
    if (Option.isSome(record)) {
      yield* Effect.try({
        try: () => fs.writeFileSync(record.value, ""),
        catch: (error) => usageError(`cannot write --record file: ${(error as Error).message}`)
      })
    }
    const options: RunOptions = {
      threadId: Option.getOrUndefined(thread),
      metadata: { agentFile: module.file }
    }
    const program = Effect.gen(function*() {
      const runtime = yield* AgentRuntime
      if (json) {
        yield* runtime.stream(module.agent, input, options).pipe(
          Stream.runForEach((event) => writeLine(JSON.stringify(event)))
        )
      } else {
        const result = yield* runtime.run(module.agent, input, options)
        yield* writeLine(result.answer)
      }
    })
    yield* program.pipe(
      Effect.provide(runLayer(module, record) as Layer.Layer<AgentRuntime>),
      Effect.mapError((error) =>
        error instanceof Error && "_tag" in error && error._tag === "JournalError"
          ? new Exit({ code: 2, reason: error.message })
          : new Exit({ code: 1, reason: `run failed: ${error instanceof Error ? error.message : String(error)}` })
      )
    )
  })
).pipe(
  Command.withDescription("Run an agent module on an input and print its answer"),
  Command.withExamples([
    { command: "graphent run examples/echo.ts --input hello", description: "Answer through the echo tool" },
    {
      command: "graphent run examples/todo.ts --input \"add buy milk; list\" --json",
      description: "Print the run's events as JSON lines"
    }
  ])
)

const graphent = Command.make("graphent").pipe(
  Command.withDescription("Graphent: build, run and inspect agents"),
  Command.withSubcommands([run])
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
