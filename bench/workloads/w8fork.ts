/**
 * W8 (fork): the cost of `Replay.fork` at step 100 of a 200-step journal —
 * the first 99 steps answered from the recording, step 100 onwards run live
 * — beside replaying the same journal whole (`Replay.replay`, the baseline
 * the issue names) and running the 200 steps live. The journal's events are
 * decoded once; each figure is the run alone, on an in-memory journal.
 */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { AgentRuntime, LocalRuntime, Replay } from "../../src/index.js"
import { batchTiming, runInChild, timeBatches } from "../harness.js"
import type { Report, Workload } from "../report.js"
import { lookupAgent } from "./w4.js"

const steps = 200
const forkAt = 100

/** One step a turn: 200 turns of a step, then the answer. */
const agent = lookupAgent("w8fork", steps)

type Mode = "live" | "replay" | "fork"

/** Task (child process): milliseconds per run of `mode` over the recorded 200-step run. */
export const measure = async (params: { readonly mode: Mode }) => {
  const runtime = ManagedRuntime.make(LocalRuntime.layerMemory)
  const recorded = await runtime.runPromise(AgentRuntime.run(agent, "go"))
  const { events } = recorded
  const once: Effect.Effect<unknown, unknown, AgentRuntime.AgentRuntime> = params.mode === "live"
    ? AgentRuntime.run(agent, "go")
    : params.mode === "replay"
    ? Effect.tap(Replay.replay(agent, events), (report) =>
      report.identical === events.length ? Effect.void : Effect.die(`W8: ${report.identical} of ${events.length} identical`))
    : Effect.tap(Replay.fork(agent, events, { at: `s${forkAt}` }), (forked) =>
      forked.result.steps.length === steps ? Effect.void : Effect.die(`W8: the fork ran ${forked.result.steps.length} steps`))
  const { msPerRep } = await timeBatches((reps) =>
    runtime.runPromise(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < reps; i++) yield* once
      return performance.now() - startedAt
    })), batchTiming)
  await runtime.dispose()
  return { events: events.length, ms: msPerRep }
}

export const workload: Workload = {
  id: "w8fork",
  run: async (): Promise<Report> => {
    const replay = await runInChild<typeof measure>(import.meta.url, "measure", { mode: "replay" })
    const fork = await runInChild<typeof measure>(import.meta.url, "measure", { mode: "fork" })
    const live = await runInChild<typeof measure>(import.meta.url, "measure", { mode: "live" })
    const row = (what: string, measured: typeof replay) => ({
      what,
      ms: measured.ms,
      ratio: measured.ms / replay.ms,
      peakRssMb: measured.peakRssMb
    })
    return {
      title: `fork at step ${forkAt} of a ${steps}-step journal (${replay.events} events)`,
      targets: "report the fork's ms beside replaying the same journal whole",
      columns: [
        { key: "what", header: "what" },
        { key: "ms", header: "ms per run", digits: 2 },
        { key: "ratio", header: "ratio to replay", digits: 2 },
        { key: "peakRssMb", header: "peak RSS MB", digits: 0 }
      ],
      rows: [
        row("baseline: Replay.replay, whole journal", replay),
        row(`graphent: Replay.fork at step ${forkAt} (then live)`, fork),
        row("reference: the 200 steps live", live)
      ],
      notes: []
    }
  }
}
