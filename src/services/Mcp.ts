/**
 * MCP definitions: how a Model Context Protocol server is configured, what a
 * pin (the tool definitions a project trusts) holds, and the typed errors of
 * MCP tools. The client layer is `src/layers/McpTools.ts`.
 *
 * @since 0.3.0
 */
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

/**
 * A server started as a child process, spoken to over its stdin and stdout.
 * It runs under the shell tool's rules: argv (no shell), a scrubbed
 * environment (`PATH`, `env`, `passEnv`, `secretEnv` only), its own process
 * group, killed with its children when the connection closes.
 *
 * @since 0.3.0
 * @category configuration
 */
export const StdioTransport = Schema.Struct({
  type: Schema.Literal("stdio"),
  /** The program: an absolute path, or a name looked up in `PATH`. */
  command: Schema.String,
  args: Schema.optionalKey(Schema.Array(Schema.String)),
  /** Fixed environment variables. */
  env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  /** Variables copied from this process's environment (e.g. `HOME`). */
  passEnv: Schema.optionalKey(Schema.Array(Schema.String)),
  /** Variables filled from declared secrets: `{ "GH_TOKEN": "GITHUB_TOKEN" }`. */
  secretEnv: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  /** The child's `PATH` (default `/usr/local/bin:/usr/bin:/bin` plus the folder of this Node). */
  path: Schema.optionalKey(Schema.String),
  /** The working directory (default: this process's). */
  cwd: Schema.optionalKey(Schema.String)
})

/**
 * A server reached over MCP's Streamable HTTP transport.
 *
 * @since 0.3.0
 * @category configuration
 */
export const HttpTransport = Schema.Struct({
  type: Schema.Literal("http"),
  url: Schema.String,
  headers: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  /** Headers filled from declared secrets: `{ "authorization": "API_TOKEN" }` sends `Bearer <API_TOKEN>`. */
  secretHeaders: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})

/**
 * How to reach a server.
 *
 * @since 0.3.0
 * @category configuration
 */
export const Transport = Schema.Union([StdioTransport, HttpTransport])

/**
 * @since 0.3.0
 * @category configuration
 */
export type Transport = typeof Transport.Type

/** Server names become parts of tool names and capabilities. */
const ServerName = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,32}$/))

/**
 * One MCP server, as a project configures it.
 *
 * @since 0.3.0
 * @category configuration
 */
export const ServerConfig = Schema.Struct({
  /** Letters, digits, `_` and `-`: it names the server's tools (`<name>__<tool>`) and capabilities (`mcp:<name>:<tool>`). */
  name: ServerName,
  transport: Transport,
  /** The prefix of the Graphent tool names (default `<name>__`). */
  prefix: Schema.optionalKey(Schema.String),
  /** Time limit of one call, in milliseconds (default 60 000); starting the server for it does not count. */
  timeoutMs: Schema.optionalKey(Schema.Number),
  /** Time limit of starting the server and listing its tools, in milliseconds (default 30 000). */
  connectTimeoutMs: Schema.optionalKey(Schema.Number),
  /** Cap on one result, in bytes (default 1 MiB): past it the call fails and the connection is closed. */
  maxOutputBytes: Schema.optionalKey(Schema.Number),
  /** Whether a model-driven planner shows the tools' failures to the model (default false). */
  recoverable: Schema.optionalKey(Schema.Boolean),
  /** Whether running a tool twice with the same arguments is harmless (default false). */
  idempotent: Schema.optionalKey(Schema.Boolean),
  /** Accept changed tool definitions and re-pin them instead of refusing them (default false). */
  repin: Schema.optionalKey(Schema.Boolean),
  /** Where the pin is kept (default `.graphent/mcp/<name>.json` in the project). */
  pinFile: Schema.optionalKey(Schema.String)
})

/**
 * @since 0.3.0
 * @category configuration
 */
export interface ServerConfig extends Schema.Schema.Type<typeof ServerConfig> {}

/**
 * A configuration file: servers by name. The `mcpServers` spelling of other
 * MCP clients (`{ "command", "args", "env" }` or `{ "url", "headers" }`) is
 * read too.
 *
 * @since 0.3.0
 * @category configuration
 */
export const ConfigFile = Schema.Struct({
  servers: Schema.Record(Schema.String, Schema.Unknown)
})

// ---------------------------------------------------------------------------
// pins
// ---------------------------------------------------------------------------

/**
 * A tool definition as the server listed it, with its hash.
 *
 * @since 0.3.0
 * @category pins
 */
export const PinnedTool = Schema.Struct({
  name: Schema.String,
  /** sha256 of the definition's canonical JSON (name, title, description, schemas, annotations). */
  hash: Schema.String,
  title: Schema.optionalKey(Schema.String),
  description: Schema.optionalKey(Schema.String),
  inputSchema: Schema.Record(Schema.String, Schema.Unknown),
  outputSchema: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
  annotations: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown))
})

/**
 * @since 0.3.0
 * @category pins
 */
export interface PinnedTool extends Schema.Schema.Type<typeof PinnedTool> {}

/**
 * The tool definitions of one server that the project trusts.
 *
 * @since 0.3.0
 * @category pins
 */
export const Pin = Schema.Struct({
  server: Schema.String,
  pinnedAt: Schema.String,
  tools: Schema.Array(PinnedTool)
})

