/**
 * Scorers: how an experiment (`Eval.run`) judges one case's run.
 *
 * A scorer is a name and a function from the case and the run's result to a
 * {@link Score} — a value in [0, 1], whether it passes, and why. Built-ins:
 * {@link exactMatch}, {@link schema}, {@link contains}, {@link matches},
 * {@link trajectory}, {@link costCeiling}, {@link latencyCeiling} and the
 * LLM-as-judge {@link judge}, whose calls are journaled (a judge run per
 * case and judge, linked from the report) so that a judged experiment
 * replays without the judge.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Errors from "./Errors.js"
import type { Case } from "./Dataset.js"
import type { ErrorInfo, RunEvent, Usage } from "./RunEvent.js"

/**
 * A scorer's verdict on one case. `skipped` scores (the case has nothing to
 * compare with) count neither for nor against it.
 *
 * @since 0.3.0
 * @category models
 */
export const Score = Schema.Struct({
  /** From 0 (worst) to 1 (best). */
  value: Schema.Number,
  pass: Schema.Boolean,
  reason: Schema.optionalKey(Schema.String),
  skipped: Schema.optionalKey(Schema.Boolean)
})

/**
 * @since 0.3.0
 * @category models
 */
export type Score = typeof Score.Type

/**
 * What a scorer sees of a case's run.
 *
 * @since 0.3.0
 * @category models
 */
export interface CaseResult {
  readonly runId: string
  /** The final answer; `undefined` when the run failed. */
  readonly answer: string | undefined
  /** The answer decoded with the agent's output Schema (the answer itself without one). */
  readonly output: unknown
  /** Why the run failed, if it did. */
  readonly error: ErrorInfo | undefined
  /** The tools called, in the order the calls started. */
  readonly tools: ReadonlyArray<string>
  readonly usage: Usage
  /** Wall time of the run, in milliseconds. */
  readonly latencyMs: number
  /** The run's events, as journaled. */
  readonly events: ReadonlyArray<RunEvent>
}

/**
 * A named scorer. `E` and `R` are what its function may fail with and needs.
 *
 * @since 0.3.0
 * @category models
 */
export interface Scorer<E = never, R = never> {
  readonly name: string
  readonly score: (testCase: Case, result: CaseResult) => Effect.Effect<Score, E, R>
}

/**
 * A scorer from a name and a function.
 *
 * **Example** (Short answers)
 *
 * ```ts
 * const short = Scorer.make("short", (_case, result) =>
 *   Effect.succeed(Scorer.verdict((result.answer ?? "").length <= 80, "at most 80 characters")))
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = <E = never, R = never>(
  name: string,
  score: (testCase: Case, result: CaseResult) => Effect.Effect<Score, E, R>
): Scorer<E, R> => ({ name, score })

/**
 * A pass/fail score: 1 or 0, with a reason.
 *
 * @since 0.3.0
 * @category constructors
 */
export const verdict = (pass: boolean, reason?: string): Score =>
  reason === undefined ? { value: pass ? 1 : 0, pass } : { value: pass ? 1 : 0, pass, reason }

/**
 * The score of a case the scorer has nothing to compare with.
 *
 * @since 0.3.0
 * @category constructors
 */
export const skip = (reason: string): Score => ({ value: 0, pass: true, reason, skipped: true })

const failedRun = (result: CaseResult): Score =>
  verdict(false, `the run failed: ${result.error?._tag ?? "error"}: ${result.error?.message ?? ""}`)

const normalize = (text: string, ignoreCase: boolean) => {
  const trimmed = text.trim().replace(/\s+/g, " ")
  return ignoreCase ? trimmed.toLowerCase() : trimmed
}

/**
 * The answer equals the case's `expected` answer (whitespace collapsed;
 * `ignoreCase` optional); an `expected` that is not a string is compared,
 * as JSON, with the agent's output.
 *
 * @since 0.3.0
 * @category scorers
 */
