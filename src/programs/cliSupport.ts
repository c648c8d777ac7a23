/**
 * What the `graphent` commands share: exit codes, loading agent modules, the
 * layers a run gets, reading journals, common flags.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Flag from "effect/cli/Flag"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import * as Errors from "../services/Errors.js"
import * as GraphentConfig from "../layers/GraphentConfig.js"
import * as JournalFile from "../layers/JournalFile.js"
import * as LocalRuntime from "../layers/LocalRuntime.js"
import * as Logging from "../layers/Logging.js"
import * as MemoryInMemory from "../layers/MemoryInMemory.js"
import * as Telemetry from "../layers/Telemetry.js"
import * as ToolGuard from "../layers/ToolGuard.js"
import type * as Audit from "../services/Audit.js"
import type { AgentRuntime } from "../services/AgentRuntime.js"
import type { Journal, JournalError } from "../services/Journal.js"
import type { Memory } from "../services/Memory.js"
import type * as Policy from "../services/Policy.js"
import * as Pricing from "../services/Pricing.js"
import * as Replay from "../layers/Replay.js"
import type { RunEvent } from "../services/RunEvent.js"
import * as CliHelp from "./cliHelp.js"
import { type AgentModule, loadAgent } from "./loadAgent.js"

/**
 * Ends the command with an exit code and a message for standard error.
 */
export class Exit extends Schema.TaggedError<Exit>()("Exit", { code: Schema.Number, reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
  /** Its own exit code; HTTP 500 (a command's exit is not an HTTP answer). */
  get outcome(): Errors.Outcome {
    return { exitCode: this.code, httpStatus: 500 }
  }
}

export const usageError = (reason: string) => new Exit({ code: 2, reason })

export const writeLine = (line: string) => Effect.sync(() => void process.stdout.write(line + "\n"))

/** Starts the journal file of `--record FILE`: empty, in its folder, which is created when missing. */
export const startRecording = (file: string) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
      fs.writeFileSync(file, "")
    },
    catch: (error) => usageError(`cannot write --record file: ${(error as Error).message}`)
  })

/**
 * Where a command's run keeps its memory and journal: the configured store
 * (`Storage.layerConfig()`), or {@link inMemory} beside a journal.
 */
export type Stores = Layer.Layer<Journal | Memory, unknown>

/** In-memory memory (nothing kept) beside `journal`: for runs that must not touch the project's store (replay). */
export const inMemory = (journal: Layer.Layer<Journal, JournalError>): Stores => Layer.merge(journal, MemoryInMemory.layer)

/**
 * Whether the CLI's and the server's runs are guarded, decided here and
 * nowhere else: the guarded executor (`ToolGuard.layerFrom`) when the
 * settings name a policy file, nothing otherwise (tools run unchecked and
 * unaudited). Its type cannot say which (it may provide nothing); a program
 * that must run guarded requires `Policy.Guarded` (`ToolGuard.requireGuarded`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSecurity: Layer.Layer<never, Policy.PolicyInvalid | Audit.AuditError, GraphentConfig.GraphentConfig> =
  Layer.unwrap(Effect.map(
    Effect.service(GraphentConfig.GraphentConfig),
    (settings): Layer.Layer<never, Policy.PolicyInvalid | Audit.AuditError> =>
      settings.policy === undefined
        ? Layer.empty
        : ToolGuard.layerFrom({ policy: settings.policy, audit: settings.audit, secretPrefix: settings.secretPrefix })
  ))

/**
 * What an agent module's run needs: runtime, journal, memory, logging, OpenTelemetry export (when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set), and the module's own layer.
 */
