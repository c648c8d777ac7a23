/**
 * W1: one run of N sequential tool steps with a zero-latency planner, on the
 * in-memory journal; µs per step for N = 10, 50, 200, through `run()` and
 * through `stream()` drained (the event stream on).
 *
 * W1-LLM: the same with the decisions coming from the LlmPlanner over a
 * zero-latency scripted model (one tool call per model response), so the
 * planner's own overhead shows beside the rule planner's and the bare loop's.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Agent, AgentRuntime, LlmPlanner, LocalRuntime, Planner, ScriptedModel, Tool } from "../../src/index.js"
import type * as Floor from "../floor.js"
import { runInChild, timeRuns } from "../harness.js"
import * as BenchTelemetry from "../telemetry.js"
import type { Report, Workload } from "../report.js"

type Mode = "run" | "stream"
type PlannerKind = "rules" | "llm"

const inc = Tool.make("inc", {
  description: "Adds one.",
  parameters: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  handler: ({ n }) => Effect.succeed(n + 1)
})

/** An agent whose planner runs one `inc` step per turn for `n` turns, then answers (also W1-sub's child). */
export const agentOf = (n: number, planner: PlannerKind) =>
  Agent.make({
    name: "w1",
    tools: [inc],
    planner: planner === "llm" ? LlmPlanner.make({ model: "scripted" }) : {
      decide: (state) =>
        Effect.succeed(
          state.turn <= n
            ? Planner.runSteps([{ id: `s${state.turn}`, tool: "inc", args: { n: state.turn } }])
            : Planner.answer("done")
        )
    },
    budget: { maxSteps: n, maxTurns: n + 1 }
  })

const usage = { inputTokens: 1, outputTokens: 1 }

/**
 * A zero-latency model that calls `inc` once per response for `n` turns, then
 * answers. The turn is read off the prompt's length (system, user, then an
 * assistant and a tool message per turn); usage is given, not estimated.
 */
export const scriptedModel = (n: number) =>
  ScriptedModel.layerFunction(({ prompt }) => {
    const turn = (prompt.content.length - 2) / 2 + 1
    return turn <= n
      ? ScriptedModel.toolCalls([{ name: "inc", params: { n: turn }, id: `s${turn}` }], { usage })
      : ScriptedModel.text("done", usage)
  })

/** Task (child process): µs per step of one run of `n` steps. */
export const graphent = async (params: { readonly n: number; readonly mode: Mode; readonly planner: PlannerKind }) => {
  const { mode, n, planner } = params
  const agent = agentOf(n, planner)
  const once = mode === "run"
    ? Effect.asVoid(AgentRuntime.run(agent, "go"))
    : Stream.runDrain(AgentRuntime.stream(agent, "go"))
  const runtime = ManagedRuntime.make(
    Layer.mergeAll(LocalRuntime.layerMemory, await BenchTelemetry.layer(), scriptedModel(n))
  )

  // RunStarted, then per turn DecisionMade + StepStarted + StepSucceeded, the answer's DecisionMade, RunCompleted;
  // with the LLM planner also a ModelCalled per turn, and on stream() a ToolCallDelta per tool call and text deltas.
  const events = await runtime.runPromise(Stream.runCollect(AgentRuntime.stream(agent, "go")))
  const answered = events.at(-1)
  if (answered?._tag !== "RunCompleted" || answered.usage.steps !== n) {
    throw new Error(`W1: the run did not complete ${n} steps: ${JSON.stringify(answered)}`)
  }

  const { batchMsPerRep, msPerRep, reps } = await timeRuns(runtime, once)
  await runtime.dispose()
  return {
    usPerStep: (msPerRep * 1000) / n,
    bestUsPerStep: (Math.min(...batchMsPerRep) * 1000) / n,
    runsPerBatch: reps,
    batchesUsPerStep: batchMsPerRep.map((ms) => (ms * 1000) / n)
  }
}

type Row = {
  readonly n: number
  readonly mode: Mode
  readonly graphentUsPerStep: number
  readonly graphentBestUsPerStep: number
  readonly floorUsPerStep: number
  readonly ratio: number
  readonly graphentPeakRssMb: number
  readonly floorPeakRssMb: number
}

const floorModule = new URL("../floor.ts", import.meta.url).href

const measure = (planner: PlannerKind) => async (): Promise<Report> => {
    const rows: Array<Row> = []
    for (const n of [10, 50, 200]) {
      const floor = await runInChild<typeof Floor.w1>(floorModule, "w1", { n })
      for (const mode of ["run", "stream"] as const) {
        const measured = await runInChild<typeof graphent>(import.meta.url, "graphent", { n, mode, planner })
        rows.push({
          n,
          mode,
          graphentUsPerStep: measured.usPerStep,
          graphentBestUsPerStep: measured.bestUsPerStep,
          floorUsPerStep: floor.usPerStep,
          ratio: measured.usPerStep / floor.usPerStep,
          graphentPeakRssMb: measured.peakRssMb,
          floorPeakRssMb: floor.peakRssMb
        })
      }
    }
    const flatness = (["run", "stream"] as const).map((mode) => {
      const at = (n: number) => rows.find((row) => row.mode === mode && row.n === n)!.graphentUsPerStep
      return `flatness (${mode}): µs/step at N = 200 / at N = 10 = ${(at(200) / at(10)).toFixed(2)}`
    })
    const streamCost = [10, 50, 200].map((n) => {
      const at = (mode: Mode) => rows.find((row) => row.mode === mode && row.n === n)!.graphentUsPerStep
      return `N = ${n}: ${(at("stream") / at("run")).toFixed(2)}`
    }).join(", ")
    return {
      title: (planner === "llm"
        ? "one run of N sequential tool steps, LlmPlanner over a zero-latency scripted model, in-memory journal"
        : "one run of N sequential tool steps, zero-latency planner, in-memory journal") +
        (BenchTelemetry.mode() === "off" ? "" : `; telemetry: ${BenchTelemetry.mode()}`),
      targets: planner === "llm"
        ? "<= 30 µs/step, flat from N = 10 to N = 200; streaming <= 1.5x run"
        : "<= 10 µs/step, flat from N = 10 to N = 200",
      columns: [
        { key: "n", header: "N", digits: 0 },
        { key: "mode", header: "mode" },
        { key: "graphentUsPerStep", header: "graphent µs/step", digits: 2 },
        { key: "graphentBestUsPerStep", header: "(best batch)", digits: 2 },
        { key: "floorUsPerStep", header: "floor µs/step", digits: 3 },
        { key: "ratio", header: "ratio", digits: 0 },
        { key: "graphentPeakRssMb", header: "graphent peak RSS MB", digits: 0 },
        { key: "floorPeakRssMb", header: "floor peak RSS MB", digits: 0 }
      ],
      rows,
      notes: [...flatness, `stream / run: ${streamCost}`]
    }
  }

export const workload: Workload = { id: "w1", run: measure("rules") }

export const workloadLlm: Workload = { id: "w1-llm", run: measure("llm") }