export const exactMatch = (options?: { readonly ignoreCase?: boolean | undefined; readonly name?: string | undefined }): Scorer =>
  make(options?.name ?? "exact", (testCase, result) =>
    Effect.sync(() => {
      if (!("expected" in testCase)) return skip("the case has no expected answer")
      if (result.error !== undefined) return failedRun(result)
      const expected = testCase.expected
      if (typeof expected !== "string") {
        const same = JSON.stringify(expected) === JSON.stringify(result.output)
        return verdict(same, same ? undefined : `output ${JSON.stringify(result.output)} ≠ expected ${JSON.stringify(expected)}`)
      }
      const ignoreCase = options?.ignoreCase ?? false
      const same = normalize(result.answer ?? "", ignoreCase) === normalize(expected, ignoreCase)
      return verdict(same, same ? undefined : `answer ${JSON.stringify(result.answer)} ≠ expected ${JSON.stringify(expected)}`)
    }))

/**
 * The answer is JSON that decodes with `schema` (the agent's output Schema
 * or any other).
 *
 * @since 0.3.0
 * @category scorers
 */
export const schema = <S extends Schema.Top>(
  target: S & { readonly DecodingServices: never },
  options?: { readonly name?: string | undefined }
): Scorer => {
  const decode = Schema.decodeUnknownExit(target)
  return make(options?.name ?? "schema", (_case, result) =>
    Effect.sync(() => {
      if (result.error !== undefined) return failedRun(result)
      let json: unknown
      try {
        json = JSON.parse(result.answer ?? "")
      } catch {
        return verdict(false, "the answer is not JSON")
      }
      const decoded = decode(json)
      return decoded._tag === "Success" ? verdict(true) : verdict(false, String(decoded.cause).slice(0, 300))
    }))
}

/**
 * The answer contains `text` (default: the case's `expected` answer, when it
 * is a string).
 *
 * @since 0.3.0
 * @category scorers
 */
export const contains = (
  text?: string | undefined,
  options?: { readonly ignoreCase?: boolean | undefined; readonly name?: string | undefined }
): Scorer =>
  make(options?.name ?? "contains", (testCase, result) =>
    Effect.sync(() => {
      const needle = text ?? (typeof testCase.expected === "string" ? testCase.expected : undefined)
      if (needle === undefined) return skip("no text to look for (the case's expected answer is not a string)")
      if (result.error !== undefined) return failedRun(result)
      const ignoreCase = options?.ignoreCase ?? false
      const found = normalize(result.answer ?? "", ignoreCase).includes(normalize(needle, ignoreCase))
      return verdict(found, found ? undefined : `the answer does not contain ${JSON.stringify(needle)}`)
    }))

/**
 * The answer matches `pattern`.
 *
 * @since 0.3.0
 * @category scorers
 */
export const matches = (pattern: RegExp, options?: { readonly name?: string | undefined }): Scorer =>
  make(options?.name ?? "matches", (_case, result) =>
    Effect.sync(() => {
      if (result.error !== undefined) return failedRun(result)
      const found = new RegExp(pattern.source, pattern.flags.replace("g", "")).test(result.answer ?? "")
      return verdict(found, found ? undefined : `the answer does not match ${String(pattern)}`)
    }))

/**
 * The tools the run called compared with the case's reference `tools`:
 * `order: "exact"` (default) wants the same tools in the same order (value:
 * the share of positions that agree); `"set"` the same set of tools (value:
 * their Jaccard similarity).
 *
 * @since 0.3.0
 * @category scorers
 */
export const trajectory = (options?: { readonly order?: "exact" | "set" | undefined; readonly name?: string | undefined }): Scorer => {
  const order = options?.order ?? "exact"
  return make(options?.name ?? (order === "exact" ? "trajectory" : "trajectory-set"), (testCase, result) =>
    Effect.sync(() => {
      const expected = testCase.tools
      if (expected === undefined) return skip("the case has no reference tools")
      const actual = result.tools
      const describe = () => `called [${actual.join(", ")}], expected [${expected.join(", ")}]`
      if (order === "exact") {
        const length = Math.max(expected.length, actual.length)
        if (length === 0) return verdict(true)
        let same = 0
        for (let index = 0; index < length; index++) if (expected[index] === actual[index]) same++
        return { value: same / length, pass: same === length, ...(same === length ? {} : { reason: describe() }) }
      }
      const a = new Set(actual)
      const e = new Set(expected)
      const union = new Set([...a, ...e])
      if (union.size === 0) return verdict(true)
      const common = [...a].filter((tool) => e.has(tool)).length
      const pass = common === union.size
      return { value: common / union.size, pass, ...(pass ? {} : { reason: describe() }) }
    }))
}

