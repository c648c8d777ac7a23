import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Fiber, Layer, Redacted, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { Agent, AgentRuntime, Planner } from "graphent"
import { ClusterRuntime } from "graphent/cluster"
import { JournalPg } from "graphent/postgres"
import sfx, { layer as sfxLayer } from "../fixtures/cluster/sfxAgent.js"
import * as Gated from "../support/gatedAgent.js"
import { createDatabase, dropDatabase } from "../support/clusterDb.js"

let db: { readonly url: string; readonly name: string }

beforeAll(async () => {
  db = await createDatabase()
  process.env.SFX_DATABASE_URL = db.url
  process.env.SFX_TABLE = "sfx_single"
}, 600_000) // it may wait for another cluster test file (test/support/clusterDb.ts)
afterAll(async () => {
  await dropDatabase(db.name)
})

const single = () => {
  const pg = { url: Redacted.make(db.url) }
  const agentsLayer = Layer.effect(
    ClusterRuntime.ClusterAgents,
    Effect.map(Effect.context<SqlClient.SqlClient>(), (context) =>
      new Map([["sfx", { agent: sfx, context }], ["gated", { agent: Gated.gated, context }]]))
  ).pipe(Layer.provide(sfxLayer))
  return ClusterRuntime.layerSingle({ pg, sharding: { entityMessagePollInterval: 200 } }).pipe(
    Layer.provideMerge(JournalPg.layerPg({ pg })),
    Layer.provideMerge(agentsLayer)
  )
}

