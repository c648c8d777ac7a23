/**
 * Test layers and helpers: `import { ... } from "graphent/testing"`.
 *
 * @since 0.1.0
 */
import * as Layer from "effect/Layer"
import * as JournalMemory from "./layers/JournalMemory.js"
import * as LocalRuntime from "./layers/LocalRuntime.js"
import * as MemoryInMemory from "./layers/MemoryInMemory.js"
import type { AgentRuntime } from "./services/AgentRuntime.js"
import { Ids } from "./services/AgentRuntime.js"
import type { Journal } from "./services/Journal.js"
import type { Memory } from "./services/Memory.js"

/**
 * Run ids `run-1`, `run-2`, ... instead of random UUIDs, so tests can name them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSequentialIds = (prefix = "run"): Layer.Layer<never> =>
  Layer.sync(Ids, () => {
    let next = 0
    return { runId: () => `${prefix}-${++next}` }
  })

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
export { layerTest as layerToolsTest } from "./services/Tools.js"
