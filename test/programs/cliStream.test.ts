import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"

// Notes last across processes in the project's store: here the test PostgreSQL under tables of this file's own
// (the embedded store would cost each process seconds to open).
const stores = Store.tracker()
const prefix = stores.prefix("_stream")
afterAll(() => stores.cleanUp(), 60_000)

// The example's offline model, whatever the developer's shell says.
const env = { GRAPHENT_DATABASE_URL: Store.pgUrl, GRAPHENT_STORE_PREFIX: prefix, GRAPHENT_MODEL: undefined }
/** The executable, as a child process: the notes must outlive it. */
const graphent = (...args: Array<string>) => Cli.graphent(args, { env })

describe("graphent run examples/assistant.ts", () => {
  it("--stream prints the model's text on stdout and the tool calls on stderr; notes last across processes", () => {
    const first = graphent(
      "run",
      "examples/assistant.ts",
      "--thread",
      "cli-stream",
      "--input",
      "remember that x is 5 and what is 2^10",
      "--stream"
    )
    assert.strictEqual(first.code, 0, first.stderr)
    assert.strictEqual(first.stdout, "Noted: x is 5. The answer is 1024.\n")
    assert.include(first.stderr, "→ notes({\"action\":\"add\",\"text\":\"x is 5\"})")
    assert.include(first.stderr, "→ calculator({\"expression\":\"2^10\"})")

    // A new process, the same thread: the note is in the embedded store.
    const second = graphent("run", "examples/assistant.ts", "--thread", "cli-stream", "--input", "what do you remember?")
    assert.strictEqual(second.code, 0, second.stderr)
    assert.strictEqual(second.stdout, "Your notes: x is 5.\n")
  }, 180_000)

  it("--stream with a planner that streams nothing prints the answer", async () => {
    const result = await Cli.inProcess(["run", "examples/echo.ts", "--input", "plain", "--stream"], { env })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout, "plain\n")
    assert.include(result.stderr, "→ echo({\"text\":\"plain\"})")
  }, 90_000)

  it("--stream and --json together are a usage error", async () => {
    const result = await Cli.inProcess(["run", "examples/echo.ts", "--input", "x", "--stream", "--json"], { env })
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "--json")
  }, 90_000)
})
