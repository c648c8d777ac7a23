/**
 * `graphent dev` serves its agents over MCP (Streamable HTTP at `/mcp`): a
 * dev server built in this process (`CliDev.prepare`, what the command
 * serves), and Graphent's own MCP client (`McpTools`, http transport) listing
 * the agents as tools and calling them. Each call is one of the server's
 * runs: listed by its API and kept in the project's store.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import * as HttpServer from "effect/http/HttpServer"
import { Tools } from "graphent"
import { McpTools } from "graphent/mcp"
import * as CliDev from "../../src/programs/cliDev.js"
import { root } from "../support/cli.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-dev-mcp-"))

/** The dev server of `agents` on a free port, with its own store; its URL. */
const devServer = (agents: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const prepared = yield* CliDev.prepare({
      port: 0,
      host: "127.0.0.1",
      agents: agents.map((agent) => path.join(root, agent)),
      maxConcurrent: 4,
      maxQueued: 16,
      logRequests: false
    })
    const context = yield* Layer.build(prepared.layer)
    return HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
  }).pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromEnv({ env: { GRAPHENT_HOME: path.join(dir, "home"), ...env } })
    )
  )

/** Calls the MCP tool `tool` of the server at `url` with `input`, through McpTools (with `key` as bearer). */
const call = (url: string, tool: string, input: string, key?: string) => {
  const server: McpTools.ServerConfig = {
    name: "dev",
    transport: {
      type: "http",
      url: `${url}${CliDev.mcpPath}`,
      ...(key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } })
    },
    pinFile: path.join(dir, "dev.json")
  }
  return Effect.gen(function*() {
    const pin = yield* McpTools.pin(server)
    const output = yield* Tools.executeLocal(
      Tools.compile(McpTools.tools(server)),
      { stepId: "s", tool: `dev__${tool}`, args: { input } },
      { runId: "r", agent: "client", stepId: "s", threadId: undefined },
      { timeout: undefined, retry: undefined }
    ).pipe(Effect.provide(McpTools.layer))
    return { tools: pin.tools.map((entry) => entry.name), output: output.value }
  })
}

describe("graphent dev: MCP over HTTP", () => {
  it.live("lists each agent as a tool; a call runs the agent as a run of the server (listed, journaled)", () =>
    Effect.gen(function*() {
      const url = yield* devServer(["examples/echo.ts", "examples/wordstats.ts"])
      const { output, tools } = yield* call(url, "echo", "hello over MCP on dev")
      assert.deepStrictEqual([...tools].sort(), ["echo", "wordstats"])
      assert.strictEqual(output, "hello over MCP on dev")
      // The call was a run of the server: its API lists it, completed, with its answer.
      const listed = yield* Effect.promise(() => fetch(`${url}/v1/runs?agent=echo`).then((response) => response.json()))
      const run = (listed as { runs: Array<{ input: string; status: string; answer?: string }> }).runs
        .find((candidate) => candidate.input === "hello over MCP on dev")
      assert.strictEqual(run?.status, "completed")
      assert.strictEqual(run?.answer, "hello over MCP on dev")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 120_000)

  it.live("a failed run is the tool's error, not an answer", () =>
    Effect.gen(function*() {
      const scratch = fs.mkdtempSync(path.join(root, "test/.scratch/dev-mcp-"))
      const broken = path.join(scratch, "broken.ts")
      fs.writeFileSync(broken, `import { Effect } from "effect"
import { Agent, Planner } from "graphent"
export default Agent.make({ name: "broken", description: "Always fails.", tools: [],
  planner: { decide: () => Effect.succeed(Planner.fail("nothing works here")) } })
`)
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(scratch, { recursive: true, force: true })))
      const url = yield* devServer([path.relative(root, broken)])
      const failed = yield* Effect.flip(call(url, "broken", "x"))
      assert.include(failed.message, "nothing works here")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 120_000)

  it.live("with API keys: /mcp refuses every bad spelling of the key as the API does; a runner's call runs as its principal", () =>
    Effect.gen(function*() {
      const runner = "runner-key-0123456789abcdef"
      const viewer = "viewer-key-0123456789abcdef"
      const url = yield* devServer(["examples/echo.ts"], { GRAPHENT_API_KEYS: `${runner}:runner:carol,${viewer}:viewer:dave` })
      /** The answer to a POST of `path` (one that needs the right "run") with `authorization` as the header. */
      const post = (path: string, authorization: string | undefined, body: unknown) =>
        Effect.promise(() =>
          fetch(`${url}${path}`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              ...(authorization === undefined ? {} : { authorization })
            },
            body: JSON.stringify(body)
          }).then(async (response) => ({
            status: response.status,
            contentType: response.headers.get("content-type"),
            body: await response.text()
          }))
        )
      const mcp = (authorization: string | undefined) =>
        post(CliDev.mcpPath, authorization, { jsonrpc: "2.0", id: 1, method: "tools/list" })
      const api = (authorization: string | undefined) => post("/v1/runs", authorization, { agent: "echo", input: "x" })
      // The class of headers: absent, another scheme, the scheme alone, an empty or blank token, a separator other
      // than spaces, an unknown key, the key changed in case, cut, extended or followed by more; a key whose role
      // lacks the right. (HTTP trims the ends of a header's value: a key with trailing blanks is the key.)
      const refused: ReadonlyArray<readonly [string | undefined, number]> = [
        [undefined, 401],
        [`Basic ${runner}`, 401],
        [`Token ${runner}`, 401],
        [runner, 401],
        ["Bearer", 401],
        ["Bearer ", 401],
        ["Bearer    ", 401],
        [`Bearer\t${runner}`, 401],
        [`Bearer:${runner}`, 401],
        ["Bearer not-a-key", 401],
        [`Bearer ${runner.toUpperCase()}`, 401],
        [`Bearer ${runner.slice(0, -1)}`, 401],
        [`Bearer ${runner}x`, 401],
        [`Bearer ${runner} ${runner}`, 401],
        [`Bearer ${runner},${runner}`, 401],
        [`Bearer ${viewer}`, 403],
        [`bearer ${viewer}`, 403]
      ]
      for (const [authorization, status] of refused) {
        const fromApi = yield* api(authorization)
        assert.strictEqual(fromApi.status, status, `/v1/runs, ${JSON.stringify(authorization)}: ${fromApi.body}`)
        assert.deepStrictEqual(yield* mcp(authorization), fromApi, `/mcp, ${JSON.stringify(authorization)}`)
      }
      // Spellings RFC 9110 allows (the scheme in any case, several spaces) pass on both.
      for (const authorization of [`bearer ${runner}`, `BEARER  ${runner}`]) {
        assert.strictEqual((yield* mcp(authorization)).status < 401, true, `/mcp, ${authorization}`)
        assert.strictEqual((yield* api(authorization)).status, 202, `/v1/runs, ${authorization}`)
      }
      const { output } = yield* call(url, "echo", "keyed call", runner)
      assert.strictEqual(output, "keyed call")
      const listed = yield* Effect.promise(() =>
        fetch(`${url}/v1/runs?agent=echo`, { headers: { authorization: `Bearer ${runner}` } }).then((response) => response.json())
      )
      const run = (listed as { runs: Array<{ input: string; startedBy?: string }> }).runs.find((r) => r.input === "keyed call")
      assert.strictEqual(run?.startedBy, "carol")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 120_000)
})
