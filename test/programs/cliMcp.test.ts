import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Tools } from "graphent"
import { McpTools } from "graphent/mcp"
import { bin, graphent, root, start } from "../support/cli.js"
import { alive, mcpServerScript, testServer } from "../support/mcp.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-cli-mcp-"))

/** Every file under `folder`. */
const filesUnder = (folder: string): Array<string> =>
  fs.existsSync(folder)
    ? fs.readdirSync(folder, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name))
    : []

describe("graphent mcp", () => {
  it("pin stores the listing; list shows each tool's Graphent name, capability and pin status (a changed one as CHANGED)", () => {
    const pinFile = path.join(dir, "calc.json")
    const config = (mode: string | undefined) => {
      const file = path.join(dir, `mcp-${mode ?? "plain"}.json`)
      fs.writeFileSync(file, JSON.stringify({
        mcpServers: {
          calc: {
            command: process.execPath,
            args: [mcpServerScript()],
            ...(mode === undefined ? {} : { env: { MCP_TEST_MODE: mode } }),
            pinFile
          }
        }
      }))
      return file
    }
    const pinned = graphent(["mcp", "pin", config(undefined)])
    assert.strictEqual(pinned.code, 0, pinned.stderr)
    assert.include(pinned.stdout, `calc: pinned 9 tools in ${pinFile}`)
    const listed = graphent(["mcp", "list", config("changed"), "--json"])
    assert.strictEqual(listed.code, 0, listed.stderr)
    const rows = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, string>)
    assert.deepStrictEqual(rows.find((row) => row.tool === "add"), {
      server: "calc",
      tool: "add",
      graphentTool: "calc__add",
      capability: "mcp:calc:add",
      status: "pinned",
      description: "Adds two numbers"
    })
    assert.strictEqual(rows.find((row) => row.tool === "echo")?.status, "CHANGED")
  })

  it.live("serve: an MCP client (Graphent's own) lists the agents as tools and runs one; the run is journaled", () =>
    Effect.gen(function*() {
      const home = path.join(dir, "home")
      const server: McpTools.ServerConfig = {
        name: "graphent",
        transport: {
          type: "stdio",
          command: process.execPath,
          args: [bin, "mcp", "serve", "examples/echo.ts"],
          cwd: root,
          env: { GRAPHENT_HOME: home }
        },
        // A loaded machine may take many seconds to start the CLI.
        connectTimeoutMs: 90_000,
        pinFile: path.join(dir, "graphent.json")
      }
      const pin = yield* McpTools.pin(server)
      assert.deepStrictEqual(pin.tools.map((tool) => [tool.name, tool.description]), [["echo", "Answers its input through the echo tool."]])
      const output = yield* Effect.scoped(
        Tools.executeLocal(
          Tools.compile(McpTools.tools(server)),
          { stepId: "s", tool: "graphent__echo", args: { input: "hello over MCP" } },
          { runId: "r", agent: "client", stepId: "s", threadId: undefined },
          { timeout: undefined, retry: undefined }
        ).pipe(Effect.provide(McpTools.layer))
      )
      assert.strictEqual(output.value, "hello over MCP")
      const journals = filesUnder(home).filter((file) => fs.readFileSync(file, "utf8").includes("\"via\":\"mcp\""))
      assert.strictEqual(journals.length, 1)
      assert.include(fs.readFileSync(journals[0]!, "utf8"), "hello over MCP")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("a run stopped (SIGTERM) during an MCP call leaves no server process behind", () =>
    Effect.gen(function*() {
      const scratch = fs.mkdtempSync(path.join(root, "test/.scratch/mcp-end-"))
      const selfPid = path.join(scratch, "server.pid")
      // Pinned from a server that does not write the pid file: only the run's server does.
      yield* McpTools.pin(testServer("slow", scratch))
      const server = testServer("slow", scratch, { selfPid })
      fs.writeFileSync(path.join(scratch, "agent.ts"), `import { Agent, SequencePlanner } from "graphent"
import { McpTools } from "../../../src/mcp.js"
const server = ${JSON.stringify(server)}
export default Agent.make({
  name: "stuck",
  tools: McpTools.tools(server),
  planner: SequencePlanner.plan({ steps: [{ id: "wait", tool: "slow__hang", args: {} }] })
})
export const layer = McpTools.layer
`)
      const running = start(["run", path.join(scratch, "agent.ts")], { env: { GRAPHENT_STORE: "memory" } })
      // Wait until the server runs (its pid file), then stop the program mid-call.
      for (let i = 0; i < 600 && !fs.existsSync(selfPid); i++) {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      }
      const pid = Number(fs.readFileSync(selfPid, "utf8"))
      assert.isTrue(alive(pid))
      running.child.kill("SIGTERM")
      const result = yield* Effect.promise(() => running.exited)
      assert.strictEqual(result.code, 143, result.stderr)
      assert.isFalse(alive(pid))
    }).pipe(Effect.provide(NodeServices.layer)))
})
