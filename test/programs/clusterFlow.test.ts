/**
 * Flow control inside the cluster: two `graphent worker` processes on a real PostgreSQL database share
 * a rate limit through the real Redis (reached through a loopback proxy the test can take down).
 * - Together they never exceed the limit: measured from the side-effect table's execution times
 *   (any one-second window holds at most `burst + rate` calls; without the shared limit the same
 *   calls all go out within a few hundred milliseconds).
 * - A store that goes down does not fail the runs: their calls wait (the runners log it) and the
 *   runs complete once the store is back.
 */
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Fiber, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { AgentRuntime } from "graphent"
import { ClusterRuntime } from "graphent/cluster"
import { JournalPg } from "graphent/postgres"
import sfx, { layer as sfxLayer } from "../fixtures/cluster/sfxAgent.js"
import { createDatabase, dropDatabase } from "../support/clusterDb.js"
import { portBase, type Runner, startRunner, stopRunner } from "../support/clusterProcs.js"

const table = "sfx"
const rate = 10
const burst = 2
let db: { readonly url: string; readonly name: string }
const runners: Array<Runner> = []
const proxyPort = portBase() + 8

/** A TCP proxy to the machine's Redis that the test opens and closes (closing it drops every connection). */
const proxy = (() => {
  let server: net.Server | undefined
  const sockets = new Set<net.Socket>()
  const track = (socket: net.Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => socket.destroy())
  }
  return {
    open: () =>
      new Promise<void>((resolve, reject) => {
        server = net.createServer((client) => {
          const upstream = net.connect(6379, "127.0.0.1")
          track(client)
          track(upstream)
          client.pipe(upstream)
          upstream.pipe(client)
          client.on("close", () => upstream.destroy())
          upstream.on("close", () => client.destroy())
        })
        server.once("error", reject)
        server.listen(proxyPort, "127.0.0.1", () => resolve())
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        if (server === undefined) return resolve()
        server.close(() => resolve())
        server = undefined
      })
  }
})()

beforeAll(async () => {
  db = await createDatabase()
  process.env.SFX_DATABASE_URL = db.url
  process.env.SFX_TABLE = table
  await proxy.open()
  const env = {
    GRAPHENT_RATE_LIMITS: JSON.stringify({ "tool:effect": `${rate}/second burst ${burst}` }),
    GRAPHENT_RATE_LIMITS_REDIS: `redis://127.0.0.1:${proxyPort}`,
    // A key prefix of this test's own: tests running at once share the Redis.
    GRAPHENT_RATE_LIMITS_PREFIX: `graphent-test:${process.pid}:${Date.now()}:`
  }
  // The first runner creates the tables; then the second.
  runners.push(await startRunner({ url: db.url, port: portBase() + 6, table, env }))
  runners.push(await startRunner({ url: db.url, port: portBase() + 7, table, env }))
}, 120_000)

afterAll(async () => {
  await Promise.all(runners.map((runner) => stopRunner(runner, "SIGKILL")))
  await proxy.close()
  await dropDatabase(db.name)
})

const client = () => {
  const pg = { url: Redacted.make(db.url) }
  return ClusterRuntime.layerClient({ pg }).pipe(
    Layer.provideMerge(JournalPg.layerPg({ pg })),
    Layer.provideMerge(sfxLayer)
  )
}

describe("flow control in the cluster (2 runner processes, PostgreSQL, Redis)", () => {
  it("runners sharing a rate limit never exceed it together (measured)", async () => {
    const runs = 16
    const steps = 2
    const input = JSON.stringify({ steps, parallel: 2 })
    const rows = await Effect.runPromise(
      Effect.gen(function*() {
        const results = yield* Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
          AgentRuntime.run(sfx, input, { runId: `r${i}` }), { concurrency: "unbounded" })
        expect(results.map((result) => result.answer)).toEqual(Array.from({ length: runs }, () => `done ${steps}`))
        const sql = yield* SqlClient.SqlClient
        return yield* sql<{ ms: number; pid: number }>`
          SELECT (extract(epoch FROM at) * 1000)::float8 AS ms, pid FROM ${sql(`${table}_attempts`)}
          WHERE run_id LIKE 'r%' ORDER BY at`
      }).pipe(Effect.provide(client()))
    )
    expect(rows).toHaveLength(runs * steps)
    // Both runners made calls: the limit held across processes, not within one.
    expect(new Set(rows.map((row) => row.pid)).size).toBe(2)
    const times = rows.map((row) => row.ms)
    // A token bucket admits at most burst + rate·T calls in any interval T; 1 call of slack for the time
    // between a call's admission and its row.
    let worst = 0
    for (let i = 0; i < times.length; i++) {
      let j = i
      while (j < times.length && times[j]! < times[i]! + 1000) j++
      worst = Math.max(worst, j - i)
    }
    expect(worst).toBeLessThanOrEqual(burst + rate + 1)
    // And over the whole batch: the calls beyond the burst came at the rate, not faster.
    const span = times[times.length - 1]! - times[0]!
    expect(span).toBeGreaterThanOrEqual(((times.length - burst - 1) / rate) * 1000 * 0.9)
  }, 60_000)

  it("a rate-limit store that is down makes calls wait, and the runs complete once it is back", async () => {
    await proxy.close()
    const input = JSON.stringify({ steps: 1 })
    const answers = await Effect.runPromise(
      Effect.gen(function*() {
        const all = yield* Effect.forkChild(
          Effect.forEach(["d0", "d1"], (runId) => AgentRuntime.run(sfx, input, { runId }), { concurrency: "unbounded" })
        )
        // Both runs are held by runners whose calls wait for the store: logged, and no side effect yet.
        while (!runners.some((runner) => runner.output.includes("the call waits for the store"))) yield* Effect.sleep(100)
        yield* Effect.sleep(1500)
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)} WHERE run_id LIKE 'd%'`
        expect(before!.n).toBe(0)
        for (const runId of ["d0", "d1"]) {
          expect((yield* ClusterRuntime.status(runId))._tag).toBe("Running")
        }
        yield* Effect.promise(() => proxy.open())
        return (yield* Fiber.join(all)).map((result) => result.answer)
      }).pipe(Effect.provide(client()))
    )
    expect(answers).toEqual(["done 1", "done 1"])
  }, 60_000)
})
