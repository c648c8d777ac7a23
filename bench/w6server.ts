/**
 * W6's servers, each in a process of its own (forked by `workloads/w6.ts`):
 *
 *   w6server.ts graphent   the Graphent HTTP API (API-key auth, RunsLocal, in-memory journal) serving a 1-step agent
 *   w6server.ts floor      a bare node:http server answering the same request with the same work, by hand
 *
 * It sends `{ port }` once listening; on the message "stop" it sends
 * `{ peakRssMb, heapMb }` (heap used after full GCs) and exits. The floor imports neither Effect nor Graphent.
 */
import { randomUUID } from "node:crypto"
import * as http from "node:http"
import { peakRssMb } from "./harness.js"

/** The API key both servers accept (W6 sends it). */
const key = "bench-key"

const serveFloor = async (): Promise<number> => {
  const server = http.createServer((request, response) => {
    const reply = (status: number, value: unknown) => {
      response.writeHead(status, { "content-type": "application/json" })
      response.end(JSON.stringify(value))
    }
    if (request.method !== "POST" || request.url !== "/v1/runs") return reply(404, { _tag: "NotFound" })
    if (request.headers.authorization !== `Bearer ${key}`) return reply(401, { _tag: "Unauthorized" })
    let text = ""
    request.setEncoding("utf8")
    request.on("data", (chunk: string) => void (text += chunk))
    request.on("end", () => {
      let parsed: { agent?: unknown; input?: unknown }
      try {
        parsed = JSON.parse(text) as typeof parsed
      } catch {
        return reply(400, { _tag: "InvalidRequest" })
      }
      if (typeof parsed.agent !== "string" || typeof parsed.input !== "string") return reply(400, { _tag: "InvalidRequest" })
      // The 1-step agent's work: one call of the echo tool, its answer.
      const createdAt = Date.now()
      const answer = ((args: { text: string }) => args.text)({ text: parsed.input })
      reply(202, {
        id: randomUUID(),
        agent: parsed.agent,
        input: parsed.input,
        status: "completed",
        createdAt,
        startedAt: createdAt,
        finishedAt: Date.now(),
        answer,
        events: 6
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return (server.address() as { port: number }).port
}

const serveGraphent = async (): Promise<number> => {
  const { Effect, Layer } = await import("effect")
  const { HttpServer } = await import("effect/http")
  const { JournalMemory, LocalRuntime, MemoryInMemory, RunsLocal } = await import("../src/index.js")
  const { ApiAuth, Server } = await import("../src/server.js")
  const { default: echo } = await import("../examples/echo.js")
  const server = Server.layer({ viewer: false }).pipe(
    Layer.provide(RunsLocal.layer({ agents: [echo] })),
    Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse(`${key}:runner`, "bench")), ApiAuth.layer))),
    Layer.provide(Layer.mergeAll(LocalRuntime.layer.pipe(Layer.provideMerge(JournalMemory.layer())), MemoryInMemory.layer))
  )
  return new Promise((resolve, reject) => {
    Effect.runFork(
      Effect.gen(function*() {
        const address = (yield* HttpServer.HttpServer).address
        resolve((address as { port: number }).port)
        return yield* Effect.never
      }).pipe(Effect.provide(server), Effect.tapCause((cause) => Effect.sync(() => reject(new Error(String(cause))))))
    )
  })
}

const kind = process.argv[2]
const port = kind === "floor" ? await serveFloor() : kind === "graphent" ? await serveGraphent() : undefined
if (port === undefined) throw new Error(`w6server: unknown server "${kind}"`)
process.on("message", (message) => {
  if (message !== "stop") return
  // What the server still holds once the load is over (a leak would show here), after full GCs.
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  const heapMb = process.memoryUsage().heapUsed / 1024 / 1024
  process.send!({ peakRssMb: peakRssMb(), heapMb }, () => process.exit(0))
})
process.send!({ port })
