import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

// Agent files and stores that tests write live in test/.scratch (git-ignored), inside the project so that
// "effect" and "graphent" resolve from them; a fresh clone does not have the folder yet.
fs.mkdirSync(fileURLToPath(new URL("./test/.scratch", import.meta.url)), { recursive: true })

export default defineConfig({
  resolve: {
    alias: {
      "graphent/testing": fileURLToPath(new URL("./src/testing.ts", import.meta.url)),
      graphent: fileURLToPath(new URL("./src/index.ts", import.meta.url))
    }
  },
  test: {
    include: ["test/**/*.test.ts"],
    // PostgreSQL and Redis must answer first: a missing one fails the run at once, naming its variable.
    globalSetup: ["test/support/services.ts"],
    testTimeout: 30_000
  }
})
