/**
 * Crash-resume never repeats a side effect, tested from the outside: real
 * `graphent` processes are SIGKILLed at seeded random points (during `run` and
 * during the `resume`s that follow, inside and between tool calls) and resumed
 * as docs/journal-format.md says, until the run finishes (test/support/killFuzz.ts).
 *
 * Inputs covered: a DAG agent (12 steps in two turns, concurrent steps,
 * `Planner.ref` chains, idempotent and non-idempotent tools) and an LLM agent
 * (three turns of parallel tool calls on a function model); kill points drawn
 * over the whole run's progress. Each run must end with every side effect of an
 * uninterrupted run exactly once, no completed call executed again, one outcome
 * per step in the journal, and the uninterrupted run's answer.
 *
 * Bounded for `npm test` (a few kills per agent; `KILL_FUZZ_SEED` picks another
 * seed); `npm run soak:kill` runs many seeds and prints the counts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Fuzz from "../support/killFuzz.js"

const seed = Number(process.env.KILL_FUZZ_SEED ?? 20261203)
const kills = 3

describe.concurrent("the kill fuzzer: SIGKILL at random points, resume until done", () => {
  for (const scenario of [Fuzz.dag, Fuzz.chat]) {
    it(`${scenario.name}: ${kills} kills (seed ${seed}); every side effect exactly once, the uninterrupted answer`, async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `graphent-kill-${scenario.name}-`))
      const baseline = await Fuzz.baseline(scenario, dir)
      const report = await Fuzz.fuzz(scenario, { seed, kills, dir, baseline })
      const summary = Fuzz.describe(report)
      // The fuzzer did its job: it killed processes, including a resume.
      assert.strictEqual(report.kills.length, kills, summary)
      assert.isAtLeast(report.killsDuringResume, 1, summary)
      assert.deepStrictEqual(
        {
          duplicates: report.duplicates,
          lost: report.lost,
          repeatedCompleted: report.repeatedCompleted,
          journalRepeats: report.journalRepeats,
          answer: report.answer
        },
        { duplicates: [], lost: [], repeatedCompleted: [], journalRepeats: [], answer: baseline.answer },
        summary
      )
      // Kept when the test fails: the report names the journal and the side-effect log.
      fs.rmSync(dir, { recursive: true, force: true })
    }, 600_000) // about 30 s on a quiet 2-core machine; minutes when it is shared
  }
})
