/**
 * W1-sub: W1 through a sub-agent. A parent whose one step calls a sub-agent
 * (`Agent.asTool`) that runs W1's N sequential `inc` steps as a child run
 * (its own run id and journal section, budgets granted by the parent), on the
 * in-memory journal; µs per step counted over the whole tree (N child steps +
 * the parent's one), beside W1 flat (the same N steps in one run, `run()`).
 * The ratio is the cost of the tree over the flat run: the child's RunStarted
 * and RunCompleted, the parent's turn and step, the grant and usage merge.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { Agent, AgentRuntime, LocalRuntime, Planner } from "../../src/index.js"
import { runInChild, timeRuns } from "../harness.js"
import type { Report, Workload } from "../report.js"
import { agentOf } from "./w1.js"

type Shape = "flat" | "sub"

/** W1's agent: one `inc` step per turn for `n` turns, then an answer. */
const w1Agent = (n: number) => agentOf(n, "rules") as Agent.Agent<never>

/** A parent with one step: W1 as a sub-agent. */
const parentOf = (n: number) =>
  Agent.make({
    name: "w1-parent",
    tools: [Agent.asTool(w1Agent(n), { name: "w1" })],
    planner: {
      decide: (state) =>
        Effect.succeed(
          state.turn === 1 ? Planner.runSteps([{ id: "child", tool: "w1", args: { input: "go" } }]) : Planner.answer("done")
        )
    },
    budget: { maxSteps: n + 1, maxTurns: 2 }
  })

/** Task (child process): µs per step of one run (flat) or one tree (sub) of `n` W1 steps. */
export const graphent = async (params: { readonly n: number; readonly shape: Shape }) => {
  const { n, shape } = params
  const agent = shape === "flat" ? w1Agent(n) : parentOf(n)
  const steps = shape === "flat" ? n : n + 1
  const runtime = ManagedRuntime.make(Layer.mergeAll(LocalRuntime.layerMemory))
  const checked = await runtime.runPromise(AgentRuntime.run(agent, "go"))
  if (checked.usage.steps !== steps) throw new Error(`W1-sub: ${steps} steps expected, got ${checked.usage.steps}`)
  const once = Effect.asVoid(AgentRuntime.run(agent, "go"))
  const { batchMsPerRep, msPerRep, reps } = await timeRuns(runtime, once)
  await runtime.dispose()
  return {
    usPerStep: (msPerRep * 1000) / steps,
    bestUsPerStep: (Math.min(...batchMsPerRep) * 1000) / steps,
    runsPerBatch: reps
  }
}

const measure = async (): Promise<Report> => {
  const rows: Array<Record<string, number>> = []
  for (const n of [10, 50, 200]) {
    const flat = await runInChild<typeof graphent>(import.meta.url, "graphent", { n, shape: "flat" })
    const sub = await runInChild<typeof graphent>(import.meta.url, "graphent", { n, shape: "sub" })
    rows.push({
      n,
      flatUsPerStep: flat.usPerStep,
      subUsPerStep: sub.usPerStep,
      subBestUsPerStep: sub.bestUsPerStep,
      ratio: sub.usPerStep / flat.usPerStep,
      subPeakRssMb: sub.peakRssMb
    })
  }
  return {
    title: "W1 through a sub-agent (parent step → child run of N steps) beside W1 flat, run(), in-memory journal",
    targets: "the tree within 1.5x of flat at N = 10, within 1.1x at N = 200 (a child run's fixed cost, amortized)",
    columns: [
      { key: "n", header: "N", digits: 0 },
      { key: "flatUsPerStep", header: "flat µs/step", digits: 2 },
      { key: "subUsPerStep", header: "sub-agent µs/step (parent + child)", digits: 2 },
      { key: "subBestUsPerStep", header: "(best batch)", digits: 2 },
      { key: "ratio", header: "ratio", digits: 2 },
      { key: "subPeakRssMb", header: "peak RSS MB", digits: 0 }
    ],
    rows,
    notes: []
  }
}

export const workload: Workload = { id: "w1-sub", run: measure }
