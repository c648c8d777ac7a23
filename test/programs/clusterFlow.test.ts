/**
 * Flow control inside the cluster: `graphent worker` processes on a real PostgreSQL database share
 * a rate limit through the real Redis (reached through a loopback proxy the test can take down).
 * - A runner starts while the store is down (the proxy is closed when the first one starts): it logs
 *   that the store is down, its run's call waits, and the run completes once the store is reachable.
 * - Two runners together never exceed the limit: measured from the side-effect table's execution times
 *   (any one-second window holds at most `burst + rate` calls; without the shared limit the same
 *   calls all go out within a few hundred milliseconds).
 * - A store that goes down does not fail the runs: their calls wait (the runners log it) and the
 *   runs complete once the store is back.
 * - `graphent dev --cluster` (the server `CliDev.prepare` builds, in this process) in front of the same
 *   runners, neither with `GRAPHENT_RUN_EVENTS_URL`: `POST /v1/runs` submits to the cluster, SSE follows a
 *   run executing on a runner to its end on PostgreSQL notices (the bus is on by default on the cluster's
 *   database; the server counts the notices it received), `GET /v1/runs` lists the runs from the journal's
 *   runs table (statuses, a paused run's open approvals, filters, pages), a paused run is approved and
 *   another cancelled through the API, by id; the cancel interrupts the tool call in flight at once (a 20 s
 *   call; the run ends interrupted within 10 s).
 */
import * as net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { AgentRuntime } from "graphent"
import { RunEventsBus } from "graphent"
import { ClusterRuntime } from "graphent/cluster"
import sfx, { layer as sfxLayer } from "../fixtures/cluster/sfxAgent.js"
import { clusterClient } from "../support/clusterClient.js"
import { api, devServer as clusterDev, keys } from "../support/clusterDev.js"
import { createDatabase, dropDatabase } from "../support/clusterDb.js"
import { freePort, type Runner, sfxAgentFile, startRunner, stopRunner } from "../support/clusterProcs.js"
import { readSse } from "../support/sse.js"

const table = "sfx"
const rate = 10
const burst = 2
let db: { readonly url: string; readonly name: string }
const runners: Array<Runner> = []
let proxyPort = 0

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
        if (server !== undefined) return resolve()
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

let env: Record<string, string> = {}

beforeAll(async () => {
  db = await createDatabase()
  process.env.SFX_DATABASE_URL = db.url
  process.env.SFX_TABLE = table
  proxyPort = await freePort()
  env = {
    GRAPHENT_RATE_LIMITS: JSON.stringify({ "tool:effect": `${rate}/second burst ${burst}` }),
    GRAPHENT_RATE_LIMITS_REDIS: `redis://127.0.0.1:${proxyPort}`,
    // A key prefix of this test's own: tests running at once share the Redis.
    GRAPHENT_RATE_LIMITS_PREFIX: `graphent-test:${process.pid}:${Date.now()}:`
    // No GRAPHENT_RUN_EVENTS_URL: the runners announce their runs' events on the cluster's database by default.
  }
  // The first runner starts while the store is down (the proxy is closed), and creates the tables.
  // A failover of 10 s: a runner slowed by a loaded machine keeps its shards (no takeover mid-test).
  runners.push(await startRunner({ url: db.url, port: await freePort(), table, env, failoverAfter: 10 }))
}, 600_000) // it may wait for another cluster test file (test/support/clusterDb.ts)

/** The store reachable and both runners up, each holding shards. */
const twoRunners = async () => {
  await proxy.open()
  if (runners.length < 2) runners.push(await startRunner({ url: db.url, port: await freePort(), table, env, failoverAfter: 10 }))
  // Both runners hold shards (each holds its shard locks, PostgreSQL advisory locks, on a connection of its own)
  // before runs are submitted: on a loaded machine the second one's share can come seconds after its banner.
  await Effect.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    while (true) {
      const [row] = yield* sql<{ n: number }>`
        SELECT count(DISTINCT pid)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`
      if (row!.n >= 2) return
      yield* Effect.sleep(100)
    }
  }).pipe(Effect.provide(sfxLayer)))
}

/** Waits until `runs` all journaled their start and a runner logged that a call waits for the store. */
const waitingForStore = (runIds: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (const runId of runIds) {
      while ((yield* ClusterRuntime.events(runId)).length === 0) yield* Effect.sleep(100)
    }
    while (!runners.some((runner) => runner.output.includes("the call waits for the store"))) yield* Effect.sleep(100)
  })

const devScope = Effect.runSync(Scope.make())

afterAll(async () => {
  try {
    await Effect.runPromise(Scope.close(devScope, Exit.void))
    await Promise.all(runners.map((runner) => stopRunner(runner, "SIGKILL")))
    await proxy.close()
  } finally {
    await dropDatabase(db.name)
  }
})

