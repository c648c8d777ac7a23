/**
 * The built-in heuristic planner: no model, just a plan.
 *
 * - {@link plan}: a fixed DAG of steps, run at once (independent steps run
 *   concurrently), then an answer computed from the results.
 * - {@link rules}: patterns on the input, each mapping to such a plan.
 *
 * After the steps ran, the planner answers; if a step failed it gives up with
 * that step's error.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import {
  answer as answerDecision,
  type Decision,
  fail,
  Planner,
  PlannerFailed,
  type PlannerShape,
  type PlanStep,
  type RunState,
  runSteps
} from "../services/Planner.js"

/**
 * The typed outputs of the plan's steps, by step id.
 *
 * @since 0.1.0
 * @category models
 */
export type Results = Readonly<Record<string, unknown>>

/**
 * Computes the answer from the results.
 *
 * @since 0.1.0
 * @category models
 */
export type AnswerFn = (results: Results, input: string) => string

/**
 * A fixed plan.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly steps: ReadonlyArray<PlanStep>
  /** Default: the output of the last step, as text. */
  readonly answer?: AnswerFn | undefined
}

/**
 * A rule: when `match` matches the input, run `steps`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule {
  /** A RegExp (its match groups reach `steps`) or a predicate. */
  readonly match: RegExp | ((input: string) => boolean)
  readonly steps: (input: string, match: RegExpExecArray | undefined) => ReadonlyArray<PlanStep>
  /** Default: the output of the last step, as text. */
  readonly answer?: AnswerFn | undefined
}

const asText = (value: unknown): string => typeof value === "string" ? value : JSON.stringify(value) ?? ""

const lastResult: AnswerFn = (results) => {
  const values = Object.values(results)
  return values.length === 0 ? "" : asText(values[values.length - 1])
}

/**
 * The decision after a plan's steps ran.
 */
const conclude = (state: RunState, steps: ReadonlyArray<PlanStep>, answer: AnswerFn | undefined): Decision => {
  const results: Record<string, unknown> = {}
  for (const step of steps) {
    const outcome = state.outcomes.get(step.id)
    if (outcome === undefined) return fail(`step "${step.id}" has no outcome`)
    if (outcome._tag === "Failed") return fail(outcome.error.message, outcome.id)
    if (outcome._tag === "Skipped") continue
    results[step.id] = outcome.value
  }
  return answerDecision((answer ?? lastResult)(results, state.input))
}

const decidePlan = (state: RunState, current: Plan): Decision =>
  state.turn === 1 && current.steps.length > 0
    ? runSteps(current.steps)
    : conclude(state, current.steps, current.answer)

/**
 * A planner that runs a fixed DAG of steps, then answers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const plan = (current: Plan): PlannerShape => ({
  decide: (state) => Effect.succeed(decidePlan(state, current))
})

/**
 * A planner that picks the first rule whose pattern matches the input.
 * No match: the run fails with `PlannerFailed`, or answers with `fallback`.
 *
 * **Example** (A command interpreter)
 *
 * ```ts
 * SequencePlanner.rules([
 *   { match: /^add (.+)$/i, steps: (_, m) => [{ id: "add", tool: "add", args: { text: m![1] } }] },
 *   { match: /^list$/i, steps: () => [{ id: "list", tool: "list", args: {} }] }
 * ])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const rules = (
  list: ReadonlyArray<Rule>,
  options?: { readonly fallback?: ((input: string) => string) | undefined }
): PlannerShape => ({
  decide: (state) => {
    for (const rule of list) {
      let match: RegExpExecArray | undefined
      if (rule.match instanceof RegExp) {
        rule.match.lastIndex = 0
        match = rule.match.exec(state.input) ?? undefined
        if (match === undefined) continue
      } else if (!rule.match(state.input)) {
        continue
      }
      return Effect.try({
        try: () => decidePlan(state, { steps: rule.steps(state.input, match), answer: rule.answer }),
        catch: (cause) => new PlannerFailed({ reason: `rule for ${String(rule.match)} threw: ${String(cause)}`, cause })
      })
    }
    const fallback = options?.fallback
    return fallback === undefined
      ? Effect.fail(new PlannerFailed({ reason: `no rule matches the input ${JSON.stringify(state.input)}` }))
      : Effect.succeed(answerDecision(fallback(state.input)))
  }
})

/**
 * Provides a rule-based planner as the default {@link Planner}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRules = (list: ReadonlyArray<Rule>): Layer.Layer<Planner> => Layer.succeed(Planner, rules(list))
