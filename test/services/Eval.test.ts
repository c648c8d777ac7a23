import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Schema } from "effect"
import { Agent, AgentRuntime, Journal, LlmPlanner, Pricing, Replay, ScriptedModel, Tool } from "graphent"
import { Dataset, Eval, Scorer } from "graphent/eval"
import * as Testing from "graphent/testing"
import assistant, { layer as modelLayer } from "../../examples/assistant.js"
import worse from "../fixtures/worseAssistant.js"

/** The example's offline model, with a price for it: a million input tokens cost 1, output 2. */
const layers = Layer.mergeAll(
  Testing.layer,
  modelLayer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} })))),
  Pricing.layer({ scripted: { input: 1, output: 2 } })
)

/** 20 cases: arithmetic, notes, names, small talk; with reference answers and tools. */
const lines: ReadonlyArray<typeof Dataset.CaseLine.Type> = [
  { id: "sum", input: "what is 2 + 3?", expected: "The answer is 5.", tools: ["calculator"], tags: ["math"] },
  { id: "product", input: "what is 6 * 7?", expected: "The answer is 42.", tools: ["calculator"], tags: ["math"] },
  { id: "parens", input: "what is (2 + 3) * 4?", expected: "The answer is 20.", tools: ["calculator"], tags: ["math"] },
  { id: "parens2", input: "compute (10 - 4) * 3", expected: "The answer is 18.", tools: ["calculator"], tags: ["math"] },
  { id: "parens3", input: "what is (1 + 1) ^ 3?", expected: "The answer is 8.", tools: ["calculator"], tags: ["math"] },
  { id: "power", input: "what is 2 ^ 10?", expected: "The answer is 1024.", tools: ["calculator"], tags: ["math"] },
  { id: "div", input: "what is 9 / 3?", expected: "The answer is 3.", tools: ["calculator"], tags: ["math"] },
  { id: "divzero", input: "what is 1/0", expected: "That did not work", tools: ["calculator"], tags: ["math", "error"] },
  { id: "note1", input: "remember that the meeting is at 3pm", expected: "Noted: the meeting is at 3pm.", tools: ["notes"], tags: ["notes"] },
  { id: "note2", input: "remember that milk is out", expected: "Noted: milk is out.", tools: ["notes"], tags: ["notes"] },
  { id: "list", input: "what do you remember?", expected: "I have no notes yet.", tools: ["notes"], tags: ["notes"] },
  { id: "both", input: "remember that tea is at 5 and what is (2 + 3) * 4?", expected: "Noted: tea is at 5. The answer is 20.", tools: ["notes", "calculator"], tags: ["notes", "math"] },
  { id: "name", input: "my name is Ada", expected: "Nice to meet you, Ada.", tools: [], tags: ["chat"] },
  { id: "name2", input: "my name is Alan", expected: "Nice to meet you, Alan.", tools: [], tags: ["chat"] },
  { id: "whoami", input: "what is my name?", expected: "You have not told me your name.", tools: [], tags: ["chat"] },
  { id: "hello", input: "hello", expected: "I am running offline", tools: [], tags: ["chat"] },
  { id: "sum3", input: "what is 1 + 2 + 3?", expected: "The answer is 6.", tools: ["calculator"], tags: ["math"] },
  { id: "nested", input: "what is ((1 + 2) * (3 + 4))?", expected: "The answer is 21.", tools: ["calculator"], tags: ["math"] },
  { id: "wrong", input: "what is 2 + 2?", expected: "The answer is 5.", tools: ["calculator"], tags: ["math", "bad-reference"] },
  { id: "noref", input: "what is 5 - 1?", tags: ["math"] }
]
const dataset = Dataset.make(lines)

/** Exact on the answer where the reference is a whole answer, contains where it is a fragment. */
const fragments = new Set(["divzero", "hello"])
const answer = Scorer.make("answer", (testCase, result) =>
  fragments.has(testCase.id) ? Scorer.contains().score(testCase, result) : Scorer.exactMatch().score(testCase, result))

const scorers = [
  answer,
  Scorer.trajectory(),
  Scorer.trajectory({ order: "set" }),
  Scorer.matches(/\.$/),
  Scorer.costCeiling(0.001),
  Scorer.latencyCeiling(60_000)
]

