/**
 * The MCP test server (`mcpServer.ts`), bundled once per test process into a
 * plain JavaScript file so that each start costs a Node start, not a
 * TypeScript compile; and server configurations that run it.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"
import type { McpTools } from "graphent/mcp"

let script: string | undefined

/** The bundled server script (built on first use). */
export const mcpServerScript = (): string => {
  if (script !== undefined) return script
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-mcp-"))
  const out = path.join(dir, "server.mjs")
  esbuild.buildSync({
    entryPoints: [fileURLToPath(new URL("./mcpServer.ts", import.meta.url))],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    outfile: out,
    logLevel: "error",
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" }
  })
  script = out
  return out
}

/** A configuration of the test server under `name`, its pin kept in `dir`. */
export const testServer = (
  name: string,
  dir: string,
  options: {
    readonly mode?: string
    readonly pids?: string
    readonly selfPid?: string
    readonly extra?: Partial<McpTools.ServerConfig>
  } = {}
): McpTools.ServerConfig => ({
  name,
  transport: {
    type: "stdio",
    command: process.execPath,
    args: [mcpServerScript()],
    env: {
      ...(options.mode === undefined ? {} : { MCP_TEST_MODE: options.mode }),
      ...(options.pids === undefined ? {} : { MCP_TEST_PIDS: options.pids }),
      ...(options.selfPid === undefined ? {} : { MCP_TEST_SELF_PID: options.selfPid })
    }
  },
  pinFile: path.join(dir, `${name}.json`),
  ...options.extra
})

/** Whether a process is alive: it exists and is not a zombie waiting to be reaped. */
export const alive = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}
