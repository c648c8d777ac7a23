/**
 * MCP tools: the tools a Model Context Protocol server lists, as Graphent
 * tools. Built on `effect/ai`'s `McpClient` (experimental in Effect 4.1);
 * what it leaves out is filled here: pinned definitions, confinement of
 * stdio servers, reconnecting, connect retries, output caps, typed errors.
 *
 * - **Pinned definitions.** `graphent mcp pin` (or {@link pin}) stores each
 *   tool's definition and its hash in `.graphent/mcp/<server>.json`. An agent
 *   declares its MCP tools from the pin ({@link tools}), without contacting
 *   the server: a replay never starts it (tool results come from the
 *   journal). On a live call the server's listing is compared with the pin
 *   once per connection; a changed or removed definition (a "rug pull") is
 *   refused with `McpDefinitionsChanged` unless the server is configured with
 *   `repin: true`.
 * - **Like native tools.** Each MCP tool is a `Tool`: its capabilities are
 *   `mcp:<server>:<tool>` (and `tool:<name>`), so the Policy, approvals, the
 *   audit log, budgets, timeouts and the redaction of its declared secrets
 *   apply unchanged. Its parameter Schema is imported from the tool's JSON
 *   Schema (the model is shown the JSON Schema itself); its result is the
 *   tool's structured content, decoded with its output schema, or its text.
 * - **Confinement.** A stdio server is started with argv (no shell), a
 *   scrubbed environment (`PATH` and what the configuration declares), as the
 *   leader of its own process group; closing the connection (the end of the
 *   call, of the layer, or of the program) stops the whole group.
 *
 * Without {@link layer}, each call starts the server, checks its listing,
 * calls and stops it; {@link layer} keeps one connection per server for the
 * layer's lifetime and reconnects after a crash.
 *
 * @since 0.3.0
 */
import * as fs from "node:fs"
import * as nodePath from "node:path"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as JsonSchema from "effect/JsonSchema"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaRepresentation from "effect/SchemaRepresentation"
import * as Stream from "effect/Stream"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as McpClient from "effect/ai/McpClient"
import type * as McpClientError from "effect/ai/McpClientError"
import * as McpProtocol from "effect/ai/McpProtocol"
import type * as McpSchema from "effect/ai/McpSchema"
import * as AiTool from "effect/ai/Tool"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as ChildProcess from "effect/process/ChildProcess"
import { ChildProcessSpawner, make as makeSpawner } from "effect/process/ChildProcessSpawner"
import { issueOf } from "../internal/issue.js"
import * as Project from "../internal/project.js"
import { type Agent, PlannerFailed, type PlannerShape } from "../services/Agent.js"
import { Planner } from "../services/Planner.js"
import { hashArgs } from "../services/Audit.js"
import { Credentials } from "../services/Credentials.js"
import {
  ConfigFile,
  McpConfigInvalid,
  McpDefinitionsChanged,
  McpNotPinned,
  McpResultInvalid,
  McpToolMissing,
  McpToolReportedError,
  McpUnavailable,
  type Pin,
  Pin as PinSchema,
  type PinnedTool,
  ServerConfig
} from "../services/Mcp.js"
import * as Tool from "../services/Tool.js"
import { version } from "../version.js"

/** @since 0.3.0 */
import type * as Definitions from "../services/Mcp.js"
// Named, not `export *`: the declaration bundler turns a star re-export inside a namespace into values.
export {
  ConfigFile,
  HttpTransport,
  McpConfigInvalid,
  McpDefinitionsChanged,
  McpNotPinned,
  McpResultInvalid,
  McpToolMissing,
  McpToolReportedError,
  McpUnavailable,
  Pin,
  PinnedTool,
  ServerConfig,
  StdioTransport,
  Transport
} from "../services/Mcp.js"
/**
 * Every way an MCP tool call fails.
 *
 * @since 0.3.0
 */
export type McpError = Definitions.McpError