export const runLayer = (module: AgentModule, stores: Stores) => {
  const logging = Logging.layerConfig({ stderr: true })
  const base = Layer.mergeAll(
    // Logging for the stores too: opening one may log (e.g. while waiting for the embedded store's lock).
    LocalRuntime.layer.pipe(Layer.provideMerge(stores.pipe(Layer.provideMerge(logging)))),
    logging,
    Telemetry.layerConfig({ serviceName: "graphent" }),
    // Policy checks and the audit log, when GRAPHENT_POLICY names a policy file (cliSecurity.ts).
    layerSecurity.pipe(Layer.provide(GraphentConfig.layer)),
    // Model prices (GRAPHENT_PRICES), for the cost of model calls and cost budgets.
    Pricing.layerConfig,
    // Context windows (GRAPHENT_CONTEXT_WINDOWS), for the LLM planner's compaction.
    Pricing.layerContextWindowsConfig
  )
  return (module.layer === undefined ? base : Layer.provideMerge(module.layer, base)) as Layer.Layer<
    AgentRuntime | Journal,
    JournalError
  >
}

/**
 * Runs `program` with the module's layer; maps a failure to the exit code its outcome declares
 * (`Errors.exitCodeOf`: 1 the run failed, 2 bad input or store, 3 paused for approval).
 * What a loaded agent requires is not known statically: the defaults plus the module's own layer provide it.
 */
export const runWith = <A>(
  module: AgentModule,
  stores: Stores,
  program: Effect.Effect<A, unknown, unknown>
) =>
  (program as Effect.Effect<A, unknown, AgentRuntime | Journal>).pipe(
    // The run's span is a root: the command's own span belongs to no exporting tracer.
    Effect.updateContext(Context.omit(Tracer.ParentSpan)),
    Effect.provide(runLayer(module, stores)),
    Effect.mapError((error) => {
      const code = Errors.exitCodeOf(error)
      const message = error instanceof Error ? error.message : String(error)
      // Exit code 3: the run waits for a human's approval (graphent approve / reject).
      return new Exit({ code, reason: code === CliHelp.exitCodes.paused ? `paused: ${message}` : message })
    })
  )

export const printEvents = (json: boolean) => (event: RunEvent) => json ? writeLine(JSON.stringify(event)) : Effect.void

export const load = (file: string) => loadAgent(file).pipe(Effect.mapError((error) => usageError(error.message)))

/** A journal file, read and parsed; a bad file is a usage error (exit 2) naming the line. */
export const readJournal = (file: string) =>
  JournalFile.readFile(file).pipe(Effect.mapError((error) => usageError(error.message)))

/** The recording of one run of a journal file, and the agent module it was recorded from (or `--agent`). */
export const openRecording = (journalFile: string, agentOption: Option.Option<string>, runId: Option.Option<string>) =>
  Effect.flatMap(readJournal(journalFile), ({ events }) => recordingOf(events, agentOption, runId))

/** The recording of one run among `events`, and the agent module it was recorded from (or `--agent`). */
export const recordingOf = (
  events: ReadonlyArray<RunEvent>,
  agentOption: Option.Option<string>,
  runId: Option.Option<string>
) =>
  Effect.gen(function*() {
    const recorded = yield* Replay.recording(events, Option.getOrUndefined(runId)).pipe(
      Effect.mapError((error) => usageError(error.message))
    )
    const agentFile = Option.getOrUndefined(agentOption) ?? recorded.metadata.agentFile
    if (agentFile === undefined) {
      return yield* usageError(`the journal does not name its agent file; pass --agent FILE`)
    }
    const module = yield* load(agentFile)
    if (module.agent.name !== recorded.agent) {
      return yield* usageError(
        `the journal was recorded for agent "${recorded.agent}", but ${agentFile} exports agent "${module.agent.name}"`
      )
    }
    // The run and its child runs (sub-agents, handoffs: ids `<runId>/<stepId>`), which replay and resume re-run.
    const tree = events.filter((event) => event.runId === recorded.runId || event.runId.startsWith(`${recorded.runId}/`))
    return { events: tree, recorded, module }
  })

export const agentFlag = Flag.String("agent").pipe(
  Flag.withDescription("The agent module (default: the file recorded in the journal)"),
  Flag.optional
)
export const runFlag = Flag.String("run").pipe(
  Flag.withDescription("The run to use when the journal holds several"),
  Flag.optional
)
export const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("Print the run's events as JSON lines instead of the answer"),
  Flag.withDefault(false)
)
