import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Effect } from "effect"
import { JournalFile } from "graphent"
import { Eval } from "graphent/eval"
import { inProcess, lines, root, scratch, start, waitForOutput } from "../support/cli.js"

const env = { GRAPHENT_STORE: "memory", GRAPHENT_MODEL: undefined, GRAPHENT_PRICES: "{\"scripted\":{\"input\":1,\"output\":2}}" }
const readReport = (file: string) => Effect.runPromise(Eval.parseReport(fs.readFileSync(file, "utf8"), file))

describe("graphent eval (in process)", () => {
  const dir = scratch("eval")
  const assistant = path.join(root, "examples/assistant.ts")
  /** The assistant with a calculator that drops parentheses, and another prompt. */
  const worse = path.join(root, "test/fixtures/worseAssistant.ts")
  const inputs = ["what is (2 + 3) * 4?", "what is 6 * 7?", "remember that tea is at 5", "my name is Ada"]
  const cases = path.join(dir, "cases.jsonl")

  it("record → dataset add → experiment → a worse version fails the gate against the baseline", async () => {
    for (const [index, input] of inputs.entries()) {
      const recorded = await inProcess(["run", assistant, "--input", input, "--record", path.join(dir, `run${index}.jsonl`)], { env })
      expect(recorded.code, recorded.stderr).toBe(0)
    }
    const journals = inputs.map((_, index) => path.join(dir, `run${index}.jsonl`))
    const added = await inProcess(["eval", "dataset", "add", ...journals.slice(0, 3), "--dataset", cases], { env })
    expect(added.stdout).toBe(`added 3 cases to ${cases}\n`)
    const again = await inProcess(["eval", "dataset", "add", ...journals, "--dataset", cases], { env })
    expect(again.stdout).toBe(`added 1 case to ${cases}; 3 already in it\n`)
    const dataset = lines(cases).map((line) => JSON.parse(line))
    expect(dataset.map((item) => item.input)).toEqual(inputs)
    expect(dataset[0]).toMatchObject({ expected: "The answer is 20.", tools: ["calculator"], source: { journal: "run0.jsonl" } })

    // The same agent: every model call is answered from the recorded runs, the gate passes.
    const report = path.join(dir, "base.json")
    const html = path.join(dir, "base.html")
    const runs = path.join(dir, "runs")
    const base = await inProcess(
      ["eval", "run", assistant, "--dataset", cases, "--report", report, "--html", html, "--record-dir", runs,
        "--scorers", "exact,trajectory", "--scorers", "cost<=1,latency<=60000", "--threshold", "pass=1", "--threshold", "exact>=1"],
      { env }
    )
    expect(base.code, base.stderr).toBe(0)
    expect(base.stdout).toContain("4 cases: 4 passed, 0 failed (100.0%)")
    expect(base.stdout).toContain("model calls: 0 live, 7 answered from recordings")
    expect(base.stderr).toMatch(/^\[1\/4\] pass /m)
    expect(fs.existsSync(`${report}.progress.jsonl`)).toBe(false)
    const baseReport = await readReport(report)
    expect(baseReport.scorers).toEqual(["exact", "trajectory", "cost", "latency"])
    expect(baseReport.totals.recordedModelCalls).toBe(7)
    const page = fs.readFileSync(html, "utf8")
    expect(page).toContain("<svg")
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/)
    expect(page.match(/<rect /g)?.length).toBe(8)
    expect(page).toContain(`<a href="runs/${baseReport.cases[0]!.id}.jsonl">`)
    // Each case's journal is linked from the report, and replays.
    const first = baseReport.cases[0]!
    expect(first.journal).toBe(path.relative(root, path.join(runs, `${first.id}.jsonl`)))
    const replayed = await inProcess(["replay", path.join(root, first.journal!)], { env })
    expect(replayed.code, replayed.stderr).toBe(0)

    // The worse version: its prompt changed (every call live), two cases got worse, the gate fails with exit 1.
    const candidate = await inProcess(
      ["eval", "run", worse, "--dataset", cases, "--baseline", report, "--report", path.join(dir, "cand.json"),
        "--threshold", "pass=0.9", "--concurrency", "2"],
      { env }
    )
    expect(candidate.code).toBe(1)
    expect(candidate.stdout).toContain("4 cases: 3 passed, 1 failed (75.0%)")
    expect(candidate.stdout).toMatch(/against the baseline: 1 worse \([^)]+\), 0 better, 3 unchanged/)
    expect(candidate.stdout).toContain("pass rate -25.0 points")
    expect(candidate.stdout).toContain("model calls: 7 live, 0 answered from recordings")
    expect(candidate.stderr).toContain("pass: 0.75 (wanted ≥ 0.9)")
    const worseReport = await readReport(path.join(dir, "cand.json"))
    expect(worseReport.comparison?.worse.map((change) => change.id)).toEqual([dataset[0].id])

    // Scorers from a module: a judge, whose calls are journaled in the project's store (files under GRAPHENT_HOME)
    // as judge runs linked from the report; the next experiment answers them from those journals.
    const judgeLog = path.join(dir, "judge.log")
    const judgeEnv = { ...env, GRAPHENT_STORE: undefined, GRAPHENT_HOME: path.join(dir, "home"), EVAL_JUDGE_LOG: judgeLog }
    const judgedArgs = ["eval", "run", assistant, "--dataset", cases, "--scorers", "exact,test/fixtures/evalScorers.ts"]
    const judgedReport = path.join(dir, "judged.json")
    const judged = await inProcess([...judgedArgs, "--report", judgedReport], { env: judgeEnv })
    expect(judged.code, judged.stderr).toBe(0)
    expect(judged.stdout).toContain("scores: exact 1.000 · judge 0.800 · short 1.000")
    expect(lines(judgeLog)).toHaveLength(4)
    const judgeRun = (await readReport(judgedReport)).cases[0]!.judges[0]!.runId
    const shown = await inProcess(["trace", "show", "--db", judgeRun], { env: judgeEnv })
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toContain("judge:judge")
    // The judge gone: every judgement from the journals, the same scores.
    const rejudged = await inProcess([...judgedArgs, "--baseline", judgedReport, "--replay-judge"], {
      env: { ...judgeEnv, EVAL_JUDGE_GONE: "1" }
    })
    expect(rejudged.code, rejudged.stderr).toBe(0)
    expect(rejudged.stdout).toContain("scores: exact 1.000 · judge 0.800 · short 1.000")
    expect(rejudged.stdout).toContain("0 worse, 0 better, 4 unchanged")
    expect(lines(judgeLog)).toHaveLength(4)
    // Another rubric cannot be answered from them: exit 1, naming the case.
    const reworded = ["eval", "run", assistant, "--dataset", cases, "--scorers", "test/fixtures/evalScorersReworded.ts"]
    const changed = await inProcess([...reworded, "--baseline", judgedReport, "--replay-judge", "--concurrency", "1"], {
      env: { ...judgeEnv, EVAL_JUDGE_GONE: "1" }
    })
    expect(changed.code).toBe(1)
    expect(changed.stderr).toContain(`case "${dataset[0].id}": judge "judge" was asked another prompt than it recorded`)
    expect(lines(judgeLog)).toHaveLength(4)

    // A progress file with a torn last line (a killed process): the whole lines are kept, the torn one run again.
    const resumable = path.join(dir, "resumed.json")
    fs.writeFileSync(
      `${resumable}.progress.jsonl`,
      baseReport.cases.slice(0, 2).map((item) => JSON.stringify(item) + "\n").join("") + JSON.stringify(baseReport.cases[2]).slice(0, 40)
    )
    const resumed = await inProcess(["eval", "run", assistant, "--dataset", cases, "--report", resumable, "--resume"], { env })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toContain("resuming: 2 of 4 cases already done")
    expect(resumed.stderr.match(/^\[\d\/4\]/gm)).toEqual(["[3/4]", "[4/4]"])
    expect((await readReport(resumable)).cases.slice(0, 2)).toEqual(baseReport.cases.slice(0, 2))
  })

  it("bad input is a usage error (exit 2) that names what is wrong, and writes nothing", async () => {
    const bad = path.join(dir, "bad.jsonl")
    fs.writeFileSync(bad, "{\"input\":\"a\"}\n{\"input\":\"b\"\n")
    const report = path.join(dir, "never.json")
    const attempts: Array<[ReadonlyArray<string>, RegExp]> = [
      [["--dataset", bad], /dataset .*bad\.jsonl, line 2: not JSON/],
      [["--dataset", path.join(dir, "missing.jsonl")], /missing\.jsonl: cannot read/],
      [["--dataset", cases, "--scorers", "exact,psychic"], /unknown scorer "psychic"/],
      [["--dataset", cases, "--scorers", "exact,exact"], /two scorers are named "exact"/],
      [["--dataset", cases, "--threshold", "exact>high"], /--threshold exact>high: write name=min/],
      [["--dataset", cases, "--baseline", bad], /report .*bad\.jsonl/],
      [["--dataset", cases, "--concurrency", "0"], /--concurrency must be at least 1/]
    ]
    for (const [flags, message] of attempts) {
      const result = await inProcess(["eval", "run", assistant, ...flags, "--report", report], { env })
      expect(result.code, flags.join(" ")).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(fs.existsSync(report)).toBe(false)
    }
    const resume = await inProcess(["eval", "run", assistant, "--dataset", cases, "--resume"], { env })
    expect([resume.code, resume.stderr]).toEqual([2, "error: --resume needs the --report of the experiment to continue\n"])
    // A run that did not complete is counted, not added.
    const unfinished = path.join(dir, "unfinished.jsonl")
    fs.writeFileSync(unfinished, JournalFile.render([{ _tag: "RunStarted", runId: "r9", traceId: "t", agent: "assistant", input: "hi", at: 1 }]))
    const partial = path.join(dir, "partial.jsonl")
    const skipped = await inProcess(["eval", "dataset", "add", unfinished, "--dataset", partial], { env })
    expect(skipped.stdout).toBe(`added 0 cases to ${partial}; 1 run did not complete (not added)\n`)
    const notJournal = await inProcess(["eval", "dataset", "add", bad, "--dataset", path.join(dir, "x.jsonl")], { env })
    expect(notJournal.code).toBe(2)
    expect(fs.existsSync(path.join(dir, "x.jsonl"))).toBe(false)
  })
})

