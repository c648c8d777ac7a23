/**
 * W8: an experiment of 1,000 cases × 5-step runs (LlmPlanner over a
 * zero-latency scripted model, two scorers), in cases/s and peak RSS, beside
 * the bare baseline: the same 1,000 runs through `AgentRuntime.run` with the
 * same concurrency and no experiment around them. Two experiment modes: every
 * model call live, and every model call answered from the cases' recorded
 * runs (the prompt unchanged).
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { Agent, AgentRuntime, JournalMemory, LlmPlanner, LocalRuntime, Replay, ScriptedModel, Tool } from "../../src/index.js"
import type { RunEvent } from "../../src/index.js"
import { Dataset, Eval, Scorer } from "../../src/eval.js"
import { peakRssMb, runInChild } from "../harness.js"
import type { Report, Workload } from "../report.js"

const steps = 5
const usage = { inputTokens: 1, outputTokens: 1 }

const agent = Agent.make({
  name: "w8",
  tools: [
    Tool.make("step", {
      description: "One step.",
      parameters: Schema.Struct({ n: Schema.Number }),
      success: Schema.Number,
      handler: ({ n }) => Effect.succeed(n + 1)
    })
  ],
  planner: LlmPlanner.make({ model: "scripted" })
})

/** One `step` call per response for five turns (read off the prompt's length), then the answer. */
const model = ScriptedModel.layerFunction(({ prompt }) => {
  const turn = (prompt.content.length - 2) / 2 + 1
  return turn <= steps
    ? ScriptedModel.toolCalls([{ name: "step", params: { n: turn }, id: `s${turn}` }], { usage })
    : ScriptedModel.text("done", usage)
})

type Mode = "bare" | "live" | "recorded"

/** Task (child process): `cases` runs as an experiment (or bare), after a warm-up of 100; wall time and peak RSS. */
export const task = async (params: { readonly cases: number; readonly mode: Mode; readonly concurrency: number }) => {
  const { cases, concurrency, mode } = params
  const runtime = ManagedRuntime.make(
    Layer.merge(LocalRuntime.layer.pipe(Layer.provide(JournalMemory.layer({ maxRuns: 100 }))), model)
  )
  const dataset = Dataset.make(Array.from({ length: cases }, (_, index) => ({
    id: `c${index}`,
    input: `case ${index}`,
    expected: "done",
    tools: Array.from({ length: steps }, () => "step")
  })))
  const scorers = [Scorer.exactMatch(), Scorer.trajectory()]
  const recorded = new Map<string, ReadonlyArray<RunEvent.RunEvent>>()
  const experiment = (data: Dataset.Dataset, record: boolean) =>
    Eval.run(agent, data, scorers, {
      concurrency,
      ...(record ? { record: (testCase, events) => Effect.sync(() => (recorded.set(testCase.id, events), testCase.id)) } : {}),
      ...(mode === "recorded" && !record
        ? { recording: (testCase) => Replay.recording(recorded.get(testCase.id)!).pipe(Effect.orDie) }
        : {})
    })
  const bare = (count: number) =>
    Effect.forEach(Array.from({ length: count }, (_, index) => `case ${index}`), (input) => AgentRuntime.run(agent, input), {
      concurrency,
      discard: true
    })
  // Warm-up (and, for "recorded", the recordings the measured experiment answers from).
  const warm = { file: undefined, cases: dataset.cases.slice(0, 100) }
  if (mode === "bare") await runtime.runPromise(bare(100))
  else await runtime.runPromise(experiment(mode === "recorded" ? dataset : warm, mode === "recorded"))
  const started = performance.now()
  let passRate = 1
  if (mode === "bare") await runtime.runPromise(bare(cases))
  else passRate = (await runtime.runPromise(experiment(dataset, false))).totals.passRate
  const wallMs = performance.now() - started
  await runtime.dispose()
  if (passRate !== 1) throw new Error(`w8: pass rate ${passRate}, expected 1`)
  return { wallMs, casesPerSecond: cases / (wallMs / 1000), peakRssMb: peakRssMb() }
}

const measure = async (): Promise<Report> => {
  const cases = 1_000
  const rows: Array<Record<string, string | number>> = []
  for (const concurrency of [4, 32]) {
    const bare = await runInChild<typeof task>(import.meta.url, "task", { cases, mode: "bare", concurrency })
    for (const mode of ["bare", "live", "recorded"] as const) {
      const measured = mode === "bare" ? bare : await runInChild<typeof task>(import.meta.url, "task", { cases, mode, concurrency })
      rows.push({
        mode,
        concurrency,
        wallMs: measured.wallMs,
        casesPerSecond: measured.casesPerSecond,
        ratio: measured.wallMs / bare.wallMs,
        peakRssMb: measured.peakRssMb
      })
    }
  }
  return {
    title: "an experiment of 1,000 cases × 5-step runs (LlmPlanner, zero-latency scripted model, exact + trajectory scorers)",
    targets: "cases/s and peak RSS; ratio = wall ÷ the bare 1,000 runs (AgentRuntime.run, same concurrency)",
    columns: [
      { key: "mode", header: "mode" },
      { key: "concurrency", header: "concurrency", digits: 0 },
      { key: "wallMs", header: "wall ms", digits: 0 },
      { key: "casesPerSecond", header: "cases/s", digits: 0 },
      { key: "ratio", header: "ratio", digits: 2 },
      { key: "peakRssMb", header: "peak RSS MB", digits: 0 }
    ],
    rows,
    notes: [
      "live: every model call made (scripted); recorded: every model call answered from the case's recorded run",
      "each case: a fresh in-memory Memory, its events collected, 2 scorers; a warm-up of 100 cases first"
    ]
  }
}

export const workload: Workload = { id: "w8", run: measure }
