/**
 * COLD-START: what one `graphent` command costs from process start to exit, as a user runs
 * it — the built package (dist/) installed in a project, the default store (nothing
 * configured) — beside two floors: `node -e 0` and `tsx -e 0`.
 *
 * Rows: `graphent --help`; `graphent run echo.ts` (a run that uses no memory: its journal is
 * a file in `.graphent/runs/`); `graphent run todo.ts` (a run that uses memory: the embedded
 * database opens); `graphent trace list`; and `graphent run examples/echo.ts` from this
 * checkout's sources (bin/sources.js: Node's type stripping, cached), for comparison — the
 * way the tests spawn the CLI. Each command runs `repeats` times after
 * one unmeasured warm-up; the table shows the median wall time and CPU time, and the highest
 * peak RSS (measured by `/usr/bin/time`). Wall time depends on the machine's load: compare
 * the ratios to the floors, and the CPU column.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { buildDist, measureMedian, node, root } from "../processes.js"
import type { Report, Workload } from "../report.js"

const repeats = 5

/** A project with the built package installed the way npm lays it out (bin copied: a symlink would run the sources). */
const makeProject = (): string => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-coldstart-"))
  const installed = path.join(project, "node_modules", "graphent")
  fs.mkdirSync(path.join(installed, "bin"), { recursive: true })
  fs.copyFileSync(path.join(root, "bin/graphent.js"), path.join(installed, "bin/graphent.js"))
  fs.copyFileSync(path.join(root, "package.json"), path.join(installed, "package.json"))
  fs.symlinkSync(path.join(root, "dist"), path.join(installed, "dist"))
  fs.symlinkSync(path.join(root, "node_modules"), path.join(installed, "node_modules"))
  fs.symlinkSync(path.join(root, "node_modules/effect"), path.join(project, "node_modules/effect"))
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "coldstart", private: true, type: "module" }))
  for (const example of ["echo.ts", "todo.ts"]) fs.copyFileSync(path.join(root, "examples", example), path.join(project, example))
  return project
}

export const workload: Workload = {
  id: "cold-start",
  run: async () => {
    buildDist()
    const project = makeProject()
    const bin = path.join(project, "node_modules/graphent/bin/graphent.js")
    // The default store: none of the variables that choose another.
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(fs.realpathSync(node))}:${process.env.PATH}` }
    for (const name of ["GRAPHENT_STORE", "GRAPHENT_HOME", "GRAPHENT_DATABASE_URL", "GRAPHENT_REDIS_URL"]) delete env[name]
    const commands: ReadonlyArray<{ readonly name: string; readonly argv: ReadonlyArray<string>; readonly cwd: string }> = [
      { name: "floor: node -e 0", argv: [node, "-e", "0"], cwd: project },
      { name: "floor: tsx -e 0", argv: [path.join(root, "node_modules/.bin/tsx"), "-e", "0"], cwd: project },
      { name: "graphent --help", argv: [node, bin, "--help"], cwd: project },
      { name: "graphent run echo.ts", argv: [node, bin, "run", "echo.ts", "--input", "hi"], cwd: project },
      { name: "graphent run todo.ts (memory)", argv: [node, bin, "run", "todo.ts", "--input", "list"], cwd: project },
      { name: "graphent trace list", argv: [node, bin, "trace", "list", "--limit", "5"], cwd: project },
      {
        name: "checkout: run examples/echo.ts",
        argv: [node, path.join(root, "bin/graphent.js"), "run", "examples/echo.ts", "--input", "hi"],
        cwd: root
      }
    ]
    const rows: Array<Record<string, string | number>> = []
    let floor = 0
    try {
      for (const command of commands) {
        // The home of the checkout row: a temp folder, not the checkout's own .graphent.
        const commandEnv = command.cwd === root ? { ...env, GRAPHENT_HOME: path.join(project, ".graphent") } : env
        // The warm-up also creates the embedded database.
        const sample = measureMedian(command.argv, command.cwd, commandEnv, repeats)
        if (floor === 0) floor = sample.wallMs
        rows.push({
          command: command.name,
          wall: sample.wallMs,
          ratio: sample.wallMs / floor,
          cpu: sample.cpuMs,
          rss: sample.rssMb
        })
      }
    } finally {
      fs.rmSync(project, { recursive: true, force: true })
    }
    const report: Report = {
      title: "one CLI process, start to exit (installed package, default store)",
      targets: "--help <= 300 ms; run echo.ts <= 500 ms and <= 150 MB; run todo.ts (memory) <= 1500 ms",
      columns: [
        { key: "command", header: "command" },
        { key: "wall", header: "wall ms (median)", digits: 0 },
        { key: "ratio", header: "x node -e 0", digits: 1 },
        { key: "cpu", header: "cpu ms (median)", digits: 0 },
        { key: "rss", header: "peak RSS MB", digits: 0 }
      ],
      rows,
      notes: [`${repeats} runs each after a warm-up; load average at the end: ${os.loadavg()[0]!.toFixed(2)}`]
    }
    return report
  }
}
