/**
 * W7: durable runs on the cluster (`ClusterRuntime`, effect/cluster + effect/workflow on PostgreSQL).
 *
 * - Throughput and latency: 60 runs of 5 steps (20 ms tool latency each) submitted at once, on 1, 2 and 3
 *   `graphent worker` processes, beside the single-process `LocalRuntime` (in-memory journal: the bare
 *   baseline) and `LocalRuntime` with the journal on PostgreSQL. runs/s and p50/p99 of a run's latency,
 *   seen by the submitting client.
 * - Per-step durability overhead: one run of 10, 50 and 200 steps (0 ms tools, not idempotent) on one
 *   in-process runner (`layerSingle`, the same storage as a multi-runner cluster), on `LocalRuntime` with
 *   its journal on the same PostgreSQL, and on the in-memory baseline: ms/step of each run; the cost of a
 *   step as the slope from 10 to 200 steps (a run's fixed cost apart) and the durability it adds over the
 *   baseline; and what a step is made of: CPU ms of the process, PostgreSQL transactions and rows written
 *   (pg_stat_database), per step.
 *
 * Needs PostgreSQL (`GRAPHENT_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test); each
 * measurement runs on a database of its own.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { AgentRuntime, LocalRuntime } from "../../src/index.js"
import * as ClusterRuntime from "../../src/layers/ClusterRuntime.js"
import * as JournalPg from "../../src/layers/JournalPg.js"
import { SqlClient } from "effect/sql"
import { createDatabase, dropDatabase } from "../../test/support/clusterDb.js"
import { PgAdmin } from "../../test/support/store.js"
import { type Runner, startRunner, stopRunner } from "../../test/support/clusterProcs.js"
import agent from "../w7agent.js"
import { runInChild } from "../harness.js"
import type { Report, Workload } from "../report.js"

const agentFile = path.join(path.dirname(fileURLToPath(import.meta.url)), "../w7agent.ts")
const runs = Number(process.env.W7_RUNS ?? 60)

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

/** Submits `runs` runs at once; runs/s and latency percentiles. */
const submitAll = (runtime: Layer.Layer<AgentRuntime.AgentRuntime>, prefix: string, steps: number, latencyMs: number) =>
  Effect.gen(function*() {
    const input = JSON.stringify({ steps, latencyMs })
    const startedAt = performance.now()
    const latencies = yield* Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
      Effect.suspend(() => {
        const t0 = performance.now()
        return Effect.map(AgentRuntime.run(agent, input, { runId: `${prefix}${i}` }), () => performance.now() - t0)
      }), { concurrency: "unbounded" })
    const wall = performance.now() - startedAt
    const sorted = [...latencies].sort((a, b) => a - b)
    return { runsPerSecond: (runs / wall) * 1000, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
  }).pipe(Effect.provide(runtime))

/** Task (child process): throughput on `runners` worker processes (0: LocalRuntime, memory or pg journal). */
export const throughput = async (params: { readonly runners: number; readonly journal: "memory" | "pg" }) => {
  const db = await createDatabase()
  const pg = { url: Redacted.make(db.url) }
  const started: Array<Runner> = []
  try {
    if (params.runners === 0) {
      const runtime = params.journal === "memory"
        ? LocalRuntime.layerMemory
        : LocalRuntime.layer.pipe(Layer.provide(JournalPg.layerPg({ pg })))
      await Effect.runPromise(submitAll(runtime as never, "warm", 5, 20))
      return await Effect.runPromise(submitAll(runtime as never, "r", 5, 20))
    }
    const base = 45000 + (process.pid % 1000) * 5
    for (let i = 0; i < params.runners; i++) {
      started.push(await startRunner({ url: db.url, port: base + i, table: "unused", agentFile, failoverAfter: 10, maxRuns: 64 }))
    }
    const client = ClusterRuntime.layerClient({ pg }).pipe(Layer.provideMerge(JournalPg.layerPg({ pg })))
    return await Effect.runPromise(
      Effect.gen(function*() {
        yield* submitAll(Layer.succeedContext(yield* Effect.context<AgentRuntime.AgentRuntime>()) as never, "warm", 5, 20)
        return yield* submitAll(Layer.succeedContext(yield* Effect.context<AgentRuntime.AgentRuntime>()) as never, "r", 5, 20)
      }).pipe(Effect.provide(client))
    )
  } finally {
    await Promise.all(started.map((runner) => stopRunner(runner, "SIGKILL")))
    await dropDatabase(db.name)
  }
}

