/**
 * `graphent mcp`: list and pin the tools of MCP servers, and serve agents to
 * MCP clients.
 *
 * - `graphent mcp list <config> [--server name]`: each tool of each server,
 *   the Graphent tool it becomes, the capability it needs, and whether its
 *   definition matches the pin (`pinned`, `new`, `CHANGED`, `removed`);
 * - `graphent mcp pin <config> [--server name]`: pins what the servers list now;
 * - `graphent mcp serve <agent-file>...`: an MCP server on stdin/stdout whose
 *   tools are the agents (`input` → answer); its runs are journaled in the
 *   configured store and checked by the policy like `graphent run`'s.
 *
 * The MCP modules are imported when a subcommand runs, so that they cost
 * nothing to the CLI's other commands.
 *
 * @since 0.3.0
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { AgentRuntime } from "../services/AgentRuntime.js"
import type { RunAgent } from "./mcpServe.js"
import { load, runWith, usageError, writeLine } from "./cliSupport.js"
import * as CliSecurity from "./cliSecurity.js"
import * as CliStorage from "./cliStorage.js"

const configArgument = Argument.String("config").pipe(
  Argument.withDescription("A JSON file: { \"servers\": { name: { \"transport\": ... } } } or { \"mcpServers\": ... }")
)

const serverFlag = Flag.String("server").pipe(
  Flag.withDescription("Only this server of the configuration"),
  Flag.optional
)

/** The client layer, loaded on use. */
const mcpTools = Effect.promise(() => import("../layers/McpTools.js"))

/** The servers of a configuration file, or the one `--server` names. */
const serversOf = (file: string, only: Option.Option<string>) =>
  Effect.gen(function*() {
    const McpTools = yield* mcpTools
    const servers = yield* McpTools.readConfig(file).pipe(Effect.mapError((error) => usageError(error.message)))
    if (Option.isNone(only)) return servers
    const server = servers.find((candidate) => candidate.name === only.value)
    if (server === undefined) {
      return yield* usageError(`${file} has no server ${only.value} (servers: ${servers.map((s) => s.name).join(", ") || "none"})`)
    }
    return [server]
  })

const list = Command.make(
  "list",
  { config: configArgument, server: serverFlag, json: Flag.Boolean("json").pipe(Flag.withDescription("One JSON object per tool"), Flag.withDefault(false)) },
  Effect.fn("graphent.cli.mcp.list")(function*({ config, server, json }) {
    const McpTools = yield* mcpTools
    for (const entry of yield* serversOf(config, server)) {
      const listed = yield* McpTools.list(entry).pipe(Effect.mapError((error) => usageError(error.message)))
      const pin = McpTools.readPin(entry)
      const pinned = Exit.isSuccess(pin) ? new Map(pin.value.tools.map((tool) => [tool.name, tool.hash])) : undefined
      const prefix = entry.prefix ?? `${entry.name}__`
      const rows = listed.map((tool) => {
        const { hash } = McpTools.pinnedOf(tool)
        const status = pinned === undefined ? "unpinned" : !pinned.has(tool.name) ? "new" : pinned.get(tool.name) === hash ? "pinned" : "CHANGED"
        return { server: entry.name, tool: tool.name, graphentTool: `${prefix}${tool.name}`, capability: `mcp:${entry.name}:${tool.name}`, status, description: tool.description ?? "" }
      })
      const removed = pinned === undefined ? [] : [...pinned.keys()].filter((name) => !listed.some((tool) => tool.name === name))
      if (json) {
        for (const row of rows) yield* writeLine(JSON.stringify(row))
        for (const name of removed) yield* writeLine(JSON.stringify({ server: entry.name, tool: name, status: "removed" }))
        continue
      }
      yield* writeLine(`${entry.name}: ${rows.length} tools${pinned === undefined ? " (not pinned: graphent mcp pin)" : ""}`)
      for (const row of rows) {
        yield* writeLine(`  ${row.graphentTool.padEnd(28)} ${row.capability.padEnd(32)} ${row.status.padEnd(8)} ${row.description.split("\n")[0]}`)
      }
      for (const name of removed) yield* writeLine(`  ${`${prefix}${name}`.padEnd(28)} ${`mcp:${entry.name}:${name}`.padEnd(32)} removed`)
    }
  })
).pipe(
  Command.withDescription("List the tools of MCP servers: the Graphent tool, its capability, and whether it matches the pin"),
  Command.withExamples([{ command: "graphent mcp list mcp.json", description: "Every server of mcp.json" }])
)

