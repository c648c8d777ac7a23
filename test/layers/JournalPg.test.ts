import { afterAll, assert, layer } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { SqlClient } from "effect/sql"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { AgentRuntime, Journal, LocalRuntime, MemoryInMemory, type RunEvent, Runs } from "graphent"
import { Pglite } from "graphent/pglite"
import { JournalPg } from "graphent/postgres"
import echo from "../../examples/echo.js"
import todo from "../../examples/todo.js"
import { pgConfig } from "../support/services.js"
import * as Store from "../support/store.js"
import { journalContract } from "./journalContract.js"

const testId = randomUUID().slice(0, 8)
/** A table prefix of this run only: the tables are dropped at the end. */
const pgPrefix = `graphent_j${testId}_`
const PgLive = PgClient.layer({ ...pgConfig, applicationName: `graphent-journal-test-${testId}` })
const pgliteDir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-journal-pglite-"))

// One PGlite for the whole file (it takes seconds to open), shared by every suite that needs it.
const pgliteScope = Scope.makeUnsafe()
const PgliteShared = Layer.effect(
  SqlClient.SqlClient,
  Effect.runSync(Effect.cached(
    Pglite.make({ dataDir: pgliteDir }).pipe(Effect.provide(Reactivity.layer), Scope.provide(pgliteScope))
  ))
)

afterAll(async () => {
  await Store.dropPgPrefixes([pgPrefix])
  await Effect.runPromise(Scope.close(pgliteScope, Exit.void))
  fs.rmSync(pgliteDir, { recursive: true, force: true })
}, 60_000)

const normalize = (value: unknown) => JSON.parse(JSON.stringify(value))
const journal = Journal.Journal
const listRuns = (options?: JournalPg.ListOptions) => JournalPg.listRuns({ tablePrefix: pgPrefix, ...options })

const started = (runId: string, agent = "manual"): RunEvent.RunEvent => ({
  _tag: "RunStarted",
  runId,
  traceId: `trace-${runId}`,
  agent,
  input: "by hand",
  at: Date.now()
})
const step = (runId: string, stepId: string): RunEvent.RunEvent => ({
  _tag: "StepStarted",
  runId,
  stepId,
  tool: "echo",
  args: { text: stepId },
  at: Date.now()
})

