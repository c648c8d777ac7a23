/**
 * The automation worker, in-process: the whole report (files read, counted by `wc`, stored over HTTP, written),
 * the policy keeping a guest off the shell, and the golden journal replayed with no file, process or server.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { AgentRuntime, Audit, AuditMemory, PolicyFile, ToolGuard } from "graphent"
import * as Testing from "graphent/testing"
import worker, { layer, makeWorker } from "../src/agent.js"
import * as ReportsApi from "../src/api.js"

const app = path.resolve(import.meta.dirname, "..")
const api = Effect.acquireRelease(Effect.promise(() => ReportsApi.start()), (running) => Effect.promise(running.close))
const tempOut = () => fs.mkdtempSync(path.join(os.tmpdir(), "graphent-worker-"))

describe("automation worker", () => {
  it.effect("reports every file of the inbox: counted, stored on the API once, written once", () =>
    Effect.gen(function*() {
      const reports = yield* api
      const out = tempOut()
      const agent = makeWorker({ inbox: path.join(app, "inbox"), out, api: reports.url })
      const result = yield* AgentRuntime.run(agent, "report")
      assert.strictEqual(result.answer, `Reported 3 file(s) to ${path.join(out, "report.md")}.`)
      assert.strictEqual(
        fs.readFileSync(path.join(out, "report.md"), "utf8"),
        "# Inbox report\n\n- finance.txt: 3 lines — Quarterly numbers\n- offsite.txt: 2 lines — Team offsite\n" +
          `- release.txt: 5 lines — Release checklist\n\nStored as reports/${result.runId}.\n`
      )
      assert.deepStrictEqual([reports.puts(), reports.reports.get(result.runId)?.version], [1, 1])
      assert.strictEqual(fs.readFileSync(path.join(out, "log.txt"), "utf8"), `report reports/${result.runId}\n`)
      // Turn 2 ran its six steps concurrently: all six started before the first of them finished.
      const events = result.events.map((event) => event._tag)
      const firstFinished = events.indexOf("StepSucceeded", events.indexOf("StepSucceeded") + 1)
      assert.strictEqual(events.slice(0, firstFinished).filter((tag) => tag === "StepStarted").length, 7)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(Testing.layer, layer))))

  it.effect("under the policy, a guest may read the inbox but not run wc: denied and audited, nothing stored", () =>
    Effect.gen(function*() {
      const reports = yield* api
      const agent = makeWorker({ inbox: path.join(app, "inbox"), out: tempOut(), api: reports.url })
      const exit = yield* Effect.exit(
        ToolGuard.requireGuarded(AgentRuntime.run(agent, "report", { principal: { id: "guest", roles: ["reader"] } }))
      )
      assert.isTrue(Exit.isFailure(exit))
      const entries = yield* Audit.Audit.use((audit) => audit.query({}))
      const decisions = entries.map((entry) => `${entry.tool}:${entry.decision}`)
      assert.include(decisions, "list_inbox:allow")
      assert.include(decisions, "count_lines:deny")
      assert.strictEqual(reports.puts(), 0)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(Testing.layer, layer)),
      Effect.provide(ToolGuard.layer().pipe(
        Layer.provideMerge(Layer.mergeAll(PolicyFile.layer({ path: path.join(app, "policy.json") }), AuditMemory.layer()))
      ))
    ))

  // Recorded with: WORKER_API_URL=… npx graphent run src/agent.ts --input report --record test/fixtures/worker.jsonl
  // (the reports API of `npm run api` running). The replay reads no file, starts no process and calls no API.
  it.effect("replays its golden journal", () =>
    Testing.replayJournal(worker, path.join(app, "test/fixtures/worker.jsonl")).pipe(Effect.provide(layer)))
})
