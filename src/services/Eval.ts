/**
 * Experiments: run an agent on every case of a dataset, score each run, and
 * compare the report with a baseline's.
 *
 * `Eval.run(agent, dataset, scorers, options)` runs the cases (concurrently,
 * each with its own in-memory `Memory`), answers a case's model calls from
 * the recorded run it came from (`case.source`) while the prompt is
 * unchanged — so only what changed calls the model — scores each run, and
 * returns a typed {@link Report}: per case pass/fail, scores, cost, tokens,
 * latency and journal; totals; and, given a baseline report, which cases got
 * better or worse and the cost and latency deltas. {@link check} turns
 * thresholds into a typed failure, so an experiment is a regression test
 * (`it.effect`) or a CI gate (`graphent eval run --threshold`).
 *
 * @since 0.3.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import type { Agent } from "./Agent.js"
import { AgentRuntime, Ids } from "./AgentRuntime.js"
import type { Case, Dataset } from "./Dataset.js"
import type { Recording } from "./Replay.js"
import { ErrorInfo, type RunEvent, type Usage } from "./RunEvent.js"
import type { ModelCalledEvent, PortProvider } from "./RunPorts.js"
import { Journal, type JournalShape } from "./Journal.js"
import { type CaseResult, type JudgeCall, JudgeDivergence, JudgeLog, Score, type Scorer } from "./Scorer.js"
import { Memory } from "./Memory.js"
import * as EmbeddingLocal from "../layers/EmbeddingLocal.js"
import * as MemoryInMemory from "../layers/MemoryInMemory.js"

// ---------------------------------------------------------------------------
// the report
// ---------------------------------------------------------------------------

/** What a case consumed; a report's totals are their sums. */
const consumed = {
  /** The cost of the model calls (0 when no model has a price), answered from a recording or not. */
  cost: Schema.Number,
  /** The cost of the live model calls alone: what the experiment spent (recorded calls cost nothing). */
  spent: Schema.Number,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  /** Model calls made live (they cost money) and answered from the case's recorded run. */
  liveModelCalls: Schema.Number,
  recordedModelCalls: Schema.Number
}

/**
 * A judge run of a case: the scorer, and the id of the run that journals its
 * call (`graphent trace show --db <runId>`).
 *
 * @since 0.3.0
 * @category models
 */
export const JudgeLink = Schema.Struct({ scorer: Schema.String, runId: Schema.String })

/**
 * @since 0.3.0
 * @category models
 */
export type JudgeLink = typeof JudgeLink.Type

/**
 * One case of an experiment: how its run ended and what the scorers said.
 *
 * @since 0.3.0
 * @category models
 */
export const CaseReport = Schema.Struct({
  id: Schema.String,
  input: Schema.String,
  tags: Schema.Array(Schema.String),
  /** Every (not skipped) score passed and the run did not fail. */
  pass: Schema.Boolean,
  runId: Schema.String,
  answer: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(ErrorInfo),
  /** By scorer name. */
  scores: Schema.Record(Schema.String, Score),
  ...consumed,
  latencyMs: Schema.Number,
  /** Where the run's journal was written (`--record-dir`), if it was. */
  journal: Schema.optionalKey(Schema.String),
  /**
   * The judge runs of the case's judge scorers, journaled beside the case's run (a later experiment answers the
   * same judgements from them).
   */
  judges: Schema.Array(JudgeLink)
})

/**
 * @since 0.3.0
 * @category models
 */
export type CaseReport = typeof CaseReport.Type

/**
 * Figures over every case of a report.
 *
 * @since 0.3.0
 * @category models
 */
export const Totals = Schema.Struct({
  cases: Schema.Number,
  passed: Schema.Number,
  failed: Schema.Number,
  /** Runs that ended with an error. */
  errors: Schema.Number,
  /** passed / cases (1 for an empty experiment). */
  passRate: Schema.Number,
  /** Mean value of each scorer over the cases it did not skip. */
  scores: Schema.Record(Schema.String, Schema.Number),
  ...consumed,
  latencyMs: Schema.Struct({ mean: Schema.Number, p50: Schema.Number, p95: Schema.Number, max: Schema.Number })
})

