/**
 * W6: `POST /v1/runs` over HTTP on loopback for a 1-step agent (the echo
 * example): requests per second and latency (p50, p99), driven by
 * autocannon at 1, 10 and 100 connections, beside a bare `node:http` server
 * answering the same request with the same work by hand (the floor).
 *
 * Each server runs in its own process (`../w6server.ts`); autocannon runs in
 * the driver's. The Graphent server is the real one: API-key auth, the body
 * decoded with the API's Schema, the run started through `RunsLocal` on the
 * local runtime with an in-memory journal; a 1-step run finishes before the
 * answer is sent (its status in the `202` is `completed`).
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import autocannon from "autocannon"
import type { Report, Workload } from "../report.js"

type Kind = "floor" | "graphent"

const serverEntry = fileURLToPath(new URL("../w6server.ts", import.meta.url))
const key = "bench-key"
const body = JSON.stringify({ agent: "echo", input: "hello" })
const durationSeconds = 5
const warmupSeconds = 2

interface Server {
  readonly port: number
  readonly stop: () => Promise<{ readonly peakRssMb: number; readonly heapMb: number }>
}

const start = (kind: Kind): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = fork(serverEntry, [kind], { execArgv: [...process.execArgv, "--expose-gc"] })
    child.once("error", reject)
    child.once("exit", (code) => reject(new Error(`W6: the ${kind} server exited with ${code}`)))
    child.once("message", (message) => {
      const { port } = message as { port: number }
      resolve({
        port,
        stop: () =>
          new Promise((done) => {
            child.removeAllListeners("exit")
            child.once("message", (stats) => done(stats as { peakRssMb: number; heapMb: number }))
            child.send("stop")
          })
      })
    })
  })

const load = async (port: number, connections: number, seconds: number) => {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/v1/runs`,
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body,
    connections,
    duration: seconds
  })
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(`W6: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts at ${connections} connections`)
  }
  return {
    requestsPerSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    // Little's law: finer than the histogram's 1 ms resolution when latencies are sub-millisecond.
    meanMs: (connections / result.requests.average) * 1000
  }
}

/** A check that the server does what W6 measures: a 202 for a completed 1-step run. */
const check = async (port: number) => {
  const response = await fetch(`http://127.0.0.1:${port}/v1/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body
  })
  const run = (await response.json()) as { status?: string; answer?: string }
  if (response.status !== 202 || run.status !== "completed" || run.answer !== "hello") {
    throw new Error(`W6: unexpected answer ${response.status} ${JSON.stringify(run)}`)
  }
}

const measure = async (kind: Kind, connectionCounts: ReadonlyArray<number>) => {
  const server = await start(kind)
  await check(server.port)
  await load(server.port, 10, warmupSeconds)
  const rows = []
  for (const connections of connectionCounts) rows.push({ connections, ...(await load(server.port, connections, durationSeconds)) })
  const { heapMb, peakRssMb } = await server.stop()
  return { rows, peakRssMb, heapMb }
}

export const workload: Workload = {
  id: "w6",
  run: async (): Promise<Report> => {
    const connectionCounts = [1, 10, 100]
    const floor = await measure("floor", connectionCounts)
    const graphent = await measure("graphent", connectionCounts)
    const rows = connectionCounts.flatMap((connections, i) => {
      const f = floor.rows[i]!
      const g = graphent.rows[i]!
      return [
        { connections, server: "floor (node:http)", rps: f.requestsPerSecond, p50: f.p50, p99: f.p99, meanMs: f.meanMs, ratio: 1 },
        {
          connections,
          server: "graphent",
          rps: g.requestsPerSecond,
          p50: g.p50,
          p99: g.p99,
          meanMs: g.meanMs,
          ratio: f.requestsPerSecond / g.requestsPerSecond
        }
      ]
    })
    return {
      title: "POST /v1/runs on loopback (autocannon), 1-step agent, beside a bare node:http server",
      targets: "report throughput and p50/p99 against the floor",
      columns: [
        { key: "connections", header: "connections", digits: 0 },
        { key: "server", header: "server" },
        { key: "rps", header: "req/s", digits: 0 },
        { key: "p50", header: "p50 ms", digits: 0 },
        { key: "p99", header: "p99 ms", digits: 0 },
        { key: "meanMs", header: "mean ms", digits: 2 },
        { key: "ratio", header: "floor / graphent", digits: 1 }
      ],
      rows,
      notes: [
        `${durationSeconds} s per row after a ${warmupSeconds} s warm-up; latency percentiles have autocannon's 1 ms resolution, the mean is connections / throughput`,
        `peak RSS: floor ${floor.peakRssMb.toFixed(0)} MB, graphent ${graphent.peakRssMb.toFixed(0)} MB; ` +
          `heap after the load (full GC): floor ${floor.heapMb.toFixed(0)} MB, graphent ${graphent.heapMb.toFixed(0)} MB ` +
          `(it keeps the last 10,000 run summaries and the in-memory journal's last 1,000 runs)`
      ]
    }
  }
}
