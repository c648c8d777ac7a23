/**
 * W4: replay of a 10,000-event journal file — events per second of a full
 * `Replay.replay` (read, decode, re-run the agent against the recording,
 * match every request), beside reading and decoding the file alone (the floor).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import { Agent, AgentRuntime, JournalFile, LocalRuntime, Planner, Replay, Tool } from "../../src/index.js"
import { batchTiming, runInChild, timeBatches } from "../harness.js"
import type { Report, Workload } from "../report.js"

/** 3,333 one-step turns: RunStarted + 3 events per turn + the answer's decision + RunCompleted = 10,002 events. */
const turns = 3_333

const lookup = Tool.make("lookup", {
  description: "Looks a key up.",
  parameters: Schema.Struct({ key: Schema.String }),
  success: Schema.Struct({ key: Schema.String, value: Schema.Number }),
  handler: ({ key }) => Effect.succeed({ key, value: key.length })
})

/** `turns` one-step turns of {@link lookup}, then the answer (W8's fork workload uses it too). */
export const lookupAgent = (name: string, turns: number) =>
  Agent.make({
    name,
    tools: [lookup],
    planner: {
      decide: (state) =>
        Effect.succeed(
          state.turn <= turns
            ? Planner.runSteps([{ id: `s${state.turn}`, tool: "lookup", args: { key: `key-${state.turn}` } }])
            : Planner.answer("done")
        )
    },
    budget: { maxSteps: turns, maxTurns: turns + 1 }
  })

const agent = lookupAgent("w4", turns)

/** Records the journal once, in the child that measures it. */
const recordJournal = async (): Promise<string> => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "graphent-w4-")), "run.jsonl")
  await Effect.runPromise(
    AgentRuntime.run(agent, "go").pipe(
      Effect.provide(LocalRuntime.layer.pipe(Layer.provide(JournalFile.layer({ path: file }))))
    )
  )
  return file
}

/** Task (child process): milliseconds to read+decode (floor) or to replay (graphent) the journal. */
export const measure = async (params: { readonly mode: "floor" | "graphent" }) => {
  const file = await recordJournal()
  const runtime = ManagedRuntime.make(LocalRuntime.layerMemory)
  const { events } = await Effect.runPromise(JournalFile.readFile(file))
  const once = params.mode === "floor"
    ? JournalFile.readFile(file)
    : Effect.flatMap(JournalFile.readFile(file), (contents) => Replay.replay(agent, contents.events)).pipe(
      Effect.tap((report) =>
        report.identical === events.length ? Effect.void : Effect.die(`W4: ${report.identical} of ${events.length} identical`)
      )
    )
  const { msPerRep } = await timeBatches((reps) =>
    runtime.runPromise(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < reps; i++) yield* once
      return performance.now() - startedAt
    })), batchTiming)
  await runtime.dispose()
  fs.rmSync(path.dirname(file), { recursive: true, force: true })
  return { events: events.length, msPerReplay: msPerRep }
}

export const workload: Workload = {
  id: "w4",
  run: async (): Promise<Report> => {
    const floor = await runInChild<typeof measure>(import.meta.url, "measure", { mode: "floor" })
    const replay = await runInChild<typeof measure>(import.meta.url, "measure", { mode: "graphent" })
    const perSecond = (ms: number) => (floor.events / ms) * 1000
    return {
      title: `replay of a ${floor.events.toLocaleString("en")}-event journal file`,
      targets: "report events/s against reading and decoding the file alone",
      columns: [
        { key: "what", header: "what" },
        { key: "ms", header: "ms per journal", digits: 1 },
        { key: "eventsPerSecond", header: "events/s", digits: 0 },
        { key: "ratio", header: "ratio to floor", digits: 2 },
        { key: "peakRssMb", header: "peak RSS MB", digits: 0 }
      ],
      rows: [
        { what: "floor: read + decode", ms: floor.msPerReplay, eventsPerSecond: perSecond(floor.msPerReplay), ratio: 1, peakRssMb: floor.peakRssMb },
        {
          what: "graphent: Replay.replay",
          ms: replay.msPerReplay,
          eventsPerSecond: perSecond(replay.msPerReplay),
          ratio: replay.msPerReplay / floor.msPerReplay,
          peakRssMb: replay.peakRssMb
        }
      ],
      notes: []
    }
  }
}
