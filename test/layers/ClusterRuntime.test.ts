import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { AgentRuntime } from "graphent"
import { ClusterRuntime } from "graphent/cluster"
import { JournalPg } from "graphent/postgres"
import sfx, { layer as sfxLayer } from "../fixtures/cluster/sfxAgent.js"
import { createDatabase, dropDatabase } from "../support/clusterDb.js"

let db: { readonly url: string; readonly name: string }

beforeAll(async () => {
  db = await createDatabase()
  process.env.SFX_DATABASE_URL = db.url
  process.env.SFX_TABLE = "sfx_single"
})
afterAll(async () => {
  await dropDatabase(db.name)
})

const single = () => {
  const pg = { url: Redacted.make(db.url) }
  const agentsLayer = Layer.effect(
    ClusterRuntime.ClusterAgents,
    Effect.map(Effect.context<SqlClient.SqlClient>(), (context) => new Map([["sfx", { agent: sfx, context }]]))
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
})
