/**
 * The planner decides what an agent does next.
 *
 * Given the state of a run it returns a {@link Decision}: run some steps (one,
 * or many with dependencies — a DAG), answer, or fail. A ReAct-style LLM
 * planner returns one `RunSteps` per model turn (its tool calls, no
 * dependencies) and an `Answer` at the end; a fixed plan returns its whole DAG
 * at once. The decisions are defined in `Decision.ts`, the planner interface
 * and the state it sees beside the agent in `Agent.ts`; both are re-exported
 * here.
 *
 * **Example** (An agent with a fixed plan, and a test planner)
 *
 * ```ts
 * const agent = Agent.make({
 *   name: "greeter",
 *   tools: [greet],
 *   planner: SequencePlanner.plan({ steps: [{ id: "1", tool: "greet", args: { name: "Ada" } }] })
 * })
 * // or, for an agent without a planner of its own:
 * Effect.provide(Planner.layerTest([Planner.runSteps([...]), Planner.answer("done")]))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PlannerFailed, type PlannerShape } from "./Agent.js"
import type { Decision } from "./Decision.js"

/** @since 0.1.0 */
export * from "./Decision.js"
/** @since 0.1.0 */
export {
  PlanInvalid,
  PlannerFailed,
  type PlannerShape,
  type RunAbort,
  type RunContext,
  type RunState,
  type StepOutcome
} from "./Agent.js"

/**
 * The planner used for agents that do not bring their own (an LLM planner is
 * provided this way).
 *
 * **Example** (An agent planned by a model)
 *
 * ```ts
 * const agent = Agent.make({ name: "assistant", tools: [calculator] })
 * const result = yield* AgentRuntime.run(agent, "what is 2 + 3?").pipe(
 *   Effect.provide(LlmPlanner.layer()),
 *   Effect.provide(ScriptedModel.layer([ScriptedModel.toolCall("calculator", { expression: "2 + 3" }), ScriptedModel.text("5")]))
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class Planner extends Context.Service<Planner, PlannerShape>()("graphent/Planner") {}

/**
 * A planner that replays a fixed list of decisions, one per turn; after the
 * last it fails. For tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const scripted = (decisions: ReadonlyArray<Decision>): PlannerShape => ({
  decide: (state) => {
    const next = decisions[state.turn - 1]
    return next === undefined
      ? Effect.fail(new PlannerFailed({ reason: `scripted planner has no decision for turn ${state.turn}` }))
      : Effect.succeed(next)
  }
})

/**
 * A test layer: the {@link Planner} answers from a fixed list of decisions.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (decisions: ReadonlyArray<Decision>): Layer.Layer<Planner> =>
  Layer.succeed(Planner, scripted(decisions))