const suite = (name: string, SqlLive: Layer.Layer<SqlClient.SqlClient, unknown>, backend: string) => {
  const Live = Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(JournalPg.layerNoDeps({ tablePrefix: pgPrefix }))),
    MemoryInMemory.layer
  ).pipe(Layer.provideMerge(SqlLive))

  layer(Live, { excludeTestServices: true, timeout: "60 seconds" })(name, (it) => {
    it.effect("a run's events read back as they were journaled; the run is listed as completed", () =>
      Effect.gen(function*() {
        const result = yield* AgentRuntime.run(todo, "add buy milk; add call mom; done 1; list")
        const events = yield* (yield* journal).read(result.runId)
        assert.deepStrictEqual(normalize(events), normalize(result.events))
        assert.include(yield* (yield* journal).runs, result.runId)
        const summary = (yield* listRuns({ agent: "todo", limit: 100 })).find((run) => run.runId === result.runId)
        assert.deepStrictEqual(summary, {
          runId: result.runId,
          traceId: result.traceId,
          agent: "todo",
          input: "add buy milk; add call mom; done 1; list",
          status: "completed",
          startedAt: result.startedAt,
          finishedAt: result.finishedAt,
          answer: result.answer
        })
      }))

    it.effect("a failed run is listed as failed, with its error", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(AgentRuntime.run(todo, "done 7"))
        const [failed] = yield* listRuns({ agent: "todo", status: "failed", limit: 1 })
        assert.strictEqual(failed!.status, "failed")
        assert.strictEqual(failed!.input, "done 7")
        assert.strictEqual(failed!.error!._tag, error._tag)
        assert.include(failed!.error!.message, "there is no todo #7")
        const events = yield* (yield* journal).read(failed!.runId)
        assert.strictEqual(events[events.length - 1]!._tag, "RunFailed")
      }))

    it.effect("listRuns: newest first, filtered by agent and status, a page at a time", () =>
      Effect.gen(function*() {
        const results = []
        for (const input of ["one", "two", "three"]) results.push(yield* AgentRuntime.run(echo, input))
        const newest = results.map((result) => result.runId).reverse()
        const mine = (runs: ReadonlyArray<JournalPg.RunSummary>) =>
          runs.map((run) => run.runId).filter((runId) => newest.includes(runId))
        assert.deepStrictEqual(mine(yield* listRuns({ agent: "echo", limit: 2 })), newest.slice(0, 2))
        assert.deepStrictEqual(mine(yield* listRuns({ agent: "echo", limit: 2, offset: 2 })), newest.slice(2, 3))
        assert.deepStrictEqual(mine(yield* listRuns({ agent: "echo", status: "completed" })), newest)
        assert.deepStrictEqual(mine(yield* listRuns({ agent: "echo", status: "failed" })), [])
        assert.deepStrictEqual(yield* listRuns({ agent: "nobody" }), [])
        assert.deepStrictEqual(mine(yield* listRuns({ limit: 1 })), newest.slice(0, 1))
        const error = yield* Effect.flip(listRuns({ limit: -1 }))
        assert.strictEqual(error.operation, "list")
        assert.strictEqual(error.backend, backend)
      }))

    it.effect("a run in progress is running; paused while a step awaits approval; RunResumed makes it running again", () =>
      Effect.gen(function*() {
        const j = yield* journal
        const runId = `manual-${randomUUID()}`
        yield* j.append(started(runId))
        const status = Effect.map(listRuns({ agent: "manual", limit: 100 }), (runs) =>
          runs.find((run) => run.runId === runId)?.status)
        assert.strictEqual(yield* status, "running")
        yield* j.append({ _tag: "ApprovalRequested", runId, stepId: "s1", tool: "deploy", capability: "shell:deploy", principal: "alice", at: Date.now() })
        assert.strictEqual(yield* status, "paused")
        yield* j.append({ _tag: "RunResumed", runId, at: Date.now() })
        assert.strictEqual(yield* status, "running")
        const usage = { turns: 0, steps: 0 }
        yield* j.append({ _tag: "RunInterrupted", runId, usage, durationMs: 1, at: Date.now() })
        assert.strictEqual(yield* status, "interrupted")
        yield* j.append({ _tag: "RunResumed", runId, at: Date.now() })
        assert.strictEqual(yield* status, "running")
      }))

    // Every event kept once is the contract's (journalContract.ts); this is how PostgreSQL numbers them.
    it.effect("concurrent appends to one run are numbered in commit order", () =>
      Effect.gen(function*() {
        const j = yield* journal
        const runId = `concurrent-${randomUUID()}`
        yield* j.append(started(runId))
        const stepIds = Array.from({ length: 40 }, (_, i) => `s${i}`)
        yield* Effect.forEach(stepIds, (stepId) => j.append(step(runId, stepId)), {
          concurrency: "unbounded",
          discard: true
        })
        const sequential = Array.from({ length: 10 }, (_, i) => `after${i}`)
        for (const stepId of sequential) yield* j.append(step(runId, stepId))
        const seqs = yield* SqlClient.SqlClient.use((sql) =>
          sql<{ readonly seq: number }>`SELECT seq FROM ${sql(`${pgPrefix}events`)} WHERE run_id = ${runId} ORDER BY seq`
        )
        assert.deepStrictEqual(seqs.map((row) => Number(row.seq)), Array.from({ length: 51 }, (_, i) => i + 1))
      }))

    it.effect("a database without journal tables lists no runs", () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* JournalPg.listRuns({ tablePrefix: "absent_" }), [])
        assert.deepStrictEqual(yield* JournalPg.pageRuns({ tablePrefix: "absent_" }), { runs: [], total: 0 })
      }))

    // Runs in each state a listing shows (paused with an open request, paused with all decided, ended with
    // usage or an error, a child run): pageRuns tells what Runs.summarize tells from the events.
    it.effect("pageRuns: what summarize makes of each run's events; filters, the tree, pages and the total", () =>
      Effect.gen(function*() {
        const j = yield* journal
        const agent = `paged-${randomUUID()}`
        const id = (name: string) => `${agent}-${name}`
        const usage = { turns: 1, steps: 1, modelCalls: 2 }
        const request = (runId: string, stepId: string): RunEvent.RunEvent =>
          ({ _tag: "ApprovalRequested", runId, stepId, tool: "deploy", capability: "shell:deploy", principal: "bob", at: 5 })
        const decide = (runId: string, stepId: string): RunEvent.RunEvent =>
          ({ _tag: "ApprovalDecided", runId, stepId, approved: true, by: "ana", at: 6 })
        const runs: Record<string, ReadonlyArray<RunEvent.RunEvent>> = {
          paused: [
            { ...started(id("paused"), agent), principal: { id: "bob", roles: ["careful"] } } as RunEvent.RunEvent,
            request(id("paused"), "s1"),
            request(id("paused"), "s2"),
            decide(id("paused"), "s1"),
            request(id("paused"), "s2")
          ],
          decided: [started(id("decided"), agent), request(id("decided"), "s1"), decide(id("decided"), "s1")],
          completed: [
            started(id("completed"), agent),
            step(id("completed"), "s1"),
            { _tag: "RunCompleted", runId: id("completed"), answer: "ok", usage, durationMs: 3, at: Date.now() + 3 }
          ],
          failed: [
            started(id("failed"), agent),
            { _tag: "RunFailed", runId: id("failed"), error: { _tag: "Boom", message: "boom" }, usage, durationMs: 1, at: Date.now() + 1 }
          ],
          child: [{ ...started(id("child"), agent), parentRunId: id("completed"), parentStepId: "s1" } as RunEvent.RunEvent]
        }
        for (const events of Object.values(runs)) for (const event of events) yield* j.append(event)
        const page = (options: JournalPg.ListOptions) => JournalPg.pageRuns({ tablePrefix: pgPrefix, agent, ...options })
        const shown = (info: Runs.RunInfo) => ({
          id: info.id,
          // A cluster shows a run without an end as running (summarize: unfinished, no process here).
          status: info.status === "unfinished" ? "running" : info.status,
          events: info.events,
          startedBy: info.startedBy,
          finishedAt: info.finishedAt,
          usage: info.usage,
          error: info.error,
          awaiting: info.awaiting,
          parentRunId: info.parentRunId
        })
        const all = yield* page({ tree: "all" })
        assert.strictEqual(all.total, 5)
        for (const run of all.runs) {
          assert.deepStrictEqual(
            normalize(shown({ ...run, id: run.runId, createdAt: run.startedAt })),
            normalize(shown(Runs.summarize(runs[run.runId.slice(agent.length + 1)]!)!))
          )
        }
        const ids = (result: { readonly runs: ReadonlyArray<JournalPg.RunDetails> }) => result.runs.map((run) => run.runId)
        assert.deepStrictEqual(ids(all), ["child", "failed", "completed", "decided", "paused"].map(id))
        // Top-level runs by default; a page, and the total on every page (also past the end).
        assert.deepStrictEqual(yield* Effect.map(page({ limit: 2 }), (p) => [ids(p), p.total]), [[id("failed"), id("completed")], 4])
        assert.deepStrictEqual(yield* Effect.map(page({ limit: 2, offset: 2 }), (p) => [ids(p), p.total]), [[id("decided"), id("paused")], 4])
        assert.deepStrictEqual(yield* Effect.map(page({ offset: 9 }), (p) => [ids(p), p.total]), [[], 4])
        assert.deepStrictEqual(yield* Effect.map(page({ limit: 0 }), (p) => [ids(p), p.total]), [[], 4])
        assert.deepStrictEqual(ids(yield* page({ tree: { parentRunId: id("completed") } })), [id("child")])
        // The status a run shows filters: a run whose approvals are all decided is running, not paused.
        assert.deepStrictEqual(ids(yield* page({ status: "paused" })), [id("paused")])
        assert.deepStrictEqual(ids(yield* page({ status: "running" })), [id("decided")])
        const error = yield* Effect.flip(page({ offset: -1 }))
        assert.strictEqual(error.operation, "list")
      }))
  })
}

