import * as fs from "node:fs"
import { defineConfig } from "tsup"

export default defineConfig({
  entry: { index: "src/index.ts", testing: "src/testing.ts", "programs/cli": "src/programs/cli.ts" },
  format: ["esm"],
  target: "node22",
  dts: true,
  clean: true,
  sourcemap: true,
  splitting: true,
  // Keep `node:` in imports: `node:sqlite` (and any newer builtin) exists only under that name.
  removeNodeProtocol: false,
  // The trace viewer's plain files, served by `graphent dev` from next to the bundle.
  onSuccess: async () => {
    fs.cpSync("src/programs/viewer", "dist/programs/viewer", { recursive: true })
  }
})