describe("Eval.run on the scripted-model assistant", () => {
  it.effect("20 cases, scorers of each kind: the report's numbers are the hand-computed ones", () =>
    Effect.gen(function*() {
      const report = yield* Eval.run(assistant, dataset, scorers, { concurrency: 4 })
      assert.strictEqual(report.cases.length, 20)
      assert.deepStrictEqual(report.cases.map((item) => item.id), lines.map((line) => line.id))
      // Only "wrong" (its reference is wrong) fails; "noref" has nothing to compare its answer with.
      assert.deepStrictEqual(report.cases.filter((item) => !item.pass).map((item) => item.id), ["wrong"])
      assert.strictEqual(report.totals.passed, 19)
      assert.strictEqual(report.totals.passRate, 19 / 20)
      const noref = report.cases.find((item) => item.id === "noref")!
      assert.isTrue(noref.scores.answer?.skipped)
      assert.isTrue(noref.scores.trajectory?.skipped)
      // answer: 18 of the 19 cases with a reference; trajectory: 19 with tools, all exact.
      assert.closeTo(report.totals.scores.answer!, 18 / 19, 1e-12)
      assert.strictEqual(report.totals.scores.trajectory, 1)
      assert.strictEqual(report.totals.scores["trajectory-set"], 1)
      assert.strictEqual(report.totals.scores.matches, 1)
      // Cost: each model call's tokens at the price, summed per case, summed over the cases.
      for (const item of report.cases) {
        assert.isAbove(item.inputTokens, 0)
        assert.strictEqual(item.liveModelCalls, item.id.startsWith("name") || item.id === "whoami" || item.id === "hello" ? 1 : 2)
        assert.closeTo(item.cost, (item.inputTokens * 1 + item.outputTokens * 2) / 1e6, 1e-12)
      }
      const byHand = report.cases.reduce((total, item) => total + item.cost, 0)
      assert.closeTo(report.totals.cost, byHand, 1e-15)
      assert.strictEqual(report.totals.inputTokens, report.cases.reduce((total, item) => total + item.inputTokens, 0))
      assert.strictEqual(report.totals.liveModelCalls, 20 * 2 - 4)
      assert.strictEqual(report.totals.recordedModelCalls, 0)
      // Thresholds: met, and missed with a typed error naming each.
      yield* Eval.check(report, [{ name: "pass", min: 0.9 }, { name: "trajectory", min: 1 }, { name: "cost", max: 1 }])
      // A ceiling on cost is on the total cost, although a scorer is named "cost" (its mean is 1 here).
      const tooDear = yield* Eval.check(report, [{ name: "cost", max: report.totals.cost / 2 }]).pipe(Effect.flip)
      assert.match(tooDear.missed[0]!, /^cost: /)
      yield* Eval.check(report, [{ name: "cost", min: 1 }, { name: "latency", max: 60_000 }])
      const missed = yield* Eval.check(report, [{ name: "answer", min: 0.99 }, { name: "judge", min: 0.5 }]).pipe(Effect.flip)
      assert.strictEqual(missed._tag, "ThresholdMissed")
      assert.strictEqual(missed.missed.length, 2)
      assert.match(missed.missed[0]!, /^answer: 0\.947368 \(wanted ≥ 0\.99\)$/)
    }).pipe(Effect.provide(layers)))

  it.effect("a worse agent version is flagged against the baseline; recorded model calls answer while the prompt is unchanged", () =>
    Effect.gen(function*() {
      // The baseline, with every case's journal kept: the recordings the next experiments answer from.
      const journals = new Map<string, ReadonlyArray<unknown>>()
      const baseline = yield* Eval.run(assistant, dataset, scorers, {
        record: (testCase, events) => Effect.sync(() => (journals.set(testCase.id, events), `mem:${testCase.id}`))
      })
      assert.strictEqual(baseline.cases[0]!.journal, "mem:sum")
      const recording = (testCase: Dataset.Case) =>
        Replay.recording(journals.get(testCase.id) as never).pipe(Effect.orDie)

      // The same agent again: every model call is answered from its recording, none is live.
      const same = yield* Eval.run(assistant, dataset, scorers, { recording, baseline })
      assert.deepStrictEqual(same.cases.filter((item) => item.liveModelCalls > 0).map((item) => item.id), [])
      assert.strictEqual(same.totals.recordedModelCalls, baseline.totals.liveModelCalls)
      assert.deepStrictEqual(same.comparison?.worse, [])
      assert.deepStrictEqual(same.comparison?.better, [])
      assert.strictEqual(same.comparison?.unchanged, 20)
      assert.strictEqual(same.comparison?.costDelta, 0)
      // The same cost as the baseline's, but nothing spent: every call came from a recording.
      assert.isAbove(same.totals.cost, 0)
      assert.strictEqual(same.totals.spent, 0)
      assert.strictEqual(baseline.totals.spent, baseline.totals.cost)

      // The worse version: its prompt changed, so its calls go live; the cases with parentheses get worse.
      const candidate = yield* Eval.run(worse, dataset, scorers, { recording, baseline })
      assert.strictEqual(candidate.totals.recordedModelCalls, 0)
      assert.strictEqual(candidate.totals.liveModelCalls, baseline.totals.liveModelCalls)
      const comparison = candidate.comparison!
      assert.deepStrictEqual(comparison.worse.map((change) => change.id), ["parens", "parens2", "parens3", "both", "nested"])
      for (const change of comparison.worse) assert.deepStrictEqual([change.before.pass, change.after.pass], [true, false])
      assert.deepStrictEqual(comparison.better, [])
      assert.strictEqual(comparison.unchanged, 15)
      assert.closeTo(comparison.passRateDelta, -5 / 20, 1e-12)
      assert.closeTo(comparison.scoreDeltas.answer!, -5 / 19, 1e-12)
      assert.closeTo(comparison.costDelta, candidate.totals.cost - baseline.totals.cost, 1e-12)
      // Only the tool changed (same prompt): each run's calls come from its recording up to the first tool
      // result that differs; from there they are live. Cases without parentheses cost nothing.
      const toolOnly = Agent.make({ name: "assistant", instructions: assistant.instructions, tools: worse.tools, planner: LlmPlanner.make() })
      const partly = yield* Eval.run(toolOnly, dataset, scorers, { recording, baseline })
      const calls = (id: string) => {
        const item = partly.cases.find((other) => other.id === id)!
        return [item.recordedModelCalls, item.liveModelCalls]
      }
      assert.deepStrictEqual(calls("parens"), [1, 1])
      assert.deepStrictEqual(calls("both"), [1, 1])
      assert.deepStrictEqual(calls("sum"), [2, 0])
      assert.deepStrictEqual(calls("name"), [1, 0])
      assert.deepStrictEqual(partly.comparison?.worse.map((change) => change.id), comparison.worse.map((change) => change.id))
      assert.isBelow(partly.totals.spent, candidate.totals.spent)

      const gate = yield* Eval.check(candidate, [{ name: "pass", min: 0.9 }]).pipe(Effect.flip)
      assert.match(gate.message, /pass: 0\.7 \(wanted ≥ 0\.9\)/)
    }).pipe(Effect.provide(layers)))

  it.effect("at any concurrency, the unchanged agent is answered from its recordings, with the same verdicts", () =>
    Effect.gen(function*() {
      const journals = new Map<string, ReadonlyArray<unknown>>()
      const baseline = yield* Eval.run(assistant, dataset, scorers, {
        concurrency: 5,
        record: (testCase, events) => Effect.sync(() => (journals.set(testCase.id, events), testCase.id))
      })
      const recording = (testCase: Dataset.Case) => Replay.recording(journals.get(testCase.id) as never).pipe(Effect.orDie)
      for (const concurrency of [1, 2, 3, 7, 20]) {
        // The dataset in another order too: each case answers from its own recording, whatever runs beside it.
        const shuffled = Dataset.make([...lines].sort((a, b) => ((a.id!.length * 7 + concurrency) % 5) - ((b.id!.length * 7 + concurrency) % 5)))
        const again = yield* Eval.run(assistant, shuffled, scorers, { concurrency, recording, baseline })
        assert.strictEqual(again.totals.liveModelCalls, 0, `concurrency ${concurrency}`)
        assert.strictEqual(again.comparison?.unchanged, 20)
        for (const item of again.cases) {
          const before = baseline.cases.find((other) => other.id === item.id)!
          assert.deepStrictEqual([item.answer, item.pass, item.cost], [before.answer, before.pass, before.cost], item.id)
        }
      }
    }).pipe(Effect.provide(layers)))

  it.effect("resumed: cases already done are reported as they are and not run again", () =>
    Effect.gen(function*() {
      const first = yield* Eval.run(assistant, dataset, [Scorer.exactMatch()])
      let ran = 0
      const again = yield* Eval.run(assistant, dataset, [Scorer.exactMatch()], {
        done: first.cases.slice(0, 15),
        onCase: (_item, done, total) => Effect.sync(() => (ran++, assert.strictEqual(total, 20), assert.isAtMost(done, 20)))
      })
      assert.strictEqual(ran, 5)
      assert.deepStrictEqual(again.cases.slice(0, 15), first.cases.slice(0, 15))
      assert.deepStrictEqual(again.totals.passed, first.totals.passed)
    }).pipe(Effect.provide(layers)))
})