suite("JournalPg on PostgreSQL", PgLive, "postgres")

// One PGlite for the file: it takes seconds to start.
suite("JournalPg on PGlite", PgliteShared, "pglite")

journalContract("JournalPg on PostgreSQL", JournalPg.layerPg({ pg: pgConfig, tablePrefix: pgPrefix }), {
  reopen: () => JournalPg.layerPg({ pg: pgConfig, tablePrefix: pgPrefix })
})
journalContract("JournalPg on PGlite", JournalPg.layerNoDeps({ tablePrefix: "contract_" }).pipe(Layer.provide(PgliteShared)), {
  reopen: () => JournalPg.layerNoDeps({ tablePrefix: "contract_" }).pipe(Layer.provide(PgliteShared))
})

layer(PgLive, { excludeTestServices: true, timeout: "60 seconds" })("JournalPg on PostgreSQL: failures", (it) => {
  const application = `graphent-journal-kill-${testId}`

  it.effect("appends while connections are terminated: each acknowledged event is kept exactly once", () =>
    Effect.gen(function*() {
      const j = yield* journal
      const sql = yield* SqlClient.SqlClient
      const terminate = sql`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${application}`
      const runId = `kill-${randomUUID()}`
      yield* j.append(started(runId))
      const fiber = yield* Effect.forkChild(Effect.forEach(
        Array.from({ length: 40 }, (_, i) => `s${i}`),
        (stepId) => Effect.exit(j.append(step(runId, stepId))).pipe(Effect.map((exit) => [stepId, exit] as const)),
        { concurrency: 4 }
      ))
      for (let kill = 0; kill < 3; kill++) {
        yield* Effect.sleep("30 millis")
        yield* terminate
      }
      const outcomes = yield* Fiber.join(fiber).pipe(Effect.timeout("50 seconds"))
      const ids = (yield* j.read(runId)).flatMap((event) => event._tag === "StepStarted" ? [event.stepId] : [])
      assert.strictEqual(new Set(ids).size, ids.length, "an event was recorded twice")
      for (const [stepId, exit] of outcomes) {
        if (Exit.isSuccess(exit)) assert.include(ids, stepId, `acknowledged ${stepId} was lost`)
        else assert.strictEqual(String(exit).includes("JournalError"), true, String(exit))
      }
    }).pipe(Effect.provide(JournalPg.layerPg({ pg: { ...pgConfig, applicationName: application }, tablePrefix: pgPrefix }))))

  it.effect("a closed port fails fast with a JournalError naming the connect, not an append", () =>
    Effect.gen(function*() {
      const startedAt = Date.now()
      const error = yield* Effect.flip(
        Layer.build(JournalPg.layerPg({ pg: { ...pgConfig, port: 1 }, tablePrefix: pgPrefix })).pipe(Effect.scoped)
      )
      assert.strictEqual(error._tag, "JournalError")
      assert.strictEqual(error.backend, "postgres")
      assert.strictEqual(error.operation, "connect")
      assert.match(error.message, /^journal \(postgres\) connect failed: .*Failed to connect/)
      assert.isBelow(Date.now() - startedAt, 10_000)
    }))
})
