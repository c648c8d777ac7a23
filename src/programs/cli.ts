/**
 * The `graphent` command line. Exit codes and environment variables:
 * `cliHelp.ts` (printed by `graphent --help`).
 *
 * Start-up is kept small: a command's module (and what it imports: the store,
 * the server, ...) is loaded only when that command runs. `graphent run …`
 * loads the run commands alone; the whole command tree is built for the root
 * (`graphent --help`, `--version`) and for anything that is not a known
 * command name, so the parser reports errors exactly as before.
 *
 * @since 0.1.0
 */
import * as path from "node:path"
import * as url from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as CliError from "effect/cli/CliError"
import * as Command from "effect/cli/Command"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Errors from "../services/Errors.js"
import { version } from "../version.js"
import type { Exit } from "./cliSupport.js"
import * as CliHelp from "./cliHelp.js"

/** Any `graphent` subcommand (its flags and handler types do not matter to the root). */
type AnyCommand = Command.Command<any, any, any, any, any>

/**
 * The subcommands in the order `--help` lists them, each loaded on demand. A new command is one line here
 * (e.g. `mcp: () => import("./cliMcp.js").then((m) => m.mcp)`).
 */
const commands: Readonly<Record<string, () => Promise<AnyCommand>>> = {
  init: () => import("./cliInit.js").then((m) => m.init),
  run: () => import("./cliRun.js").then((m) => m.run),
  replay: () => import("./cliRun.js").then((m) => m.replay),
  resume: () => import("./cliRun.js").then((m) => m.resume),
  // `trace list` and `trace show`, on journal files and on journal databases (--db).
  trace: () => import("./cliStorage.js").then((m) => m.trace),
  dev: () => import("./cliDev.js").then((m) => m.dev),
  approve: () => import("./cliSecurity.js").then((m) => m.approve),
  reject: () => import("./cliSecurity.js").then((m) => m.reject),
  audit: () => import("./cliSecurity.js").then((m) => m.audit),
  // `mcp list | pin | serve`: MCP servers' tools, and agents served over MCP.
  mcp: () => import("./cliMcp.js").then((m) => m.mcp),
  // `eval dataset add | eval run`: datasets from recorded runs, experiments with scorers and baselines.
  eval: () => import("./cliEval.js").then((m) => m.evalCommand)
}

/** The root command with the subcommands `argv` can reach: the named one, or all of them. */
const rootFor = (argv: ReadonlyArray<string>) =>
  Effect.promise(async () => {
    const named = argv[0] !== undefined && Object.hasOwn(commands, argv[0]) ? [argv[0]] : Object.keys(commands)
    const subcommands = await Promise.all(named.map((name) => commands[name]!()))
    return Command.make("graphent").pipe(
      Command.withDescription("Graphent: build, run and inspect agents"),
      Command.withSubcommands(subcommands)
    )
  })

/**
 * Runs the CLI on `argv` (without the node and script entries) and returns
 * the exit code.
 *
 * @since 0.1.0
 * @category running
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  Effect.flatMap(rootFor(argv), (graphent) => Command.runWith(graphent, { version })(argv)).pipe(
    Effect.provide(CliHelp.presenter),
    Effect.as(0),
    Effect.catch((error: unknown) =>
      Effect.sync(() => {
        // By its tag: the class lives with the commands, which are loaded only when they run.
        if (Predicate.isTagged(error, "Exit")) {
          const exit = error as Exit
          process.stderr.write(`error: ${exit.reason}\n`)
          return exit.code
        }
        // Parse errors were already shown with the help text by the CLI module.
        if (CliError.isCliError(error)) return error._tag === "ShowHelp" && error.errors.length === 0 ? 0 : 2
        process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`)
        return Errors.exitCodeOf(error)
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
export const runMain = (argv: ReadonlyArray<string>): void => {
  // NodeRuntime interrupts the program on SIGINT and SIGTERM; the exit code says which one (128 + its number).
  let signal: NodeJS.Signals | undefined
  const remember = (received: NodeJS.Signals) => {
    signal ??= received
  }
  process.once("SIGINT", remember)
  process.once("SIGTERM", remember)
  NodeRuntime.runMain(main(argv), {
    teardown: (exit, onExit) => {
      if (exit._tag === "Success") return onExit(exit.value as number)
      if (Cause.hasInterruptsOnly(exit.cause)) return onExit(signal === "SIGTERM" ? CliHelp.exitCodes.terminated : CliHelp.exitCodes.interrupted)
      return onExit(1)
    }
  })
}

// `tsx src/programs/cli.ts …` (npm run graphent -- …) runs this module as the program; bin/graphent.js imports it.
if (process.argv[1] !== undefined && import.meta.url === url.pathToFileURL(path.resolve(process.argv[1])).href) {
  runMain(process.argv.slice(2))
}