describe("hand-computed figures on a scripted model with fixed token counts", () => {
  // Every call: 1,000 input and 500 output tokens; at 2 and 4 a million tokens, 0.004 a call.
  const echo = Tool.make("echo", {
    description: "Echoes.",
    parameters: Schema.Struct({ text: Schema.String }),
    success: Schema.String,
    handler: ({ text }) => Effect.succeed(text)
  })
  const agent = Agent.make({ name: "fixed", tools: [echo], planner: LlmPlanner.make() })
  const usage = { inputTokens: 1000, outputTokens: 500 }
  const model = ScriptedModel.layerFunction(({ prompt }) => {
    const input = ScriptedModel.lastUserText(prompt)
    if (ScriptedModel.lastToolResults(prompt).length > 0) return ScriptedModel.text(`echoed ${input}`, usage)
    return input.startsWith("tool") ? ScriptedModel.toolCalls([{ name: "echo", params: { text: input } }], { usage }) : ScriptedModel.text(input, usage)
  })
  const fixed = Layer.mergeAll(Testing.layer, model, Pricing.layer({ scripted: { input: 2, output: 4 } }))

  it.effect("cost, tokens, pass rate, means and deltas", () =>
    Effect.gen(function*() {
      const cases = Dataset.make([
        { id: "a", input: "tool a", expected: "echoed tool a", tools: ["echo"] },
        { id: "b", input: "b", expected: "b", tools: [] },
        { id: "c", input: "c", expected: "not c", tools: ["echo"] }
      ])
      const report = yield* Eval.run(agent, cases, [Scorer.exactMatch(), Scorer.trajectory(), Scorer.costCeiling(0.005)])
      const [a, b, c] = report.cases
      assert.deepStrictEqual([a!.cost, b!.cost, c!.cost], [0.008, 0.004, 0.004])
      assert.deepStrictEqual([a!.inputTokens, a!.outputTokens, b!.inputTokens], [2000, 1000, 1000])
      assert.deepStrictEqual(report.cases.map((item) => item.pass), [false, true, false])
      assert.deepStrictEqual(a!.scores.cost, { value: 0, pass: false, reason: "cost 0.008 (ceiling 0.005)" })
      assert.closeTo(report.totals.cost, 0.016, 1e-15)
      assert.closeTo(report.totals.spent, 0.016, 1e-15)
      assert.strictEqual(report.totals.inputTokens, 4000)
      assert.strictEqual(report.totals.outputTokens, 2000)
      assert.strictEqual(report.totals.passRate, 1 / 3)
      assert.closeTo(report.totals.scores.exact!, 2 / 3, 1e-15)
      assert.closeTo(report.totals.scores.trajectory!, 2 / 3, 1e-15)
      assert.closeTo(report.totals.scores.cost!, 2 / 3, 1e-15)
      assert.closeTo(Eval.meanScore(c!), 1 / 3, 1e-15)
      // Against a baseline where "a" passed with 0.003 and "c" is new: a is worse, c added, the removed one named.
      const baseline = Eval.report({
        agent: "fixed",
        scorers: ["exact"],
        startedAt: 0,
        durationMs: 0,
        cases: [
          { ...a!, pass: true, cost: 0.003, scores: { exact: Scorer.verdict(true) } },
          { ...b!, cost: 0.01 },
          { ...b!, id: "gone" }
        ]
      })
      const comparison = Eval.compare(report.cases, baseline)
      assert.deepStrictEqual(comparison.worse.map((change) => change.id), ["a"])
      assert.deepStrictEqual(comparison.added, ["c"])
      assert.deepStrictEqual(comparison.removed, ["gone"])
      assert.closeTo(comparison.costDelta, (0.008 + 0.004) - (0.003 + 0.01), 1e-15)
      // Over a and b: exact 1 → 1, trajectory (b only before) 1 → 1, cost (b only before) 1 → (0 + 1) / 2.
      assert.deepStrictEqual(comparison.scoreDeltas, { exact: 0, trajectory: 0, cost: -0.5 })
    }).pipe(Effect.provide(fixed)))

  it.effect("a failed run is a failed case with its error; a failing scorer scores 0 with its reason", () =>
    Effect.gen(function*() {
      const boom = Scorer.make("boom", () => Effect.fail(new Error("no")))
      const report = yield* Eval.run(agent, Dataset.make([{ input: "tool x", expected: "echoed tool x" }]), [Scorer.exactMatch(), boom], {
        freshMemory: false
      }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, model)))
      assert.deepStrictEqual(report.cases[0]!.scores.boom, { value: 0, pass: false, reason: "scorer failed: no" })
      const broken = Agent.make({ name: "fixed", tools: [echo], planner: LlmPlanner.make(), budget: { maxTurns: 1 } })
      const failed = yield* Eval.run(broken, Dataset.make([{ input: "tool y", expected: "echoed tool y" }]), [Scorer.exactMatch()])
      assert.strictEqual(failed.cases[0]!.error?._tag, "BudgetExceeded")
      assert.isFalse(failed.cases[0]!.pass)
      assert.strictEqual(failed.totals.errors, 1)
      assert.isAbove(failed.cases[0]!.inputTokens, 0)
    }).pipe(Effect.provide(fixed)))
})

