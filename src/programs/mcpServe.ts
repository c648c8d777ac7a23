/**
 * Agents served as MCP tools: one tool per agent (`input` → the answer; a
 * failed run is the tool's error), with the same names, descriptions and
 * protocols over both transports Graphent offers — standard input and output
 * (`graphent mcp serve`) and Streamable HTTP at `/mcp` on `graphent dev`.
 * Only the way a tool runs its agent differs: in the command's own runtime,
 * or as a run of the dev server (listed and followed in its viewer).
 *
 * Loaded on use by those two commands: the other commands do not load
 * effect's MCP modules.
 *
 * @since 0.3.0
 */
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpServer from "effect/ai/McpServer"
import * as AiTool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { version } from "../version.js"

/**
 * An agent's name as an MCP tool name (letters, digits, `_`, `-`; at most 64 characters).
 *
 * @since 0.3.0
 * @category naming
 */
export const toolName = (name: string): string => name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64) || "agent"

/**
 * The first tool name two of `agents` would share, if any (they cannot be served together).
 *
 * @since 0.3.0
 * @category naming
 */
export const clashingName = (agents: ReadonlyArray<{ readonly name: string }>): string | undefined => {
  const names = new Set<string>()
  for (const agent of agents) {
    const name = toolName(agent.name)
    if (names.has(name)) return name
    names.add(name)
  }
  return undefined
}

/**
 * An agent as a tool: its name and description.
 *
 * @since 0.3.0
 * @category models
 */
export interface ServedAgent {
  readonly name: string
  readonly description: string
}

/**
 * Runs the agent named `agent` on `input`: its answer, or the message of its failure.
 *
 * @since 0.3.0
 * @category models
 */
export type RunAgent = (agent: string, input: string) => Effect.Effect<string, string>

/**
 * The server's name, version and protocols, as both transports announce them.
 *
 * @since 0.3.0
 * @category models
 */
export const server = {
  name: "graphent",
  version,
  protocols: [McpProtocol.v2025_11_25, McpProtocol.v2026_07_28]
} as const

/**
 * The MCP registrations of `agents`: one tool each, running through the
 * function `runAgent` builds (in the registrations' layer, so it may use
 * services).
 *
 * @since 0.3.0
 * @category layers
 */
export const registrations = <R>(
  agents: ReadonlyArray<ServedAgent>,
  runAgent: Effect.Effect<RunAgent, never, R>
): Layer.Layer<never, never, R> => {
  const tools = agents.map((agent) =>
    AiTool.make(toolName(agent.name), {
      description: agent.description || `Runs the agent ${agent.name} on an input and returns its answer`,
      parameters: Schema.Struct({ input: Schema.String }),
      success: Schema.String,
      failure: Schema.String,
      failureMode: "error"
    })
  )
  const toolkit = Toolkit.make(...tools)
  const handlers = toolkit.toLayer(Effect.map(runAgent, (run) =>
    Object.fromEntries(agents.map((agent) => [
      toolName(agent.name),
      ({ input }: { readonly input: string }) => run(agent.name, input)
    ])) as never))
  return McpServer.toolkit(toolkit).pipe(Layer.provide(handlers)) as Layer.Layer<never, never, R>
}

/**
 * The Streamable HTTP endpoint at `path` (e.g. `/mcp`) serving `agents`, on
 * the `HttpRouter` of the server it is merged into.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerHttp = <R>(
  path: `/${string}`,
  agents: ReadonlyArray<ServedAgent>,
  runAgent: Effect.Effect<RunAgent, never, R>
) =>
  McpServer.layerHttp({ ...server, path, registrations: registrations(agents, runAgent) })
