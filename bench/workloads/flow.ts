/**
 * FLOW: what flow control across processes costs.
 *
 * - Rate-limit acquire overhead (µs per `acquire` of a key that never waits):
 *   no limit (the key has none), in memory, on Redis (one Lua script round trip).
 * - Run-event fan-out latency between two processes (PostgreSQL
 *   `LISTEN`/`NOTIFY` through `RunEventsBusPg`): the parent announces runs one
 *   at a time, a child process waits for each on its own bus; latency = the
 *   child's wake-up time minus the parent's announce time (one machine, one clock).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { RateLimits, RateLimitsMemory, RunEventsBus } from "../../src/index.js"
import { RateLimitsRedis } from "../../src/redis.js"
import { RunEventsBusPg } from "../../src/postgres.js"
import { batchTiming, runInChild, timeBatches } from "../harness.js"
import type { Report, Workload } from "../report.js"

type Mode = "none" | "memory" | "redis"

const redisUrl = process.env.GRAPHENT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"
const pgUrl = process.env.GRAPHENT_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const never = { "tool:bench": "1000000000/second burst 1000000000" }

/** Task (child process): µs per acquire of one mode. */
export const measureAcquire = async (params: { readonly mode: Mode }) => {
  const layer = params.mode === "redis"
    ? RateLimitsRedis.layer(never, { url: redisUrl, keyPrefix: `graphent-bench:${process.pid}:` })
    : RateLimitsMemory.layer(never)
  const runtime = ManagedRuntime.make(layer)
  const limits = await runtime.runPromise(Effect.service(RateLimits.RateLimits))
  const key = params.mode === "none" ? "tool:unlimited" : "tool:bench"
  const { msPerRep } = await timeBatches((reps) =>
    runtime.runPromise(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < reps; i++) yield* limits.acquire(key)
      return performance.now() - startedAt
    })), batchTiming)
  await runtime.dispose()
  return { usPerAcquire: msPerRep * 1000 }
}

const now = () => performance.timeOrigin + performance.now()

const busLayer = (channel: string) => RunEventsBusPg.layer({ pg: { url: Redacted.make(pgUrl) }, channel, fallback: "1 hour" })

/** Task (child process): waits for `count` runs' notices; writes `ready` once it listens; returns wake-up times. */
export const listen = async (params: { readonly channel: string; readonly count: number; readonly ready: string }) => {
  const received = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const bus = Context.get(yield* Layer.build(busLayer(params.channel)), RunEventsBus.RunEventsBus)
    const watches = yield* Effect.forEach(Array.from({ length: params.count }, (_, i) => i), (i) => bus.watch(`bench-${i}`))
    fs.writeFileSync(params.ready, "ready")
    const times: Array<number> = []
    for (const watch of watches) {
      yield* watch.next("10 seconds")
      times.push(now())
    }
    return times
  })))
  return { received }
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export const fanOut = async (count: number) => {
  const channel = `graphent_bench_${process.pid}`
  const ready = path.join(os.tmpdir(), `graphent-bench-flow-${process.pid}`)
  fs.rmSync(ready, { force: true })
  const child = runInChild<typeof listen>(import.meta.url, "listen", { channel, count, ready })
  const sent = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const bus = Context.get(yield* Layer.build(busLayer(channel)), RunEventsBus.RunEventsBus)
    while (!fs.existsSync(ready)) yield* Effect.sleep("10 millis")
    const times: Array<number> = []
    for (let i = 0; i < count; i++) {
      times.push(now())
      yield* bus.announce(`bench-${i}`)
      // One notice at a time: the latency of each, not of a burst queued behind the others.
      yield* Effect.sleep("2 millis")
    }
    return times
  })))
  const { received } = await child
  fs.rmSync(ready, { force: true })
  const latencies = received.map((at, i) => at - sent[i]!)
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) }
}

export const workload: Workload = {
  id: "flow",
  run: async (): Promise<Report> => {
    const modes: ReadonlyArray<[Mode, string]> = [
      ["none", "acquire, key without a limit"],
      ["memory", "acquire, RateLimitsMemory"],
      ["redis", "acquire, RateLimitsRedis (loopback)"]
    ]
    const rows: Array<Record<string, string | number>> = []
    for (const [mode, what] of modes) {
      const { usPerAcquire } = await runInChild<typeof measureAcquire>(import.meta.url, "measureAcquire", { mode })
      rows.push({ what, value: usPerAcquire, unit: "µs" })
    }
    const count = 500
    const fan = await fanOut(count)
    rows.push({ what: `event fan-out p50 (${count} notices, 2 processes)`, value: fan.p50, unit: "ms" })
    rows.push({ what: "event fan-out p99", value: fan.p99, unit: "ms" })
    rows.push({ what: "event fan-out max", value: fan.max, unit: "ms" })
    return {
      title: "flow control: rate-limit acquire overhead, run-event fan-out between processes",
      targets: "report µs per acquire beside a key without a limit; fan-out p50/p99 (PostgreSQL LISTEN/NOTIFY)",
      columns: [
        { key: "what", header: "what" },
        { key: "value", header: "value", digits: 3 },
        { key: "unit", header: "unit" }
      ],
      rows,
      notes: []
    }
  }
}