describe("the LLM judge", () => {
  const judgeCalls = { count: 0 }
  const judgeModel = ScriptedModel.layerFunction(({ prompt }) => {
    judgeCalls.count++
    const text = ScriptedModel.lastUserText(prompt)
    const good = /Answer: The answer is 5\./.test(text)
    return ScriptedModel.text(JSON.stringify({ score: good ? 0.9 : 0.2, reason: good ? "correct" : "wrong sum" }))
  })
  const judge = Scorer.judge({ rubric: "Is the sum right?", model: judgeModel })
  const cases = Dataset.make([{ id: "ok", input: "what is 2 + 3?" }, { id: "no", input: "what is 2 + 2?" }])

  it.effect("rubric → score and reason; a judged experiment replays without the judge", () =>
    Effect.gen(function*() {
      const first = yield* Eval.run(assistant, cases, [judge])
      assert.deepStrictEqual(first.cases.map((item) => item.scores.judge), [
        { value: 0.9, pass: true, reason: "correct" },
        { value: 0.2, pass: false, reason: "wrong sum" }
      ])
      assert.strictEqual(judgeCalls.count, 2)
      // Each judgement is a journaled run of its own, linked from its case.
      const journal = yield* Journal.Journal
      const [link] = first.cases[0]!.judges
      assert.strictEqual(link?.scorer, "judge")
      const judgeRun = yield* journal.read(link!.runId)
      assert.deepStrictEqual(judgeRun.map((event) => event._tag), ["RunStarted", "ModelCalled", "RunCompleted"])
      const started = judgeRun[0]!
      assert.match(started._tag === "RunStarted" ? started.input : "", /Is the sum right\?[\s\S]*Input: what is 2 \+ 3\?/)
      assert.deepStrictEqual(started._tag === "RunStarted" ? started.metadata : undefined, {
        evalCase: "ok", judgedRun: first.cases[0]!.runId, scorer: "judge"
      })
      // Again with the judge gone, from the journals: same scores, no judge called, the same judge runs linked.
      const gone = Scorer.judge({ rubric: "Is the sum right?", model: ScriptedModel.layerFunction(() => { throw new Error("no judge") }) })
      const again = yield* Eval.run(assistant, cases, [gone], { earlier: first.cases, replayJudge: true })
      assert.strictEqual(judgeCalls.count, 2)
      assert.deepStrictEqual(again.cases.map((item) => item.scores), first.cases.map((item) => item.scores))
      assert.deepStrictEqual(again.cases.map((item) => item.judges), first.cases.map((item) => item.judges))
      // A changed rubric cannot be answered from the journals: a divergence naming the case and the line.
      const changed = Scorer.judge({ rubric: "Is the sum right and short?", model: judgeModel })
      const diverged = yield* Effect.flip(Eval.run(assistant, cases, [changed], { earlier: first.cases, replayJudge: true, concurrency: 1 }))
      assert.strictEqual(diverged._tag, "JudgeDivergence")
      assert.strictEqual(diverged._tag === "JudgeDivergence" ? diverged.caseId : "", "ok")
      assert.include(diverged.message, `case "ok": judge "judge" was asked another prompt than it recorded`)
      assert.include(diverged.message, `line 2 was "Is the sum right?", is now "Is the sum right and short?"`)
      assert.include(diverged.message, `graphent trace show --db ${link!.runId}`)
      // Without replayJudge, a changed rubric is judged again, live.
      yield* Eval.run(assistant, cases, [changed], { earlier: first.cases })
      assert.strictEqual(judgeCalls.count, 4)
      // A judge that does not answer JSON: a typed JudgeFailed, reported as the case's score.
      const garbled = Scorer.judge({ rubric: "r", model: ScriptedModel.layerFunction(() => ScriptedModel.text("great!")) })
      const bad = yield* garbled.score(cases.cases[0]!, {
        runId: "r", answer: "x", output: "x", error: undefined, tools: [], usage: { turns: 1, steps: 0 }, latencyMs: 1, events: []
      }).pipe(Effect.flip)
      assert.strictEqual(bad._tag, "JudgeFailed")
    }).pipe(Effect.provide(layers)))
})

