/**
 * The floors: the same work as each workload, hand-written in plain
 * JavaScript with no framework. What Graphent costs is its time over these.
 * Runs in its own child process and imports neither Effect nor Graphent.
 */
import { batchTiming, concurrentRounds, measureConcurrent, type StartRuns, timeBatches } from "./harness.js"

/** A journal event, reduced to what the floors record. */
interface Event {
  readonly _tag: string
  readonly runId: string
  readonly at: number
  readonly [field: string]: unknown
}

/** The tool: a plain function. */
const inc = (args: { readonly n: number }): number => args.n + 1

/**
 * W1 by hand: `n` turns, each a decision and one tool call, every event pushed
 * to the run's array, then the answer.
 */
export const w1Run = (n: number, runId: string): ReadonlyArray<Event> => {
  const events: Array<Event> = [{ _tag: "RunStarted", runId, input: "go", at: Date.now() }]
  for (let turn = 1; turn <= n; turn++) {
    const step = { id: `s${turn}`, tool: "inc", args: { n: turn } }
    events.push({ _tag: "DecisionMade", runId, turn, decision: { _tag: "RunSteps", steps: [step] }, at: Date.now() })
    const at = Date.now()
    events.push({ _tag: "StepStarted", runId, stepId: step.id, tool: step.tool, args: step.args, at })
    const result = inc(step.args)
    const end = Date.now()
    events.push({ _tag: "StepSucceeded", runId, stepId: step.id, tool: step.tool, result, durationMs: end - at, at: end })
  }
  events.push({ _tag: "DecisionMade", runId, turn: n + 1, decision: { _tag: "Answer", answer: "done" }, at: Date.now() })
  events.push({ _tag: "RunCompleted", runId, answer: "done", at: Date.now() })
  return events
}

/** Task: microseconds per step of {@link w1Run}. */
export const w1 = async (params: { readonly n: number }) => {
  let sink = 0
  const { batchMsPerRep, msPerRep, reps } = await timeBatches(async (runs) => {
    const startedAt = performance.now()
    for (let i = 0; i < runs; i++) sink += w1Run(params.n, `run-${i}`).length
    return performance.now() - startedAt
  }, batchTiming)
  if (sink === 0) throw new Error("unreachable: keeps the loop from being optimised away")
  return {
    usPerStep: (msPerRep * 1000) / params.n,
    runsPerBatch: reps,
    batchesUsPerStep: batchMsPerRep.map((ms) => (ms * 1000) / params.n)
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** W2 by hand: async functions, each awaiting `setTimeout(20)` five times. */
const w2Start: StartRuns = async (runs, onStep) => {
  const run = async (runId: string) => {
    const events: Array<Event> = []
    for (let step = 1; step <= 5; step++) {
      onStep(step)
      events.push({ _tag: "StepStarted", runId, stepId: `s${step}`, at: Date.now() })
      await sleep(20)
      events.push({ _tag: "StepSucceeded", runId, stepId: `s${step}`, result: step + 1, at: Date.now() })
    }
    return events
  }
  await Promise.all(Array.from({ length: runs }, (_, i) => run(`run-${i}`)))
}

/** Task: wall time and heap per live run of {@link w2Start}. */
export const w2 = (params: { readonly runs: number }) =>
  measureConcurrent(() => Promise.resolve(w2Start), { runs: params.runs, ...concurrentRounds(params.runs), probeStep: 3 })
