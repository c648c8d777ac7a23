/**
 * `graphent dev`: the HTTP API and the trace viewer for the agents of a
 * project, on this machine.
 *
 * Which agents: the `--agents` paths (agent files, folders of agent files,
 * or JSON config files `{ "agents": [paths] }`); without any, the project's
 * `graphent.config.json`, else its `agents/` folder, else — in a checkout of
 * Graphent — every agent of the bundled `examples/`. A folder is scanned for
 * modules whose default export is an agent (`*.ts`, `*.mts`, `*.js`, `*.mjs`
 * except tests and `.d.ts`) and for `<subfolder>/agent.ts`; a module whose
 * source has no default export is not imported (a script would run), one
 * whose default export is not an agent is skipped with a note. Each agent runs with its module's own `layer` (an
 * LLM-planned agent's model: scripted offline, live with `GRAPHENT_MODEL`); an
 * agent whose layer cannot be built (say, a remote planner without its URL)
 * is left out with a note.
 *
 * Runs and memory go to the project's store (`Storage.layerConfig()`: the
 * embedded `.graphent/` by default); the run metrics are recorded for
 * `/metrics`, traces exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and
 * tool calls checked and audited when `GRAPHENT_POLICY` names a policy, as
 * for `graphent run`. API keys come from `GRAPHENT_API_KEYS` /
 * `GRAPHENT_API_KEYS_FILE`; without any the API is open, on loopback only.
 * Request limits come from `GRAPHENT_API_MAX_*` (`Edge.limitsConfig`).
 * MCP clients reach the agents at `/mcp` (Streamable HTTP, one tool per
 * agent, each call a run; see `docs/mcp.md`), with the same keys.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HttpServer from "effect/http/HttpServer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Api from "../api/Api.js"
import * as Auth from "../api/Auth.js"
import * as Edge from "../api/Edge.js"
import * as ClusterRuntime from "../layers/ClusterRuntime.js"
import * as ExperimentsFolder from "../layers/ExperimentsFolder.js"
import * as FlowConfig from "../layers/FlowConfig.js"
import * as JournalPg from "../layers/JournalPg.js"
import * as LocalRuntime from "../layers/LocalRuntime.js"
import * as Logging from "../layers/Logging.js"
import * as RunsCluster from "../layers/RunsCluster.js"
import * as RunsLocal from "../layers/RunsLocal.js"
import * as Storage from "../layers/Storage.js"
import * as Telemetry from "../layers/Telemetry.js"
import * as GraphentConfig from "../layers/GraphentConfig.js"
import { Exit, layerSecurity, usageError, writeLine } from "./cliSupport.js"
import { type AgentModule, loadAgent } from "./loadAgent.js"
import type * as McpServe from "./mcpServe.js"
import * as Server from "./server.js"
import * as RunsService from "../services/Runs.js"

const agentFileExtensions = [".ts", ".mts", ".js", ".mjs"]

const isAgentFileName = (name: string) =>
  agentFileExtensions.some((ext) => name.endsWith(ext)) && !name.endsWith(".d.ts") && !/\.(test|spec)\.[mc]?[jt]s$/.test(name)

/**
 * Whether a module's source has a default export. A scanned module without
 * one cannot hold an agent and is not imported: a script (such as
 * `examples/quickstart.ts`) would run.
 */
const hasDefaultExport = (file: string) => /\bexport\s+default\b|\bas\s+default\b/.test(fs.readFileSync(file, "utf8"))

/** The examples folder of this package, when it ships one (a checkout of Graphent does). */
const examplesDir = (): string | undefined => {
  for (const candidate of ["../../examples/", "../examples/"]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url))
    if (fs.existsSync(path.join(dir, "echo.ts"))) return dir
  }
  return undefined
}

/** A place agents come from, and whether a module there that is not an agent is an error (listed) or skipped (scanned). */
interface Source {
  readonly file: string
  readonly listed: boolean
}