describe("built-in scorers, on results made by hand", () => {
  const result = (answer: string | undefined, extra?: Partial<Scorer.CaseResult>): Scorer.CaseResult => ({
    runId: "r",
    answer,
    output: answer,
    error: undefined,
    tools: [],
    usage: { turns: 1, steps: 0 },
    latencyMs: 10,
    events: [],
    ...extra
  })
  const one = (line: typeof Dataset.CaseLine.Type) => Dataset.make([line]).cases[0]!
  const score = (scorer: Scorer.Scorer, line: typeof Dataset.CaseLine.Type, made: Scorer.CaseResult) =>
    Effect.runSync(scorer.score(one(line), made))

  it("exact, contains, matches, schema, trajectory, ceilings", () => {
    assert.isTrue(score(Scorer.exactMatch(), { input: "", expected: " a  b " }, result("a b")).pass)
    assert.isFalse(score(Scorer.exactMatch(), { input: "", expected: "A b" }, result("a b")).pass)
    assert.isTrue(score(Scorer.exactMatch({ ignoreCase: true }), { input: "", expected: "A b" }, result("a b")).pass)
    assert.isTrue(score(Scorer.exactMatch(), { input: "", expected: { n: 1 } }, result("x", { output: { n: 1 } })).pass)
    assert.isFalse(score(Scorer.exactMatch(), { input: "", expected: "a" }, result(undefined, { error: { _tag: "Boom", message: "no" } })).pass)
    assert.isTrue(score(Scorer.contains("Answer", { ignoreCase: true }), { input: "" }, result("the answer is 5")).pass)
    assert.isTrue(score(Scorer.contains(), { input: "" }, result("x")).skipped)
    assert.isTrue(score(Scorer.matches(/\d+/g), { input: "" }, result("is 5")).pass)
    assert.isFalse(score(Scorer.matches(/^\d+$/), { input: "" }, result("is 5")).pass)
    const json = Scorer.schema(Schema.Struct({ total: Schema.Number }))
    assert.isTrue(score(json, { input: "" }, result("{\"total\":3}")).pass)
    assert.deepStrictEqual(score(json, { input: "" }, result("total: 3")), { value: 0, pass: false, reason: "the answer is not JSON" })
    assert.isFalse(score(json, { input: "" }, result("{\"total\":\"3\"}")).pass)
    const order = Scorer.trajectory()
    const set = Scorer.trajectory({ order: "set" })
    const calls = result("x", { tools: ["b", "a", "c"] })
    assert.closeTo(score(order, { input: "", tools: ["a", "b", "c"] }, calls).value, 1 / 3, 1e-12)
    assert.strictEqual(score(set, { input: "", tools: ["a", "b", "c"] }, calls).value, 1)
    assert.strictEqual(score(set, { input: "", tools: ["a", "d"] }, calls).value, 1 / 4)
    assert.isTrue(score(order, { input: "", tools: [] }, result("x")).pass)
    assert.isTrue(score(order, { input: "" }, calls).skipped)
    assert.isTrue(score(Scorer.latencyCeiling(10), { input: "" }, result("x")).pass)
    assert.isFalse(score(Scorer.latencyCeiling(9), { input: "" }, result("x")).pass)
    assert.isTrue(score(Scorer.costCeiling(1), { input: "" }, result("x")).skipped)
    assert.isFalse(score(Scorer.costCeiling(1), { input: "" }, result("x", { usage: { turns: 1, steps: 0, cost: 2 } })).pass)
  })
})

