/**
 * Helpers for the security tests: a loopback HTTP server that records every
 * request it receives (so a test can assert that an attack sent nothing), and
 * a guarded call that runs a tool through the policy-checking, auditing
 * executor and returns both the exit and the audit entries.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import { Policy, type Tool, type Tools } from "graphent"
import * as Testing from "graphent/testing"
import type * as Audit from "../../src/services/Audit.js"

export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

export type Handler = (request: Received, response: http.ServerResponse) => void

export interface TestServer {
  readonly port: number
  readonly host: string
  /** `http://host:port` */
  readonly origin: string
  readonly received: Array<Received>
}

/** A server on `host` (default 127.0.0.1) for the scope; every request is recorded before `handler` answers. */
export const serve = (handler: Handler, host = "127.0.0.1"): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ server: http.Server; info: TestServer }>((resume) => {
      const received: Array<Received> = []
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const request = {
            method: req.method ?? "",
            url: req.url ?? "",
            headers: req.headers,
            body: Buffer.concat(chunks).toString("utf8")
          }
          received.push(request)
          handler(request, res)
        })
      })
      server.listen(0, host, () => {
        const port = (server.address() as AddressInfo).port
        const shown = host.includes(":") ? `[${host}]` : host
        resume(Effect.succeed({ server, info: { port, host, origin: `http://${shown}:${port}`, received } }))
      })
    }),
    ({ server }) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ info }) => info))

export const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

export const allowAll = Policy.fromCompiled(
  Policy.compile({ version: 1, default: "allow", roles: {} }) as Policy.Compiled
)

export const context = (stepId = "s1", extra: Partial<Tool.ToolContext> = {}): Tool.ToolContext => ({
  runId: "run-sec",
  agent: "security-test",
  stepId,
  threadId: undefined,
  principal: { id: "tester", roles: [] },
  ...extra
})

export interface Guarded {
  readonly exit: Exit.Exit<Tools.ToolOutput, unknown>
  readonly audit: ReadonlyArray<Audit.Entry>
}

/** Runs `tool` on `args` through the guarded executor (allow-all policy unless given) with an in-memory audit log. */
export const guardedCall = (
  tool: Tool.Any,
  args: unknown,
  options?: { readonly policy?: Policy.PolicyShape; readonly context?: Tool.ToolContext; readonly defaults?: Tools.CallDefaults }
) =>
  Testing.callTool(tool, args, { context: context(), ...options }) as Effect.Effect<Guarded, never, any>

/** The typed error a guarded call failed with (the `ToolError`), or a test failure. */
export const failureOf = (guarded: Guarded): { readonly _tag: string; readonly [key: string]: unknown } => {
  const exit = guarded.exit
  if (exit._tag === "Success") throw new Error(`expected a failure, got ${JSON.stringify(exit.value.result)}`)
  const reasons = exit.cause.reasons
  for (const reason of reasons) {
    if (reason._tag === "Fail") return reason.error as { readonly _tag: string }
  }
  throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
}

/** The typed cause inside a `ToolFailed` (the tool's own error). */
export const toolCause = (guarded: Guarded) => {
  const error = failureOf(guarded)
  if (error._tag !== "ToolFailed") throw new Error(`expected ToolFailed, got ${error._tag}: ${String(error.message)}`)
  return error.cause as { readonly _tag: string; readonly [key: string]: unknown }
}

/** A deterministic generator of numbers in [0, 1) (mulberry32), so a failing generated case can be reproduced from its seed. */
export const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