/** The agent modules a path names: a file, a folder (its agent files, and `<sub>/agent.ts`), or a config file. */
const sourcesOf = (target: string, listed: boolean): Effect.Effect<ReadonlyArray<Source>, Exit> =>
  Effect.gen(function*() {
    if (!fs.existsSync(target)) return yield* usageError(`--agents ${target}: no such file or folder`)
    if (fs.statSync(target).isDirectory()) {
      const sources: Array<Source> = []
      for (const entry of fs.readdirSync(target, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const full = path.join(target, entry.name)
        if (entry.isFile() && isAgentFileName(entry.name) && hasDefaultExport(full)) sources.push({ file: full, listed: false })
        if (entry.isDirectory()) {
          const inner = agentFileExtensions.map((ext) => path.join(full, `agent${ext}`)).find((file) => fs.existsSync(file))
          if (inner !== undefined) sources.push({ file: inner, listed: false })
        }
      }
      return sources
    }
    if (target.endsWith(".json")) {
      const config = yield* Effect.try({
        try: () => JSON.parse(fs.readFileSync(target, "utf8")) as unknown,
        catch: (error) => usageError(`${target}: not JSON (${(error as Error).message})`)
      })
      const agents = (config as { readonly agents?: unknown } | null)?.agents
      if (!Array.isArray(agents) || !agents.every((entry) => typeof entry === "string")) {
        return yield* usageError(`${target}: expected { "agents": ["path/to/agent.ts", "folder/", ...] }`)
      }
      const base = path.dirname(target)
      const nested = yield* Effect.forEach(agents, (entry) => sourcesOf(path.resolve(base, entry), true))
      return nested.flat()
    }
    return [{ file: target, listed }]
  })

/** Where the agents come from when no `--agents` is given. */
const defaultSources = (): Effect.Effect<{ readonly sources: ReadonlyArray<Source>; readonly from: string }, Exit> =>
  Effect.gen(function*() {
    const config = path.resolve("graphent.config.json")
    if (fs.existsSync(config)) return { sources: yield* sourcesOf(config, true), from: "graphent.config.json" }
    const folder = path.resolve("agents")
    if (fs.existsSync(folder) && fs.statSync(folder).isDirectory()) {
      return { sources: yield* sourcesOf(folder, false), from: "agents/" }
    }
    const examples = examplesDir()
    if (examples !== undefined) return { sources: yield* sourcesOf(examples, false), from: "the bundled examples" }
    return yield* usageError(
      "no agents: pass --agents <file|folder|config.json>, or add graphent.config.json or an agents/ folder"
    )
  })

/** Loads the modules; a listed one that fails is an error, a scanned one a warning. */
const loadAll = (sources: ReadonlyArray<Source>) =>
  Effect.gen(function*() {
    const modules: Array<AgentModule> = []
    const names = new Map<string, string>()
    for (const source of sources) {
      const loaded = yield* Effect.result(loadAgent(source.file))
      if (loaded._tag === "Failure") {
        if (source.listed) return yield* usageError(loaded.failure.message)
        process.stderr.write(`graphent dev: skipped ${path.relative(process.cwd(), source.file)}: ${loaded.failure.reason}\n`)
        continue
      }
      const module = loaded.success
      const other = names.get(module.agent.name)
      if (other !== undefined) {
        return yield* usageError(`two agents are named "${module.agent.name}": ${other} and ${module.file}`)
      }
      names.set(module.agent.name, module.file)
      modules.push(module)
    }
    if (modules.length === 0) return yield* usageError("no agent modules found")
    return modules
  })

const describeStore = (storage: Storage.StorageShape): string => {
  const home = path.relative(process.cwd(), storage.home ?? "") || "."
  const where = (backend: Storage.Backend) =>
    backend === "embedded"
      ? `embedded (${home})`
      : backend === "files"
      ? `files (${path.relative(process.cwd(), Storage.runsDir(storage.home ?? "", storage.prefix)) || "."})`
      : backend
  if (storage.journal === "memory") return "in memory: runs are lost when the server stops (GRAPHENT_STORE=memory)"
  return storage.memory === storage.journal
    ? `${where(storage.journal)}; while this server runs, other graphent commands wait for an embedded store`
    : `journal ${where(storage.journal)}, memory ${where(storage.memory)}`
}

const isLoopback = (host: string) => host === "127.0.0.1" || host === "::1" || host === "localhost"

/**
 * Where `graphent dev` serves MCP (Streamable HTTP): each agent it serves is a tool.
 *
 * @since 0.3.0
 * @category constants
 */
export const mcpPath = "/mcp"

/** A served agent as an MCP tool runs as one of the server's runs: listed, journaled, followed in the viewer. */
const runThroughServer = Effect.map(RunsService.Runs, (runs): McpServe.RunAgent => (agent, input) =>
  Effect.gen(function*() {
    // The run acts for the request's principal (Auth.routeMiddleware: the key's name and role), as through the API.
    const principal = Option.getOrUndefined(Option.map(
      yield* Effect.serviceOption(Api.Principal),
      ({ name, role }) => ({ id: name, roles: [role] })
    ))
    const started = yield* runs.start({ agent, input, metadata: { via: "mcp" } }, { principal })
    // The client went away (or the server stops): the run stops too.
    const ended = yield* Effect.andThen(Stream.runDrain(yield* runs.events(started.id)), runs.get(started.id)).pipe(
      Effect.onInterrupt(() => Effect.ignore(runs.cancel(started.id)))
    )
    if (ended.status === "completed") return ended.answer ?? ""
    if (ended.status === "paused") {
      return yield* Effect.fail(`run ${started.id} waits for approval: decide it in the viewer or with graphent approve`)
    }
    return yield* Effect.fail(ended.error?.message ?? `run ${started.id} ended ${ended.status}`)
  }).pipe(Effect.mapError((error) => typeof error === "string" ? error : error.message)))

/**
 * The MCP endpoint over the server's agents (effect's MCP modules are loaded only for it), behind the API's
 * authorization: a request needs the right to start runs (`runner`, `admin`), as `POST /v1/runs` does.
 */
const mcpRoutes = Layer.unwrap(
  Effect.gen(function*() {
    const runs = yield* RunsService.Runs
    const McpServeModule = yield* Effect.promise(() => import("./mcpServe.js"))
    return McpServeModule.layerHttp(mcpPath, runs.agents, runThroughServer).pipe(
      Layer.orDie,
      Layer.provide(Auth.routeMiddleware("run").layer)
    )
  })
)

/**
 * The flags of `graphent dev`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  readonly port: number
  readonly host: string
  /** Agent files, folders and config files; none: the project's (see the module's description). */
  readonly agents: ReadonlyArray<string>
  readonly maxConcurrent: number
  readonly maxQueued: number
  readonly logRequests: boolean
  /**
   * Submit runs to the Graphent cluster on `GRAPHENT_DATABASE_URL` (its
   * `graphent worker` runners execute them) instead of running them here.
   */
  readonly cluster?: boolean | undefined
}