describe("Dataset files", () => {
  it.effect("decodes JSON Lines; bad lines are typed errors naming the line, across many spellings", () =>
    Effect.gen(function*() {
      const good = yield* Dataset.parse(`{"input":"a"}\n\n{"id":"x","input":"b","expected":{"n":1},"tags":["t"]}\n`, "c.jsonl")
      assert.deepStrictEqual(good.cases.map((item) => item.id), ["case-1", "x"])
      assert.deepStrictEqual(good.cases[1]!.expected, { n: 1 })
      const bad = [
        "{\"input\":1}",
        "{\"id\":\"\",\"input\":\"a\"}",
        "{\"tags\":\"t\",\"input\":\"a\"}",
        "not json",
        "{\"input\":\"a\"",
        "[]",
        "null",
        "{\"input\":\"a\",\"tools\":[1]}",
        "{\"input\":\"a\",\"source\":{\"journal\":\"x\"}}"
      ]
      for (const [index, line] of bad.entries()) {
        const before = Array.from({ length: index }, (_, n) => JSON.stringify({ id: `ok${n}`, input: "fine" }))
        const error = yield* Dataset.parse([...before, line, "{\"input\":\"after\"}"].join("\n"), "d.jsonl").pipe(Effect.flip)
        assert.strictEqual(error._tag, "DatasetInvalid")
        assert.strictEqual(error.line, index + 1, line)
        assert.strictEqual(error.outcome.exitCode, 2)
      }
      const duplicate = yield* Dataset.parse("{\"id\":\"a\",\"input\":\"x\"}\n{\"id\":\"a\",\"input\":\"y\"}", "e.jsonl").pipe(Effect.flip)
      assert.strictEqual(duplicate.line, 2)
      assert.match(duplicate.message, /line 2: the id "a" is already used/)
      const missing = yield* Dataset.read("/nonexistent/cases.jsonl").pipe(Effect.flip)
      assert.strictEqual(missing.line, 0)
      // render ∘ parse is the identity on the cases.
      const again = yield* Dataset.parse(Dataset.render(good.cases), "c.jsonl")
      assert.deepStrictEqual(again.cases, good.cases)
    }))

  it("thresholds parse from the command line's spellings", () => {
    assert.deepStrictEqual(Eval.parseThreshold("exact=0.8"), { name: "exact", min: 0.8 })
    assert.deepStrictEqual(Eval.parseThreshold("pass >= 1"), { name: "pass", min: 1 })
    assert.deepStrictEqual(Eval.parseThreshold("cost<=0.05"), { name: "cost", max: 0.05 })
    assert.deepStrictEqual(Eval.parseThreshold("latency<=1e3"), { name: "latency", max: 1000 })
    for (const bad of ["exact", "=0.8", "exact=high", "exact<0.8", "a b=1", ""]) assert.isUndefined(Eval.parseThreshold(bad), bad)
  })
})

// The runtime is in context through Testing.layer; keep the import for the types' sake.
void AgentRuntime