describe("graphent eval run, interrupted (a process)", () => {
  it("Ctrl-C keeps every finished case; --resume runs only the others", async () => {
    const dir = scratch("eval-sigint")
    const calls = path.join(dir, "calls.log")
    const agent = path.join(dir, "agent.ts")
    // Each call is logged; the input "hang" never finishes while EVAL_HANG is set.
    fs.writeFileSync(
      agent,
      `import * as fs from "node:fs"
import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"
const work = Tool.make("work", {
  description: "Works", parameters: Schema.Struct({ text: Schema.String }), success: Schema.String,
  handler: ({ text }) => Effect.suspend(() => {
    fs.appendFileSync(${JSON.stringify(calls)}, text + "\\n")
    return text === "hang" && process.env.EVAL_HANG === "1" ? Effect.never : Effect.succeed("done " + text)
  })
})
export default Agent.make({ name: "worker", tools: [work],
  planner: SequencePlanner.rules([{ match: () => true, steps: (input) => [{ id: "w", tool: "work", args: { text: input } }] }]) })
`
    )
    const cases = path.join(dir, "cases.jsonl")
    const inputs = ["a", "b", "c", "d", "e", "hang", "f"]
    fs.writeFileSync(cases, inputs.map((input) => JSON.stringify({ id: input, input, expected: `done ${input}`, tools: ["work"] })).join("\n"))
    const report = path.join(dir, "report.json")
    const args = ["eval", "run", agent, "--dataset", cases, "--report", report, "--concurrency", "1"]
    const running = start(args, { env: { ...env, EVAL_HANG: "1" }, cwd: dir })
    await waitForOutput(running, /\[5\/7\] pass e/, "both")
    // "hang" has started (it logs first); wait for its line, then interrupt.
    await expect.poll(() => fs.existsSync(calls) && fs.readFileSync(calls, "utf8").includes("hang\n"), { timeout: 60_000 }).toBe(true)
    running.child.kill("SIGINT")
    const interrupted = await running.exited
    expect(interrupted.code, interrupted.stderr).toBe(130)
    expect(interrupted.stderr).toContain(`interrupted: 5 finished cases kept in ${report}.progress.jsonl`)
    expect(fs.existsSync(report)).toBe(false)

    const resumed = await inProcess([...args, "--resume"], { env, cwd: dir })
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toContain("resuming: 5 of 7 cases already done")
    expect(resumed.stderr).toMatch(/\[6\/7\] pass hang[\s\S]*\[7\/7\] pass f/)
    expect(resumed.stdout).toContain("7 cases: 7 passed")
    // a–e ran once; "hang" twice (interrupted, then again); f once.
    expect(lines(calls)).toEqual(["a", "b", "c", "d", "e", "hang", "hang", "f"])
    const final = await readReport(report)
    expect(final.cases.map((item) => item.id)).toEqual(inputs)
    // Resuming a finished experiment runs nothing.
    const noop = await inProcess([...args, "--resume"], { env, cwd: dir })
    expect(noop.stderr).toContain("resuming: 7 of 7 cases already done")
    expect(lines(calls)).toHaveLength(8)
  })
})
