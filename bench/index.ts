/**
 * The benchmark driver: `npm run bench` prints a table per workload,
 * `npm run bench -- --json` one JSON object keyed by workload id.
 *
 * Every measurement runs in its own child process (see `harness.ts`), one at
 * a time. To add a workload, write `workloads/wN.ts` exporting a `Workload`
 * and list it below.
 */
import * as os from "node:os"
import { renderTable, type Report, type Workload } from "./report.js"
import { workload as coldStart } from "./workloads/coldstart.js"
import { workload as importCost } from "./workloads/importcost.js"
import { workload as w1, workloadLlm as w1Llm } from "./workloads/w1.js"
import { workload as w2, workloadLlm as w2Llm } from "./workloads/w2.js"
import { workload as w4 } from "./workloads/w4.js"
import { workload as w5 } from "./workloads/w5.js"
import { workload as w6 } from "./workloads/w6.js"
import { workload as guard } from "./workloads/guard.js"
import { workloadW1 as w1Public, workloadW2 as w2Public, workloadW2Llm as w2LlmPublic } from "./workloads/public.js"
import { workload as mcp } from "./workloads/mcp.js"
import { workload as w8 } from "./workloads/w8.js"

const all: ReadonlyArray<Workload> = [
  w1, w1Llm, w1Public, w2, w2Llm, w2Public, w2LlmPublic, w4, w5, w6, guard, mcp, coldStart, importCost, w8
]
// `npm run bench -- w4` runs only the named workloads.
const named = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
const workloads = named.length === 0 ? all : all.filter((workload) => named.includes(workload.id))

const json = process.argv.includes("--json")
const machine = `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? "unknown cpu"}`
if (!json) console.log(`graphent bench (${machine}); every figure is measured in a fresh process\n`)

const reports: Record<string, Report> = {}
for (const workload of workloads) {
  const report = await workload.run()
  reports[workload.id] = report
  if (!json) console.log(`${renderTable(workload.id, report)}\n`)
}
if (json) {
  const figures = Object.entries(reports).map(([id, { notes, rows, targets, title }]) => [id, { title, targets, rows, notes }])
  console.log(JSON.stringify({ machine, ...Object.fromEntries(figures) }, null, 2))
}
