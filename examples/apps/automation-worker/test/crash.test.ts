/**
 * The worker survives a crash: `graphent run` is SIGKILLed at the worst moment — the reports API has received the
 * PUT but the worker never saw the answer, so its journal holds a started call with no result. `graphent resume
 * <run-id>` then re-runs only that call (a PUT of the same key: harmless, the API keeps one report) and the steps
 * after it; the files already read and counted are answered from the journal, the report file is written once.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { run, scratch, start } from "../../../../test/support/cli.js"
import * as ReportsApi from "../src/api.js"

const app = path.resolve(import.meta.dirname, "..")

describe("automation worker: crash and resume", () => {
  it("killed while the report is being stored: resume stores it again under the same key and writes it once", async () => {
    const reports = await ReportsApi.start()
    try {
      const home = scratch("worker")
      const env = {
        GRAPHENT_HOME: path.join(home, ".graphent"),
        WORKER_API_URL: reports.url,
        WORKER_INBOX: path.join(app, "inbox"),
        WORKER_OUT: path.join(home, "out")
      }
      const running = start(["run", path.join(app, "src/agent.ts"), "--input", "report"], { cwd: home, env })
      let runId: string | undefined
      reports.onPut = (key) => {
        // Before the API answers: the worker dies with the call started and its result never journaled.
        runId ??= key
        running.child.kill("SIGKILL")
      }
      const crashed = await running.exited
      assert.strictEqual(crashed.signal, "SIGKILL", crashed.stderr)
      assert.isDefined(runId)
      assert.isFalse(fs.existsSync(path.join(home, "out/log.txt")), "the report was written before the crash")

      const resumed = await run(["resume", runId!], { cwd: home, env })
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.include(resumed.stdout, "Reported 3 file(s)")
      // One report, stored twice under the same key (the retried PUT); written to disk exactly once.
      assert.deepStrictEqual([reports.reports.size, reports.reports.get(runId!)?.version], [1, 2])
      assert.strictEqual(fs.readFileSync(path.join(home, "out/log.txt"), "utf8"), `report reports/${runId}\n`)
    } finally {
      await reports.close()
    }
  })
})
