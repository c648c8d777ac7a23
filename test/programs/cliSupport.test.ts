/**
 * The CLI's exit codes come from the error's declared outcome (`Errors`), not
 * from a list of error names: one failure per outcome, in process.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Journal, JournalMemory, Policy, Replay, Tool } from "graphent"
import echo from "../../examples/echo.js"
import { type Exit, inMemory, runWith } from "../../src/programs/cliSupport.js"

const module = { file: "examples/echo.ts", agent: echo, layer: undefined }

/** The `Exit` a command ends with when its program fails with `error`. */
const exitOf = (error: unknown) =>
  Effect.flip(runWith(module, inMemory(JournalMemory.layer()), Effect.fail(error))) as Effect.Effect<Exit>

describe("cliSupport.runWith: exit codes by the error's outcome", () => {
  it.effect("a failed run 1, a store down 2, a pause 3 (with its prefix), a foreign error 1", () =>
    Effect.gen(function*() {
      const failed = yield* exitOf(new Tool.ToolFailed({ stepId: "s1", tool: "fetch", reason: "boom", defect: false, cause: undefined }))
      assert.deepStrictEqual([failed.code, failed.reason], [1, `step "s1": tool "fetch" failed: boom`])
      const down = yield* exitOf(new Journal.JournalError({ backend: "postgres", operation: "connect", reason: "refused" }))
      assert.deepStrictEqual([down.code, down.reason], [2, "journal (postgres) connect failed: refused"])
      const unavailable = yield* exitOf(new Replay.ReplayUnavailable({ reason: "no run in the journal" }))
      assert.strictEqual(unavailable.code, 2)
      const paused = yield* exitOf(
        new Policy.ApprovalRequired({ stepId: "deploy", tool: "deploy", capability: "tool:deploy", principal: "ann" })
      )
      assert.strictEqual(paused.code, 3)
      assert.match(paused.reason, /^paused: step "deploy" .* needs approval/)
      const foreign = yield* exitOf(new Error("something else"))
      assert.deepStrictEqual([foreign.code, foreign.reason], [1, "something else"])
    }))
})