const defaultTimeout = Duration.seconds(60)
const defaultConnectTimeout = Duration.seconds(30)
const defaultMaxOutputBytes = 1024 * 1024
/** The `PATH` of stdio servers that declare none: the folder of this Node (`node` is the same Node), then the shell tool's. */
const defaultPath = `${nodePath.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

const decodeServer = Schema.decodeUnknownExit(ServerConfig)

/**
 * Checks a server configuration (throws `McpConfigInvalid` on a bad one: a
 * definition bug, like a bad tool).
 *
 * **Example** (A stdio server)
 *
 * ```ts
 * const files = McpTools.server({
 *   name: "files",
 *   transport: { type: "stdio", command: "node", args: ["files-server.js"], passEnv: ["HOME"] }
 * })
 * ```
 *
 * @since 0.3.0
 * @category configuration
 */
export const server = (config: ServerConfig): ServerConfig => {
  const decoded = decodeServer(config)
  if (decoded._tag === "Failure") throw new McpConfigInvalid({ source: `server ${String(config.name)}`, issue: issueOf(decoded) })
  return decoded.value
}

/** The other clients' spelling: `{ command, args, env }` or `{ url, headers }`. */
const normalizeEntry = (name: string, entry: unknown): unknown => {
  if (typeof entry !== "object" || entry === null || "transport" in entry) return { name, ...(entry as object) }
  const { command, args, env, url, headers, ...rest } = entry as Record<string, unknown>
  const transport = url !== undefined
    ? { type: "http", url, ...(headers === undefined ? {} : { headers }) }
    : { type: "stdio", command, ...(args === undefined ? {} : { args }), ...(env === undefined ? {} : { env }) }
  return { name, transport, ...rest }
}

/**
 * Reads a configuration file: `{ "servers": { "<name>": { "transport": … } } }`,
 * or the `{ "mcpServers": { "<name>": { "command", "args", "env" } } }` of other MCP clients.
 *
 * @since 0.3.0
 * @category configuration
 */
export const readConfig = (file: string): Effect.Effect<ReadonlyArray<ServerConfig>, McpConfigInvalid> =>
  Effect.gen(function*() {
    const json = yield* Effect.try({
      try: () => JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>,
      catch: (error) => new McpConfigInvalid({ source: file, issue: (error as Error).message })
    })
    const servers = typeof json === "object" && json !== null && "mcpServers" in json
      ? { servers: json.mcpServers }
      : json
    const decoded = Schema.decodeUnknownExit(ConfigFile)(servers)
    if (decoded._tag === "Failure") return yield* new McpConfigInvalid({ source: file, issue: issueOf(decoded) })
    const configs: Array<ServerConfig> = []
    for (const [name, entry] of Object.entries(decoded.value.servers)) {
      const config = decodeServer(normalizeEntry(name, entry))
      if (config._tag === "Failure") {
        return yield* new McpConfigInvalid({ source: `${file}: server ${name}`, issue: issueOf(config) })
      }
      configs.push(config.value)
    }
    return configs
  })

/** The secret names a server's configuration uses. */
const secretsOf = (config: ServerConfig): ReadonlyArray<string> => {
  const names = config.transport.type === "stdio"
    ? Object.values(config.transport.secretEnv ?? {})
    : Object.values(config.transport.secretHeaders ?? {})
  return [...new Set(names)]
}

/** The prefix of the server's Graphent tool names. */
const prefixOf = (config: ServerConfig): string => config.prefix ?? `${config.name}__`

// ---------------------------------------------------------------------------
// pins
// ---------------------------------------------------------------------------

/**
 * The hash of a tool definition: sha256 of the canonical JSON of what a model
 * and the client act on (name, title, description, schemas, annotations).
 *
 * @since 0.3.0
 * @category pins
 */
export const hashDefinition = (tool: Omit<PinnedTool, "hash">): string =>
  hashArgs({
    name: tool.name,
    title: tool.title ?? null,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema,
    outputSchema: tool.outputSchema ?? null,
    annotations: tool.annotations ?? null
  })

/**
 * A listed tool's definition as a pin keeps it, with its hash.
 *
 * @since 0.3.0
 * @category pins
 */
export const pinnedOf = (tool: McpSchema.Tool): PinnedTool => {
  const definition = {
    name: tool.name,
    ...(tool.title === undefined ? {} : { title: tool.title }),
    ...(tool.description === undefined ? {} : { description: tool.description }),
    inputSchema: tool.inputSchema as Record<string, unknown>,
    ...(tool.outputSchema === undefined ? {} : { outputSchema: tool.outputSchema as Record<string, unknown> }),
    ...(tool.annotations === undefined ? {} : { annotations: JSON.parse(JSON.stringify(tool.annotations)) as Record<string, unknown> })
  }
  return { ...definition, hash: hashDefinition(definition) }
}

/**
 * Where a server's pin is kept: its `pinFile`, else `.graphent/mcp/<name>.json`
 * in the project (the nearest folder up from `cwd` with a `package.json`).
 *
 * @since 0.3.0
 * @category pins
 */
export const pinPath = (config: ServerConfig, cwd?: string): string =>
  config.pinFile ?? nodePath.join(Project.projectHome(cwd), "mcp", `${config.name}.json`)

const decodePin = Schema.decodeUnknownExit(Schema.fromJsonString(PinSchema))

/**
 * Reads a server's pin (synchronously: agents are declared from it).
 *
 * @since 0.3.0
 * @category pins
 */
export const readPin = (config: ServerConfig, cwd?: string): Exit.Exit<Pin, McpNotPinned> => {
  const file = pinPath(config, cwd)
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch {
    return Exit.fail(new McpNotPinned({ server: config.name, file, reason: "no pin file" }))
  }
  const decoded = decodePin(text)
  if (decoded._tag === "Failure") {
    return Exit.fail(new McpNotPinned({ server: config.name, file, reason: `the pin does not decode: ${issueOf(decoded)}` }))
  }
  for (const tool of decoded.value.tools) {
    if (hashDefinition(tool) !== tool.hash) {
      return Exit.fail(new McpNotPinned({ server: config.name, file, reason: `the pin of ${tool.name} was edited (its hash does not match)` }))
    }
  }
  return Exit.succeed(decoded.value)
}

const writePin = (config: ServerConfig, listed: ReadonlyArray<McpSchema.Tool>, cwd?: string): Pin => {
  const pin: Pin = { server: config.name, pinnedAt: new Date().toISOString(), tools: listed.map(pinnedOf) }
  const file = pinPath(config, cwd)
  fs.mkdirSync(nodePath.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(pin, null, 2) + "\n")
  return pin
}

/** The differences between a pin and a listing; `undefined` when the pin covers the listing. */
const compare = (
  config: ServerConfig,
  pin: Pin,
  listed: ReadonlyArray<McpSchema.Tool>
): McpDefinitionsChanged | undefined => {
  const live = new Map(listed.map((tool) => [tool.name, pinnedOf(tool).hash]))
  const pinned = new Map(pin.tools.map((tool) => [tool.name, tool.hash]))
  const changed = [...pinned].filter(([name, hash]) => live.has(name) && live.get(name) !== hash).map(([name]) => name)
  const removed = [...pinned.keys()].filter((name) => !live.has(name))
  const added = [...live.keys()].filter((name) => !pinned.has(name))
  // A tool the pin does not know is never offered to an agent: only changed or removed ones are refused.
  return changed.length === 0 && removed.length === 0
    ? undefined
    : new McpDefinitionsChanged({ server: config.name, added, removed, changed })
}

// ---------------------------------------------------------------------------
// connections
// ---------------------------------------------------------------------------

/**
 * A connection to a server whose listing was checked.
 *
 * @since 0.3.0
 * @category models
 */
export interface Connection {
  readonly client: McpClient.McpClient
  /** The listed tools by name. */
  readonly tools: ReadonlyMap<string, McpSchema.Tool>
}

const unavailable = (config: ServerConfig, error: McpClientError.McpClientError): McpUnavailable => {
  const reason = error.reason
  const detail = reason.message
  switch (reason._tag) {
    case "TransportError":
      return new McpUnavailable({
        server: config.name,
        reason: detail.startsWith("Cannot spawn") ? "spawn" : "closed",
        detail: reason.cause === undefined ? detail : `${detail}: ${String((reason.cause as Error).message ?? reason.cause)}`
      })
    case "ClosedError":
    case "HttpError":
      return new McpUnavailable({ server: config.name, reason: "closed", detail })
    case "TimeoutError":
      return new McpUnavailable({ server: config.name, reason: "timeout", detail })
    case "LimitError":
      return new McpUnavailable({ server: config.name, reason: "output-too-large", detail })
    case "ProtocolError":
    case "ValidationError":
    case "ToolError":
      return new McpUnavailable({ server: config.name, reason: "protocol", detail })
    case "UnsupportedError":
    case "ConfigurationError":
      return new McpUnavailable({ server: config.name, reason: "unsupported", detail })
  }
}

const isExecutable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** The stdio command line: the program resolved in the server's own `PATH`, the environment scrubbed. */
const stdioCommand = (
  config: ServerConfig,
  transport: Extract<ServerConfig["transport"], { readonly type: "stdio" }>,
  secrets: Readonly<Record<string, Redacted.Redacted<string>>>
): ChildProcess.Command | McpUnavailable => {
  const searchPath = transport.path ?? defaultPath
  let executable: string | undefined
  if (nodePath.isAbsolute(transport.command)) {
    executable = isExecutable(transport.command) ? transport.command : undefined
  } else if (!transport.command.includes("/")) {
    executable = searchPath.split(":").filter((dir) => nodePath.isAbsolute(dir))
      .map((dir) => nodePath.join(dir, transport.command)).find(isExecutable)
  }
  if (executable === undefined) {
    return new McpUnavailable({
      server: config.name,
      reason: "spawn",
      detail: `${transport.command} is not an absolute path to an executable nor a program in PATH ${searchPath}`
    })
  }
  const env: Record<string, string | Redacted.Redacted<string>> = { PATH: searchPath }
  for (const variable of transport.passEnv ?? []) {
    const value = process.env[variable]
    if (value !== undefined) env[variable] = value
  }
  Object.assign(env, transport.env ?? {})
  for (const [variable, secret] of Object.entries(transport.secretEnv ?? {})) {
    const value = secrets[secret]
    if (value === undefined) {
      return new McpUnavailable({ server: config.name, reason: "spawn", detail: `the secret ${secret} was not found` })
    }
    env[variable] = value
  }
  return ChildProcess.make(executable, [...(transport.args ?? [])], {
    ...(transport.cwd === undefined ? {} : { cwd: transport.cwd }),
    env,
    extendEnv: false,
    // Its own process group: closing the connection stops the server's children too.
    detached: true,
    killSignal: "SIGTERM",
    forceKillAfter: Duration.seconds(1)
  })
}

/** The headers of an HTTP server, secrets filled in (`authorization` gets the `Bearer` scheme). */
const httpHeaders = (
  config: ServerConfig,
  transport: Extract<ServerConfig["transport"], { readonly type: "http" }>,
  secrets: Readonly<Record<string, Redacted.Redacted<string>>>
): Record<string, string> | McpUnavailable => {
  const headers: Record<string, string> = { ...transport.headers }
  for (const [header, secret] of Object.entries(transport.secretHeaders ?? {})) {
    const value = secrets[secret]
    if (value === undefined) {
      return new McpUnavailable({ server: config.name, reason: "spawn", detail: `the secret ${secret} was not found` })
    }
    headers[header] = header.toLowerCase() === "authorization" ? `Bearer ${Redacted.value(value)}` : Redacted.value(value)
  }
  return headers
}

const decoder = new TextDecoder()
const stderrTailChars = 1000

/** Connecting is retried on transport failures (not on protocol errors or a rug pull): a server may be starting. */
const connectRetry = Schedule.exponential(Duration.millis(100))

/**
 * Starts (stdio) or reaches (HTTP) a server and lists its tools, within the
 * server's connect timeout; the connection lives as long as the scope.
 *
 * @since 0.3.0
 * @category connections
 */
export const connect = (
  config: ServerConfig,
  secrets: Readonly<Record<string, Redacted.Redacted<string>>> = {}
): Effect.Effect<Connection, McpUnavailable, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const timeout = config.connectTimeoutMs ?? defaultConnectTimeout
    const maxMessageBytes = (config.maxOutputBytes ?? defaultMaxOutputBytes) + 64 * 1024
    const transport = config.transport
    // The server's last words on stderr, to explain a server that exits or never answers.
    let stderrTail = ""
    const open: Effect.Effect<Connection, McpClientError.McpClientError | McpUnavailable, Scope.Scope | ChildProcessSpawner> = Effect.gen(function*() {
      stderrTail = ""
      let layer: Layer.Layer<McpClient.Transport, McpClientError.McpClientError | McpUnavailable, ChildProcessSpawner>
      if (transport.type === "stdio") {
        const command = stdioCommand(config, transport, secrets)
        if (!ChildProcess.isCommand(command)) return yield* command
        const spawner = yield* ChildProcessSpawner
        const teeing = makeSpawner((spawned) =>
          Effect.map(spawner.spawn(spawned), (handle) => ({
            ...handle,
            stderr: Stream.tap(handle.stderr, (chunk) =>
              Effect.sync(() => {
                stderrTail = (stderrTail + decoder.decode(chunk)).slice(-stderrTailChars)
              }))
          }))
        )
        layer = Layer.effect(McpClient.Transport)(
          McpClient.stdio({ command, protocol: McpProtocol.v2025_11_25, maxMessageBytes })
        ).pipe(Layer.provide(Layer.succeed(ChildProcessSpawner, teeing)))
      } else {
        const headers = httpHeaders(config, transport, secrets)
        if (headers instanceof McpUnavailable) return yield* headers
        layer = Layer.effect(McpClient.Transport)(
          McpClient.http({ url: transport.url, headers, protocol: McpProtocol.v2025_11_25, maxMessageBytes })
        ).pipe(Layer.provide(FetchHttpClient.layer))
      }
      const scope = yield* Scope.Scope
      const context = yield* Layer.buildWithScope(layer, scope)
      const client = yield* McpClient.make({ name: "graphent", version, timeout }).pipe(Effect.provideContext(context))
      const listed = yield* client.listTools()
      return { client, tools: new Map(listed.map((tool) => [tool.name, tool])) }
    })
    return yield* open.pipe(
      Effect.mapError((error) => {
        const failure = error instanceof McpUnavailable ? error : unavailable(config, error)
        const tail = stderrTail.trim()
        return tail === "" ? failure : new McpUnavailable({ ...failure, detail: `${failure.detail}; its stderr ends: ${tail}` })
      }),
      Effect.retry({ schedule: connectRetry, times: 2, while: (error) => error.reason === "closed" })
    )
  })

/**
 * Lists a server's tools (connecting for the listing only).
 *
 * @since 0.3.0
 * @category connections
 */
export const list = (
  config: ServerConfig
): Effect.Effect<ReadonlyArray<McpSchema.Tool>, McpUnavailable, ChildProcessSpawner> =>
  Effect.scoped(Effect.flatMap(secretValues(config), (secrets) => connect(config, secrets))).pipe(
    Effect.map((connection) => [...connection.tools.values()])
  )

/**
 * Lists a server's tools and pins them (replacing an earlier pin).
 *
 * @since 0.3.0
 * @category pins
 */
export const pin = (
  config: ServerConfig,
  cwd?: string
): Effect.Effect<Pin, McpUnavailable, ChildProcessSpawner> =>
  Effect.map(list(config), (listed) => writePin(config, listed, cwd))

/** The server's secrets, looked up in `Credentials` (the CLI's path; tool calls get theirs from their context). */
const secretValues = (config: ServerConfig) =>
  Effect.gen(function*() {
    const credentials = yield* Credentials
    const secrets: Record<string, Redacted.Redacted<string>> = {}
    for (const name of secretsOf(config)) {
      secrets[name] = yield* credentials.get(name).pipe(
        Effect.mapError((error) => new McpUnavailable({ server: config.name, reason: "spawn", detail: error.message }))
      )
    }
    return secrets
  })

/** Checks a fresh connection's listing against the pin; re-pins instead when the server is configured so. */
const checked = (config: ServerConfig, pinned: Pin, connection: Connection) =>
  Effect.suspend(() => {
    const difference = compare(config, pinned, [...connection.tools.values()])
    if (difference === undefined) return Effect.succeed(connection)
    // A defect, not a failure: a planner must not show it to the model as a tool error to work around.
    if (config.repin !== true) return Effect.die(difference)
    writePin(config, [...connection.tools.values()])
    return Effect.as(Effect.logWarning(`MCP server "${config.name}": re-pinned changed tool definitions`, difference.message), connection)
  })

// ---------------------------------------------------------------------------
// calls
// ---------------------------------------------------------------------------

/**
 * One call to a tool of a server.
 *
 * @since 0.3.0
 * @category models
 */
export interface CallRequest {
  readonly server: ServerConfig
  readonly pin: Pin
  readonly tool: PinnedTool
  readonly args: unknown
  readonly secrets: Readonly<Record<string, Redacted.Redacted<string>>>
  /** Checks the result (decodes structured content with the output schema, or takes the text). */
  readonly result: (result: McpSchema.CallToolResult) => Effect.Effect<unknown, McpError>
}

/**
 * How MCP calls reach their servers. The default starts the server for each
 * call and stops it after; {@link layer} keeps one connection per server.
 *
 * @since 0.3.0
 * @category services
 */
export interface ConnectionsShape {
  readonly call: (request: CallRequest) => Effect.Effect<unknown, McpError, ChildProcessSpawner>
}

/** One call over a checked connection. */
const callOn = (connection: Connection, request: CallRequest): Effect.Effect<unknown, McpError> => {
  const descriptor = connection.tools.get(request.tool.name)
  if (descriptor === undefined) return Effect.fail(new McpToolMissing({ server: request.server.name, tool: request.tool.name }))
  return connection.client.callTool(
    { tool: descriptor, arguments: request.args as Record<string, unknown> },
    { timeout: request.server.timeoutMs ?? defaultTimeout }
  ).pipe(
    Effect.mapError((error) =>
      error.reason._tag === "ValidationError"
        ? new McpResultInvalid({ server: request.server.name, tool: request.tool.name, issue: error.reason.message })
        : unavailable(request.server, error)
    ),
    Effect.flatMap(request.result)
  )
}

/**
 * The connections of the default: one per call, stopped when the call ends.
 *
 * @since 0.3.0
 * @category services
 */
export const perCall: ConnectionsShape = {
  call: (request) =>
    Effect.scoped(
      Effect.flatMap(
        Effect.flatMap(connect(request.server, request.secrets), (connection) => checked(request.server, request.pin, connection)),
        (connection) => callOn(connection, request)
      )
    )
}

/**
 * The connections MCP tools use (default {@link perCall}).
 *
 * @since 0.3.0
 * @category services
 */
export const Connections = Context.Reference<ConnectionsShape>("graphent/McpConnections", {
  defaultValue: () => perCall
})

/** Failures after which a connection is not used again (the next call reconnects). */
const broken = (error: McpError): boolean =>
  error._tag === "McpUnavailable" && (error.reason === "closed" || error.reason === "protocol" || error.reason === "output-too-large")

/**
 * Keeps one connection per server for the layer's lifetime: started on the
 * first call (never on a replay, whose calls the journal answers), its
 * listing checked against the pin once, reconnected after the server
 * crashed or broke the protocol. Closing the layer stops every server.
 *
 * **Example** (An agent module)
 *
 * ```ts
 * export default Agent.make({ name: "librarian", tools: McpTools.tools(files), planner })
 * export const layer = McpTools.layer
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const layer: Layer.Layer<never, never, ChildProcessSpawner> = Layer.effect(
  Connections,
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner
    const layerScope = yield* Scope.Scope
    const open = new Map<string, { readonly scope: Scope.Closeable; readonly connection: Connection }>()
    const lock = yield* Semaphore.make(1)

    const drop = (name: string) =>
      Effect.suspend(() => {
        const entry = open.get(name)
        open.delete(name)
        return entry === undefined ? Effect.void : Scope.close(entry.scope, Exit.void)
      })

    const connectionOf = (request: CallRequest) =>
      lock.withPermits(1)(Effect.suspend(() => {
        const entry = open.get(request.server.name)
        if (entry !== undefined) return Effect.succeed(entry.connection)
        return Effect.gen(function*() {
          const scope = yield* Scope.fork(layerScope)
          const connection = yield* connect(request.server, request.secrets).pipe(
            Effect.flatMap((connection) => checked(request.server, request.pin, connection)),
            Scope.provide(scope),
            Effect.provideService(ChildProcessSpawner, spawner),
            Effect.onError(() => Scope.close(scope, Exit.void))
          )
          open.set(request.server.name, { scope, connection })
          return connection
        })
      }))

    return {
      call: (request) =>
        Effect.flatMap(connectionOf(request), (connection) =>
          callOn(connection, request).pipe(
            Effect.tapError((error) => broken(error) ? drop(request.server.name) : Effect.void)
          ))
    } satisfies ConnectionsShape
  })
)

