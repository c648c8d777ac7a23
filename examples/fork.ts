/**
 * Time travel with an edit: record a run, then fork it at a step with another
 * result. The steps before the fork point are answered from the journal (not
 * run again); the steps after it run live and see the edit.
 *
 *   npx tsx examples/fork.ts
 */
import { Effect } from "effect"
import { AgentRuntime, LocalRuntime, Replay } from "graphent"
import wordstats from "./wordstats.js"

export const program = Effect.gen(function*() {
  const recorded = yield* AgentRuntime.run(wordstats, "the quick brown fox")
  // What if "longest" had found another word? Fork at that step with that result.
  const forked = yield* Replay.fork(wordstats, recorded.events, {
    at: "longest",
    edit: Replay.setResult("longest", "jumps")
  })
  // The fork is a new run that names its parent, and it replays like any run.
  yield* Replay.replay(wordstats, forked.result.events)
  return [recorded.answer, forked.result.answer, `forked from ${forked.forkedFrom.runId} at ${forked.forkedFrom.at}`]
}).pipe(Effect.provide(LocalRuntime.layerMemory))

if (import.meta.main) for (const line of await Effect.runPromise(program)) console.log(line)
