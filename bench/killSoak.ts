/**
 * The kill fuzzer's soak: many seeds, many kills, three agents (the DAG, the
 * LLM one, and a tree: a sub-agent's child run), with the counts the
 * guarantee is about. `npm test` runs a few
 * kills of one seed (test/programs/killFuzz.test.ts); this runs as long as
 * asked:
 *
 *   npm run soak:kill                          # 5 seeds × 8 kills per agent
 *   npm run soak:kill -- --seeds 20 --kills 12 --from 7 --only dag
 *   npm run soak:kill -- --only tree --within child   # every kill inside the child run's steps
 *
 * Prints one line per fuzzed run (kills, duplicated and lost side effects,
 * completed calls run again, steps journaled twice, answer) plus the files of
 * every run that broke the guarantee, and a total; exits 1 if any run did.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Fuzz from "../test/support/killFuzz.js"

const option = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`)
  const value = at === -1 ? undefined : Number(process.argv[at + 1])
  if (value !== undefined && !Number.isInteger(value)) throw new Error(`--${name} takes an integer`)
  return value ?? fallback
}
const onlyAt = process.argv.indexOf("--only")
const only = onlyAt === -1 ? undefined : process.argv[onlyAt + 1]
const seeds = option("seeds", 5)
const kills = option("kills", 8)
const from = option("from", 1)
// `--within child`: kills land inside the child runs' steps only (the tree), as in `npm test`.
const within = process.argv.includes("--within") ? process.argv[process.argv.indexOf("--within") + 1] : undefined
if (within !== undefined && within !== "child") throw new Error(`--within takes "child", not ${within}`)
const scenarios = [Fuzz.dag, Fuzz.chat, Fuzz.tree].filter((scenario) => only === undefined || scenario.name === only)

const totals = { runs: 0, broken: 0, kills: 0, killsDuringResume: 0, duplicates: 0, lost: 0, repeated: 0, journalRepeats: 0, wrongAnswers: 0 }
const root = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-kill-soak-"))
console.log(`kill soak: ${scenarios.map((s) => s.name).join(", ")}; seeds ${from}..${from + seeds - 1}; ${kills} kills each; files in ${root}`)

for (const scenario of scenarios) {
  const baseline = await Fuzz.baseline(scenario, root)
  for (let seed = from; seed < from + seeds; seed++) {
    const dir = fs.mkdtempSync(path.join(root, `${scenario.name}-${seed}-`))
    const report = await Fuzz.fuzz(scenario, { seed, kills, dir, baseline, within })
    const broken = report.duplicates.length + report.lost.length + report.repeatedCompleted.length +
        report.journalRepeats.length > 0 || report.answer !== report.expected
    totals.runs++
    totals.kills += report.kills.length
    totals.killsDuringResume += report.killsDuringResume
    totals.duplicates += report.duplicates.reduce((sum, { count }) => sum + count - 1, 0)
    totals.lost += report.lost.length
    totals.repeated += report.repeatedCompleted.length
    totals.journalRepeats += report.journalRepeats.length
    if (report.answer !== report.expected) totals.wrongAnswers++
    if (broken) totals.broken++
    console.log(broken ? Fuzz.describe(report) : Fuzz.describe(report).split("\n")[0])
    if (!broken) fs.rmSync(dir, { recursive: true, force: true })
  }
}

console.log(
  `\ntotal: ${totals.runs} runs, ${totals.kills} kills (${totals.killsDuringResume} during resume); ` +
    `${totals.duplicates} duplicate side effects, ${totals.lost} lost, ${totals.repeated} completed calls re-run, ` +
    `${totals.journalRepeats} steps journaled twice, ${totals.wrongAnswers} wrong answers; ${totals.broken} runs broke the guarantee`
)
process.exitCode = totals.broken > 0 ? 1 : 0