/**
 * The run's cost (`usage.cost`, from the price table) is at most `max`.
 * Skipped when the run has no cost (no model of it has a price).
 *
 * @since 0.3.0
 * @category scorers
 */
export const costCeiling = (max: number, options?: { readonly name?: string | undefined }): Scorer =>
  make(options?.name ?? "cost", (_case, result) =>
    Effect.sync(() => {
      const cost = result.usage.cost
      if (cost === undefined) return skip("the run has no cost (no price for its models)")
      return verdict(cost <= max, `cost ${cost} (ceiling ${max})`)
    }))

/**
 * The run took at most `maxMs` milliseconds.
 *
 * @since 0.3.0
 * @category scorers
 */
export const latencyCeiling = (maxMs: number, options?: { readonly name?: string | undefined }): Scorer =>
  make(options?.name ?? "latency", (_case, result) =>
    Effect.sync(() => verdict(result.latencyMs <= maxMs, `${result.latencyMs} ms (ceiling ${maxMs} ms)`)))

// ---------------------------------------------------------------------------
// LLM as judge
// ---------------------------------------------------------------------------

/**
 * One call of a judge: the prompt it was sent and what it answered. `Eval.run`
 * journals it as a run of its own (`RunStarted` of agent `judge:<scorer>`, a
 * `ModelCalled`, `RunCompleted`), linked from the case's report
 * (`CaseReport.judges`); a later experiment answers the same prompt from that
 * journal with no model call.
 *
 * @since 0.3.0
 * @category models
 */
export const JudgeCall = Schema.Struct({
  scorer: Schema.String,
  /** The full prompt sent to the judge: what a recorded answer is matched by. */
  prompt: Schema.String,
  /** The judge's raw answer (the verdict is read from it). */
  text: Schema.String,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  durationMs: Schema.Number
})

/**
 * @since 0.3.0
 * @category models
 */
export type JudgeCall = typeof JudgeCall.Type

/**
 * A judgement could not be answered from the judge's journal while the judge
 * may not be called (`Eval.run`'s `replayJudge`, `graphent eval run
 * --replay-judge`): the judge was asked another prompt than it recorded for
 * the case (the rubric or the answer changed), or it recorded none.
 *
 * What to do: open the judge's journal (`graphent trace show --db <runId>`) and compare its prompt with the rubric;
 * if the change is intended, run the experiment with the judge available (without `--replay-judge`) so that
 * the case is judged again.
 *
 * @since 0.3.0
 * @category errors
 */
