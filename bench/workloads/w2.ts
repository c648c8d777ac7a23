/**
 * W2: 1,000 and 10,000 concurrent runs of 5 steps, each step's tool waiting
 * 20 ms (ideal wall ≈ 100 ms); wall time, heap per live run, peak RSS.
 *
 * W2-LLM: the same with the LlmPlanner over a zero-latency scripted model.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Agent, AgentRuntime, JournalMemory, LlmPlanner, LocalRuntime, Planner, ScriptedModel, Tool } from "../../src/index.js"
import type * as Floor from "../floor.js"
import { concurrentRounds, measureConcurrent, runInChild, type StartRuns } from "../harness.js"
import type { Report, Workload } from "../report.js"

type Mode = "run" | "stream"
type PlannerKind = "rules" | "llm"

const steps = 5

/** The agent: one 20 ms `wait` step per turn for five turns; the tool reports each step it enters. */
const agentOf = (onStep: (step: number) => void, planner: PlannerKind) =>
  Agent.make({
    name: "w2",
    tools: [
      Tool.make("wait", {
        description: "Waits 20 ms.",
        parameters: Schema.Struct({ n: Schema.Number }),
        success: Schema.Number,
        handler: ({ n }) =>
          Effect.sync(() => onStep(n)).pipe(Effect.andThen(Effect.sleep("20 millis")), Effect.as(n + 1))
      })
    ],
    planner: planner === "llm" ? LlmPlanner.make({ model: "scripted" }) : {
      decide: (state) =>
        Effect.succeed(
          state.turn <= steps
            ? Planner.runSteps([{ id: `s${state.turn}`, tool: "wait", args: { n: state.turn } }])
            : Planner.answer("done")
        )
    }
  })

const usage = { inputTokens: 1, outputTokens: 1 }

/** A zero-latency model: one `wait` call per response for five turns (read off the prompt's length), then the answer. */
const scriptedModel = ScriptedModel.layerFunction(({ prompt }) => {
  const turn = (prompt.content.length - 2) / 2 + 1
  return turn <= steps
    ? ScriptedModel.toolCalls([{ name: "wait", params: { n: turn }, id: `s${turn}` }], { usage })
    : ScriptedModel.text("done", usage)
})

/**
 * Task (child process): wall time, heap per live run. The journal is in memory
 * and sized to keep every run (the default keeps the last 1,000), so a live
 * run's journaled events count towards its heap.
 */
export const graphent = async (params: { readonly runs: number; readonly mode: Mode; readonly planner: PlannerKind }) => {
  const { mode, planner, runs } = params
  let runtime: ManagedRuntime.ManagedRuntime<AgentRuntime.AgentRuntime, never> | undefined
  const fresh = async (): Promise<StartRuns> => {
    await runtime?.dispose()
    const current = ManagedRuntime.make(
      Layer.merge(LocalRuntime.layer.pipe(Layer.provide(JournalMemory.layer({ maxRuns: runs }))), scriptedModel)
    )
    runtime = current
    return (count, onStep) => {
      const agent = agentOf(onStep, planner)
      const once = mode === "run"
        ? Effect.asVoid(AgentRuntime.run(agent, "go"))
        : Stream.runDrain(AgentRuntime.stream(agent, "go"))
      return current.runPromise(
        Effect.forEach(Array.from({ length: count }), () => once, { concurrency: "unbounded", discard: true })
      )
    }
  }
  const measured = await measureConcurrent(fresh, { runs, ...concurrentRounds(runs), probeStep: 3 })
  await runtime?.dispose()
  return measured
}

type Row = {
  readonly runs: number
  readonly mode: Mode
  readonly graphentWallMs: number
  readonly floorWallMs: number
  readonly ratio: number
  readonly graphentHeapPerRunKb: number
  readonly floorHeapPerRunKb: number
  readonly graphentPeakRssMb: number
  readonly floorPeakRssMb: number
}

const floorModule = new URL("../floor.ts", import.meta.url).href

const measure = (planner: PlannerKind, sizes: ReadonlyArray<number>) => async (): Promise<Report> => {
  const rows: Array<Row> = []
  for (const runs of sizes) {
    const floor = await runInChild<typeof Floor.w2>(floorModule, "w2", { runs })
    for (const mode of ["run", "stream"] as const) {
      const measured = await runInChild<typeof graphent>(import.meta.url, "graphent", { runs, mode, planner })
      rows.push({
        runs,
        mode,
        graphentWallMs: measured.wallMs,
        floorWallMs: floor.wallMs,
        ratio: measured.wallMs / floor.wallMs,
        graphentHeapPerRunKb: measured.heapPerRunKb,
        floorHeapPerRunKb: floor.heapPerRunKb,
        graphentPeakRssMb: measured.peakRssMb,
        floorPeakRssMb: floor.peakRssMb
      })
    }
  }
  return {
    title: "concurrent runs of 5 steps, each tool waiting 20 ms (ideal wall ≈ 100 ms)" +
      (planner === "llm" ? ", LlmPlanner over a zero-latency scripted model" : ""),
    targets: planner === "llm"
      ? "1,000 runs: <= 250 ms wall, <= 30 KB heap per live run"
      : "1,000 runs: <= 200 ms wall, <= 30 KB heap per live run; 10,000 runs: <= 1.5 s wall, <= 500 MB peak RSS",
    columns: [
      { key: "runs", header: "runs", digits: 0 },
      { key: "mode", header: "mode" },
      { key: "graphentWallMs", header: "graphent wall ms", digits: 0 },
      { key: "floorWallMs", header: "floor wall ms", digits: 0 },
      { key: "ratio", header: "ratio", digits: 2 },
      { key: "graphentHeapPerRunKb", header: "graphent KB/live run", digits: 1 },
      { key: "floorHeapPerRunKb", header: "floor KB/live run", digits: 2 },
      { key: "graphentPeakRssMb", header: "graphent peak RSS MB", digits: 0 },
      { key: "floorPeakRssMb", header: "floor peak RSS MB", digits: 0 }
    ],
    rows,
    notes: [
      "journal: in memory, sized to keep every run; heap per live run: heap growth (after full GCs) once every run is in step 3"
    ]
  }
}

export const workload: Workload = { id: "w2", run: measure("rules", [1_000, 10_000]) }

export const workloadLlm: Workload = { id: "w2-llm", run: measure("llm", [1_000]) }
