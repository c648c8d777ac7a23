/**
 * `graphent replay --ignore` names exact field paths, through the CLI program (in this process):
 * ignoring a tool call's argument does not hide the same change in the
 * decision that planned it, so a golden test fails when the agent's decision
 * really changed; a `**` pattern hides it only when written so.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"

const { root } = Cli
const dir = Cli.scratch("replay-ignore")
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const graphent = (...args: Array<string>) => Cli.inProcess(args, { env: { GRAPHENT_STORE: "memory" } })

// The echo agent, changed: it now shouts. Its decision (the step's text) differs from the golden journal's.
const shouting = path.join(dir, "echo.ts")
fs.writeFileSync(
  shouting,
  `import { Agent, SequencePlanner } from "graphent"
import { echo } from "../../../examples/echo.ts"
export default Agent.make({
  name: "echo",
  tools: [echo],
  planner: SequencePlanner.rules([
    { match: () => true, steps: (input) => [{ id: "echo", tool: "echo", args: { text: input.toUpperCase() } }] }
  ])
})
`
)
const golden = "test/fixtures/journals/echo.jsonl"

describe("graphent replay --ignore", () => {
  it("the unchanged agent replays identically (the golden test passes)", async () => {
    const result = await graphent("replay", golden)
    assert.strictEqual(result.code, 0, result.stderr)
  })

  for (const ignore of ["text", "args.text"]) {
    it(`--ignore ${ignore} does not hide a changed decision: exit 1 with the diff`, async () => {
      const result = await graphent("replay", golden, "--agent", shouting, "--ignore", ignore)
      assert.strictEqual(result.code, 1, result.stdout)
      assert.include(result.stderr, `steps[0].args.text: "hello, journal" → "HELLO, JOURNAL"`)
    })
  }

  it("the exact paths of both the decision and the call, or **.text, hide it: asked for explicitly", async () => {
    const exact = await graphent("replay", golden, "--agent", shouting, "--ignore", "steps.*.args.text", "--ignore", "args.text")
    assert.strictEqual(exact.code, 0, exact.stderr)
    // The echo tool's result comes from the recording, so the answer matches too.
    const anywhere = await graphent("replay", golden, "--agent", shouting, "--ignore", "**.text")
    assert.strictEqual(anywhere.code, 0, anywhere.stderr)
    assert.match(anywhere.stdout, /^identical: \d+ events\n$/)
  })
})