describe("flow control in the cluster (2 runner processes, PostgreSQL, Redis)", () => {
  it("a runner started while the rate-limit store was down executes a run once the store is reachable", async () => {
    // Started with the proxy closed: it runs, and it says why its calls will wait.
    expect(runners[0]!.output).toContain("the rate-limit store (redis) is down")
    const answer = await Effect.runPromise(
      Effect.gen(function*() {
        const run = yield* Effect.forkChild(AgentRuntime.run(sfx, JSON.stringify({ steps: 1 }), { runId: "w0" }))
        yield* waitingForStore(["w0"])
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)} WHERE run_id = 'w0'`
        expect(before!.n).toBe(0)
        expect((yield* ClusterRuntime.status("w0"))._tag).toBe("Running")
        yield* Effect.promise(() => proxy.open())
        return (yield* Fiber.join(run)).answer
      }).pipe(Effect.provide(clusterClient(db.url)))
    )
    expect(answer).toBe("done 1")
    expect(runners[0]!.output).toContain("the rate-limit store (redis) is reachable")
  }, 60_000)

  it("runners sharing a rate limit never exceed it together (measured)", async () => {
    await twoRunners()
    const runs = 16
    const steps = 2
    const input = JSON.stringify({ steps, parallel: 2 })
    const rows = await Effect.runPromise(
      Effect.gen(function*() {
        const results = yield* Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
          AgentRuntime.run(sfx, input, { runId: `r${i}` }), { concurrency: "unbounded" })
        expect(results.map((result) => result.answer)).toEqual(Array.from({ length: runs }, () => `done ${steps}`))
        const sql = yield* SqlClient.SqlClient
        const [done] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)} WHERE run_id LIKE 'r%'`
        expect(done!.n).toBe(runs * steps)
        // Every execution (a takeover on a loaded machine may run an idempotent call again) took a token.
        return yield* sql<{ ms: number; pid: number }>`
          SELECT (extract(epoch FROM at) * 1000)::float8 AS ms, pid FROM ${sql(`${table}_attempts`)}
          WHERE run_id LIKE 'r%' ORDER BY at`
      }).pipe(Effect.provide(clusterClient(db.url)))
    )
    expect(rows.length).toBeGreaterThanOrEqual(runs * steps)
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
    await twoRunners()
    await proxy.close()
    for (const runner of runners) runner.output = ""
    const input = JSON.stringify({ steps: 1 })
    const answers = await Effect.runPromise(
      Effect.gen(function*() {
        const all = yield* Effect.forkChild(
          Effect.forEach(["d0", "d1"], (runId) => AgentRuntime.run(sfx, input, { runId }), { concurrency: "unbounded" })
        )
        // Both runs started on runners whose calls wait for the store: logged, and no side effect yet.
        yield* waitingForStore(["d0", "d1"])
        yield* Effect.sleep(1500)
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(table)} WHERE run_id LIKE 'd%'`
        expect(before!.n).toBe(0)
        for (const runId of ["d0", "d1"]) {
          expect((yield* ClusterRuntime.status(runId))._tag).toBe("Running")
        }
        yield* Effect.promise(() => proxy.open())
        return (yield* Fiber.join(all)).map((result) => result.answer)
      }).pipe(
        // Whatever happened, the store comes back: the next test's runs need it.
        Effect.ensuring(Effect.promise(() => proxy.open())),
        Effect.provide(clusterClient(db.url))
      )
    )
    expect(answers).toEqual(["done 1", "done 1"])
  }, 60_000)
})

/** `graphent dev --cluster --agents sfxAgent.ts` on a free port, with API keys; its URL and event bus. */
const devServer = () => clusterDev({ url: db.url, agentFile: sfxAgentFile, scope: devScope })

/** The run notices the server (this process) received, from its `GET /metrics`. */
const noticesReceived = async (url: string) => {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${keys.admin}` } })
  const line = (await response.text()).split("\n").find((line) => line.startsWith("graphent_run_notices_received_total"))
  return Number(line?.split(" ").at(-1) ?? 0)
}

/** The run's events over SSE from the start until the server ends the stream; their tags. */
const follow = async (url: string, runId: string) => {
  const sse = await readSse(`${url}/v1/runs/${runId}/events`, { authorization: `Bearer ${keys.admin}` })
  expect(sse.status).toBe(200)
  expect(sse.events.map((event) => event.id)).toEqual(sse.events.map((_, i) => String(i)))
  return sse.events.map((event) => (JSON.parse(event.data) as { _tag: string })._tag)
}

