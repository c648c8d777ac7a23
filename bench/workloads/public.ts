/**
 * W2-PUBLIC and W1-PUBLIC: W2 and W1 as an application runs them — the built
 * package (`dist/`, which the workload builds first with `npm run build`)
 * called from plain async code through the Promise API: one
 * `Graphent.create` per process, then `await graphent.run(agent, input)` (or
 * `for await (… of graphent.stream(…))`) per run. Each row is printed beside
 * the in-Effect version of the same workload (`w2.ts`, `w1.ts`: every run
 * inside one Effect) and the floor.
 *
 * The agents are W2's and W1's (the same tools and planners, made with the
 * package's own modules), on the default store (`"memory"`), so the
 * difference to the in-Effect rows is what the Promise boundary costs: a
 * root fiber per run, its promise, the events handed to an async iterator.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath, pathToFileURL } from "node:url"
import type * as Floor from "../floor.js"
import { batchTiming, concurrentRounds, measureConcurrent, runInChild, type StartRuns, timeBatches } from "../harness.js"
import type { Report, Workload } from "../report.js"
import type * as W1 from "./w1.js"
import type * as W2 from "./w2.js"

type Mode = "run" | "stream"
type PlannerKind = "rules" | "llm"

const root = fileURLToPath(new URL("../..", import.meta.url))

let built: Promise<void> | undefined
/** `npm run build`, once per bench process: the workload measures `dist/`, as it is packed. */
const build = () =>
  built ??= Promise.resolve().then(() => {
    const result = spawnSync("npm", ["run", "build"], { cwd: root, encoding: "utf8" })
    if (result.status !== 0) throw new Error(`w*-public: npm run build failed: ${result.stderr}`)
  })

/** The package as a consumer imports it (the built entry), and Effect, which W1's and W2's tools are written in. */
const load = async () => ({
  graphent: (await import(pathToFileURL(`${root}dist/index.js`).href)) as typeof import("../../src/index.js"),
  Effect: await import("effect/Effect"),
  Schema: await import("effect/Schema")
})

type Loaded = Awaited<ReturnType<typeof load>>

const usage = { inputTokens: 1, outputTokens: 1 }

/** W1's and W2's agent: `steps` turns of one step of `tool` each, then the answer; ruled or LLM-planned. */
const agentOf = (
  { Effect, graphent: { Agent, LlmPlanner, Planner } }: Loaded,
  tool: Parameters<Loaded["graphent"]["Agent"]["make"]>[0]["tools"][number],
  steps: number,
  planner: PlannerKind
) =>
  Agent.make({
    name: tool.name,
    tools: [tool],
    planner: planner === "llm" ? LlmPlanner.make({ model: "scripted" }) : {
      decide: (state) =>
        Effect.succeed(
          state.turn <= steps
            ? Planner.runSteps([{ id: `s${state.turn}`, tool: tool.name, args: { n: state.turn } }])
            : Planner.answer("done")
        )
    },
    budget: { maxSteps: steps, maxTurns: steps + 1 }
  })

/** A zero-latency model calling `tool` once per response for `steps` turns, then answering (W1's and W2's). */
const modelOf = ({ graphent: { ScriptedModel } }: Loaded, tool: string, steps: number) =>
  ScriptedModel.layerFunction(({ prompt }) => {
    const turn = (prompt.content.length - 2) / 2 + 1
    return turn <= steps
      ? ScriptedModel.toolCalls([{ name: tool, params: { n: turn }, id: `s${turn}` }], { usage })
      : ScriptedModel.text("done", usage)
  }, { record: false })

/** Drains one streamed run. */
const drain = async (events: AsyncIterable<unknown>) => {
  for await (const _ of events) {
    // Every event is handed over; none is kept.
  }
}

/** Task (child process): W2 through the Promise API — wall time and heap per live run of `runs` concurrent runs. */
export const w2Public = async (params: { readonly runs: number; readonly mode: Mode; readonly planner: PlannerKind }) => {
  const { mode, planner, runs } = params
  const loaded = await load()
  const { Effect, Schema, graphent: { Graphent, Tool } } = loaded
  let onStep: (step: number) => void = () => {}
  const wait = Tool.make("wait", {
    description: "Waits 20 ms.",
    parameters: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    handler: ({ n }) => Effect.sync(() => onStep(n)).pipe(Effect.andThen(Effect.sleep("20 millis")), Effect.as(n + 1))
  })
  const agent = agentOf(loaded, wait, 5, planner)
  let current: { readonly close: () => Promise<void> } | undefined
  const fresh = async (): Promise<StartRuns> => {
    await current?.close()
    const graphent = Graphent.create({ agents: [agent], model: modelOf(loaded, "wait", 5) })
    current = graphent
    return async (count, step) => {
      onStep = step
      const one = (): Promise<unknown> => mode === "run" ? graphent.run(agent, "go") : drain(graphent.stream(agent, "go"))
      await Promise.all(Array.from({ length: count }, one))
    }
  }
  const measured = await measureConcurrent(fresh, { runs, ...concurrentRounds(runs), probeStep: 3 })
  await current?.close()
  return measured
}