/**
 * `graphent dev --cluster`: runs go to the cluster on `GRAPHENT_DATABASE_URL`
 * (a client: it executes none); the journal is the cluster's (the runners'
 * `JournalPg` on the same database), with the run notices of
 * `GRAPHENT_RUN_EVENTS_URL` (unset: on the cluster's database; `off`: none).
 * It makes no rate-limited call: a rate-limit store that is down does not
 * stop it.
 */
const clusterStores = Effect.gen(function*() {
  const url = yield* Config.Redacted("GRAPHENT_DATABASE_URL").pipe(
    Effect.mapError(() => usageError("--cluster: set GRAPHENT_DATABASE_URL to the cluster's PostgreSQL database"))
  )
  const pg = { url: url as Redacted.Redacted<string> }
  return ClusterRuntime.layerClient({ pg }).pipe(
    Layer.provideMerge(FlowConfig.withFlow(JournalPg.layerPg({ pg }), { rateLimitsConnect: "background", defaultBus: pg.url }))
  )
})

/** An agent whose layer does not build is left out, with a note. */
const leaveOut = (failure: RunsService.AgentSetupFailed) =>
  Effect.sync(() => void process.stderr.write(`graphent dev: left out ${failure.message}\n`))

/**
 * What `graphent dev` serves, as a layer (with the agents it loaded, where
 * from, and the API keys): a program or a test can serve it in process. MCP
 * is served at {@link mcpPath}, behind the same API keys as the API.
 *
 * @since 0.3.0
 * @category constructors
 */
