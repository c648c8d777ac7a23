import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createServer } from "node:http"
import { NodeHttpServer, NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { McpProtocol, McpServer } from "effect/ai"
import { HttpRouter, HttpServer } from "effect/http"
import {
  Agent,
  AgentRuntime,
  Approvals,
  Audit,
  AuditMemory,
  Credentials,
  Journal,
  Policy,
  Replay,
  SequencePlanner,
  ToolGuard
} from "graphent"
import * as Testing from "graphent/testing"
import { McpTools } from "graphent/mcp"
import { alive, testServer } from "../support/mcp.js"
import { registrations } from "../support/mcpTools.js"

/** The error `f` throws. */
const thrown = (f: () => unknown): Error => {
  try {
    f()
  } catch (error) {
    return error as Error
  }
  throw new Error("expected a throw")
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-mcp-test-"))

const policy: Policy.Document = {
  version: 1,
  roles: {
    dev: { allow: ["tool:*", "mcp:calc:add", "mcp:calc:env", "mcp:web:add"], approve: ["mcp:calc:echo"] },
    lead: { allow: ["approval:*"] }
  },
  principals: { alice: ["dev"], bob: ["lead"] }
}
const alice: Policy.Principal = { id: "alice", roles: ["dev"] }

/** Node services, a memory journal, the guard (policy + memory audit), and optionally the pooled connections. */
const makeLayer = (pooled: boolean) => {
  const audit = AuditMemory.make()
  const security = ToolGuard.layer().pipe(
    Layer.provideMerge(Layer.mergeAll(Layer.succeed(Audit.Audit, audit), Policy.layer(policy).pipe(Layer.orDie)))
  )
  const connections = pooled ? McpTools.layer.pipe(Layer.provide(NodeServices.layer)) : Layer.empty
  return { audit, layer: Layer.mergeAll(Testing.layer, security, connections, NodeServices.layer) }
}

describe("McpTools: configuration files", () => {
  it.effect("reads Graphent's form and other clients' mcpServers form; a bad entry is McpConfigInvalid naming it", () =>
    Effect.gen(function*() {
      const file = (name: string, json: unknown) => {
        const target = path.join(dir, name)
        fs.writeFileSync(target, JSON.stringify(json))
        return target
      }
      const servers = yield* McpTools.readConfig(file("ours.json", {
        servers: { files: { transport: { type: "stdio", command: "files-mcp", args: ["--ro"] }, timeoutMs: 5000 } }
      }))
      assert.deepStrictEqual(servers, [
        { name: "files", transport: { type: "stdio", command: "files-mcp", args: ["--ro"] }, timeoutMs: 5000 }
      ])
      const theirs = yield* McpTools.readConfig(file("theirs.json", {
        mcpServers: { web: { url: "https://mcp.example.com/mcp", headers: { "x-team": "a" } }, fs: { command: "fs-mcp", env: { A: "1" } } }
      }))
      assert.deepStrictEqual(theirs.map((server) => server.transport), [
        { type: "http", url: "https://mcp.example.com/mcp", headers: { "x-team": "a" } },
        { type: "stdio", command: "fs-mcp", env: { A: "1" } }
      ])
      const bad = yield* Effect.flip(McpTools.readConfig(file("bad.json", { servers: { "bad name!": { command: "x" } } })))
      assert.instanceOf(bad, McpTools.McpConfigInvalid)
      assert.include(bad.message, "server bad name!")
      const broken = yield* Effect.flip(McpTools.readConfig(file("broken.json", "{")))
      assert.strictEqual(broken._tag, "McpConfigInvalid")
    }))
})

describe("McpTools: pinned definitions", () => {
  it("declaring tools of a server that was never pinned throws McpNotPinned", () => {
    const error = thrown(() => McpTools.tools(testServer("never", dir)))
    assert.instanceOf(error, McpTools.McpNotPinned)
    assert.match(error.message, /graphent mcp pin/)
  })

  it.live("pin lists the server's tools; tools() declares them with their JSON Schemas and mcp capabilities", () =>
    Effect.gen(function*() {
      const config = testServer("calc", dir)
      const pin = yield* McpTools.pin(config)
      assert.deepStrictEqual(pin.tools.map((tool) => tool.name), ["add", "echo", "env", "hang", "crash", "refuse", "spawn", "getenv", "bad"])
      const tools = McpTools.tools(config)
      const add = tools.find((tool) => tool.name === "calc__add")!
      assert.deepStrictEqual(add.capabilities, ["mcp:calc:add"])
      assert.strictEqual(add.description, "Adds two numbers")
      // The model sees the server's own JSON Schema.
      const { getJsonSchema } = yield* Effect.promise(() => import("effect/ai/Tool"))
      assert.deepStrictEqual(getJsonSchema(add.ai), pin.tools[0]!.inputSchema)
      // The arguments are checked with the imported Schema before anything is sent.
      const registry = Agent.make({ name: "x", tools, planner: SequencePlanner.plan({ steps: [] }) }).registry
      assert.strictEqual(registry.entries.get("calc__add")!.decode({ a: 1, b: 2 })._tag, "Success")
      assert.strictEqual(registry.entries.get("calc__add")!.decode({ a: "one" })._tag, "Failure")
      // A pin edited by hand is not trusted.
      const file = McpTools.pinPath(config)
      const edited = JSON.parse(fs.readFileSync(file, "utf8"))
      edited.tools[0].description = "Adds two numbers, quietly"
      fs.writeFileSync(path.join(dir, "edited.json"), JSON.stringify(edited))
      const error = thrown(() => McpTools.tools({ ...config, pinFile: path.join(dir, "edited.json") }))
      assert.match(error.message, /was edited/)
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("McpTools: calls go through the policy, approvals and the audit log", () => {
  const agentOf = (config: McpTools.ServerConfig) =>
    McpTools.withListings(Agent.make({
      name: "calculator",
      tools: McpTools.tools(config),
      planner: SequencePlanner.plan({
        steps: [
          { id: "sum", tool: "calc__add", args: { a: 2, b: 40 } },
          { id: "say", tool: "calc__echo", args: { text: "hello" } },
          { id: "env", tool: "calc__env", args: {} }
        ],
        answer: (results) => `${(results.sum as { sum: number }).sum} ${String(results.say)} [${String(results.env)}]`
      })
    }), [config])

  it.live("allowed calls run, a call needing approval pauses the run until approved, and the journal replays with the server gone", () => {
    const { audit, layer } = makeLayer(true)
    return Effect.gen(function*() {
      const config = testServer("calc", dir)
      yield* McpTools.pin(config)
      const agent = agentOf(config)
      const paused = yield* Effect.flip(AgentRuntime.run(agent, "go", { principal: alice }))
      assert.strictEqual(paused._tag, "ApprovalRequired")
      const journal = yield* Journal.Journal
      const events = yield* journal.read("run-1")
      const result = yield* Approvals.decide(agent, events, { stepId: "say", approved: true, approver: { id: "bob", roles: [] } })
      // The environment is scrubbed: PATH and what the configuration declares, nothing of this process.
      assert.strictEqual(result.answer, "42 hello [PATH]")
      // The three steps ran concurrently: the entries are compared in a fixed order.
      const entries = audit.entries.map((entry) => [entry.tool, entry.decision, entry.outcome, entry.capabilities.join(" ")].join(" | ")).sort()
      assert.deepStrictEqual(entries, [
        ["calc__add", "allow", "succeeded", "tool:calc__add mcp:calc:add"],
        ["calc__echo", "approval-required", "paused", "tool:calc__echo mcp:calc:echo"],
        ["calc__echo", "approved", "succeeded", "tool:calc__echo mcp:calc:echo"],
        ["calc__env", "allow", "succeeded", "tool:calc__env mcp:calc:env"]
      ].map((row) => row.join(" | ")))
      // Replay: the server is gone (its command no longer exists); the journal answers every call.
      const gone = { ...config, transport: { type: "stdio" as const, command: "/nonexistent/mcp-server" } }
      const all = yield* journal.read("run-1")
      const report = yield* Replay.replay(agentOf(gone), all)
      assert.deepStrictEqual(report.outcome, { answer: result.answer })
      // The journal holds the listing the run saw: the pinned names and hashes.
      const listing = all.find((event) => event._tag === "ValueRecorded" && event.key === "mcp:calc")
      assert.deepStrictEqual(
        listing?._tag === "ValueRecorded" ? Object.keys(listing.value as object) : [],
        ["add", "echo", "env", "hang", "crash", "refuse", "spawn", "getenv", "bad"]
      )
      // Re-pinned with a changed definition since: the replay refuses to go on with other definitions.
      const repinned = testServer("calc", dir, { mode: "changed", extra: { pinFile: path.join(dir, "calc-changed.json") } })
      yield* McpTools.pin(repinned)
      const diverged = yield* Effect.flip(Replay.replay(agentOf({ ...repinned, transport: gone.transport }), all))
      assert.strictEqual(diverged._tag, "ReplayDivergence")
      assert.include(diverged.message, "the run was recorded with other tool definitions of MCP server")
      assert.include(diverged.message, "changed: echo")
    }).pipe(Effect.provide(layer))
  })

  it.live("a tool the policy does not allow is denied before the server is started", () => {
    const { audit, layer } = makeLayer(false)
    return Effect.gen(function*() {
      const config = testServer("calc", dir, { extra: { pinFile: path.join(dir, "calc-deny.json") } })
      yield* McpTools.pin(config)
      const agent = Agent.make({
        name: "denied",
        tools: McpTools.tools(config),
        planner: SequencePlanner.plan({ steps: [{ id: "s", tool: "calc__spawn", args: {} }] })
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go", { principal: alice }))
      assert.strictEqual(error._tag, "ToolDenied")
      assert.include(error.message, "mcp:calc:spawn")
      assert.deepStrictEqual(audit.entries.map((entry) => entry.outcome), ["denied"])
    }).pipe(Effect.provide(layer))
  })
})

describe("McpTools: failures are typed errors and leave no process behind", () => {
  /** Runs one tool call against the server through the executor, as a run does. */
  const call = (config: McpTools.ServerConfig, tool: string, args: unknown = {}) =>
    Effect.gen(function*() {
      const tools = McpTools.tools(config)
      const { Tools } = yield* Effect.promise(() => import("graphent"))
      const registry = Tools.compile(tools)
      return yield* Tools.executeLocal(registry, { stepId: "s", tool, args }, { runId: "r", agent: "a", stepId: "s", threadId: undefined }, { timeout: undefined, retry: undefined })
    })

  it.live("a changed definition (rug pull) is refused, nothing is called; re-pinning accepts it", () =>
    Effect.gen(function*() {
      const pinned = testServer("rug", dir)
      yield* McpTools.pin(pinned)
      const changed = testServer("rug", dir, { mode: "changed" })
      const error = yield* Effect.flip(call(changed, "rug__add", { a: 1, b: 1 }))
      assert.strictEqual(error._tag, "ToolFailed")
      // A defect: a model-driven planner stops the run instead of showing it to the model.
      assert.isTrue((error as { defect: boolean }).defect)
      const cause = (error as { cause: unknown }).cause
      assert.instanceOf(cause, McpTools.McpDefinitionsChanged)
      assert.deepStrictEqual((cause as McpTools.McpDefinitionsChanged).changed, ["echo"])
      // With repin set, the change is accepted and pinned.
      const output = yield* call({ ...changed, repin: true }, "rug__add", { a: 1, b: 1 })
      assert.deepStrictEqual(output.value, { sum: 2 })
      const pin = JSON.parse(fs.readFileSync(McpTools.pinPath(pinned), "utf8"))
      assert.include(JSON.stringify(pin), "sends it to the operator")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("a tool error, a schema-invalid result, a hang and a crash mid-call are typed; the pool reconnects after the crash", () => {
    const { layer } = makeLayer(true)
    return Effect.gen(function*() {
      const config = testServer("bad", dir, { extra: { timeoutMs: 1500 } })
      yield* McpTools.pin(config)
      const causeOf = (error: unknown) => (error as { cause: unknown }).cause as { _tag: string; reason?: string }
      const refused = yield* Effect.flip(call(config, "bad__refuse"))
      assert.strictEqual(causeOf(refused)._tag, "McpToolReportedError")
      assert.include(refused.message, "not today")
      const invalid = yield* Effect.flip(call(config, "bad__bad"))
      assert.strictEqual(causeOf(invalid)._tag, "McpResultInvalid")
      const hung = yield* Effect.flip(call(config, "bad__hang"))
      assert.strictEqual(causeOf(hung)._tag, "McpUnavailable")
      assert.strictEqual(causeOf(hung).reason, "timeout")
      const crashed = yield* Effect.flip(call(config, "bad__crash"))
      assert.strictEqual(causeOf(crashed)._tag, "McpUnavailable")
      assert.strictEqual(causeOf(crashed).reason, "closed")
      // The next call starts the server again.
      const output = yield* call(config, "bad__add", { a: 1, b: 2 })
      assert.deepStrictEqual(output.value, { sum: 3 })
    }).pipe(Effect.provide(layer))
  })

  it.live("a declared secret reaches the server in its environment and is redacted from the result", () =>
    Effect.gen(function*() {
      const config = testServer("vault", dir, {
        extra: { transport: { ...testServer("vault", dir).transport, secretEnv: { VAULT_TOKEN: "MCP_VAULT_TOKEN" } } as McpTools.ServerConfig["transport"] }
      })
      yield* McpTools.pin(config)
      assert.deepStrictEqual(McpTools.tools(config)[0]!.secrets, ["MCP_VAULT_TOKEN"])
      const output = yield* call(config, "vault__getenv", { name: "VAULT_TOKEN" })
      assert.strictEqual(output.result, "[REDACTED:MCP_VAULT_TOKEN]")
    }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, Credentials.layerTest({ MCP_VAULT_TOKEN: "tok-4242-secret" })))))

  it.live("a server that never answers the handshake times out; one that cannot start is McpUnavailable spawn", () =>
    Effect.gen(function*() {
      const silent: McpTools.ServerConfig = {
        name: "silent",
        transport: { type: "stdio", command: "sleep", args: ["600"] },
        connectTimeoutMs: 500,
        pinFile: path.join(dir, "silent.json")
      }
      const timedOut = yield* Effect.flip(McpTools.list(silent))
      assert.strictEqual(timedOut.reason, "timeout")
      const missing = yield* Effect.flip(McpTools.list({ ...silent, transport: { type: "stdio", command: "no-such-mcp-server" } }))
      assert.strictEqual(missing.reason, "spawn")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("closing the layer stops the server's whole process group: no orphan", () =>
    Effect.gen(function*() {
      const pids = path.join(dir, "grandchild.pid")
      const config = testServer("orphan", dir, { pids })
      yield* McpTools.pin(config)
      yield* call(config, "orphan__spawn").pipe(Effect.provide(McpTools.layer), Effect.scoped)
      const pid = Number(fs.readFileSync(pids, "utf8"))
      assert.isTrue(pid > 0)
      // The group is signalled as the scope closes; give the kernel a moment to reap it.
      for (let i = 0; i < 50 && alive(pid); i++) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      assert.isFalse(alive(pid))
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("McpTools: over HTTP", () => {
  /** The test tools on an MCP Streamable HTTP endpoint of a loopback server. */
  const httpServer = HttpRouter.serve(
    McpServer.layerHttp({ name: "graphent-test", version: "1.0.0", path: "/mcp", protocols: [McpProtocol.v2025_11_25], registrations }),
    { disableLogger: true, disableListenLog: true }
  ).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })))

  it.live("lists and calls an HTTP server's tools through the policy (its key from a secret header); a replay needs no server", () =>
    Effect.gen(function*() {
      const url = `${HttpServer.formatAddress((yield* HttpServer.HttpServer).address)}/mcp`
      const config: McpTools.ServerConfig = {
        name: "web",
        transport: { type: "http", url, secretHeaders: { authorization: "WEB_KEY" } },
        pinFile: path.join(dir, "web.json")
      }
      const pin = yield* McpTools.pin(config)
      assert.include(pin.tools.map((tool) => tool.name), "add")
      const agent = McpTools.withListings(Agent.make({
        name: "web",
        tools: McpTools.tools(config),
        planner: SequencePlanner.plan({
          steps: [{ id: "sum", tool: "web__add", args: { a: 20, b: 22 } }],
          answer: (results) => String((results.sum as { sum: number }).sum)
        })
      }), [config])
      const result = yield* AgentRuntime.run(agent, "go", { principal: alice })
      assert.strictEqual(result.answer, "42")
      const events = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read(result.runId))
      const unreachable = { ...config, transport: { ...config.transport, url: "http://127.0.0.1:1/mcp" } }
      const report = yield* Replay.replay(McpTools.withListings(Agent.make({ ...agent, tools: McpTools.tools(unreachable) }), [unreachable]), events)
      assert.deepStrictEqual(report.outcome, { answer: "42" })
    }).pipe(
      Effect.provide(Layer.mergeAll(makeLayer(true).layer, httpServer, Credentials.layerTest({ WEB_KEY: "k-123" })))
    ))
})
