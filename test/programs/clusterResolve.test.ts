/**
 * Resolving and forking cluster runs through `graphent dev --cluster`, with `graphent worker` runners as real
 * processes on a real PostgreSQL database (one of the test's own). The agent's tool is NOT idempotent
 * (test/fixtures/cluster/chargeAgent.ts): a runner SIGKILLed during its call leaves a call with no result,
 * and the runner taking the run over stops it with `ResumeUnsafe` (the run needs attention). Three runners
 * in all, one alive at a time: each SIGKILL is followed by the next one's start.
 * - assume-done: the step does not run again (it fails, its result unknown); a SIGKILL of the runner right
 *   after the resolution loses nothing (the resolution is stored before the API answers).
 * - retry: the step runs again, once, and the run completes; no other call runs again.
 * - a resolution for a step that does not wait (a running run, another step, a finished run): 409.
 * - fork: a new run on the cluster, the parent's calls answered from its journal up to the fork point, the
 *   edit applied, the rest live; a bad fork point: 400.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Exit, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { layer as chargeLayer } from "../fixtures/cluster/chargeAgent.js"
import { createDatabase, dropDatabase } from "../support/clusterDb.js"
import { api, devServer, keys } from "../support/clusterDev.js"
import { freePort, type Runner, startRunner, stopRunner } from "../support/clusterProcs.js"

const table = "sfx"
const agentFile = new URL("../fixtures/cluster/chargeAgent.ts", import.meta.url).pathname
let db: { readonly url: string; readonly name: string }
const runners: Array<Runner> = []
const devScope = Effect.runSync(Scope.make())
let admin: ReturnType<typeof api>

const start = async () => {
  const runner = await startRunner({ url: db.url, port: await freePort(), table, agentFile })
  runners.push(runner)
  return runner
}
const alive = () => runners.filter((runner) => runner.child.exitCode === null && runner.child.signalCode === null)

beforeAll(async () => {
  db = await createDatabase()
  process.env.SFX_DATABASE_URL = db.url
  process.env.SFX_TABLE = table
  // One runner: the runs of the first test all begin on it (the test SIGKILLs it mid-call).
  await start()
  admin = api((await Effect.runPromise(devServer({ url: db.url, agentFile, scope: devScope }))).url, keys.admin)
}, 600_000) // it may wait for another cluster test file (test/support/clusterDb.ts)

afterAll(async () => {
  try {
    await Effect.runPromise(Scope.close(devScope, Exit.void))
    await Promise.all(runners.map((runner) => stopRunner(runner, "SIGKILL")))
  } finally {
    await dropDatabase(db.name)
  }
})

const sql = <A>(query: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.orDie(Effect.gen(function*() {
    return yield* query(yield* SqlClient.SqlClient)
  })).pipe(Effect.provide(chargeLayer)))

/** Calls of the tool (begun) and their effects (done), per step of `runId`. */
const counts = async (runId: string) => {
  const rows = (from: string) =>
    sql((sql) => sql<{ step_id: string; n: number }>`SELECT step_id, count(*)::int AS n FROM ${sql(from)} WHERE run_id = ${runId} GROUP BY step_id`)
  const byStep = (list: ReadonlyArray<{ step_id: string; n: number }>) => Object.fromEntries(list.map((row) => [row.step_id, row.n]))
  return { calls: byStep(await rows(`${table}_attempts`)), effects: byStep(await rows(`${table}_charges`)) }
}

