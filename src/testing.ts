/**
 * Test layers and helpers: `import { ... } from "graphent/testing"`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as JournalFile from "./layers/JournalFile.js"
import * as JournalMemory from "./layers/JournalMemory.js"
import * as LocalRuntime from "./layers/LocalRuntime.js"
import * as MemoryInMemory from "./layers/MemoryInMemory.js"
import type { AgentRuntime } from "./services/AgentRuntime.js"
import { Ids } from "./services/AgentRuntime.js"
import type { Journal } from "./services/Journal.js"
import type { Agent } from "./services/Agent.js"
import type { RunError } from "./services/AgentRuntime.js"
import type { JournalError } from "./services/Journal.js"
import type { Memory } from "./services/Memory.js"
import type { RunContext } from "./services/Planner.js"
import * as Replay from "./layers/Replay.js"
import * as AuditMemory from "./layers/AuditMemory.js"
import * as ToolGuard from "./layers/ToolGuard.js"
import type * as Audit from "./services/Audit.js"
import * as Policy from "./layers/Policy.js"
import type * as Exit from "effect/Exit"
import type * as Tool from "./services/Tool.js"
import * as Tools from "./services/Tools.js"
import { type Wired, wires } from "./services/Wired.js"

/**
 * Run ids `run-1`, `run-2`, ... instead of random UUIDs, so tests can name them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSequentialIds = (prefix = "run"): Layer.Layer<Wired<"Ids">> =>
  Layer.sync(Ids, () => {
    let next = 0
    return { runId: () => `${prefix}-${++next}` }
  }).pipe(wires("Ids"))

/**
 * Everything an agent needs in a test: the local runtime, an in-memory journal,
 * in-memory memory and sequential run ids.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AgentRuntime | Journal | Memory> = Layer.mergeAll(
  LocalRuntime.layer.pipe(Layer.provideMerge(JournalMemory.layer())),
  MemoryInMemory.layer,
  layerSequentialIds()
)

/** @since 0.1.0 */
export { layerTest as layerPlannerTest, scripted as scriptedPlanner } from "./services/Planner.js"
/** @since 0.1.0 */
export {
  assertUsedUp as assertModelScriptUsedUp,
  calls as modelCalls,
  layer as layerModelScript,
  layerFunction as layerModelFunction
} from "./layers/ScriptedModel.js"

/**
 * A run context that journals nothing: model calls and values go straight to
 * the world. For calling a planner's `decide` directly in a unit test.
 *
 * @since 0.1.0
 * @category planners
 */
export const directRunContext: RunContext = {
  streaming: false,
  callModel: (_model, _request, live) => live,
  journaled: (_key, effect) => effect,
  textDelta: () => {},
  toolCallDelta: () => {}
}
/** @since 0.1.0 */
export { layerTest as layerToolsTest } from "./services/Tools.js"

/**
 * Replays the journal file at `path` against `agent` with no side effects, on
 * a fresh {@link layer}. Succeeds with the replay report when every request of
 * the new run matches the recording; fails with `ReplayDivergence` (naming the
 * event, both requests and their diff) otherwise — a golden test in one line.
 *
 * **Example** (A golden test with @effect/vitest)
 *
 * ```ts
 * import { it } from "@effect/vitest"
 * import * as Testing from "graphent/testing"
 * import agent from "../examples/todo.js"
 *
 * it.effect("todo replays its recorded run", () => Testing.replayJournal(agent, "test/fixtures/todo.jsonl"))
 * ```
 *
 * @since 0.1.0
 * @category replay
 */
export const replayJournal = <R>(
  agent: Agent<R>,
  path: string,
  options?: Replay.Options & { readonly runId?: string | undefined }
): Effect.Effect<Replay.Report, RunError | Replay.ReplayUnavailable | JournalError, Exclude<R, AgentRuntime | Journal | Memory>> =>
  Effect.flatMap(JournalFile.readFile(path), ({ events }) => Replay.replay(agent, events, options)).pipe(
    Effect.provide(Layer.fresh(layer))
  ) as Effect.Effect<Replay.Report, RunError | Replay.ReplayUnavailable | JournalError, Exclude<R, AgentRuntime | Journal | Memory>>

/**
 * Calls one tool the way a run does — through the guarded executor, with an
 * in-memory audit log — and returns the exit and the audit entries: the
 * building block of security tests for custom tools (assert the typed error,
 * the audit entry, and that nothing happened). The policy allows everything
 * unless one is given.
 *
 * **Example** (A path traversal attempt)
 *
 * ```ts
 * it.effect("refuses ../", () =>
 *   Effect.gen(function*() {
 *     const { exit, audit } = yield* Testing.callTool(readFile, { file: "../../etc/passwd" })
 *     assert.isTrue(Exit.isFailure(exit))
 *     assert.strictEqual(audit[0]?.outcome, "failed")
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category security
 */
export const callTool = <R>(
  tool: Tool.Tool<string, any, any, any, R>,
  args: unknown,
  options?: {
    readonly policy?: Policy.PolicyShape | undefined
    readonly context?: Partial<Tool.ToolContext> | undefined
    readonly defaults?: Tools.CallDefaults | undefined
  }
): Effect.Effect<
  { readonly exit: Exit.Exit<Tools.ToolOutput, unknown>; readonly audit: ReadonlyArray<Audit.Entry> },
  never,
  R
> =>
  Effect.suspend(() => {
    const audit = AuditMemory.make()
    const policy = options?.policy ??
      Policy.fromCompiled(Policy.compile({ version: 1, default: "allow", roles: {} }) as Policy.Compiled)
    const executor = ToolGuard.make({ execute: Tools.executeLocal }, policy, audit)
    const context: Tool.ToolContext = {
      runId: "test-run",
      agent: "test",
      stepId: "s1",
      threadId: undefined,
      principal: { id: "tester", roles: [] },
      ...options?.context
    }
    return Effect.map(
      Effect.exit(
        executor.execute(
          Tools.compile([tool]),
          { stepId: context.stepId, tool: tool.name, args },
          context,
          options?.defaults ?? { timeout: undefined, retry: undefined }
        )
      ),
      (exit) => ({ exit, audit: audit.entries })
    )
  }) as Effect.Effect<
    { readonly exit: Exit.Exit<Tools.ToolOutput, unknown>; readonly audit: ReadonlyArray<Audit.Entry> },
    never,
    R
  >
