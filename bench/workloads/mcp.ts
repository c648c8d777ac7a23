/**
 * MCP: the per-call overhead of a tool served by an MCP server over stdio
 * (Graphent's `McpTools`, one pooled connection, the server started once and
 * its listing checked against the pin before timing) against the same
 * function as a native tool, both called through the tool executor (decode,
 * handler, encode) one call after the other. Two more rows say where the
 * time goes: `effect/ai`'s `McpClient.callTool` on the same server without
 * Graphent, and a floor — one JSON line each way over the same pipes between
 * two plain Node processes.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeServices } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as ChildProcess from "effect/process/ChildProcess"
import * as McpClient from "effect/ai/McpClient"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as Schema from "effect/Schema"
import { Tool, Tools } from "../../src/index.js"
import { McpTools } from "graphent/mcp"
import { mcpServerScript, testServer } from "../../test/support/mcp.js"
import { batchTiming, runInChild, timeBatches } from "../harness.js"
import type { Report, Workload } from "../report.js"

type Mode = "native" | "mcp-stdio" | "effect-client" | "pipe-floor"

const context = { runId: "bench", agent: "bench", stepId: "s", threadId: undefined }
const defaults = { timeout: undefined, retry: undefined }

/** A child that answers each JSON line with one: the floor of a round trip over pipes. */
const echoServer = `process.stdin.setEncoding("utf8"); let buffer = ""
process.stdin.on("data", (chunk) => { buffer += chunk; let i
  while ((i = buffer.indexOf("\\n")) >= 0) { const message = JSON.parse(buffer.slice(0, i)); buffer = buffer.slice(i + 1)
    process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: message.id, result: { sum: message.params.a + 1 } }) + "\\n") } })`

const measureFloor = async () => {
  const child = spawn(process.execPath, ["-e", echoServer], { stdio: ["pipe", "pipe", "inherit"] })
  child.stdout.setEncoding("utf8")
  let buffer = ""
  let answered: () => void = () => {}
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk
    if (buffer.includes("\n")) {
      buffer = ""
      answered()
    }
  })
  const call = (id: number) =>
    new Promise<void>((resolve) => {
      answered = resolve
      child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { a: id } }) + "\n")
    })
  const { msPerRep } = await timeBatches(async (reps) => {
    const startedAt = performance.now()
    for (let i = 0; i < reps; i++) await call(i)
    return performance.now() - startedAt
  }, batchTiming)
  child.kill()
  return { usPerCall: msPerRep * 1000 }
}

const measureEffectClient = () =>
  Effect.runPromise(Effect.gen(function*() {
    const client = yield* McpClient.make({ name: "bench", version: "1" }).pipe(
      Effect.provideServiceEffect(
        McpClient.Transport,
        McpClient.stdio({ command: ChildProcess.make(process.execPath, [mcpServerScript()]), protocol: McpProtocol.v2025_11_25 })
      )
    )
    const add = (yield* client.listTools()).find((tool) => tool.name === "add")!
    const { msPerRep } = yield* Effect.promise(() =>
      timeBatches((reps) =>
        Effect.runPromise(Effect.gen(function*() {
          const startedAt = performance.now()
          for (let i = 0; i < reps; i++) yield* client.callTool({ tool: add, arguments: { a: i, b: 1 } })
          return performance.now() - startedAt
        })), batchTiming)
    )
    return { usPerCall: msPerRep * 1000 }
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

/** Task (child process): microseconds per call of one mode. */
export const measure = async (params: { readonly mode: Mode }) => {
  if (params.mode === "pipe-floor") return measureFloor()
  if (params.mode === "effect-client") return measureEffectClient()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-bench-mcp-"))
  let registry: Tools.Registry
  let tool: string
  if (params.mode === "native") {
    registry = Tools.compile([
      Tool.make("add", {
        description: "Adds two numbers",
        parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
        success: Schema.Struct({ sum: Schema.Number }),
        handler: ({ a, b }) => Effect.succeed({ sum: a + b })
      })
    ])
    tool = "add"
  } else {
    const server = testServer("bench", dir)
    await Effect.runPromise(McpTools.pin(server).pipe(Effect.provide(NodeServices.layer)))
    registry = Tools.compile(McpTools.tools(server))
    tool = "bench__add"
  }
  const runtime = ManagedRuntime.make(McpTools.layer.pipe(Layer.provideMerge(NodeServices.layer)))
  const call = (i: number) =>
    Tools.executeLocal(registry, { stepId: `s${i}`, tool, args: { a: i, b: 1 } }, context, defaults)
  // The first call starts the server and checks its listing: not part of the per-call figure.
  await runtime.runPromise(call(0))
  const { msPerRep } = await timeBatches((reps) =>
    runtime.runPromise(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < reps; i++) yield* call(i)
      return performance.now() - startedAt
    })), batchTiming)
  await runtime.dispose()
  fs.rmSync(dir, { recursive: true, force: true })
  return { usPerCall: msPerRep * 1000 }
}

export const workload: Workload = {
  id: "mcp",
  run: async (): Promise<Report> => {
    const modes: ReadonlyArray<[Mode, string]> = [
      ["native", "native tool (same function)"],
      ["mcp-stdio", "MCP tool over stdio (pooled)"],
      ["effect-client", "effect/ai McpClient.callTool alone"],
      ["pipe-floor", "floor: JSON line round trip, plain Node"]
    ]
    const results: Array<{ what: string; usPerCall: number; peakRssMb: number }> = []
    for (const [mode, what] of modes) {
      const result = await runInChild<typeof measure>(import.meta.url, "measure", { mode })
      results.push({ what, ...result })
    }
    const native = results[0]!.usPerCall
    const mcp = results[1]!.usPerCall
    return {
      title: "per-call overhead of an MCP tool over stdio against the same function called natively",
      targets: "report µs per call and the ratio",
      columns: [
        { key: "what", header: "what" },
        { key: "usPerCall", header: "µs per call", digits: 1 },
        { key: "ratio", header: "× native", digits: 0 },
        { key: "peakRssMb", header: "peak RSS MB (client)", digits: 0 }
      ],
      rows: results.map((result) => ({ what: result.what, usPerCall: result.usPerCall, ratio: result.usPerCall / native, peakRssMb: result.peakRssMb })),
      notes: [
        `MCP adds ${(mcp - native).toFixed(0)} µs per call (${(mcp / native).toFixed(0)}× the native call).`,
        "Every MCP call crosses two processes: the floor row is the cost of that alone, and on a loaded machine",
        "(compare the load average) waking the other process dominates all three process-crossing rows."
      ]
    }
  }
}