describe("ClusterRuntime (one runner, in process)", () => {
  it("runs an agent as a durable workflow, journaled, each step once", async () => {
    const result = await Effect.runPromise(
      Effect.gen(function*() {
        const result = yield* AgentRuntime.run(sfx, JSON.stringify({ steps: 4, parallel: 2 }), { runId: "r1" })
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx_single WHERE run_id = 'r1'`
        // Executing the same run id again joins the stored result: nothing runs twice.
        const again = yield* AgentRuntime.run(sfx, JSON.stringify({ steps: 4, parallel: 2 }), { runId: "r1" })
        const attempts = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx_single_attempts WHERE run_id = 'r1'`
        return { result, rows: rows[0]!.n, again, attempts: attempts[0]!.n }
      }).pipe(Effect.provide(single()))
    )
    expect(result.result.answer).toBe("done 4")
    expect(result.rows).toBe(4)
    expect(result.attempts).toBe(4)
    expect(result.again.answer).toBe("done 4")
    expect(result.result.events.map((e) => e._tag)).toContain("RunCompleted")
    expect(result.result.steps).toHaveLength(4)
  })

  it("a non-idempotent call that began and has no stored result stops the run with ResumeUnsafe (not run twice)", async () => {
    const outcome = await Effect.runPromise(
      Effect.gen(function*() {
        // What a runner SIGKILLed during the call leaves: the call's mark, no result.
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE IF NOT EXISTS graphent_cluster_calls (run_id TEXT NOT NULL, step_id TEXT NOT NULL, PRIMARY KEY (run_id, step_id))`
        yield* sql`INSERT INTO graphent_cluster_calls (run_id, step_id) VALUES ('u1', 'step:a')`
        const error = yield* Effect.flip(AgentRuntime.run(Gated.gated, "a", { runId: "u1" }))
        const status = yield* ClusterRuntime.status("u1")
        return { error, status, events: yield* ClusterRuntime.events("u1") }
      }).pipe(Effect.provide(single()))
    )
    expect(outcome.error._tag).toBe("ResumeUnsafe")
    expect(outcome.status._tag).toBe("Failed")
    expect(Gated.known("a")).toBe(false)
    // Suspended, not failed: the journal stays resumable (graphent resume --retry a / --assume-done a).
    expect(outcome.events.map((event) => event._tag)).not.toContain("RunFailed")
  })

  it("resolve: typed errors for a run not stopped, a step not waiting, a second answer; a cancel leaves a stopped run; retry goes on in a new attempt that status addresses", async () => {
    const outcome = await Effect.runPromise(
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE IF NOT EXISTS graphent_cluster_calls (run_id TEXT NOT NULL, step_id TEXT NOT NULL, PRIMARY KEY (run_id, step_id))`
        yield* sql`INSERT INTO graphent_cluster_calls (run_id, step_id) VALUES ('v1', 'step:v')`
        // Running (not stopped): nothing to resolve.
        const running = yield* Effect.flip(ClusterRuntime.resolve("r1", "s1", "retry"))
        expect((yield* Effect.flip(AgentRuntime.run(Gated.gated, "v", { runId: "v1" })))._tag).toBe("ResumeUnsafe")
        const stopped = yield* ClusterRuntime.stopped("v1")
        // A stopped run runs nowhere: a cancel leaves it as it is (no cancel mark for its next attempt).
        yield* ClusterRuntime.cancel("v1")
        const cancelMarks = yield* sql`SELECT 1 FROM graphent_cluster_calls WHERE run_id = 'v1' AND step_id = '!cancel'`
        const other = yield* Effect.flip(ClusterRuntime.resolve("v1", "zz", "assume-done"))
        yield* Gated.open("v")
        const waiting = yield* ClusterRuntime.resolve("v1", "v", "retry")
        // Given once: the run goes on, and a second answer finds nothing to resolve.
        const again = yield* Effect.flip(ClusterRuntime.resolve("v1", "v", "assume-done"))
        let status = yield* ClusterRuntime.status("v1")
        while (status._tag === "Running") {
          yield* Effect.sleep(50)
          status = yield* ClusterRuntime.status("v1")
        }
        return { running, stopped, cancelMarks, other, waiting, again, status, events: yield* ClusterRuntime.events("v1") }
      }).pipe(Effect.provide(single()))
    )
    expect(outcome.running.reason).toBe("the run is not stopped at a step a crash cut short")
    expect(outcome.stopped?.steps.map((step) => step.stepId)).toEqual(["v"])
    expect(outcome.cancelMarks).toHaveLength(0)
    expect(outcome.other._tag).toBe("ResolutionInvalid")
    expect(outcome.other.reason).toBe("the steps that need attention are: v")
    expect(outcome.waiting).toEqual([])
    expect(outcome.again._tag).toBe("ResolutionInvalid")
    expect(outcome.status).toEqual({ _tag: "Completed", answer: "passed v" })
    const tags = outcome.events.map((event) => event._tag)
    expect(tags.filter((tag) => tag === "StepSucceeded")).toHaveLength(1)
    expect(tags.filter((tag) => tag === "RunCompleted")).toHaveLength(1)
  })

  it("cancel interrupts a run durably: no later step runs", async () => {
    const outcome = await Effect.runPromise(
      Effect.gen(function*() {
        const run = yield* Effect.forkChild(Effect.exit(AgentRuntime.run(Gated.gated, "x1,y1", { runId: "c1" })))
        while (!Gated.known("x1")) yield* Effect.sleep(20)
        yield* ClusterRuntime.cancel("c1")
        yield* Gated.open("x1")
        const exit = yield* Fiber.join(run)
        return { exit, events: yield* ClusterRuntime.events("c1"), status: yield* ClusterRuntime.status("c1") }
      }).pipe(Effect.provide(single()))
    )
    expect(outcome.exit._tag).toBe("Failure")
    expect(Gated.known("y1")).toBe(false)
    expect(outcome.events.map((event) => event._tag)).toContain("RunInterrupted")
    expect(outcome.status._tag).not.toBe("Running")
  })

  it("streams a cluster run's events from the journal; an agent no runner has fails typed", async () => {
    const stranger = Agent.make({ name: "stranger", tools: [], planner: { decide: () => Effect.succeed(Planner.answer("hi")) } })
    const outcome = await Effect.runPromise(
      Effect.gen(function*() {
        const events = yield* Stream.runCollect(AgentRuntime.stream(sfx, JSON.stringify({ steps: 2 }), { runId: "st1" }))
        const error = yield* Effect.flip(AgentRuntime.run(stranger, "x", { runId: "st2" }))
        return { tags: Array.from(events, (event) => event._tag), error }
      }).pipe(Effect.provide(single()))
    )
    expect(outcome.tags[0]).toBe("RunStarted")
    expect(outcome.tags.at(-1)).toBe("RunCompleted")
    expect(outcome.tags.filter((tag) => tag === "StepSucceeded")).toHaveLength(2)
    expect(outcome.error._tag).toBe("PlannerFailed")
    expect(outcome.error.message).toContain("stranger")
  })
})