/**
 * The database's transaction and row-write counters (pg_stat_database). A backend reports them at most
 * once a second and an idle one after 10 s: read after 11 s of quiet.
 */
const databaseCounters = (name: string) =>
  Effect.runPromise(Effect.gen(function*() {
    yield* Effect.sleep("11 seconds")
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly commits: number; readonly writes: number }>`
      SELECT xact_commit::int AS commits, (tup_inserted + tup_updated + tup_deleted)::int AS writes
      FROM pg_stat_database WHERE datname = ${name}`
    return row!
  }).pipe(Effect.provide(PgAdmin)))

/**
 * Task (child process): ms of one run of `steps` 0 ms steps, on `where`; the process's CPU ms, the
 * database's transactions (read-only ones too) and rows written, per step, of one more run.
 */
export const perStep = async (params: { readonly where: "memory" | "pg" | "cluster"; readonly steps: number }) => {
  const db = await createDatabase()
  const pg = { url: Redacted.make(db.url) }
  try {
    const runtime = params.where === "memory"
      ? LocalRuntime.layerMemory
      : params.where === "pg"
      ? LocalRuntime.layer.pipe(Layer.provideMerge(JournalPg.layerPg({ pg })))
      // The journal as `graphent worker` opens it (`cluster`: one event per key).
      : ClusterRuntime.layerSingle({ pg }).pipe(
        Layer.provideMerge(JournalPg.layerPg({ pg, cluster: true })),
        Layer.provideMerge(ClusterRuntime.agents([agent]))
      )
    return await Effect.runPromise(
      Effect.gen(function*() {
        const input = JSON.stringify({ steps: params.steps, latencyMs: 0 })
        yield* AgentRuntime.run(agent, JSON.stringify({ steps: 3, latencyMs: 0 }), { runId: "warm" })
        const times: Array<number> = []
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now()
          yield* AgentRuntime.run(agent, input, { runId: `run-${i}` })
          times.push(performance.now() - t0)
        }
        times.sort((a, b) => a - b)
        if (params.where === "memory") return { ms: times[1]!, cpuMs: 0, commits: 0, writes: 0 }
        const before = yield* Effect.promise(() => databaseCounters(db.name))
        const cpu = process.cpuUsage()
        yield* AgentRuntime.run(agent, input, { runId: "counted" })
        const { system, user } = process.cpuUsage(cpu)
        const after = yield* Effect.promise(() => databaseCounters(db.name))
        return {
          ms: times[1]!,
          cpuMs: (user + system) / 1000,
          commits: after.commits - before.commits,
          writes: after.writes - before.writes
        }
      }).pipe(Effect.provide(runtime as Layer.Layer<AgentRuntime.AgentRuntime>))
    )
  } finally {
    await dropDatabase(db.name)
  }
}

