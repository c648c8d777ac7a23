/**
 * Crash-resume never repeats a side effect, tested from the outside: real
 * `graphent` processes are SIGKILLed at seeded random points (during `run` and
 * during the `resume`s that follow, inside and between tool calls) and resumed
 * as docs/journal-format.md says, until the run finishes (test/support/killFuzz.ts).
 *
 * Inputs covered: a DAG agent (12 steps in two turns, concurrent steps,
 * `Planner.ref` chains, idempotent and non-idempotent tools) and an LLM agent
 * (three turns of parallel tool calls on a function model), kill points drawn
 * over the whole run's progress; and a tree (a parent whose step runs a
 * sub-agent's child run), kill points drawn inside the child's steps. Each run must end with every side effect of an
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

/** No side effect twice or lost, no completed call re-run, no event journaled twice, and the uninterrupted answer. */
const assertExactlyOnce = (report: Fuzz.Report, answer: string, summary: string) =>
  assert.deepStrictEqual(
    {
      duplicates: report.duplicates,
      lost: report.lost,
      repeatedCompleted: report.repeatedCompleted,
      journalRepeats: report.journalRepeats,
      answer: report.answer
    },
    { duplicates: [], lost: [], repeatedCompleted: [], journalRepeats: [], answer },
    summary
  )

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
      assertExactlyOnce(report, baseline.answer, summary)
      // Kept when the test fails: the report names the journal and the side-effect log.
      fs.rmSync(dir, { recursive: true, force: true })
    }, 600_000) // about 30 s on a quiet 2-core machine; minutes when it is shared
  }
})

// Not beside the others: the commands this test runs in this process swap its environment while they run.
describe("the kill fuzzer on a tree of agents", () => {
  // A tree (test/fixtures/agents/killTree.ts): every kill lands inside the child run's steps (its DAG of lookups,
  // a charge and a notification, concurrent), during `run` or a resume. Only the killed processes are real ones;
  // the uninterrupted run and the resumes that follow the last kill run in this process (the CPU budget).
  // `npm run soak:kill -- --only tree` kills anywhere in the tree, many seeds.
  it(`tree: ${kills} kills inside the child run (seed ${seed}); every side effect across the tree exactly once`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-kill-tree-"))
    const baseline = await Fuzz.baseline(Fuzz.tree, dir, undefined, true)
    const report = await Fuzz.fuzz(Fuzz.tree, { seed, kills, dir, baseline, within: "child", finishInProcess: true })
    const summary = Fuzz.describe(report)
    assert.strictEqual(report.kills.length, kills, summary)
    assert.isAtLeast(report.killsDuringResume, 1, summary)
    // Each kill interrupted the child: the journal's last lines then held the child run's (the parent's
    // notification runs beside it).
    for (const kill of report.kills) assert.isTrue(kill.journalTail.some((line) => /"runId":"[^"]+\/p-child"/.test(line)), summary)
    assertExactlyOnce(report, baseline.answer, summary)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 600_000)
})
