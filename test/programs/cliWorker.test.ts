/**
 * `graphent worker` runners as real processes on a real PostgreSQL database (one of the test's own):
 * runs survive SIGKILLed runners and SIGTERM handovers, every side effect happens exactly once, and
 * concurrent steps replay from SQL storage on another runner (effect #6014), and a non-idempotent call a
 * kill cut short stops its run (ResumeUnsafe) rather than run twice.
 * The 1,000-run version is `npm run soak:cluster`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Cause, Effect, Fiber } from "effect"
import { SqlClient } from "effect/sql"
import { AgentRuntime, LocalRuntime, Replay, type RunEvent } from "graphent"
import { ClusterRuntime } from "graphent/cluster"
import sfx, { layer as sfxLayer } from "../fixtures/cluster/sfxAgent.js"
import { clusterClient } from "../support/clusterClient.js"
import { createDatabase, dropDatabase } from "../support/clusterDb.js"
import { freePort, type Runner, startRunner, stopRunner } from "../support/clusterProcs.js"

const table = "sfx"
let db: { readonly url: string; readonly name: string }
const runners: Array<Runner> = []

const start = async () => {
  const runner = await startRunner({ url: db.url, port: await freePort(), table })
  runners.push(runner)
  return runner
}

beforeAll(async () => {
  db = await createDatabase()
  process.env.SFX_DATABASE_URL = db.url
  process.env.SFX_TABLE = table
  // The first runner creates the tables (JournalPg's migrations, the cluster's); then the others, together.
  await start()
  await Promise.all([start(), start()])
}, 600_000) // it may wait for another cluster test file (test/support/clusterDb.ts)

afterAll(async () => {
  await Promise.all(runners.map((runner) => stopRunner(runner, "SIGKILL"))).finally(() => dropDatabase(db.name))
})

/** Polls (no sleeps to wait for a moment) until `n` side effects of runs starting with `prefix` exist. */
const sideEffectsReach = (prefix: string, n: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    while (true) {
      const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx WHERE run_id LIKE ${prefix + "%"}`
      if (row!.n >= n) return row!.n
      yield* Effect.sleep(50)
    }
  })

/**
 * Of `among`, the runner executing the most runs of `prefix` right now (runs with a side effect it wrote and fewer
 * than `steps` side effects): a SIGKILL of it interrupts runs mid-way, so their takeover is what the test sees.
 */
const busiest = (prefix: string, steps: number, among: ReadonlyArray<Runner>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ pid: number; n: number }>`
      SELECT pid, count(DISTINCT run_id)::int AS n FROM sfx
      WHERE run_id IN (SELECT run_id FROM sfx WHERE run_id LIKE ${prefix + "%"} GROUP BY run_id HAVING count(*) < ${steps})
      GROUP BY pid ORDER BY n DESC`
    for (const row of rows) {
      const runner = among.find((candidate) => candidate.child.pid === row.pid)
      if (runner !== undefined) return runner
    }
    return among[0]!
  })

const alive = (runner: Runner) => runner.child.exitCode === null && runner.child.signalCode === null

/** Side effects and executions per run of `prefix`; every journal, by run. */
const check = (prefix: string, runs: number, steps: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const effects = yield* sql<{ run_id: string; n: number }>`
      SELECT run_id, count(*)::int AS n FROM sfx WHERE run_id LIKE ${prefix + "%"} GROUP BY run_id`
    const journals = new Map<string, ReadonlyArray<RunEvent.RunEvent>>()
    for (let i = 0; i < runs; i++) journals.set(`${prefix}${i}`, yield* ClusterRuntime.events(`${prefix}${i}`))
    expect(effects).toHaveLength(runs)
    for (const row of effects) expect(row.n, row.run_id).toBe(steps)
    for (const [runId, events] of journals) {
      const count = (tag: RunEvent.RunEvent["_tag"]) => events.filter((event) => event._tag === tag).length
      expect(count("RunStarted"), runId).toBe(1)
      expect(count("RunCompleted"), runId).toBe(1)
      expect(count("RunFailed"), runId).toBe(0)
      // A takeover suspends the workflow: it is not a cancel, so no RunInterrupted.
      expect(count("RunInterrupted"), runId).toBe(0)
      // Each step journaled once, whatever runner ran it or took the run over.
      expect(count("StepSucceeded"), runId).toBe(steps)
      expect(count("StepStarted"), runId).toBe(steps)
    }
    return journals
  })

describe("graphent worker (3 runner processes, PostgreSQL)", () => {
  it("SIGKILL of one runner mid-way, then another: every run completes, every side effect exactly once", async () => {
    const runs = 60
    const steps = 5
    const input = JSON.stringify({ steps, parallel: 2, delayMs: 20 })
    const journals = await Effect.runPromise(
      Effect.gen(function*() {
        const all = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
            AgentRuntime.run(sfx, input, { runId: `k${i}` }), { concurrency: "unbounded" })
        )
        yield* sideEffectsReach("k", Math.floor((runs * steps) / 3))
        const first = yield* busiest("k", steps, runners)
        yield* Effect.promise(() => stopRunner(first, "SIGKILL"))
        yield* sideEffectsReach("k", Math.floor((2 * runs * steps) / 3))
        const second = yield* busiest("k", steps, runners.filter(alive))
        yield* Effect.promise(() => stopRunner(second, "SIGKILL"))
        const results = yield* Fiber.join(all)
        expect(results.map((result) => result.answer)).toEqual(Array.from({ length: runs }, () => `done ${steps}`))
        return yield* check("k", runs, steps)
      }).pipe(Effect.provide(clusterClient(db.url)))
    )
    // Runs the dead runners held were taken over (their journals say so) and replay offline, identical.
    const resumed = [...journals.values()].filter((events) => events.some((event) => event._tag === "RunResumed"))
    expect(resumed.length).toBeGreaterThan(0)
    const reports = await Effect.runPromise(
      Effect.forEach(resumed, (events) => Replay.replay(sfx, events)).pipe(
        Effect.provide(LocalRuntime.layerMemory),
        Effect.provide(sfxLayer)
      )
    )
    for (const report of reports) expect(report.outcome).toEqual({ answer: `done ${steps}` })
  })

  it("SIGKILL mid-way through non-idempotent steps: no step runs twice; a run whose call the kill cut short stops with ResumeUnsafe naming it", async () => {
    // Class: every run whose tool is not idempotent, killed at whatever point of its 4 steps (2 at a time) the
    // busiest runner had reached. Each (run, step) executes at most once; a run either completes every step or
    // stops typed on a step that began and has no journaled outcome.
    const runs = 40
    const steps = 4
    const input = JSON.stringify({ steps, parallel: 2, delayMs: 40, once: true })
    await Effect.runPromise(
      Effect.gen(function*() {
        while (runners.filter(alive).length < 2) yield* Effect.promise(start)
        const all = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
            Effect.exit(AgentRuntime.run(sfx, input, { runId: `n${i}` })), { concurrency: "unbounded" })
        )
        yield* sideEffectsReach("n", Math.floor((runs * steps) / 3))
        const victim = yield* busiest("n", steps, runners.filter(alive))
        yield* Effect.promise(() => stopRunner(victim, "SIGKILL"))
        const exits = yield* Fiber.join(all)
        const sql = yield* SqlClient.SqlClient
        const twice = yield* sql<{ run_id: string; step_id: string; n: number }>`
          SELECT run_id, step_id, count(*)::int AS n FROM sfx_attempts WHERE run_id LIKE 'n%'
          GROUP BY run_id, step_id HAVING count(*) > 1`
        expect(twice).toEqual([])
        let completed = 0
        let taken = 0
        for (const [i, exit] of exits.entries()) {
          const events = yield* ClusterRuntime.events(`n${i}`)
          if (events.some((event) => event._tag === "RunResumed")) taken++
          if (exit._tag === "Success") {
            completed++
            expect(exit.value.answer).toBe(`done ${steps}`)
            continue
          }
          const error = exit._tag === "Failure" ? Cause.findErrorOption(exit.cause) : undefined
          expect(error?._tag === "Some" ? error.value._tag : Cause.pretty(exit.cause), `n${i}`).toBe("ResumeUnsafe")
          const stepId = (error as { value: { stepId: string } }).value.stepId
          const [attempts] = yield* sql<{ n: number }>`
            SELECT count(*)::int AS n FROM sfx_attempts WHERE run_id = ${`n${i}`} AND step_id = ${stepId}`
          // Marked begun before the call went out: the kill came before the call reached the table (0) or after (1).
          expect(attempts!.n, `n${i}/${stepId} ran at most once`).toBeLessThanOrEqual(1)
          expect(events.some((event) => "stepId" in event && event.stepId === stepId && event._tag === "StepSucceeded")).toBe(false)
        }
        // The kill hit runs mid-way (they were taken over), and the others completed.
        expect(taken).toBeGreaterThan(0)
        expect(completed).toBeGreaterThan(0)
      }).pipe(Effect.provide(clusterClient(db.url)))
    )
  })

  it("SIGTERM hands a runner's runs over with no failure", async () => {
    const fresh = await start()
    const survivor = runners.find(alive)!
    const runs = 20
    const steps = 4
    const input = JSON.stringify({ steps, parallel: 2, delayMs: 40 })
    await Effect.runPromise(
      Effect.gen(function*() {
        const all = yield* Effect.forkChild(
          Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
            AgentRuntime.run(sfx, input, { runId: `t${i}` }), { concurrency: "unbounded" })
        )
        yield* sideEffectsReach("t", Math.floor((runs * steps) / 3))
        const code = yield* Effect.promise(() => stopRunner(fresh, "SIGTERM"))
        // 128 + 15: the CLI's exit code after SIGTERM (a clean shutdown, not a crash).
        expect(code).toBe(143)
        const results = yield* Fiber.join(all)
        expect(results.map((result) => result.answer)).toEqual(Array.from({ length: runs }, () => `done ${steps}`))
        yield* check("t", runs, steps)
      }).pipe(Effect.provide(clusterClient(db.url)))
    )
    expect(survivor.child.exitCode).toBe(null)
  })

  it("a run waiting for approval holds no runner and survives a restart of every runner", async () => {
    await start()
    const careful = { id: "ana", roles: ["careful"] }
    const input = JSON.stringify({ steps: 1 })
    const result = await Effect.runPromise(
      Effect.gen(function*() {
        const run = yield* Effect.forkChild(AgentRuntime.run(sfx, input, { runId: "a0", principal: careful }))
        // Poll the status (from this process, not a runner) until the run waits for step s1.
        while (true) {
          const status = yield* ClusterRuntime.status("a0")
          if (status._tag === "Running" && status.waitingFor.includes("s1")) break
          expect(status._tag === "Running" || status._tag === "Unknown").toBe(true)
          yield* Effect.sleep(50)
        }
        // Every runner stops; new ones start. The run is only rows in PostgreSQL now.
        const alive = runners.filter((runner) => runner.child.exitCode === null && runner.child.signalCode === null)
        yield* Effect.promise(() => Promise.all(alive.map((runner) => stopRunner(runner, "SIGTERM"))))
        yield* Effect.promise(() => Promise.all([start(), start()]))
        const sql = yield* SqlClient.SqlClient
        const [before] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx WHERE run_id = 'a0'`
        expect(before!.n).toBe(0)
        yield* ClusterRuntime.approve("a0", "s1", { approved: true, by: "lead" })
        const result = yield* Fiber.join(run)
        const [after] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx WHERE run_id = 'a0'`
        expect(after!.n).toBe(1)
        expect(yield* ClusterRuntime.status("a0")).toEqual({ _tag: "Completed", answer: "done 1" })
        return result
      }).pipe(Effect.provide(clusterClient(db.url)))
    )
    expect(result.answer).toBe("done 1")
    const tags = result.events.map((event) => event._tag)
    expect(tags).toContain("ApprovalRequested")
    expect(tags).toContain("ApprovalDecided")
    expect(tags.filter((tag) => tag === "StepSucceeded")).toHaveLength(1)
  })
})
