/**
 * IMPORT-COST: what `import "graphent"` costs a program before it does any
 * work — the built package (dist/), in a fresh process each time — beside
 * the anchor the target is set against, `import { LanguageModel } from
 * "effect/ai"` (effect's AI entry, as its documentation imports it), the
 * `LanguageModel` module alone, and the floor `node -e 0`.
 *
 * The sub-paths (`graphent/postgres`, `graphent/server`, ...) are measured
 * too: each costs only when a program imports it. Each import runs `repeats`
 * times after an unmeasured warm-up: the median wall and CPU time, the
 * highest peak RSS. Wall time depends on the machine's load: compare the
 * ratios, and the CPU column.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import { buildDist, measureMedian, node, root } from "../processes.js"
import type { Report, Workload } from "../report.js"

const repeats = 5

/** `node -e <import>` as an ES module, from the checkout: `graphent` resolves to the package's own dist/ (its `exports`). */
const importing = (specifier: string, names = "*"): ReadonlyArray<string> =>
  [node, "--input-type=module", "-e", `import ${names === "*" ? "* as m" : names} from ${JSON.stringify(specifier)}`]

export const workload: Workload = {
  id: "import-cost",
  run: async () => {
    buildDist()
    const manifest = JSON.parse(fs.readFileSync(`${root}/package.json`, "utf8")) as { exports: Record<string, unknown> }
    const subpaths = Object.keys(manifest.exports)
      .filter((key) => key.startsWith("./") && key !== "./package.json")
      .map((key) => `graphent/${key.slice(2)}`)
    const rows: Array<Record<string, string | number>> = []
    const add = (name: string, argv: ReadonlyArray<string>) => {
      const sample = measureMedian(argv, root, process.env, repeats)
      rows.push({ import: name, wall: sample.wallMs, cpu: sample.cpuMs, rss: sample.rssMb })
      return sample
    }
    const floor = add("floor: node -e 0", [node, "-e", "0"])
    const anchor = add('anchor: { LanguageModel } from "effect/ai"', importing("effect/ai", "{ LanguageModel }"))
    add('"effect/ai/LanguageModel" alone', importing("effect/ai/LanguageModel"))
    const core = add('"graphent"', importing("graphent"))
    for (const subpath of subpaths) add(`"${subpath}"`, importing(subpath))
    for (const row of rows) {
      row.wallRatio = (row.wall as number) / anchor.wallMs
      row.rssRatio = (row.rss as number) / anchor.rssMb
    }
    const report: Report = {
      title: "importing the package, start to exit of a fresh process (built dist/)",
      targets: 'import "graphent" <= 1.3x the anchor, in wall time and in RSS',
      columns: [
        { key: "import", header: "import" },
        { key: "wall", header: "wall ms (median)", digits: 0 },
        { key: "wallRatio", header: "x anchor", digits: 2 },
        { key: "cpu", header: "cpu ms (median)", digits: 0 },
        { key: "rss", header: "peak RSS MB", digits: 0 },
        { key: "rssRatio", header: "x anchor", digits: 2 }
      ],
      rows,
      notes: [
        `"graphent": ${(core.wallMs / anchor.wallMs).toFixed(2)}x the anchor's wall time, ` +
        `${(core.cpuMs / anchor.cpuMs).toFixed(2)}x its CPU time, ${(core.rssMb / anchor.rssMb).toFixed(2)}x its RSS ` +
        `(target <= 1.3x); above the floor: ${(core.wallMs - floor.wallMs).toFixed(0)} ms against the anchor's ` +
        `${(anchor.wallMs - floor.wallMs).toFixed(0)} ms`,
        `${repeats} runs each after a warm-up; load average at the end: ${os.loadavg()[0]!.toFixed(2)}`
      ]
    }
    return report
  }
}
