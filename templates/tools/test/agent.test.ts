import { assert, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { AgentRuntime, PolicyFile } from "graphent"
import * as Testing from "graphent/testing"
import agent, { layer } from "../src/agent.js"
import { latestVersion } from "../src/tools.js"

it.effect("counts the words of a project file with the shell tool", () =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "count test/fixtures/poem.txt")
    assert.strictEqual(result.answer, "15 words in 2 lines")
  }).pipe(Effect.provide(Testing.layer), Effect.provide(layer)))

it.effect("the policy keeps a guest off the network: the HTTP tool is denied before any request", () =>
  Effect.gen(function*() {
    const policy = yield* PolicyFile.make("policy.json")
    const { audit, exit } = yield* Testing.callTool(latestVersion, { name: "effect" }, {
      policy,
      context: { principal: { id: "guest", roles: ["reader"] } }
    })
    assert.isTrue(Exit.isFailure(exit))
    assert.strictEqual(audit[0]?.decision, "deny")
  }).pipe(Effect.provide(layer)))

// Recorded with: npx graphent run src/agent.ts --input "count test/fixtures/poem.txt" --record test/fixtures/agent.jsonl
// The shell tool's output comes from the journal: the replay runs no process.
it.effect("replays its golden journal", () => Testing.replayJournal(agent, "test/fixtures/agent.jsonl").pipe(Effect.provide(layer)))
