/**
 * The automation worker: reads the files waiting in a folder, counts their lines with an allowlisted command, stores
 * a report on an HTTP API and writes it to a file — a DAG planned turn by turn, under a policy file, resumable after
 * a crash without repeating a finished side effect.
 *
 *   npm run api &                                   # the reports API, on 127.0.0.1:7431
 *   GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=worker npx graphent run src/agent.ts --input "report"
 *
 * Turn 1 lists the inbox; turn 2 counts and reads every file at once (2 steps per file, all concurrent); turn 3
 * stores the report (`put_report`) and then writes it (`write_report` depends on the stored key); turn 4 answers.
 * Each decision depends only on journaled results, so a replay or a resume takes the same path.
 */
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { Agent, Planner } from "graphent"
import { HttpTool } from "graphent/http-tool"
import { type Places, placesFromEnv, workerTools } from "./tools.js"

type RunState = Planner.RunState
type Entry = { readonly name: string; readonly lines: number; readonly title: string }

const output = (state: RunState, id: string): unknown => {
  const outcome = state.outcomes.get(id)
  return outcome?._tag === "Succeeded" ? outcome.value : undefined
}

/** The report's entries, from the counts and contents journaled in turn 2. */
const entriesOf = (state: RunState, files: ReadonlyArray<string>): ReadonlyArray<Entry> =>
  files.map((name, i) => {
    const count = output(state, `count-${i}`) as { readonly stdout: string }
    const text = output(state, `read-${i}`) as string
    return { name, lines: Number.parseInt(count.stdout.trim(), 10), title: text.split("\n")[0]!.trim() }
  })

const planner: Planner.PlannerShape = {
  decide: (state: RunState) =>
    Effect.sync(() => {
      // A failed step ends the run with its error (a resumed run re-plans from the same outcomes).
      const failed = state.steps.find((step) => step._tag !== "Succeeded")
      if (failed !== undefined) return Planner.fail(`step "${failed.id}" did not succeed`, failed.id)
      const files = output(state, "list") as ReadonlyArray<string> | undefined
      switch (state.turn) {
        case 1:
          return Planner.runSteps([{ id: "list", tool: "list_inbox", args: {} }])
        case 2:
          if (files!.length === 0) return Planner.answer("The inbox is empty.")
          return Planner.runSteps(files!.flatMap((name, i) => [
            { id: `count-${i}`, tool: "count_lines", args: { name } },
            { id: `read-${i}`, tool: "read_file", args: { name } }
          ]))
        case 3: {
          const entries = entriesOf(state, files!)
          return Planner.runSteps([
            // The run id keys the report: a retried PUT (after a crash) stores the same report again, not a second one.
            { id: "put", tool: "put_report", args: { key: state.runId, entries } },
            { id: "write", tool: "write_report", args: { entries, stored: Planner.ref("put", "stored") } }
          ])
        }
        default:
          return Planner.answer(`Reported ${files!.length} file(s) to ${output(state, "write") as string}.`)
      }
    })
}

/** The worker over `places` (tests point it at their own folders and API). */
export const makeWorker = (places: Places) =>
  Agent.make({
    name: "automation-worker",
    description: "Reports on the files of an inbox: line counts, titles; stored on an API and in out/report.md.",
    tools: workerTools(places),
    planner
  })

/** The worker over the places the environment names (`WORKER_INBOX`, `WORKER_OUT`, `WORKER_API_URL`). */
export default makeWorker(placesFromEnv())

/**
 * What the tools need: a process spawner (count_lines) and the guarded HTTP client (put_report), which refuses
 * private and loopback addresses unless allowed — here loopback, where the reports API runs.
 */
export const layer = Layer.mergeAll(NodeServices.layer, HttpTool.layerClient({ allowAddresses: ["127.0.0.0/8"] }))