export const prepare = Effect.fn("graphent.cli.dev.prepare")(function*(options: Options) {
  const { agents, host, logRequests, maxConcurrent, maxQueued, port } = options
  if (!Number.isInteger(port) || port < 0 || port > 65535) return yield* usageError(`--port must be 0 to 65535, got ${port}`)
  if (maxConcurrent < 1) return yield* usageError(`--max-concurrent must be at least 1, got ${maxConcurrent}`)
  if (maxQueued < 0) return yield* usageError(`--max-queued must be at least 0, got ${maxQueued}`)
  const found = agents.length === 0
    ? yield* defaultSources()
    : { sources: (yield* Effect.forEach(agents, (target) => sourcesOf(path.resolve(target), true))).flat(), from: "--agents" }
  const modules = yield* loadAll(found.sources)
  const keys = yield* Auth.fromConfig.pipe(Effect.mapError((error) => usageError(error.message)))
  const limits = yield* Effect.mapError(Edge.limitsConfig, (error) => usageError(error.message))
  if (keys.length === 0 && !isLoopback(host)) {
    return yield* usageError(`--host ${host} is reachable from other machines: set GRAPHENT_API_KEYS (key:role,...) first`)
  }
  const entries: ReadonlyArray<RunsLocal.Entry> = modules.map((module) => ({
    agent: module.agent,
    layer: module.layer,
    // Relative to the working directory, as `graphent run` records it: the downloaded journal replays from here.
    metadata: { agentFile: path.relative(process.cwd(), module.file) }
  }))
  // The project's store (Storage: the embedded .graphent/ by default) keeps memory and journals.
  // Journals are files (no lock), and the embedded database is closed after 2 idle seconds: `graphent run`,
  // `trace`, `replay`, ... in the same project go on while the server runs.
  // Rate limits (GRAPHENT_RATE_LIMITS) and run notices across processes (GRAPHENT_RUN_EVENTS_URL): see FlowConfig.
  const runs: Layer.Layer<RunsService.Runs, unknown> = options.cluster === true
    ? RunsCluster.layer({ agents: entries, onSetupFailure: leaveOut }).pipe(Layer.provideMerge(yield* clusterStores))
    : RunsLocal.layer({ agents: entries, maxConcurrent, maxQueued, onSetupFailure: leaveOut }).pipe(
      Layer.provideMerge(LocalRuntime.layer.pipe(
        Layer.provideMerge(FlowConfig.withFlow(Storage.layerConfig({ releaseIdleAfter: "2 seconds" })))
      ))
    )
  const server = Server.layer({ port, host, logRequests, limits, routes: mcpRoutes }).pipe(
    Layer.provideMerge(runs),
    Layer.provide(keys.length === 0 ? Auth.layerOpen : Auth.layer(keys)),
    Layer.provideMerge(Layer.mergeAll(
      // The experiments `graphent eval run` kept: GET /v1/evals and the viewer's "Experiments".
      ExperimentsFolder.layerConfig,
      Logging.layerConfig({ stderr: true }),
      // Run metrics for GET /metrics, OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set,
      // and, when GRAPHENT_POLICY names a policy, checked and audited tool calls (approvals through the API).
      Telemetry.layerMetrics,
      Telemetry.layerConfig({ serviceName: "graphent" }),
      layerSecurity.pipe(Layer.provide(GraphentConfig.layer))
    ))
  )
  return { layer: server, modules, found, keys }
})