export const workload: Workload = {
  id: "w7",
  run: async (): Promise<Report> => {
    const rows: Array<Record<string, string | number>> = []
    const memory = await runInChild<typeof throughput>(import.meta.url, "throughput", { runners: 0, journal: "memory" })
    rows.push({ what: "LocalRuntime, memory journal (baseline)", ...memory, ratio: 1 })
    const local = await runInChild<typeof throughput>(import.meta.url, "throughput", { runners: 0, journal: "pg" })
    rows.push({ what: "LocalRuntime, JournalPg", ...local, ratio: local.runsPerSecond / memory.runsPerSecond })
    for (const runners of [1, 2, 3]) {
      const cluster = await runInChild<typeof throughput>(import.meta.url, "throughput", { runners, journal: "pg" })
      rows.push({ what: `cluster, ${runners} runner${runners === 1 ? "" : "s"}`, ...cluster, ratio: cluster.runsPerSecond / memory.runsPerSecond })
    }
    const notes: Array<string> = []
    const totals = new Map<string, { readonly short: number; readonly long: number }>()
    for (const steps of [10, 50, 200]) {
      const mem = await runInChild<typeof perStep>(import.meta.url, "perStep", { where: "memory", steps })
      const pg = await runInChild<typeof perStep>(import.meta.url, "perStep", { where: "pg", steps })
      const cluster = await runInChild<typeof perStep>(import.meta.url, "perStep", { where: "cluster", steps })
      for (const [where, measured] of [["memory", mem], ["pg", pg], ["cluster", cluster]] as const) {
        if (steps === 10) totals.set(where, { short: measured.ms, long: 0 })
        if (steps === 200) totals.set(where, { short: totals.get(where)!.short, long: measured.ms })
      }
      const per = (value: number, digits = 2) => (value / steps).toFixed(digits)
      notes.push(
        `${steps} steps: cluster ${per(cluster.ms)} ms/step, LocalRuntime+JournalPg ${per(pg.ms)} ms/step, ` +
          `memory ${per(mem.ms, 3)} ms/step → durability (cluster over LocalRuntime+JournalPg) adds ${per(cluster.ms - pg.ms)} ms/step, ` +
          `${per(cluster.ms - mem.ms)} ms/step over the in-memory baseline; per step: cluster ${per(cluster.cpuMs)} ms CPU, ` +
          `${per(cluster.commits, 1)} transactions, ${per(cluster.writes, 1)} rows written; ` +
          `JournalPg ${per(pg.cpuMs)} ms CPU, ${per(pg.commits, 1)} transactions, ${per(pg.writes, 1)} rows written`
      )
    }
    // A run's total = a fixed cost (start, end, result) + steps × the cost of a step: the slope from 10 to
    // 200 steps is what a step costs, however long the run.
    const slope = (where: string) => {
      const { long, short } = totals.get(where)!
      const step = (long - short) / 190
      return { step, fixed: short - 10 * step }
    }
    const [mem, pg, cluster] = [slope("memory"), slope("pg"), slope("cluster")]
    notes.push(
      `from 10 to 200 steps, a step costs: cluster ${cluster.step.toFixed(2)} ms, LocalRuntime+JournalPg ` +
        `${pg.step.toFixed(2)} ms, memory ${mem.step.toFixed(3)} ms → durability adds ` +
        `${(cluster.step - mem.step).toFixed(2)} ms/step over the in-memory baseline (goal ≤ 5); fixed cost of a run: ` +
        `cluster ${cluster.fixed.toFixed(1)} ms, LocalRuntime+JournalPg ${pg.fixed.toFixed(1)} ms, memory ${mem.fixed.toFixed(1)} ms`
    )
    return {
      title: `${runs} runs of 5 steps (20 ms tool latency) submitted at once; per-step overhead of durability`,
      targets: "runs/s and p50/p99 beside the single-process runtime; durability ≤ 5 ms/step, flat up to 200 steps",
      columns: [
        { key: "what", header: "runtime" },
        { key: "runsPerSecond", header: "runs/s", digits: 1 },
        { key: "p50", header: "p50 ms", digits: 0 },
        { key: "p99", header: "p99 ms", digits: 0 },
        { key: "ratio", header: "runs/s ratio to baseline", digits: 2 },
        { key: "peakRssMb", header: "client peak RSS MB", digits: 0 }
      ],
      rows,
      notes
    }
  }
}
