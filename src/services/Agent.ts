/**
 * Agents: a name, the tools it may use, how it plans, and its limits.
 *
 * An agent is plain data; {@link AgentRuntime} runs it. The type parameter `R`
 * is what its tools and planner need from the environment (for example
 * `Memory`).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Schedule from "effect/Schedule"
import type { PlannerShape } from "./Planner.js"
import type * as Tool from "./Tool.js"
import * as Tools from "./Tools.js"

/**
 * Limits that end a run with `BudgetExceeded`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Budget {
  /** Tool steps the run may execute (default 500). */
  readonly maxSteps: number
  /** Planner decisions the run may ask for (default 100). */
  readonly maxTurns: number
  /** Wall-clock limit for the whole run (default: none). */
  readonly maxWallTime: Duration.Input | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export const defaultBudget: Budget = { maxSteps: 500, maxTurns: 100, maxWallTime: undefined }

/**
 * An agent definition.
 *
 * @since 0.1.0
 * @category models
 */
export interface Agent<R = never> {
  readonly name: string
  readonly description: string
  /** Instructions for model-driven planners (the system prompt). */
  readonly instructions: string | undefined
  readonly tools: ReadonlyArray<Tool.Any>
  /** The agent's own planner; when absent the `Planner` service is used. */
  readonly planner: PlannerShape<R> | undefined
  readonly budget: Budget
  /** How many independent steps may run at once (default 8). */
  readonly concurrency: number
  /** Time limit per tool attempt for tools that set none. */
  readonly stepTimeout: Duration.Input | undefined
  /** Retry policy for tools that set none. */
  readonly stepRetry: Schedule.Schedule<unknown, unknown> | undefined
  /** The compiled tools. */
  readonly registry: Tools.Registry
  /** Phantom: what the agent's tools and planner require. */
  readonly "~requirements"?: (_: never) => R
}

/**
 * Defines an agent.
 *
 * **Example** (An agent with one tool and a rule-based planner)
 *
 * ```ts
 * const agent = Agent.make({
 *   name: "echo",
 *   tools: [echo],
 *   planner: SequencePlanner.rules([
 *     { match: /.+/, steps: (input) => [{ id: "echo", tool: "echo", args: { text: input } }], answer: (r) => String(r.echo) }
 *   ])
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Tools extends ReadonlyArray<Tool.Any>, RP = never>(options: {
  readonly name: string
  readonly description?: string | undefined
  readonly instructions?: string | undefined
  readonly tools: Tools
  readonly planner?: PlannerShape<RP> | undefined
  readonly budget?: Partial<Budget> | undefined
  readonly concurrency?: number | undefined
  readonly stepTimeout?: Duration.Input | undefined
  readonly stepRetry?: Schedule.Schedule<unknown, unknown> | undefined
}): Agent<Tool.Requirements<Tools> | RP> => {
  const concurrency = options.concurrency ?? 8
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`graphent: agent "${options.name}": concurrency must be a positive integer, got ${concurrency}`)
  }
  return {
    name: options.name,
    description: options.description ?? "",
    instructions: options.instructions,
    tools: options.tools,
    planner: options.planner,
    budget: { ...defaultBudget, ...options.budget },
    concurrency,
    stepTimeout: options.stepTimeout,
    stepRetry: options.stepRetry,
    registry: Tools.compile(options.tools)
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isAgent = (u: unknown): u is Agent<unknown> =>
  typeof u === "object" && u !== null && typeof (u as Agent<unknown>).name === "string" &&
  Array.isArray((u as Agent<unknown>).tools) && typeof (u as Agent<unknown>).registry === "object"
