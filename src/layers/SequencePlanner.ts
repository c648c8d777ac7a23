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
import * as Tool from "../services/Tool.js"
import {
  answer as answerDecision,
  type Decision,
  fail,
  handoff as handoffDecision,
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
  /** Instead of answering: hand the run over to another agent once the steps succeeded (see {@link HandoffTo}). */
  readonly handoff?: HandoffTo | undefined
}

/**
 * A handoff at the end of a plan: the agent (declared among the tools with
 * `Agent.handoff`) and its input, from the steps' results (default: the
 * run's input). The agent's answer is the run's answer.
 *
 * @since 0.3.0
 * @category models
 */
export interface HandoffTo {
  readonly agent: string
  readonly input?: AnswerFn | undefined
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
  /** Instead of answering: hand the run over to another agent once the steps succeeded. */
  readonly handoff?: HandoffTo | undefined
}

const asText = (value: unknown): string => typeof value === "string" ? value : JSON.stringify(value) ?? ""

/** The decision after a plan's steps ran. */
const conclude = (
  state: RunState,
  steps: ReadonlyArray<PlanStep>,
  answer: AnswerFn | undefined,
  handoff?: HandoffTo | undefined
): Decision => {
  const results: Record<string, unknown> = {}
  let last: unknown = ""
  for (const step of steps) {
    const outcome = state.outcomes.get(step.id)
    if (outcome === undefined) return fail(`step "${step.id}" has no outcome`)
    if (outcome._tag === "Failed") return fail(outcome.error.message, outcome.id)
    if (outcome._tag === "Skipped") continue
    results[step.id] = outcome.value
    last = outcome.value
  }
  if (handoff !== undefined) {
    return handoffDecision(handoff.agent, handoff.input === undefined ? state.input : handoff.input(results, state.input))
  }
  // Default answer: the output of the last step, in the order the plan lists them.
  return answerDecision(answer === undefined ? asText(last) : answer(results, state.input))
}

/** Runs the plan on the first turn, answers on the next; user callbacks that throw become `PlannerFailed`. */
const decidePlan = (state: RunState, current: () => Plan, origin: string) =>
  Effect.try({
    try: (): Decision => {
      const plan = current()
      return state.turn === 1 && plan.steps.length > 0 ? runSteps(plan.steps) : conclude(state, plan.steps, plan.answer, plan.handoff)
    },
    catch: (cause) => new PlannerFailed({ reason: `${origin} threw: ${Tool.describeFailure(cause)}`, cause })
  })

/**
 * A planner that runs a fixed DAG of steps, then answers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const plan = (current: Plan): PlannerShape => ({
  decide: (state) => decidePlan(state, () => current, "the plan's answer")
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
  decide: (state) =>
    Effect.suspend(() => {
      for (const rule of list) {
        const origin = `the rule for ${String(rule.match)}`
        let match: RegExpExecArray | undefined
        try {
          if (rule.match instanceof RegExp) {
            rule.match.lastIndex = 0
            match = rule.match.exec(state.input) ?? undefined
            if (match === undefined) continue
          } else if (!rule.match(state.input)) {
            continue
          }
        } catch (cause) {
          return Effect.fail(new PlannerFailed({ reason: `${origin} threw: ${Tool.describeFailure(cause)}`, cause }))
        }
        return decidePlan(
          state,
          () => ({ steps: rule.steps(state.input, match), answer: rule.answer, handoff: rule.handoff }),
          origin
        )
      }
      const fallback = options?.fallback
      return fallback === undefined
        ? Effect.fail(new PlannerFailed({ reason: `no rule matches the input ${JSON.stringify(state.input)}` }))
        : decidePlan(state, () => ({ steps: [], answer: () => fallback(state.input) }), "the fallback")
    })
})

/**
 * Provides a rule-based planner as the default {@link Planner}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRules = (list: ReadonlyArray<Rule>): Layer.Layer<Planner> => Layer.succeed(Planner, rules(list))
