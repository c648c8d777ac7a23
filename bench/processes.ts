/**
 * Whole processes measured from start to exit (the cold-start and import-cost
 * workloads): one command under `/usr/bin/time`, the median of several, and
 * the package built once per bench run.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The checkout's root folder. */
export const root = fileURLToPath(new URL("..", import.meta.url))

/** The project's Node.js (the `node` devDependency), not the machine's. */
export const node = path.join(root, "node_modules/.bin/node")

const timeBin = "/usr/bin/time"

/** One process: wall time, CPU time (user + system) and peak resident set size. */
export interface Sample {
  readonly wallMs: number
  readonly cpuMs: number
  readonly rssMb: number
}

/** Runs `argv` once under /usr/bin/time; fails on a non-zero exit. */
export const measure = (argv: ReadonlyArray<string>, cwd: string, env: NodeJS.ProcessEnv = process.env): Sample => {
  if (!fs.existsSync(timeBin)) throw new Error(`measuring a process needs ${timeBin} (Debian: apt-get install time)`)
  const out = path.join(os.tmpdir(), `graphent-bench-${process.pid}.time`)
  const child = spawnSync(timeBin, ["-o", out, "-f", "%e %U %S %M", ...argv], { cwd, env, encoding: "utf8" })
  if (child.status !== 0) throw new Error(`${argv.join(" ")} exited ${child.status}: ${child.stderr}`)
  const [wall, user, system, rssKb] = fs.readFileSync(out, "utf8").trim().split("\n").pop()!.split(" ").map(Number)
  fs.rmSync(out, { force: true })
  return { wallMs: wall! * 1000, cpuMs: (user! + system!) * 1000, rssMb: rssKb! / 1024 }
}

/** The median of `values`. */
export const median = (values: ReadonlyArray<number>): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** Runs `argv` once unmeasured (compile caches, first-run work), then `repeats` times: medians, and the highest RSS. */
export const measureMedian = (
  argv: ReadonlyArray<string>,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
  repeats = 5
): Sample => {
  measure(argv, cwd, env)
  const samples = Array.from({ length: repeats }, () => measure(argv, cwd, env))
  return {
    wallMs: median(samples.map((sample) => sample.wallMs)),
    cpuMs: median(samples.map((sample) => sample.cpuMs)),
    rssMb: Math.max(...samples.map((sample) => sample.rssMb))
  }
}

let built = false

/** `npm run build` (dist/ as the package ships it), once per bench process. */
export const buildDist = (): void => {
  if (built) return
  const build = spawnSync("npm", ["run", "build"], { cwd: root, encoding: "utf8" })
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stderr}`)
  built = true
}
