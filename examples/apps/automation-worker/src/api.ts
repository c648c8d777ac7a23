/**
 * A small reports API for the worker to talk to, on loopback: `PUT /reports/:key` stores a report (a second PUT of
 * the same key replaces it and bumps its version), `GET /reports/:key` reads it, `GET /stats` counts requests.
 * The tests start it in-process; `npm run api` serves it on 127.0.0.1:7431 for `graphent run`.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/** A running API: its base URL, what it stored, how many PUTs it received, and how to stop it. */
export interface ReportsApi {
  readonly url: string
  readonly reports: Map<string, { readonly entries: unknown; readonly version: number }>
  readonly puts: () => number
  /** Called on every PUT before it is answered (a test may kill the worker there). */
  onPut: (key: string) => void
  readonly close: () => Promise<void>
}

export const start = (port = 0): Promise<ReportsApi> =>
  new Promise((resolve) => {
    const reports = new Map<string, { readonly entries: unknown; readonly version: number }>()
    let puts = 0
    const server = http.createServer((request, response) => {
      const key = /^\/reports\/([\w.-]+)$/.exec(request.url ?? "")?.[1]
      const send = (status: number, body: unknown) => {
        response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
      }
      if (request.method === "GET" && request.url === "/stats") return send(200, { puts, reports: reports.size })
      if (key === undefined) return send(404, { error: "not found" })
      if (request.method === "GET") return reports.has(key) ? send(200, reports.get(key)) : send(404, { error: "no report" })
      if (request.method !== "PUT") return send(405, { error: "method not allowed" })
      let body = ""
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
      request.on("end", () => {
        puts++
        api.onPut(key)
        const version = (reports.get(key)?.version ?? 0) + 1
        reports.set(key, { entries: (JSON.parse(body) as { entries: unknown }).entries, version })
        send(200, { stored: `reports/${key}`, version })
      })
    })
    const api: ReportsApi = {
      url: "",
      reports,
      puts: () => puts,
      onPut: () => {},
      close: () => new Promise((done) => server.close(() => done()))
    }
    server.listen(port, "127.0.0.1", () => {
      Object.assign(api, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
      resolve(api)
    })
  })

// `npm run api`: serve until stopped.
if (import.meta.url === `file://${process.argv[1]}`) {
  const api = await start(Number(process.env.PORT ?? 7431))
  console.log(`reports API on ${api.url}`)
}