// ---------------------------------------------------------------------------
// tools
// ---------------------------------------------------------------------------

/** A JSON Schema imported as a Schema; `undefined` when it uses what the importer does not support. */
const importSchema = (json: Record<string, unknown>): Schema.Top | undefined => {
  try {
    const document = typeof json.$schema === "string" && json.$schema.includes("draft-07")
      ? JsonSchema.fromSchemaDraft07(json as JsonSchema.JsonSchema)
      : JsonSchema.fromSchemaDraft2020_12(json as JsonSchema.JsonSchema)
    // The server checks patterns itself; the import keeps every other constraint.
    return SchemaRepresentation.fromJsonSchemaDocument(document, { patterns: "ignore" })
  } catch {
    return undefined
  }
}

const AnyArguments = Schema.Record(Schema.String, Schema.Unknown)

/** A result's content as text (what a model reads). */
const textOf = (result: McpSchema.CallToolResult): string => {
  const parts: Array<string> = []
  for (const block of result.content) {
    switch (block.type) {
      case "text":
        parts.push(block.text)
        break
      case "resource_link":
        parts.push(`${block.title ?? block.name}: ${block.uri}`)
        break
      case "resource":
        parts.push("text" in block.resource ? block.resource.text : `[binary resource ${block.resource.uri}]`)
        break
      default:
        parts.push(`[${block.type}${"mimeType" in block ? ` ${String(block.mimeType)}` : ""}]`)
    }
  }
  return parts.length === 0 && result.structuredContent !== undefined
    ? JSON.stringify(result.structuredContent)
    : parts.join("\n")
}