/**
 * @since 0.3.0
 * @category models
 */
export type Totals = typeof Totals.Type

/**
 * A case whose result changed between the baseline and this experiment.
 *
 * @since 0.3.0
 * @category models
 */
export const CaseChange = Schema.Struct({
  id: Schema.String,
  /** Pass and mean score in the baseline, then in this experiment. */
  before: Schema.Struct({ pass: Schema.Boolean, score: Schema.Number }),
  after: Schema.Struct({ pass: Schema.Boolean, score: Schema.Number })
})

/**
 * @since 0.3.0
 * @category models
 */
export type CaseChange = typeof CaseChange.Type

/**
 * This experiment against a baseline, on the cases both ran.
 *
 * @since 0.3.0
 * @category models
 */
export const Comparison = Schema.Struct({
  /** Passed now, failed before; or the same verdict with a higher mean score. */
  better: Schema.Array(CaseChange),
  /** Failed now, passed before; or the same verdict with a lower mean score. */
  worse: Schema.Array(CaseChange),
  unchanged: Schema.Number,
  /** Case ids only this experiment has, and only the baseline has. */
  added: Schema.Array(Schema.String),
  removed: Schema.Array(Schema.String),
  passRateDelta: Schema.Number,
  /** Per scorer: this experiment's mean minus the baseline's, over the shared cases. */
  scoreDeltas: Schema.Record(Schema.String, Schema.Number),
  /** Over the shared cases: total cost now minus before; mean latency now minus before. */
  costDelta: Schema.Number,
  latencyDeltaMs: Schema.Number
})

/**
 * @since 0.3.0
 * @category models
 */
export type Comparison = typeof Comparison.Type

/**
 * The report of an experiment (the JSON `graphent eval run --report` writes).
 *
 * @since 0.3.0
 * @category models
 */
export const Report = Schema.Struct({
  format: Schema.Literal("graphent-eval-report"),
  version: Schema.Literal(1),
  agent: Schema.String,
  dataset: Schema.optionalKey(Schema.String),
  scorers: Schema.Array(Schema.String),
  startedAt: Schema.Number,
  durationMs: Schema.Number,
  cases: Schema.Array(CaseReport),
  totals: Totals,
  comparison: Schema.optionalKey(Comparison)
})

/**
 * @since 0.3.0
 * @category models
 */
export type Report = typeof Report.Type

/**
 * A report file that cannot be read or decoded (a baseline, a resumed report).
 *
 * What to do: point `--baseline` / `--resume` at a report written by `graphent eval run --report` (a JSON
 * file), and delete a `<report>.progress.jsonl` that another experiment wrote.
 *
 * @since 0.3.0
 * @category errors
 */
export class ReportInvalid extends Schema.TaggedError<ReportInvalid>()("ReportInvalid", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `report ${this.file}: ${this.reason}`
  }
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

/**
 * An experiment missed one or more of its thresholds.
 *
 * What to do: read the missed figures in the message: compare with the baseline (`--baseline`) to see which
 * cases got worse and open their journals (`--record-dir`); fix the agent, or lower the threshold if the new
 * figure is intended.
 *
 * @since 0.3.0
 * @category errors
 */