/**
 * @since 0.3.0
 * @category pins
 */
export interface Pin extends Schema.Schema.Type<typeof Pin> {}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A configuration file or server configuration does not decode.
 *
 * What to do: fix the file the message names; its shape is in docs/mcp.md (`{ servers: [{ name, transport: {
 * type: "stdio", command, args } | { type: "http", url } }] }`).
 *
 * @since 0.3.0
 * @category errors
 */
export class McpConfigInvalid extends Schema.TaggedError<McpConfigInvalid>()("McpConfigInvalid", {
  source: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `MCP configuration ${this.source}: ${this.issue}`
  }
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

/**
 * The server's tools were never pinned (or the pin file does not decode).
 *
 * What to do: run `graphent mcp pin <config>` once to store the server's definitions under `.graphent/mcp/`,
 * and commit them.
 *
 * @since 0.3.0
 * @category errors
 */
export class McpNotPinned extends Schema.TaggedError<McpNotPinned>()("McpNotPinned", {
  server: Schema.String,
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `MCP server "${this.server}": no usable pin at ${this.file} (${this.reason}); pin its tools with: graphent mcp pin <config> --server ${this.server}`
  }
  /** {@link Errors.misconfigured}: exit 2, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.misconfigured
  }
}

/**
 * The server lists tool definitions other than the pinned ones (a "rug
 * pull"): nothing was called.
 *
 * What to do: inspect the change with `graphent mcp list <config>`; if you trust the new definitions, re-pin
 * them with `graphent mcp pin <config>` (a replay of a run recorded before the change then reports a
 * divergence, as it should).
 *
 * @since 0.3.0
 * @category errors
 */
export class McpDefinitionsChanged extends Schema.TaggedError<McpDefinitionsChanged>()("McpDefinitionsChanged", {
  server: Schema.String,
  added: Schema.Array(Schema.String),
  removed: Schema.Array(Schema.String),
  changed: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const parts = [
      this.changed.length > 0 ? `changed: ${this.changed.join(", ")}` : "",
      this.added.length > 0 ? `added: ${this.added.join(", ")}` : "",
      this.removed.length > 0 ? `removed: ${this.removed.join(", ")}` : ""
    ].filter((part) => part !== "")
    return `MCP server "${this.server}" changed its tool definitions since they were pinned (${parts.join("; ")}); ` +
      `refused. Review them with graphent mcp list, then re-pin with graphent mcp pin`
  }
  /** {@link Errors.conflict}: exit 1, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.conflict
  }
}

/**
 * The server could not be reached or stopped answering: it did not start,
 * did not complete the handshake in time, exited or closed its output, broke
 * the protocol, or sent a message over the size cap.
 *
 * What to do: check the server's command or URL (`graphent mcp list <config>` starts it and lists its tools);
 * stderr of a stdio server is in the message. The layer reconnects on the next call.
 *
 * @since 0.3.0
 * @category errors
 */
export class McpUnavailable extends Schema.TaggedError<McpUnavailable>()("McpUnavailable", {
  server: Schema.String,
  reason: Schema.Literals(["spawn", "timeout", "closed", "protocol", "output-too-large", "unsupported"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `MCP server "${this.server}": ${this.reason}: ${this.detail}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * The tool ran and reported an error (`isError` in its result).
 *
 * What to do: read the error text in the message; it comes from the server's tool, not from Graphent. The
 * planner sees it as a failed step and may try something else.
 *
 * @since 0.3.0
 * @category errors
 */
export class McpToolReportedError extends Schema.TaggedError<McpToolReportedError>()("McpToolReportedError", {
  server: Schema.String,
  tool: Schema.String,
  text: Schema.String
}) {
  override get message(): string {
    return `MCP tool ${this.server}/${this.tool} reported an error: ${this.text}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * The tool's result does not match its declared output schema, or is not a
 * valid MCP result.
 *
 * What to do: the server broke its own contract: check the server's version against the pinned definitions
 * (`graphent mcp list`), or report it to the server's authors.
 *
 * @since 0.3.0
 * @category errors
 */
export class McpResultInvalid extends Schema.TaggedError<McpResultInvalid>()("McpResultInvalid", {
  server: Schema.String,
  tool: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `MCP tool ${this.server}/${this.tool} returned an invalid result: ${this.issue}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * The tool is pinned but the server no longer lists it (with `repin` set).
 *
 * What to do: the server dropped the tool: re-pin (`graphent mcp pin`) and remove the tool from the agent, or
 * pin the server's previous version.
 *
 * @since 0.3.0
 * @category errors
 */
export class McpToolMissing extends Schema.TaggedError<McpToolMissing>()("McpToolMissing", {
  server: Schema.String,
  tool: Schema.String
}) {
  override get message(): string {
    return `MCP server "${this.server}" no longer lists the tool ${this.tool}`
  }
  /** {@link Errors.conflict}: exit 1, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.conflict
  }
}

/**
 * Every way an MCP tool call fails (its timeout is the tool's `ToolTimeout`).
 *
 * @since 0.3.0
 * @category errors
 */
export type McpError =
  | McpNotPinned
  | McpDefinitionsChanged
  | McpUnavailable
  | McpToolReportedError
  | McpResultInvalid
  | McpToolMissing
