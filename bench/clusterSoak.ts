/**
 * The cluster soak: 3 `graphent worker` processes on a PostgreSQL database of their own, 1,000 runs
 * (5 steps each, 2 at a time: concurrent activities, 20 ms per step) whose tool writes a side effect
 * with a unique key per (run, step). Runner 1 is SIGKILLed at a third of the side effects and
 * restarted, runner 2 at two thirds and restarted; runner 3 gets a SIGTERM (handover) at 80 %.
 * Checks that every run completes with its answer, every (run, step) side effect exists exactly once,
 * every journal has one RunStarted, one RunCompleted and each step once; prints the figures.
 *
 *   npm run soak:cluster                    # 1,000 runs
 *   npm run soak:cluster -- --runs 300
 *
 * Exits 1 if the guarantee broke. `npm test` runs the 60-run version (test/programs/cliWorker.test.ts).
 */
import { Effect, Layer, Redacted } from "effect"
import * as Fiber from "effect/Fiber"
import { SqlClient } from "effect/sql"
import { AgentRuntime } from "../src/index.js"
import * as ClusterRuntime from "../src/layers/ClusterRuntime.js"
import * as JournalPg from "../src/layers/JournalPg.js"
import sfx, { layer as sfxLayer } from "../test/fixtures/cluster/sfxAgent.js"
import { createDatabase, dropDatabase } from "../test/support/clusterDb.js"
import { type Runner, startRunner, stopRunner } from "../test/support/clusterProcs.js"

const at = process.argv.indexOf("--runs")
const runs = at === -1 ? 1000 : Number(process.argv[at + 1])
const steps = 5
const table = "sfx"
const db = await createDatabase()
process.env.SFX_DATABASE_URL = db.url
process.env.SFX_TABLE = table
const base = 47000 + (process.pid % 500) * 10
let port = base
const runners: Array<Runner> = []
const start = async () => {
  const runner = await startRunner({ url: db.url, port: port++, table })
  runners.push(runner)
  return runner
}
const pg = { url: Redacted.make(db.url) }
const client = ClusterRuntime.layerClient({ pg }).pipe(Layer.provideMerge(JournalPg.layerPg({ pg })), Layer.provideMerge(sfxLayer))
const cpuBefore = process.cpuUsage()
let failures = 0
try {
  const r1 = await start()
  const [r2, r3] = await Promise.all([start(), start()])
  console.log(`cluster soak: ${runs} runs × ${steps} steps on 3 runners (db ${db.name})`)
  const startedAt = performance.now()
  await Effect.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let finished = false
    const reach = (n: number) => Effect.gen(function*() {
      while (!finished) {
        const [row] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx`
        if (row!.n >= n) return
        yield* Effect.sleep(100)
      }
    })
    const input = JSON.stringify({ steps, parallel: 2, delayMs: 20 })
    const all = yield* Effect.forkChild(Effect.forEach(Array.from({ length: runs }, (_, i) => i), (i) =>
      // Every run to its end: one failure does not stop the others (it is counted below).
      AgentRuntime.run(sfx, input, { runId: `s${i}` }).pipe(
        Effect.map((result) => result.answer),
        Effect.catch((error) => Effect.succeed(`${error._tag}: ${error.message}`))
      ), { concurrency: 200 }).pipe(Effect.ensuring(Effect.sync(() => { finished = true }))))
    const total = runs * steps
    yield* reach(Math.floor(total / 3))
    console.log(`  SIGKILL runner ${r1!.port} at ${Math.round(performance.now() - startedAt)} ms; restarting it`)
    yield* Effect.promise(() => stopRunner(r1!, "SIGKILL"))
    yield* Effect.promise(() => start())
    yield* reach(Math.floor((2 * total) / 3))
    console.log(`  SIGKILL runner ${r2!.port} at ${Math.round(performance.now() - startedAt)} ms; restarting it`)
    yield* Effect.promise(() => stopRunner(r2!, "SIGKILL"))
    yield* Effect.promise(() => start())
    yield* reach(Math.floor((4 * total) / 5))
    console.log(`  SIGTERM runner ${r3!.port} at ${Math.round(performance.now() - startedAt)} ms`)
    const code = yield* Effect.promise(() => stopRunner(r3!, "SIGTERM"))
    const answers = yield* Fiber.join(all)
    const wall = performance.now() - startedAt
    const wrongAnswers = answers.filter((answer) => answer !== `done ${steps}`)
    const wrong = wrongAnswers.length
    for (const answer of new Set(wrongAnswers)) console.log(`  not done: ${answer}`)
    const [effects] = yield* sql<{ n: number; runs: number }>`SELECT count(*)::int AS n, count(DISTINCT run_id)::int AS runs FROM sfx`
    const [attempts] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM sfx_attempts`
    const perRun = yield* sql<{ run_id: string; n: number }>`SELECT run_id, count(*)::int AS n FROM sfx GROUP BY run_id HAVING count(*) <> ${steps}`
    let journalsBroken = 0
    let resumed = 0
    for (let i = 0; i < runs; i++) {
      const events = yield* ClusterRuntime.events(`s${i}`)
      const count = (tag: string) => events.filter((event) => event._tag === tag).length
      if (count("RunStarted") !== 1 || count("RunCompleted") !== 1 || count("StepSucceeded") !== steps || count("StepStarted") !== steps) {
        journalsBroken++
        console.log(`  journal of s${i}: ${events.map((event) => event._tag === "StepStarted" || event._tag === "StepSucceeded" ? `${event._tag}(${event.stepId})` : event._tag).join(" ")}`)
      }
      if (count("RunResumed") > 0) resumed++
    }
    failures = wrong + perRun.length + journalsBroken + (effects!.n === runs * steps ? 0 : 1)
    const cpu = process.cpuUsage(cpuBefore)
    console.log(`  runs completed ${answers.length - wrong}/${runs}; wall ${(wall / 1000).toFixed(1)} s = ${(runs / wall * 1000).toFixed(1)} runs/s`)
    console.log(`  side effects ${effects!.n} (expected ${runs * steps}) over ${effects!.runs} runs; runs with a wrong count ${perRun.length}`)
    console.log(`  tool executions ${attempts!.n}: ${attempts!.n - effects!.n} re-executions of idempotent calls in flight at a kill/handover`)
    console.log(`  journals broken ${journalsBroken}; runs taken over by another runner (RunResumed) ${resumed}; SIGTERMed runner exit ${String(code)}`)
    console.log(`  client CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`)
  }).pipe(Effect.provide(client)))
} finally {
  await Promise.all(runners.map((runner) => stopRunner(runner, "SIGKILL")))
  await dropDatabase(db.name)
}
console.log(failures === 0 ? "cluster soak: OK" : `cluster soak: BROKEN (${failures})`)
process.exit(failures === 0 ? 0 : 1)
