import * as fs from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

// Agent files and stores that tests write live in test/.scratch (git-ignored), inside the project so that
// "effect" and "graphent" resolve from them; a fresh clone does not have the folder yet.
fs.mkdirSync(fileURLToPath(new URL("./test/.scratch", import.meta.url)), { recursive: true })

// Test files keep apart (table prefixes with the pid, their own temp folders and stores), so they run in
// parallel. Most of their time is spent waiting on child processes (the `graphent` CLI, PGlite, servers),
// not in the worker itself: Vitest's default (one worker per core, minus one: a single worker on a 2-core
// machine) leaves cores idle, so run at least 3 files at once. VITEST_MAX_WORKERS still overrides it.
const workers = Math.max(3, os.availableParallelism())

export default defineConfig({
  resolve: {
    // The package's entries from their sources: `graphent` is src/index.ts, `graphent/<sub-path>` src/<sub-path>.ts.
    alias: [
      { find: /^graphent$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
      { find: /^graphent\/(.+)$/, replacement: fileURLToPath(new URL("./src/$1.ts", import.meta.url)) }
    ]
  },
  test: {
    include: ["test/**/*.test.ts", "examples/apps/*/test/**/*.test.ts"],
    // PostgreSQL and Redis must answer first: a missing one fails the run at once, naming its variable.
    globalSetup: ["test/support/services.ts"],
    // Generous: on a shared 2-core machine one `graphent` process may take 20–40 s (10× a quiet machine's time),
    // and a test that spawns one or two must not fail for that. A hung process is still ended by the spawner's
    // own timeout (test/support/cli.ts).
    testTimeout: 120_000,
    maxWorkers: workers
  }
})
