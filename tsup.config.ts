import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { defineConfig } from "tsup"

// One bundle entry per sub-path the package exports (`"./postgres"` → src/postgres.ts), so the two lists cannot drift.
const manifest = JSON.parse(fs.readFileSync("package.json", "utf8")) as { exports: Record<string, unknown> }
const subpaths = Object.keys(manifest.exports).filter((key) => key.startsWith("./") && key !== "./package.json")
const entries = Object.fromEntries(subpaths.map((key) => [key.slice(2), `src/${key.slice(2)}.ts`]))

export default defineConfig({
  entry: { index: "src/index.ts", ...entries, "programs/cli": "src/programs/cli.ts" },
  format: ["esm"],
  target: "node22",
  // Declarations are tsc's, one file per module (tsconfig.build.json, `npm run build`): bundled ones turned
  // re-exported types inside namespaces into values.
  dts: false,
  clean: true,
  sourcemap: true,
  splitting: true,
  // Keep `node:` in imports: `node:sqlite` (and any newer builtin) exists only under that name.
  removeNodeProtocol: false,
  onSuccess: async () => {
    // The trace viewer's plain files, served by `graphent dev` from next to the bundle.
    fs.cpSync("src/programs/viewer", "dist/programs/viewer", { recursive: true })
    // What `graphent --help` and `--version` print, as the built CLI prints them, plain and in colour (as on a
    // terminal): bin/graphent.js prints these files without loading the CLI.
    for (const flag of ["help", "version"]) {
      for (const colors of [false, true]) {
        const tty = colors ? ["--import", "data:text/javascript,process.stdout.isTTY=true"] : []
        const text = execFileSync(process.execPath, [...tty, "dist/programs/cli.js", `--${flag}`], {
          env: { ...process.env, NO_COLOR: colors ? "" : "1" }
        })
        fs.writeFileSync(`dist/programs/${flag}${colors ? ".color" : ""}.txt`, text)
      }
    }
  }
})