/** Polls (no sleeps to wait for a moment) until `check` holds of the value `read` gives. */
const until = async <A>(read: () => Promise<A>, check: (value: A) => boolean): Promise<A> => {
  for (;;) {
    const value = await read()
    if (check(value)) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const get = (runId: string) => admin("GET", `/v1/runs/${runId}`)
const ended = (runId: string) =>
  until(() => get(runId), (run) => ["completed", "failed", "interrupted"].includes(run.body.status as string))

/** Submits a run of `steps` whose step s2 holds its first call; resolves once that call began. */
const holding = async (steps: number) => {
  const started = await admin("POST", "/v1/runs", { agent: "charge", input: JSON.stringify({ steps, hold: "s2", holdMs: 120_000 }) })
  expect(started.status).toBe(202)
  const runId = started.body.id as string
  await until(
    () => sql((sql) => sql<{ pid: number }>`SELECT pid FROM ${sql(`${table}_attempts`)} WHERE run_id = ${runId} AND step_id = 's2'`),
    (rows) => rows.length > 0
  )
  return runId
}

const needsAttention = async (runId: string) => {
  const stopped = await until(() => get(runId), (run) => run.body.status === "needs-attention")
  expect(stopped.body.attention.map((step: { stepId: string }) => step.stepId)).toEqual(["s2"])
}

describe("resolving and forking cluster runs (graphent dev --cluster, runner processes, PostgreSQL)", () => {
  /** Stopped at s2 by a SIGKILL: resolved `retry` (3 steps), resolved `assume-done` (2 steps). */
  let retried = ""
  let assumed = ""

  it("a SIGKILL mid non-idempotent call stops the run (needs-attention); a resolution for a step that does not wait: 409", async () => {
    retried = await holding(3)
    assumed = await holding(2)
    // Running: no step waits for a resolution.
    const early = await admin("POST", `/v1/runs/${retried}/steps/s2/retry`)
    expect(early.status).toBe(409)
    expect(early.body._tag).toBe("ResolutionInvalid")
    await stopRunner(runners[0]!, "SIGKILL")
    // The next runner takes the runs over (after the failover) and stops each at s2.
    await start()
    await needsAttention(retried)
    await needsAttention(assumed)
    // A step that does not wait: 409, and the run still waits.
    const other = await admin("POST", `/v1/runs/${retried}/steps/s1/assume-done`)
    expect(other.status).toBe(409)
    expect(other.body._tag).toBe("ResolutionInvalid")
    expect((await get(retried)).body.status).toBe("needs-attention")
    expect(await counts(retried)).toEqual({ calls: { s1: 1, s2: 1 }, effects: { s1: 1 } })
  }, 120_000)

  it("assume-done: the step does not run again, and a SIGKILL of the runner right after the resolution loses nothing", async () => {
    expect(assumed).not.toBe("")
    const resolved = await admin("POST", `/v1/runs/${assumed}/steps/s2/assume-done`)
    expect(resolved.status).toBe(202)
    expect(resolved.body.status).toBe("running")
    await Promise.all(alive().map((runner) => stopRunner(runner, "SIGKILL")))
    await start()
    const done = await ended(assumed)
    // s2 failed (assumed done: its result is unknown), so one step of two succeeded.
    expect(done.body).toMatchObject({ status: "completed", answer: "charged 1/2" })
    expect(await counts(assumed)).toEqual({ calls: { s1: 1, s2: 1 }, effects: { s1: 1 } })
  }, 120_000)

  it("retry: the step a SIGKILL cut short runs again, once; nothing else runs again", async () => {
    expect(retried).not.toBe("")
    const resolved = await admin("POST", `/v1/runs/${retried}/steps/s2/retry`)
    expect(resolved.status).toBe(202)
    const done = await ended(retried)
    expect(done.body).toMatchObject({ status: "completed", answer: "charged 3/3" })
    // s2: the call the SIGKILL cut short (no effect) and the retry; s1 and s3 once.
    expect(await counts(retried)).toEqual({ calls: { s1: 1, s2: 2, s3: 1 }, effects: { s1: 1, s2: 1, s3: 1 } })
    // Journaled once each, over two attempts on two runners: s2's start is the first attempt's.
    const tags = (await sql((sql) => sql<{ tag: string }>`SELECT tag FROM graphent_events WHERE run_id = ${retried} ORDER BY seq`))
      .map((row) => row.tag)
    expect(tags.filter((tag) => tag === "StepStarted")).toHaveLength(3)
    expect(tags.filter((tag) => tag === "StepSucceeded")).toHaveLength(3)
    expect(tags.filter((tag) => tag === "RunCompleted")).toHaveLength(1)
    // Finished: nothing to resolve.
    expect((await admin("POST", `/v1/runs/${retried}/steps/s2/retry`)).status).toBe(409)
  }, 120_000)

  it("fork: a new run on the cluster replays the parent up to the fork point, applies the edit, goes on live", async () => {
    expect(retried).not.toBe("")
    const bad = await admin("POST", `/v1/runs/${retried}/fork`, { at: "s9" })
    expect(bad.status).toBe(400)
    expect(bad.body._tag).toBe("ForkInvalid")
    expect((await admin("POST", "/v1/runs/nope/fork", { at: "s1" })).status).toBe(404)

    const forked = await admin("POST", `/v1/runs/${retried}/fork`, { edit: { _tag: "SetResult", stepId: "s2", result: 42 } })
    expect(forked.status).toBe(202)
    const forkId = forked.body.id as string
    expect(forkId).not.toBe(retried)
    const done = await ended(forkId)
    expect(done.body).toMatchObject({ status: "completed", answer: "charged 3/3" })
    // s1 answered from the parent's journal, s2 the edit, s3 live: one call, in the fork's own run.
    expect(await counts(forkId)).toEqual({ calls: { s3: 1 }, effects: { s3: 1 } })
    expect(await counts(retried)).toEqual({ calls: { s1: 1, s2: 2, s3: 1 }, effects: { s1: 1, s2: 1, s3: 1 } })
  }, 120_000)
})