/**
 * A tool of an MCP server: JSON in, JSON out (its Schemas need no services).
 *
 * @since 0.3.0
 * @category models
 */
export type McpTool = Tool.Tool<string, Schema.Codec<unknown>, Schema.Codec<unknown>, McpError, ChildProcessSpawner>

/**
 * The Graphent tools of a server, declared from its pin (the server is not
 * contacted). Throws `McpNotPinned` when the server was never pinned.
 *
 * Each tool is named `<prefix><tool>` (default prefix `<server>__`), needs
 * the capability `mcp:<server>:<tool>`, declares the server's secrets, and
 * times out after the server's `timeoutMs` (default 60 s: `McpUnavailable`
 * with reason `timeout`; starting the server for the call does not count).
 *
 * @since 0.3.0
 * @category constructors
 */
export const tools = (
  config: ServerConfig,
  options?: { readonly cwd?: string | undefined }
): ReadonlyArray<McpTool> => {
  const checkedConfig = server(config)
  const pinned = readPin(checkedConfig, options?.cwd)
  if (pinned._tag === "Failure") throw Option.getOrThrow(Exit.findErrorOption(pinned))
  const pinValue = pinned.value
  const secrets = secretsOf(checkedConfig)
  const maxOutputBytes = checkedConfig.maxOutputBytes ?? defaultMaxOutputBytes
  return pinValue.tools.map((definition) => {
    const name = `${prefixOf(checkedConfig)}${definition.name}`
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
      throw new McpConfigInvalid({ source: `server ${checkedConfig.name}`, issue: `the tool name ${JSON.stringify(name)} is not usable by models (letters, digits, _ and -, at most 64)` })
    }
    const parameters = importSchema(definition.inputSchema) ?? AnyArguments
    const output = definition.outputSchema === undefined ? undefined : importSchema(definition.outputSchema)
    const success: Schema.Top = definition.outputSchema === undefined ? Schema.String : output ?? Schema.Unknown
    const decodeOutput = output === undefined ? undefined : Schema.decodeUnknownExit(output as unknown as Schema.ConstraintDecoder<unknown>)
    const result = (result: McpSchema.CallToolResult): Effect.Effect<unknown, McpError> => {
      if (JSON.stringify(result).length > maxOutputBytes) {
        return Effect.fail(new McpUnavailable({ server: checkedConfig.name, reason: "output-too-large", detail: `the result of ${definition.name} exceeds ${maxOutputBytes} bytes` }))
      }
      if (result.isError === true) {
        return Effect.fail(new McpToolReportedError({ server: checkedConfig.name, tool: definition.name, text: textOf(result) }))
      }
      if (definition.outputSchema === undefined) return Effect.succeed(textOf(result))
      if (result.structuredContent === undefined) {
        return Effect.fail(new McpResultInvalid({ server: checkedConfig.name, tool: definition.name, issue: "the tool declares an output schema but returned no structured content" }))
      }
      if (decodeOutput === undefined) return Effect.succeed(result.structuredContent)
      const decoded = decodeOutput(result.structuredContent)
      return decoded._tag === "Success"
        ? Effect.succeed(decoded.value)
        : Effect.fail(new McpResultInvalid({ server: checkedConfig.name, tool: definition.name, issue: issueOf(decoded) }))
    }
    const tool = Tool.make(name, {
      description: definition.description ?? definition.title ?? definition.name,
      parameters,
      success,
      // The call's own limit is `timeoutMs` (McpUnavailable "timeout"); the step's also covers a connection made for it.
      timeout: Duration.sum(
        Duration.fromInputUnsafe(checkedConfig.timeoutMs ?? defaultTimeout),
        Duration.fromInputUnsafe(checkedConfig.connectTimeoutMs ?? defaultConnectTimeout)
      ),
      idempotent: checkedConfig.idempotent ?? false,
      recoverable: checkedConfig.recoverable ?? false,
      capabilities: [`mcp:${checkedConfig.name}:${definition.name}`],
      secrets,
      handler: (args: unknown, context) =>
        Effect.gen(function*() {
          const connections = yield* Connections
          return yield* connections.call({
            server: checkedConfig,
            pin: pinValue,
            tool: definition,
            args,
            secrets: context.secrets ?? {},
            result
          })
        })
    })
    // The model is shown the server's JSON Schema itself, not a re-export of the imported Schema.
    const ai = AiTool.dynamic(name, {
      description: tool.description,
      parameters: definition.inputSchema as JsonSchema.JsonSchema,
      success,
      failure: Schema.String,
      failureMode: "return"
    })
    return { ...tool, ai } as unknown as McpTool
  })
}