export class ThresholdMissed extends Schema.TaggedError<ThresholdMissed>()("ThresholdMissed", {
  /** One line per missed threshold: `name: actual (wanted ≥ min)`. */
  missed: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `experiment below its thresholds:\n  ${this.missed.join("\n  ")}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * A threshold an experiment must meet: a scorer's mean (or `pass`, the pass
 * rate) at least `min`; or at most `max`: the total `cost`, the mean
 * `latency` in ms, or a scorer's mean.
 *
 * @since 0.3.0
 * @category models
 */
export type Threshold =
  | { readonly name: string; readonly min: number }
  | { readonly name: string; readonly max: number }

/**
 * Reads `name=min` (a scorer's mean, or `pass`), `name>=min` or
 * `name<=max` (`cost`, `latency`, or a scorer). `undefined` when the text is
 * none of these.
 *
 * @since 0.3.0
 * @category thresholds
 */
export const parseThreshold = (text: string): Threshold | undefined => {
  const match = /^([\w.:-]+)\s*(<=|>=|=)\s*(-?\d+(?:\.\d+)?(?:e-?\d+)?)$/i.exec(text.trim())
  if (match === null) return undefined
  const value = Number(match[3])
  return match[2] === "<=" ? { name: match[1]!, max: value } : { name: match[1]!, min: value }
}

/**
 * The figure a threshold is about, if the report has it: for a ceiling
 * (`max`), `cost` is the total cost and `latency` the mean latency (also when
 * a scorer has that name, as the built-in ceilings do); otherwise `pass` is
 * the pass rate and any other name a scorer's mean.
 */
const figureOf = (report: Report, threshold: Threshold): number | undefined => {
  if ("max" in threshold && threshold.name === "cost") return report.totals.cost
  if ("max" in threshold && threshold.name === "latency") return report.totals.latencyMs.mean
  if (threshold.name === "pass") return report.totals.passRate
  return report.totals.scores[threshold.name]
}

/**
 * Fails with {@link ThresholdMissed} when the report misses a threshold (a
 * threshold on a scorer the report does not have is missed).
 *
 * **Example** (A regression test)
 *
 * ```ts
 * it.effect("the assistant still answers", () =>
 *   Effect.gen(function*() {
 *     const dataset = yield* Dataset.read("test/fixtures/assistant-cases.jsonl")
 *     const report = yield* Eval.run(assistant, dataset, [Scorer.exactMatch(), Scorer.trajectory()])
 *     yield* Eval.check(report, [{ name: "exact", min: 0.9 }, { name: "pass", min: 0.9 }])
 *   }).pipe(Effect.provide(layers)))
 * ```
 *
 * @since 0.3.0
 * @category thresholds
 */
export const check = (report: Report, thresholds: ReadonlyArray<Threshold>): Effect.Effect<void, ThresholdMissed> => {
  const missed = thresholds.flatMap((threshold) => {
    const figure = figureOf(report, threshold)
    if (figure === undefined) return [`${threshold.name}: not in the report (its scorers: ${report.scorers.join(", ")})`]
    if ("min" in threshold) return figure >= threshold.min ? [] : [`${threshold.name}: ${round(figure)} (wanted ≥ ${threshold.min})`]
    return figure <= threshold.max ? [] : [`${threshold.name}: ${round(figure)} (wanted ≤ ${threshold.max})`]
  })
  return missed.length === 0 ? Effect.void : Effect.fail(new ThresholdMissed({ missed }))
}

const round = (value: number) => Math.round(value * 1e6) / 1e6

// ---------------------------------------------------------------------------
// figures
// ---------------------------------------------------------------------------

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)
const mean = (values: ReadonlyArray<number>) => values.length === 0 ? 0 : sum(values) / values.length

/** The value at quantile `q` (nearest rank) of sorted values. */
const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!

/**
 * The mean of a case's scores that were not skipped (1 when all were).
 *
 * @since 0.3.0
 * @category figures
 */
export const meanScore = (caseReport: CaseReport): number => {
  const values = Object.values(caseReport.scores).filter((score) => score.skipped !== true).map((score) => score.value)
  return values.length === 0 ? 1 : mean(values)
}

/**
 * The totals of a list of case reports.
 *
 * @since 0.3.0
 * @category figures
 */
export const totals = (cases: ReadonlyArray<CaseReport>): Totals => {
  const passed = cases.filter((item) => item.pass).length
  const names = [...new Set(cases.flatMap((item) => Object.keys(item.scores)))]
  const scores: Record<string, number> = {}
  for (const name of names) {
    const values = cases.flatMap((item) => {
      const score = item.scores[name]
      return score === undefined || score.skipped === true ? [] : [score.value]
    })
    if (values.length > 0) scores[name] = mean(values)
  }
  const latencies = cases.map((item) => item.latencyMs).sort((a, b) => a - b)
  return {
    cases: cases.length,
    passed,
    failed: cases.length - passed,
    errors: cases.filter((item) => item.error !== undefined).length,
    passRate: cases.length === 0 ? 1 : passed / cases.length,
    scores,
    cost: sum(cases.map((item) => item.cost)),
    spent: sum(cases.map((item) => item.spent)),
    inputTokens: sum(cases.map((item) => item.inputTokens)),
    outputTokens: sum(cases.map((item) => item.outputTokens)),
    liveModelCalls: sum(cases.map((item) => item.liveModelCalls)),
    recordedModelCalls: sum(cases.map((item) => item.recordedModelCalls)),
    latencyMs: { mean: mean(latencies), p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), max: latencies.at(-1) ?? 0 }
  }
}

const EPSILON = 1e-9

/**
 * Compares an experiment's cases with a baseline report's, case by case (by id).
 *
 * @since 0.3.0
 * @category figures
 */
export const compare = (cases: ReadonlyArray<CaseReport>, baseline: Report): Comparison => {
  const before = new Map(baseline.cases.map((item) => [item.id, item]))
  const ids = new Set(cases.map((item) => item.id))
  const better: Array<CaseChange> = []
  const worse: Array<CaseChange> = []
  let unchanged = 0
  const shared: Array<readonly [CaseReport, CaseReport]> = []
  for (const now of cases) {
    const then = before.get(now.id)
    if (then === undefined) continue
    shared.push([then, now])
    const change: CaseChange = {
      id: now.id,
      before: { pass: then.pass, score: meanScore(then) },
      after: { pass: now.pass, score: meanScore(now) }
    }
    const up = (now.pass && !then.pass) || (now.pass === then.pass && change.after.score > change.before.score + EPSILON)
    const down = (!now.pass && then.pass) || (now.pass === then.pass && change.after.score < change.before.score - EPSILON)
    if (up) better.push(change)
    else if (down) worse.push(change)
    else unchanged++
  }
  const thenTotals = totals(shared.map(([then]) => then))
  const nowTotals = totals(shared.map(([, now]) => now))
  const scoreDeltas: Record<string, number> = {}
  for (const name of Object.keys(nowTotals.scores)) {
    const old = thenTotals.scores[name]
    if (old !== undefined) scoreDeltas[name] = nowTotals.scores[name]! - old
  }
  return {
    better,
    worse,
    unchanged,
    added: cases.filter((item) => !before.has(item.id)).map((item) => item.id),
    removed: baseline.cases.filter((item) => !ids.has(item.id)).map((item) => item.id),
    passRateDelta: totals(cases).passRate - baseline.totals.passRate,
    scoreDeltas,
    costDelta: nowTotals.cost - thenTotals.cost,
    latencyDeltaMs: nowTotals.latencyMs.mean - thenTotals.latencyMs.mean
  }
}

/**
 * A report from case reports (in dataset order when `order` is given).
 *
 * @since 0.3.0
 * @category figures
 */
export const report = (options: {
  readonly agent: string
  readonly dataset?: string | undefined
  readonly scorers: ReadonlyArray<string>
  readonly startedAt: number
  readonly durationMs: number
  readonly cases: ReadonlyArray<CaseReport>
  readonly baseline?: Report | undefined
}): Report => ({
  format: "graphent-eval-report",
  version: 1,
  agent: options.agent,
  ...(options.dataset === undefined ? {} : { dataset: options.dataset }),
  scorers: options.scorers,
  startedAt: options.startedAt,
  durationMs: options.durationMs,
  cases: options.cases,
  totals: totals(options.cases),
  ...(options.baseline === undefined ? {} : { comparison: compare(options.cases, options.baseline) })
})

const decodeReport = Schema.decodeUnknownExit(Schema.fromJsonString(Report))

/**
 * Decodes a report (the text of a `--report` file).
 *
 * @since 0.3.0
 * @category decoding
 */
export const parseReport = (text: string, file = "<report>"): Effect.Effect<Report, ReportInvalid> =>
  Effect.suspend(() => {
    const decoded = decodeReport(text)
    return decoded._tag === "Success"
      ? Effect.succeed(decoded.value)
      : Effect.fail(new ReportInvalid({ file, reason: String(decoded.cause).slice(0, 500) }))
  })

// ---------------------------------------------------------------------------
// running
// ---------------------------------------------------------------------------

/**
 * Options of {@link run}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options<E = never, R = never> {
  /** Cases run at once (default 4). */
  readonly concurrency?: number | undefined
  /**
   * The recorded run of a case, whose model calls answer the new run's while
   * they are asked the same prompt (from the first call that differs, every
   * call is live). Default: none, every call is live.
   */
  readonly recording?: ((testCase: Case) => Effect.Effect<Recording | undefined, E, R>) | undefined
  /** Keeps a case's journal (e.g. writes it to a file) and returns its link for the report. */
  readonly record?: ((testCase: Case, events: ReadonlyArray<RunEvent>) => Effect.Effect<string, E, R>) | undefined
  /** Cases already done (a resumed experiment): reported as they are, not run again. */
  readonly done?: ReadonlyArray<CaseReport> | undefined
  /**
   * Cases of earlier experiments (a baseline's, a resumed report's): a judge asked the same prompt as their
   * judge journal recorded for the case (`CaseReport.judges`, read from the `Journal` in context) is answered
   * from it, with no model call.
   */
  readonly earlier?: ReadonlyArray<CaseReport> | undefined
  /**
   * Never call a judge: every judgement is answered from the `earlier` cases' judge journals, and one asked
   * another prompt (the rubric or the answer changed) fails the experiment with {@link JudgeDivergence}.
   */
  readonly replayJudge?: boolean | undefined
  /** The report to compare with. */
  readonly baseline?: Report | undefined
  /** Called when a case finishes (progress, persistence): its report, how many are done, of how many. */
  readonly onCase?: ((caseReport: CaseReport, done: number, total: number) => Effect.Effect<void, E, R>) | undefined
  /**
   * A fresh in-memory `Memory` for each case (default true), so cases cannot
   * see each other's notes or history; false: the runs share the `Memory` in
   * context.
   */
  readonly freshMemory?: boolean | undefined
  /** Facts recorded in each run's `RunStarted` (the case's id is added as `evalCase`). */
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/** The ports of a case's run: every journaled event collected; recorded model calls answered while the prompt is the same. */
const casePorts = (recording: Recording | undefined) => {
  const events: Array<RunEvent> = []
  let runId = ""
  let live = 0
  let recorded = 0
  let spent = 0
  let diverged = recording === undefined
  const provider: PortProvider = {
    provide: (ports) => ({
      ...ports,
      journal: (event) => {
        if (event._tag === "RunStarted") runId = event.runId
        return Effect.tap(ports.journal(event), (journaled) => Effect.sync(() => void events.push(journaled ?? event)))
      },
      model: (call, request, made) => {
        const answer = diverged ? undefined : recording!.modelCalls.get(call)?.event
        if (answer !== undefined && JSON.stringify(answer.request) === JSON.stringify(request)) {
          recorded++
          const event: ModelCalledEvent = { ...answer, runId, at: ports.now() }
          return Effect.succeed(event)
        }
        // From the first call the recording does not answer, the conversation is new: every later call is live.
        diverged = true
        live++
        return Effect.tap(ports.model(call, request, made), (event) => Effect.sync(() => void (spent += event.cost ?? 0)))
      }
    })
  }
  return { provider, events, counts: () => ({ live, recorded, spent }) }
}

/** A new, empty in-memory `Memory` (the local embedding model is stateless, its layer shared). */
const freshMemoryOf = MemoryInMemory.make.pipe(Effect.provide(EmbeddingLocal.layer))

const zeroUsage: Usage = { turns: 0, steps: 0 }

const errorInfo = (error: unknown): ErrorInfo => {
  if (typeof error === "object" && error !== null && "_tag" in error) {
    return { _tag: String((error as { _tag: unknown })._tag), message: error instanceof Error ? error.message : String(error) }
  }
  return { _tag: "Error", message: error instanceof Error ? error.message : String(error) }
}

/** What the collected events say about a run that failed (usage from its `RunFailed`). */
const usageOfEvents = (events: ReadonlyArray<RunEvent>): Usage => {
  for (let index = events.length - 1; index >= 0; index--) {
    const event = events[index]!
    if (event._tag === "RunFailed" || event._tag === "RunCompleted" || event._tag === "RunInterrupted") return event.usage
  }
  return zeroUsage
}

/** The journal of a judge call: a run of agent `judge:<scorer>` with one model call, linked to the case's run. */
const judgeEvents = (runId: string, testCase: Case, caseRunId: string, call: JudgeCall, at: number): ReadonlyArray<RunEvent> => {
  const tokens = { inputTokens: call.inputTokens, outputTokens: call.outputTokens }
  return [
    {
      _tag: "RunStarted",
      runId,
      traceId: crypto.randomUUID().replace(/-/g, ""),
      agent: `judge:${call.scorer}`,
      input: call.prompt,
      metadata: { evalCase: testCase.id, judgedRun: caseRunId, scorer: call.scorer },
      at
    },
    {
      _tag: "ModelCalled",
      runId,
      turn: 1,
      call: 1,
      model: "judge",
      request: { prefix: 0, messages: [{ role: "user", content: call.prompt }], tools: [] },
      response: { text: call.text, toolCalls: [], finishReason: "stop", usage: tokens },
      durationMs: call.durationMs,
      at
    },
    { _tag: "RunCompleted", runId, answer: call.text, usage: { turns: 1, steps: 0, modelCalls: 1, ...tokens }, durationMs: call.durationMs, at }
  ]
}

/** The judge call that a judge run of `scorer` journaled, if `events` are one. */
const judgeCallOf = (scorer: string, events: ReadonlyArray<RunEvent>): JudgeCall | undefined => {
  const started = events.find((event) => event._tag === "RunStarted")
  const called = events.find((event) => event._tag === "ModelCalled")
  if (started?._tag !== "RunStarted" || called?._tag !== "ModelCalled" || started.agent !== `judge:${scorer}`) return undefined
  return {
    scorer,
    prompt: started.input,
    text: called.response.text,
    inputTokens: called.response.usage.inputTokens,
    outputTokens: called.response.usage.outputTokens,
    durationMs: called.durationMs
  }
}

/** Where two prompts first differ, line by line. */
const firstDifference = (recorded: string, asked: string): string => {
  const before = recorded.split("\n")
  const now = asked.split("\n")
  let line = 0
  while (line < Math.max(before.length, now.length) && before[line] === now[line]) line++
  return `line ${line + 1} was ${JSON.stringify(before[line] ?? "")}, is now ${JSON.stringify(now[line] ?? "")}`
}

/**
 * A case's judge log: answers from the judge runs that earlier experiments journaled for the case (`links`),
 * and journals each new judgement as a judge run of its own; `kept` are the case's judge runs, old and new.
 */
const judgeLogOf = (
  journal: JournalShape | undefined,
  testCase: Case,
  caseRunId: string,
  links: ReadonlyArray<JudgeLink>,
  replayJudge: boolean,
  newRunId: () => string
) => {
  const kept: Array<JudgeLink> = []
  const recordedIn = new Map<JudgeCall, string>()
  const log: typeof JudgeLog.Service = {
    recorded: (scorer, prompt) =>
      Effect.gen(function*() {
        const link = links.find((item) => item.scorer === scorer)
        const events = link === undefined || journal === undefined ? [] : yield* Effect.orElseSucceed(journal.read(link.runId), () => [])
        const call = judgeCallOf(scorer, events)
        if (call !== undefined && call.prompt === prompt) {
          recordedIn.set(call, link!.runId)
          return call
        }
        if (!replayJudge) return undefined
        return yield* new JudgeDivergence({
          caseId: testCase.id,
          scorer,
          ...(link === undefined ? {} : { runId: link.runId }),
          reason: call === undefined
            ? "has no journal of an earlier judgement of this case to answer from"
            : `was asked another prompt than it recorded (the rubric or the answer changed): ${firstDifference(call.prompt, prompt)}`
        })
      }),
    keep: (call) =>
      Effect.gen(function*() {
        const recorded = recordedIn.get(call)
        if (recorded !== undefined) return void kept.push({ scorer: call.scorer, runId: recorded })
        if (journal === undefined) return
        const runId = newRunId()
        const at = yield* Clock.currentTimeMillis
        for (const event of judgeEvents(runId, testCase, caseRunId, call, at)) yield* journal.append(event)
        kept.push({ scorer: call.scorer, runId })
      }).pipe(Effect.catch((error) => Effect.logWarning(`the judgement of case ${testCase.id} is not journaled: ${error.message}`)))
  }
  return { log, kept }
}

/**
 * Runs an experiment: `agent` on every case of `dataset` (at most
 * `concurrency` at once, each with its own in-memory `Memory` unless
 * `freshMemory: false`), every scorer on each run, and returns the
 * {@link Report}. A run that fails is a failed case (its error in the
 * report), not a failed experiment; a scorer that fails scores 0 with its
 * error as the reason. Interrupting the experiment interrupts the running
 * cases; `onCase` has seen every finished one (a resumed experiment passes
 * them back as `done`).
 *
 * **Example** (An experiment on the scripted model)
 *
 * ```ts
 * const report = yield* Eval.run(assistant, dataset, [Scorer.exactMatch(), Scorer.trajectory()], { concurrency: 8 })
 * console.log(report.totals.passRate, report.totals.scores)
 * ```
 *
 * @since 0.3.0
 * @category running
 */
export const run = <RA, O, SE = never, SR = never, E = never, R = never>(
  agent: Agent<RA, O>,
  dataset: Dataset,
  scorers: ReadonlyArray<Scorer<SE, SR>>,
  options?: Options<E, R>
): Effect.Effect<Report, E | JudgeDivergence, RA | SR | R | AgentRuntime> =>
  Effect.gen(function*() {
    const runtime = yield* AgentRuntime
    const judgeJournal = Option.getOrUndefined(yield* Effect.serviceOption(Journal))
    const ids = yield* Ids
    const startedAt = Date.now()
    const done = new Map((options?.done ?? []).map((item) => [item.id, item]))
    // The judge runs of each case in earlier experiments (the first report that has a scorer's wins).
    const judgedBefore = new Map<string, Array<JudgeLink>>()
    for (const item of options?.earlier ?? []) {
      const links = judgedBefore.get(item.id) ?? []
      for (const link of item.judges) if (!links.some((known) => known.scorer === link.scorer)) links.push(link)
      judgedBefore.set(item.id, links)
    }
    const total = dataset.cases.length
    let finished = [...done.keys()].filter((id) => dataset.cases.some((item) => item.id === id)).length
    const freshMemory = options?.freshMemory ?? true

    const runCase = (testCase: Case): Effect.Effect<CaseReport, E | JudgeDivergence, RA | SR | R> =>
      Effect.gen(function*() {
        const recording = options?.recording === undefined ? undefined : yield* options.recording(testCase)
        const ports = casePorts(recording)
        const started = Date.now()
        const exit = yield* Effect.exit(
          runtime.run(agent, testCase.input, {
            threadId: testCase.thread,
            replay: ports.provider,
            metadata: { ...options?.metadata, evalCase: testCase.id }
          })
        )
        const latencyMs = exit._tag === "Success" ? exit.value.durationMs : Date.now() - started
        const error = exit._tag === "Success" ? undefined : errorInfo(exit.cause.reasons.find((r) => r._tag === "Fail")?.error ?? "the run died")
        const events = ports.events
        const usage = exit._tag === "Success" ? exit.value.usage : usageOfEvents(events)
        const result: CaseResult = {
          runId: exit._tag === "Success" ? exit.value.runId : (events[0]?.runId ?? ""),
          answer: exit._tag === "Success" ? exit.value.answer : undefined,
          output: exit._tag === "Success" ? exit.value.output : undefined,
          error,
          tools: events.flatMap((event) => event._tag === "StepStarted" ? [event.tool] : []),
          usage,
          latencyMs,
          events
        }
        const judges = judgeLogOf(
          judgeJournal,
          testCase,
          result.runId,
          judgedBefore.get(testCase.id) ?? [],
          options?.replayJudge === true,
          ids.runId
        )
        const scores: Record<string, Score> = {}
        for (const scorer of scorers) {
          scores[scorer.name] = yield* scorer.score(testCase, result).pipe(
            Effect.provideService(JudgeLog, judges.log),
            // A judgement that cannot be replayed stops the experiment; any other scorer failure scores 0.
            Effect.catch((failure: unknown) =>
              failure instanceof JudgeDivergence
                ? Effect.fail(failure)
                : Effect.succeed<Score>({ value: 0, pass: false, reason: `scorer failed: ${errorInfo(failure).message}` })
            )
          )
        }
        const journal = options?.record === undefined ? undefined : yield* options.record(testCase, events)
        const counts = ports.counts()
        return {
          id: testCase.id,
          input: testCase.input,
          tags: testCase.tags ?? [],
          pass: error === undefined && Object.values(scores).every((score) => score.pass),
          runId: result.runId,
          ...(result.answer === undefined ? {} : { answer: result.answer }),
          ...(error === undefined ? {} : { error }),
          scores,
          cost: usage.cost ?? 0,
          spent: counts.spent,
          inputTokens: usage.inputTokens ?? 0,
          outputTokens: usage.outputTokens ?? 0,
          liveModelCalls: counts.live,
          recordedModelCalls: counts.recorded,
          latencyMs,
          ...(journal === undefined ? {} : { journal }),
          judges: judges.kept
        }
      }).pipe(
        (effect) => freshMemory ? Effect.provideServiceEffect(effect, Memory, freshMemoryOf) : effect,
        Effect.tap((caseReport) =>
          options?.onCase === undefined ? Effect.void : Effect.suspend(() => options.onCase!(caseReport, ++finished, total))
        )
      ) as Effect.Effect<CaseReport, E | JudgeDivergence, RA | SR | R>

    const cases = yield* Effect.forEach(
      dataset.cases,
      (testCase) => {
        const earlier = done.get(testCase.id)
        return earlier === undefined ? runCase(testCase) : Effect.succeed(earlier)
      },
      { concurrency: options?.concurrency ?? 4 }
    )
    return report({
      agent: agent.name,
      dataset: dataset.file,
      scorers: scorers.map((scorer) => scorer.name),
      startedAt,
      durationMs: Date.now() - startedAt,
      cases,
      baseline: options?.baseline
    })
  })