const pin = Command.make(
  "pin",
  { config: configArgument, server: serverFlag },
  Effect.fn("graphent.cli.mcp.pin")(function*({ config, server }) {
    const McpTools = yield* mcpTools
    for (const entry of yield* serversOf(config, server)) {
      const pinned = yield* McpTools.pin(entry).pipe(Effect.mapError((error) => usageError(error.message)))
      yield* writeLine(`${entry.name}: pinned ${pinned.tools.length} tools in ${McpTools.pinPath(entry)}`)
    }
  })
).pipe(
  Command.withDescription("Pin the tool definitions MCP servers list now (review them first with graphent mcp list)"),
  Command.withExamples([{ command: "graphent mcp pin mcp.json --server files", description: "Accept the current tools of files" }])
)

const serve = Command.make(
  "serve",
  {
    files: Argument.String("agent-file").pipe(
      Argument.withDescription("Agent modules; each agent becomes one tool"),
      Argument.variadic({ min: 1 })
    )
  },
  Effect.fn("graphent.cli.mcp.serve")(function*({ files }) {
    const [McpServer, McpServe, NodeStdio] = yield* Effect.promise(() =>
      Promise.all([import("effect/ai/McpServer"), import("./mcpServe.js"), import("@effect/platform-node/NodeStdio")])
    )
    const modules = yield* Effect.forEach(files, load)
    const clash = McpServe.clashingName(modules.map((module) => module.agent))
    if (clash !== undefined) return yield* usageError(`two agents are served as the tool ${clash}`)
    const principal = yield* CliSecurity.runPrincipal
    const byName = new Map(modules.map((module) => [module.agent.name, module]))
    const runAgent = Effect.map(AgentRuntime, (runtime): RunAgent => (name, input) => {
      const module = byName.get(name)!
      return runtime.run(module.agent, input, { metadata: { agentFile: module.file, via: "mcp" }, principal }).pipe(
        Effect.map((result) => result.answer),
        Effect.mapError((error) => error.message)
        // What the agents need is provided by their modules' layers (runWith, below).
      ) as Effect.Effect<string, string>
    })
    const server = McpServer.layerStdio({
      ...McpServe.server,
      registrations: McpServe.registrations(modules.map((module) => module.agent), runAgent)
    }).pipe(Layer.provide(NodeStdio.layer))
    // One run layer for every agent: the first module's, with the others' own layers beside it.
    const module = {
      ...modules[0]!,
      layer: Layer.mergeAll(Layer.empty, ...modules.flatMap((m) => m.layer === undefined ? [] : [m.layer]))
    }
    yield* runWith(module, CliStorage.runStores(Option.none()), Layer.launch(server as Layer.Layer<never, unknown, unknown>))
  })
).pipe(
  Command.withDescription("Serve agents to MCP clients over stdin/stdout: each agent is a tool (input → answer)"),
  Command.withExamples([
    { command: "graphent mcp serve examples/echo.ts", description: "One tool, echo; runs journaled in the store" }
  ])
)

/**
 * `graphent mcp` and its subcommands.
 *
 * @since 0.3.0
 * @category commands
 */
export const mcp = Command.make("mcp").pipe(
  Command.withDescription("MCP servers: list and pin their tools, serve agents as MCP tools"),
  Command.withSubcommands([list, pin, serve])
)
