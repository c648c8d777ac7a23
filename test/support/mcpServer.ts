/**
 * A real MCP server over stdio, written with `effect/ai`'s `McpServer`, for the
 * MCP client tests and the bench (its tools: `mcpTools.ts`).
 * `MCP_TEST_SELF_PID=<file>` records the server's own pid when it starts.
 */
import * as fs from "node:fs"
import { NodeRuntime, NodeStdio } from "@effect/platform-node"
import * as Layer from "effect/Layer"
import { McpProtocol, McpServer } from "effect/ai"
import { registrations } from "./mcpTools.js"

if (process.env.MCP_TEST_SELF_PID !== undefined) fs.writeFileSync(process.env.MCP_TEST_SELF_PID, String(process.pid))

McpServer.layerStdio({
  name: "graphent-test",
  version: "1.0.0",
  protocols: [McpProtocol.v2025_11_25],
  registrations
}).pipe(Layer.provide(NodeStdio.layer), Layer.launch, NodeRuntime.runMain)
