/**
 * examples/research.ts: a coordinator delegating to a searcher and a writer
 * sub-agent, offline on the example's scripted model; its golden journal
 * (test/fixtures/journals/research.jsonl, the coordinator's run and both child
 * runs) replays identically with no model, a change inside a child is named
 * with the child's run, and `trace show` nests the children under their steps.
 */
import { assert, describe, it } from "@effect/vitest"
import { fileURLToPath } from "node:url"
import { ConfigProvider, Effect, Layer } from "effect"
import { AgentRuntime, Journal, JournalFile, Replay, type RunEvent, ScriptedModel } from "graphent"
import * as Testing from "graphent/testing"
import coordinator, { layer as modelLayer } from "../../examples/research.js"
import * as TraceView from "../../src/programs/traceView.js"

const offline = Layer.mergeAll(
  Testing.layer,
  modelLayer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: {} }))))
)

const golden = fileURLToPath(new URL("../fixtures/journals/research.jsonl", import.meta.url))

const goldenEvents = Effect.map(JournalFile.readFile(golden), ({ events }) => events)

describe("examples/research.ts (offline model)", () => {
  it.effect("the coordinator delegates to the searcher, then the writer: two child runs, one answer", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(coordinator, "effect fibers")
      assert.match(result.answer, /^effect fibers\. Effect is a TypeScript library/)
      assert.deepStrictEqual(result.steps.map((step) => step.tool), ["searcher", "writer"])
      const journal = yield* Journal.Journal
      const runs = yield* journal.runs
      assert.sameMembers([...runs], ["run-1", "run-1/delegate-search", "run-1/delegate-write"])
      const search = yield* journal.read("run-1/delegate-search")
      assert.strictEqual(search[0]?._tag === "RunStarted" ? search[0].agent : undefined, "searcher")
      // The tree's usage: the coordinator's model calls and the children's.
      assert.strictEqual(result.usage.modelCalls, 6)
    }).pipe(Effect.provide(offline)))

  it.effect("the golden journal replays identically with no model: every event of the tree", () =>
    Effect.gen(function*() {
      const events = yield* goldenEvents
      const report = yield* Replay.replay(coordinator, events)
      assert.strictEqual(report.identical, events.length)
      const end = events.find((event) => event._tag === "RunCompleted" && !event.runId.includes("/"))
      assert.deepStrictEqual(report.outcome, { answer: end?._tag === "RunCompleted" ? end.answer : "" })
    }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([])))))

  it.effect("a child's recorded tool call changed: the divergence names the child run and its step", () =>
    Effect.gen(function*() {
      const events = (yield* goldenEvents).map((event): RunEvent.RunEvent =>
        event._tag === "StepStarted" && event.tool === "search" ? { ...event, args: { query: "something else" } } : event
      )
      const error = yield* Effect.flip(Replay.replay(coordinator, events))
      assert.strictEqual(error._tag, "ReplayDivergence")
      if (error._tag !== "ReplayDivergence") return
      assert.isTrue(error.runId?.endsWith("/delegate-search"))
      assert.strictEqual(error.kind, "step")
      assert.strictEqual(error.at, "search-1")
    }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([])))))

  it.effect("trace show nests each child run under the coordinator's step", () =>
    Effect.gen(function*() {
      const lines = TraceView.render(yield* goldenEvents).split("\n")
      const step = lines.findIndex((line) => line.includes("✓ delegate-search searcher"))
      assert.isAbove(step, 0)
      assert.match(lines[step + 1]!, /^│  │  run .*\/delegate-search  agent searcher .*\(child of /)
      assert.isTrue(lines.some((line) => /^│  │  │  ├─ ✓ search-1 search/.test(line)))
      assert.match(lines.at(-2)!, /^└─ ✓ completed/)
    }))
})