/**
 * `graphent dev [--port N] [--host H] [--agents PATH]... [--journal FILE]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const dev = Command.make(
  "dev",
  {
    port: Flag.Int("port").pipe(Flag.withDescription("The port to listen on (default 7420; 0: any free port)"), Flag.withDefault(7420)),
    host: Flag.String("host").pipe(
      Flag.withDescription("The interface to listen on (default 127.0.0.1); anything else needs GRAPHENT_API_KEYS"),
      Flag.withDefault("127.0.0.1")
    ),
    agents: Flag.String("agents").pipe(
      Flag.withDescription("An agent file, a folder of agent files, or a JSON file { \"agents\": [paths] }"),
      Flag.atLeast(0)
    ),
    maxConcurrent: Flag.Int("max-concurrent").pipe(
      Flag.withDescription("Runs executing at once (default 64)"),
      Flag.withDefault(64)
    ),
    maxQueued: Flag.Int("max-queued").pipe(
      Flag.withDescription("Runs waiting for a slot before POST /v1/runs answers 429 (default 1024)"),
      Flag.withDefault(1024)
    ),
    logRequests: Flag.Boolean("log-requests").pipe(Flag.withDescription("Log every HTTP request"), Flag.withDefault(false)),
    cluster: Flag.Boolean("cluster").pipe(
      Flag.withDescription("Submit runs to the cluster on GRAPHENT_DATABASE_URL (its graphent worker runners execute them)"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("graphent.cli.dev")(function*(options) {
    const { found, keys, layer: server, modules } = yield* prepare(options)
    const { host, port } = options

    yield* Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address
      const url = HttpServer.formatAddress(address)
      yield* writeLine(`graphent dev: serving on ${url}`)
      yield* writeLine(`  viewer   ${url}/`)
      yield* writeLine(`  API      ${url}/v1/runs   OpenAPI ${url}/openapi.json`)
      yield* writeLine(`  MCP      ${url}${mcpPath}   (Streamable HTTP; each agent is a tool${keys.length === 0 ? "" : "; API keys as for the API"})`)
      yield* writeLine(
        `  agents   ${modules.map((m) => `${m.agent.name} (${path.relative(process.cwd(), m.file)})`).join(", ")}  — from ${found.from}`
      )
      const storage = yield* Effect.serviceOption(Storage.Storage)
      yield* writeLine(
        `  store    ${
          storage._tag === "Some" ? describeStore(storage.value) : "the cluster's PostgreSQL (GRAPHENT_DATABASE_URL); runs execute on its graphent worker runners"
        }`
      )
      yield* writeLine(
        `  auth     ${keys.length === 0 ? "open: no GRAPHENT_API_KEYS, every request is an admin" : `${keys.length} API key${keys.length === 1 ? "" : "s"}`}`
      )
      return yield* Effect.never
    }).pipe(
      Effect.provide(server),
      Effect.mapError((error) =>
        typeof error === "object" && error !== null && "_tag" in error && error._tag === "ServeError"
          ? usageError(`cannot listen on ${host}:${port}: ${String((error as { cause?: unknown }).cause ?? error)}`)
          : new Exit({ code: 1, reason: error instanceof Error ? error.message : String(error) })
      )
    )
  })
).pipe(
  Command.withDescription("Serve the HTTP API and the trace viewer for the project's agents"),
  Command.withExamples([
    { command: "graphent dev", description: "The bundled examples (or ./graphent.config.json, ./agents/) on port 7420" },
    { command: "graphent dev --agents agents/ --port 8080", description: "A folder of agents" },
    {
      command: "GRAPHENT_DATABASE_URL=postgres://… graphent dev --cluster --agents agents/",
      description: "Submit runs to the cluster's graphent worker runners"
    }
  ])
)