describe("graphent dev --cluster (a server in front of the runners)", () => {
  it("submits over HTTP, follows a run on a runner over SSE, approves a paused run and cancels one by id", async () => {
    await twoRunners()
    const { bus, url } = await Effect.runPromise(devServer())
    expect(bus).toBe("postgres")
    const admin = api(url, keys.admin)
    const runner = api(url, keys.runner)

    // Submitted, not run here: the runners execute it; SSE follows it to its end.
    const started = await admin("POST", "/v1/runs", { agent: "sfx", input: JSON.stringify({ steps: 2 }) })
    expect(started.status).toBe(202)
    const tags = await follow(url, started.body.id)
    expect(tags[0]).toBe("RunStarted")
    expect(tags.at(-1)).toBe("RunCompleted")
    expect(tags.filter((tag) => tag === "StepSucceeded")).toHaveLength(2)
    const done = await admin("GET", `/v1/runs/${started.body.id}`)
    expect(done.body).toMatchObject({ status: "completed", answer: "done 2" })
    // The server followed the run on the runners' notices (it executes nothing; its bus waits 5 s without one).
    expect(await noticesReceived(url)).toBeGreaterThan(0)

    // A `runner` key's run waits for approval (the agent's policy); another principal approves it over HTTP.
    const careful = await runner("POST", "/v1/runs", { agent: "sfx", input: JSON.stringify({ steps: 1 }) })
    let paused = await admin("GET", `/v1/runs/${careful.body.id}`)
    while (paused.body.status !== "paused") {
      await new Promise((resolve) => setTimeout(resolve, 100))
      paused = await admin("GET", `/v1/runs/${careful.body.id}`)
    }
    expect(paused.body.awaiting.map((step: { stepId: string }) => step.stepId)).toEqual(["s1"])
    // The listing (the journal's runs table) says what GET /v1/runs/:id says, newest first, a page at a time.
    const listed = await admin("GET", "/v1/runs?limit=500")
    expect(listed.body.runs.map((run: { id: string }) => run.id).slice(0, 2)).toEqual([careful.body.id, started.body.id])
    expect(listed.body.runs[0]).toEqual(paused.body)
    expect(listed.body.runs[1]).toEqual(done.body)
    const onlyPaused = await admin("GET", "/v1/runs?status=paused")
    expect(onlyPaused.body).toMatchObject({ total: 1, runs: [{ id: careful.body.id, status: "paused" }] })
    const second = await admin("GET", "/v1/runs?limit=1&offset=1")
    expect(second.body).toMatchObject({ total: listed.body.total, offset: 1, limit: 1, runs: [{ id: started.body.id }] })
    const past = await admin("GET", `/v1/runs?offset=${listed.body.total}`)
    expect(past.body).toMatchObject({ total: listed.body.total, runs: [] })
    expect((await admin("GET", "/v1/runs?agent=nobody")).body).toMatchObject({ total: 0, runs: [] })
    // Its own principal may not approve it (no self-approval): the policy is checked before the cluster hears of it.
    expect((await runner("POST", `/v1/runs/${careful.body.id}/approvals/s1`, { approved: true })).status).toBe(409)
    const approved = await admin("POST", `/v1/runs/${careful.body.id}/approvals/s1`, { approved: true })
    expect(approved.status).toBe(202)
    const afterApproval = await follow(url, careful.body.id)
    expect(afterApproval).toContain("ApprovalDecided")
    expect(afterApproval.at(-1)).toBe("RunCompleted")
    // Approved and ended: listed as completed (its stored status was paused until the end).
    const approvedRun = (await admin("GET", `/v1/runs/${careful.body.id}`)).body
    expect((await admin("GET", "/v1/runs?limit=1")).body.runs).toEqual([approvedRun])

    // A run whose tool call takes 20 s, cancelled by id while the call is in flight: the runner interrupts the
    // call at once (it never writes its side effect) and the run ends interrupted, long before the call would.
    const slow = await admin("POST", "/v1/runs", { agent: "sfx", input: JSON.stringify({ steps: 2, delayMs: 20_000 }) })
    /** The slow run's rows in `from` (its executions begun, or its side effects done), once there are at least `least`. */
    const rows = (from: string, least: number) =>
      Effect.runPromise(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        while (true) {
          const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql(from)} WHERE run_id = ${slow.body.id}`
          if (row!.n >= least) return row!.n
          yield* Effect.sleep(100)
        }
      }).pipe(Effect.provide(sfxLayer)))
    await rows(`${table}_attempts`, 1)
    const cancelledAt = Date.now()
    expect((await admin("POST", `/v1/runs/${slow.body.id}/cancel`)).status).toBe(200)
    const cancelled = await follow(url, slow.body.id)
    expect(Date.now() - cancelledAt).toBeLessThan(10_000)
    expect(cancelled.at(-1)).toBe("RunInterrupted")
    expect(cancelled).not.toContain("StepSucceeded")
    // The cancelled body replays once more to apply the interrupt: it journals nothing after the end.
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const journaled = await Effect.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql<{ tag: string }>`SELECT tag FROM graphent_events WHERE run_id = ${slow.body.id} ORDER BY seq`
    }).pipe(Effect.provide(sfxLayer)))
    expect(journaled.map((row) => row.tag).filter((tag) => tag === "RunInterrupted" || tag === "RunResumed"))
      .toEqual(["RunInterrupted"])
    expect(journaled.at(-1)?.tag).toBe("RunInterrupted")
    expect((await admin("GET", `/v1/runs/${slow.body.id}`)).body.status).toBe("interrupted")
    expect(await rows(table, 0)).toBe(0)
    expect(await rows(`${table}_attempts`, 0)).toBe(1)
  }, 90_000)
})
