/**
 * The tool executor service.
 *
 * The {@link Tools} service executes a call against an agent's compiled
 * tools (a `Registry`): it decodes the arguments, runs the handler under its
 * timeout and retry policy, and encodes the result. The default executor is
 * `src/layers/ToolExecutor.ts` (its functions and types are re-exported
 * here). Swapping the service swaps execution — a test layer stubs tools,
 * `ToolGuard` checks the policy first; the runtime's ports wrap it for replay.
 *
 * **Example** (Running one tool call with the default executor)
 *
 * ```ts
 * const registry = Tools.compile([add])
 * const output = yield* Tools.Tools.use((tools) =>
 *   tools.execute(registry, { stepId: "1", tool: "add", args: { a: 1, b: 2 } },
 *     { runId: "r", agent: "calc", stepId: "1", threadId: undefined },
 *     { timeout: undefined, retry: undefined }))
 * // output.value === 3, output.result === 3 (encoded with the success Schema)
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import {
  type CallDefaults,
  compile,
  executeLocal,
  type Registry,
  type ToolCall,
  type ToolOutput
} from "../layers/ToolExecutor.js"
import type { ApprovalRequired } from "./Policy.js"
import type { RateLimitUnavailable } from "./RateLimits.js"
import type { ReplayDivergence, ResumeUnsafe } from "./Replay.js"
import * as Tool from "./Tool.js"
import { type Wired, wires } from "./Wired.js"

/** @since 0.1.0 */
export {
  type CallDefaults,
  compile,
  type Entry,
  type ExecutionError,
  executeLocal,
  type Registry,
  type ToolCall,
  type ToolOutput
} from "../layers/ToolExecutor.js"

/**
 * The executor interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolsShape {
  readonly execute: (
    registry: Registry,
    call: ToolCall,
    context: Tool.ToolContext,
    defaults: CallDefaults
    // The requirements of the registry's tools; the runtime provides them.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ) => Effect.Effect<
    ToolOutput,
    Tool.ToolError | ReplayDivergence | ResumeUnsafe | ApprovalRequired | RateLimitUnavailable,
    any
  >
}

/**
 * The executor. Defaults to {@link executeLocal}; provide a layer to replace it
 * (`ToolGuard.layer` checks the policy first, {@link layerTest} stubs tools).
 *
 * **Example** (Stubbing a tool in a test)
 *
 * ```ts
 * const result = yield* AgentRuntime.run(agent, "go").pipe(
 *   Effect.provide(Tools.layerTest({ fetch_page: () => Effect.succeed({ body: "<html/>" }) }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export const Tools = Context.Reference<ToolsShape>("graphent/Tools", {
  defaultValue: () => ({ execute: executeLocal })
})


/**
 * A stub for one tool: receives the raw arguments, returns the typed output.
 *
 * @since 0.1.0
 * @category models
 */
export type Stub = (args: unknown, context: Tool.ToolContext) => Effect.Effect<unknown, unknown>

/**
 * A test layer: the named tools answer with stubs (results still encoded and
 * checked with the tool's success Schema); every other tool runs for real.
 *
 * **Example** (Stubbing a tool that calls the network)
 *
 * ```ts
 * const layer = Tools.layerTest({ fetch_page: () => Effect.succeed({ body: "<html/>" }) })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (stubs: Readonly<Record<string, Stub>>): Layer.Layer<Wired<"Tools">> =>
  Layer.succeed(Tools, {
    execute: (registry, call, context, defaults) => {
      const stub = stubs[call.tool]
      if (stub === undefined) return executeLocal(registry, call, context, defaults)
      const handler = (_params: unknown, ctx: Tool.ToolContext) => stub(call.args, ctx)
      const declared = registry.entries.get(call.tool)?.tool
      const stubbed: Tool.Any = declared === undefined
        ? Tool.make(call.tool, { description: "stub", parameters: Schema.Unknown, success: Schema.Unknown, handler })
        // A stub needs none of the tool's secrets.
        : { ...declared, handler, secrets: [] }
      return executeLocal(compile([stubbed]), call, context, defaults)
    }
  }).pipe(wires("Tools"))