// ---------------------------------------------------------------------------
// the listing a run saw
// ---------------------------------------------------------------------------

/** The listing journaled for a server: each pinned tool's name and hash. */
const ListingSchema = Schema.Record(Schema.String, Schema.String)

const listingOf = (pin: Pin): Record<string, string> =>
  Object.fromEntries(pin.tools.map((tool) => [tool.name, tool.hash]))

/**
 * The agent, with the listing of each of its MCP servers journaled: at the
 * run's first turn, the names and hashes of the pinned definitions the agent
 * offers are journaled under `mcp:<server>` (through the run's value port).
 * A replay or a resume gets the recorded listing back, without contacting the
 * server, and stops with `PlannerFailed` (its cause `McpDefinitionsChanged`)
 * when the pin the agent is declared from now differs from it: the model
 * would be shown other definitions than the recorded run's.
 *
 * **Example** (An agent module with an MCP server)
 *
 * ```ts
 * const files = McpTools.server({ name: "files", transport: { type: "stdio", command: "files-mcp" } })
 * export default McpTools.withListings(
 *   Agent.make({ name: "librarian", tools: McpTools.tools(files), planner: LlmPlanner.make() }),
 *   [files]
 * )
 * export const layer = McpTools.layer
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const withListings = <R, O>(
  agent: Agent<R, O>,
  servers: ReadonlyArray<ServerConfig>,
  options?: { readonly cwd?: string | undefined }
): Agent<R, O> => {
  const pins = servers.map((config) => {
    const pinned = readPin(server(config), options?.cwd)
    if (pinned._tag === "Failure") throw Option.getOrThrow(Exit.findErrorOption(pinned))
    return { config, listing: listingOf(pinned.value) }
  })
  const decodeListing = Schema.decodeUnknownExit(ListingSchema)
  const inner = agent.planner
  const planner: PlannerShape<R> = {
    decide: (state) =>
      Effect.gen(function*() {
        if (state.turn === 1) {
          for (const { config, listing } of pins) {
            const recorded = yield* state.context.journaled(`mcp:${config.name}`, Effect.succeed(listing))
            const decoded = decodeListing(recorded)
            const seen = decoded._tag === "Success" ? decoded.value : {}
            const changed = Object.keys(listing).filter((name) => name in seen && seen[name] !== listing[name])
            const added = Object.keys(listing).filter((name) => !(name in seen))
            const removed = Object.keys(seen).filter((name) => !(name in listing))
            if (changed.length + added.length + removed.length > 0) {
              const difference = new McpDefinitionsChanged({ server: config.name, added, removed, changed })
              return yield* new PlannerFailed({
                reason: `the run was recorded with other tool definitions of MCP server "${config.name}": ${difference.message}`,
                cause: difference
              })
            }
          }
        }
        const decide = inner === undefined ? (yield* Planner).decide : inner.decide
        return yield* decide(state)
      }) as Effect.Effect<Effect.Success<ReturnType<PlannerShape<R>["decide"]>>, Effect.Error<ReturnType<PlannerShape<R>["decide"]>>, R>
  }
  return { ...agent, planner }
}