/** Task (child process): W1 through the Promise API — µs per step of one run of `n` steps, `await`ed run after run. */
export const w1Public = async (params: { readonly n: number; readonly mode: Mode; readonly planner: PlannerKind }) => {
  const { mode, n, planner } = params
  const loaded = await load()
  const { Effect, Schema, graphent: { Graphent, Tool } } = loaded
  const inc = Tool.make("inc", {
    description: "Adds one.",
    parameters: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    handler: ({ n }) => Effect.succeed(n + 1)
  })
  const agent = agentOf(loaded, inc, n, planner)
  const graphent = Graphent.create({ agents: [agent], model: modelOf(loaded, "inc", n) })
  const first = await graphent.run(agent, "go")
  if (first.usage.steps !== n) throw new Error(`W1-PUBLIC: the run did not complete ${n} steps: ${first.answer}`)
  const once = (): Promise<unknown> => mode === "run" ? graphent.run(agent, "go") : drain(graphent.stream(agent, "go"))
  const { batchMsPerRep, msPerRep, reps } = await timeBatches(async (runs) => {
    const startedAt = performance.now()
    for (let i = 0; i < runs; i++) await once()
    return performance.now() - startedAt
  }, batchTiming)
  await graphent.close()
  return {
    usPerStep: (msPerRep * 1000) / n,
    bestUsPerStep: (Math.min(...batchMsPerRep) * 1000) / n,
    runsPerBatch: reps
  }
}

const floorModule = new URL("../floor.ts", import.meta.url).href
const w1Module = new URL("./w1.ts", import.meta.url).href
const w2Module = new URL("./w2.ts", import.meta.url).href

const w2Report = (planner: PlannerKind, sizes: ReadonlyArray<number>) => async (): Promise<Report> => {
  await build()
  const rows: Array<Record<string, string | number>> = []
  for (const runs of sizes) {
    const floor = await runInChild<typeof Floor.w2>(floorModule, "w2", { runs })
    for (const mode of ["run", "stream"] as const) {
      const inEffect = await runInChild<typeof W2.graphent>(w2Module, "graphent", { runs, mode, planner })
      const pub = await runInChild<typeof w2Public>(import.meta.url, "w2Public", { runs, mode, planner })
      rows.push({
        runs,
        mode,
        publicWallMs: pub.wallMs,
        effectWallMs: inEffect.wallMs,
        floorWallMs: floor.wallMs,
        ratio: pub.wallMs / inEffect.wallMs,
        publicHeapPerRunKb: pub.heapPerRunKb,
        effectHeapPerRunKb: inEffect.heapPerRunKb,
        publicPeakRssMb: pub.peakRssMb,
        effectPeakRssMb: inEffect.peakRssMb,
        floorPeakRssMb: floor.peakRssMb
      })
    }
  }
  return {
    title: "W2 through the built package from plain async code (`await graphent.run` per run)" +
      (planner === "llm" ? ", LlmPlanner over a zero-latency scripted model" : ""),
    targets: "1,000 runs: <= 200 ms wall, <= 30 KB heap per live run; 10,000 runs: <= 1.5 s wall, <= 500 MB peak RSS",
    columns: [
      { key: "runs", header: "runs", digits: 0 },
      { key: "mode", header: "mode" },
      { key: "publicWallMs", header: "public wall ms", digits: 0 },
      { key: "effectWallMs", header: "in-Effect wall ms", digits: 0 },
      { key: "floorWallMs", header: "floor wall ms", digits: 0 },
      { key: "ratio", header: "public/in-Effect", digits: 2 },
      { key: "publicHeapPerRunKb", header: "public KB/live run", digits: 1 },
      { key: "effectHeapPerRunKb", header: "in-Effect KB/live run", digits: 1 },
      { key: "publicPeakRssMb", header: "public peak RSS MB", digits: 0 },
      { key: "effectPeakRssMb", header: "in-Effect peak RSS MB", digits: 0 },
      { key: "floorPeakRssMb", header: "floor peak RSS MB", digits: 0 }
    ],
    rows,
    notes: [
      "public: dist/ (built by this workload), Graphent.create once, default store (in memory, bounded); " +
      "in-Effect: bench/workloads/w2.ts (sources, every run in one Effect, a journal keeping every run)"
    ]
  }
}

const w1Report = async (): Promise<Report> => {
  await build()
  const rows: Array<Record<string, string | number>> = []
  for (const planner of ["rules", "llm"] as const) {
    for (const n of [10, 200]) {
      const floor = await runInChild<typeof Floor.w1>(floorModule, "w1", { n })
      for (const mode of ["run", "stream"] as const) {
        const inEffect = await runInChild<typeof W1.graphent>(w1Module, "graphent", { n, mode, planner })
        const pub = await runInChild<typeof w1Public>(import.meta.url, "w1Public", { n, mode, planner })
        rows.push({
          planner,
          n,
          mode,
          publicUsPerStep: pub.usPerStep,
          effectUsPerStep: inEffect.usPerStep,
          floorUsPerStep: floor.usPerStep,
          ratio: pub.usPerStep / inEffect.usPerStep
        })
      }
    }
  }
  return {
    title: "W1 through the built package from plain async code (`await graphent.run`, one run after another)",
    targets: "LLM planner: <= 30 µs/step",
    columns: [
      { key: "planner", header: "planner" },
      { key: "n", header: "N", digits: 0 },
      { key: "mode", header: "mode" },
      { key: "publicUsPerStep", header: "public µs/step", digits: 2 },
      { key: "effectUsPerStep", header: "in-Effect µs/step", digits: 2 },
      { key: "floorUsPerStep", header: "floor µs/step", digits: 3 },
      { key: "ratio", header: "public/in-Effect", digits: 2 }
    ],
    rows,
    notes: ["public: dist/ (built by this workload), Graphent.create once; in-Effect: bench/workloads/w1.ts (sources)"]
  }
}

/** W2 through the Promise API, rule planner. */
export const workloadW2: Workload = { id: "w2-public", run: w2Report("rules", [1_000, 10_000]) }

/** W2 through the Promise API, LLM planner over a scripted model. */
export const workloadW2Llm: Workload = { id: "w2-llm-public", run: w2Report("llm", [1_000, 10_000]) }

/** W1 through the Promise API, both planners. */
export const workloadW1: Workload = { id: "w1-public", run: w1Report }