export class JudgeDivergence extends Schema.TaggedError<JudgeDivergence>()("JudgeDivergence", {
  /** The case whose judgement diverged. */
  caseId: Schema.String,
  scorer: Schema.String,
  /** The judge run that was recorded for the case, if any. */
  runId: Schema.optionalKey(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `case "${this.caseId}": judge "${this.scorer}" ${this.reason}` +
      (this.runId === undefined ? "" : ` (its journal: graphent trace show --db ${this.runId})`)
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * Where a judge's calls go: set for each case by `Eval.run`, which answers
 * from the case's earlier judge journals and journals each call; outside an
 * experiment, every judgement calls the model and is kept nowhere.
 *
 * @since 0.3.0
 * @category services
 */
export const JudgeLog = Context.Reference<{
  /** The recorded judgement of this prompt by this scorer for the case, if any (or a divergence, replaying). */
  readonly recorded: (scorer: string, prompt: string) => Effect.Effect<JudgeCall | undefined, JudgeDivergence>
  /** Keeps a judgement (recorded or made): journaled and linked from the case's report. */
  readonly keep: (call: JudgeCall) => Effect.Effect<void>
}>("graphent/Scorer/JudgeLog", {
  defaultValue: () => ({ recorded: () => Effect.succeed(undefined), keep: () => Effect.void })
})

/**
 * The judge's answer could not be used (not JSON with a score in [0, 1]), or
 * its model failed.
 *
 * What to do: make the rubric ask for JSON `{ "score": 0..1, "reason": "…" }` plainly, or use a stronger judge
 * model; a judge whose model failed is retried by the provider's own retries first. The case scores 0 with
 * this reason, the experiment goes on.
 *
 * @since 0.3.0
 * @category errors
 */
export class JudgeFailed extends Schema.TaggedError<JudgeFailed>()("JudgeFailed", {
  scorer: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `judge ${this.scorer}: ${this.reason}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

const Verdict = Schema.Struct({ score: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })), reason: Schema.String })
const decodeVerdict = Schema.decodeUnknownExit(Schema.fromJsonString(Verdict))

/**
 * The prompt a judge is sent for a case: the rubric, the input, the
 * reference (when the case has one) and the answer, and the JSON it must
 * answer with.
 *
 * @since 0.3.0
 * @category scorers
 */
export const judgePrompt = (rubric: string, testCase: Case, result: CaseResult): string =>
  [
    "You grade the answer of an AI agent. Rubric:",
    rubric,
    "",
    `Input: ${testCase.input}`,
    ...("expected" in testCase ? [`Reference answer: ${JSON.stringify(testCase.expected)}`] : []),
    result.error === undefined ? `Answer: ${result.answer ?? ""}` : `The run failed: ${result.error.message}`,
    "",
    "Reply with JSON only: {\"score\": <a number from 0 to 1>, \"reason\": \"<one sentence>\"}"
  ].join("\n")

/**
 * An LLM-as-judge scorer: sends {@link judgePrompt} (the rubric, the case and
 * the answer) to a `LanguageModel` and reads `{"score", "reason"}` back; the
 * case passes at `passAt` (default 0.5). The model is `model` when given,
 * the one in context otherwise. In an experiment each judgement is journaled
 * as a judge run linked from the case; given earlier cases (`Eval.run`'s
 * `earlier`), the same prompt is answered from their judge journals and the
 * model is not called (with `replayJudge`, never: another prompt is a
 * {@link JudgeDivergence}).
 *
 * @since 0.3.0
 * @category scorers
 */
export function judge(options: {
  readonly rubric: string
  readonly name?: string | undefined
  readonly passAt?: number | undefined
  readonly model: Layer.Layer<LanguageModel.LanguageModel>
}): Scorer<JudgeFailed | JudgeDivergence>
export function judge(options: {
  readonly rubric: string
  readonly name?: string | undefined
  readonly passAt?: number | undefined
}): Scorer<JudgeFailed | JudgeDivergence, LanguageModel.LanguageModel>
export function judge(options: {
  readonly rubric: string
  readonly name?: string | undefined
  readonly passAt?: number | undefined
  readonly model?: Layer.Layer<LanguageModel.LanguageModel> | undefined
}): Scorer<JudgeFailed | JudgeDivergence, LanguageModel.LanguageModel> {
  const name = options.name ?? "judge"
  const passAt = options.passAt ?? 0.5
  const ask = (prompt: string): Effect.Effect<JudgeCall, JudgeFailed, LanguageModel.LanguageModel> =>
    LanguageModel.generateText({ prompt }).pipe(
      Effect.timed,
      Effect.mapError((error) => new JudgeFailed({ scorer: name, reason: `the model failed: ${error.message}` })),
      Effect.map(([duration, response]): JudgeCall => ({
        scorer: name,
        prompt,
        text: response.text,
        inputTokens: response.usage.inputTokens.total ?? 0,
        outputTokens: response.usage.outputTokens.total ?? 0,
        durationMs: Duration.toMillis(duration)
      }))
    )
  const verdictOf = (call: JudgeCall): Effect.Effect<Score, JudgeFailed> => {
    const text = call.text.trim().replace(/^```(?:json)?\s*|\s*```$/g, "")
    const decoded = decodeVerdict(text)
    return decoded._tag === "Failure"
      ? Effect.fail(new JudgeFailed({ scorer: name, reason: `not {"score": 0..1, "reason": "..."}: ${text.slice(0, 200)}` }))
      : Effect.succeed({ value: decoded.value.score, pass: decoded.value.score >= passAt, reason: decoded.value.reason })
  }
  const model = options.model
  return make(name, (testCase, result) =>
    Effect.gen(function*() {
      const log = yield* JudgeLog
      const prompt = judgePrompt(options.rubric, testCase, result)
      const call = (yield* log.recorded(name, prompt)) ??
        (yield* (model === undefined ? ask(prompt) : Effect.provide(ask(prompt), model)))
      yield* log.keep(call)
      return yield* verdictOf(call)
    }))
}
