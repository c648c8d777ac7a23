import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { AgentRuntime, Journal, Memory, type RunEvent } from "graphent"
import * as Testing from "graphent/testing"
import echo from "../../examples/echo.js"
import todo from "../../examples/todo.js"

const stepOrder = (events: ReadonlyArray<RunEvent.RunEvent>) =>
  events.flatMap((event) =>
    event._tag === "StepStarted" ? [`start:${event.stepId}`] : event._tag === "StepSucceeded" ? [`end:${event.stepId}`] : []
  )

describe("examples/todo.ts", () => {
  it.effect("add, add, done, list: the answer describes every command, in order", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(todo, "add buy milk; add call mom; done 1; list")
      assert.strictEqual(
        result.answer,
        "Added #1: buy milk\nAdded #2: call mom\nDone #1: buy milk\n[x] #1 buy milk\n[ ] #2 call mom"
      )
      // each command runs after the previous one
      assert.deepStrictEqual(stepOrder(result.events), [
        "start:1",
        "end:1",
        "start:2",
        "end:2",
        "start:3",
        "end:3",
        "start:4",
        "end:4"
      ])
      const stored = yield* Memory.Memory.use((memory) => memory.get(Memory.agent("todo"), "todos"))
      assert.deepStrictEqual(
        stored,
        Option.some([{ id: 1, text: "buy milk", done: true }, { id: 2, text: "call mom", done: false }])
      )
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the list survives between runs (Memory)", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(todo, "add water plants")
      yield* AgentRuntime.run(todo, "add pay rent")
      const result = yield* AgentRuntime.run(todo, "complete #2; ls")
      assert.strictEqual(result.answer, "Done #2: pay rent\n[ ] #1 water plants\n[x] #2 pay rent")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("list on an empty list", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(todo, "list")
      assert.strictEqual(result.answer, "No todos.")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("done 7 on a missing item: ToolFailed with the TodoNotFound message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(todo, "done 7"))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.tool, "complete")
      assert.strictEqual(error.stepId, "1")
      assert.strictEqual(error.defect, false)
      assert.strictEqual(error.reason, "there is no todo #7")
      assert.strictEqual((error.cause as { _tag: string })._tag, "TodoNotFound")
      assert.strictEqual(error.message, `step "1": tool "complete" failed: there is no todo #7`)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a failing command skips the commands after it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(todo, "add a; done 9; add b"))
      assert.strictEqual(error._tag, "ToolFailed")
      const events = yield* Journal.Journal.use((journal) => journal.read("run-1"))
      const skipped = events.flatMap((event) => event._tag === "StepSkipped" ? [[event.stepId, event.blockedBy]] : [])
      assert.deepStrictEqual(skipped, [["3", "2"]])
      const stored = yield* Memory.Memory.use((memory) => memory.get(Memory.agent("todo"), "todos"))
      assert.deepStrictEqual(stored, Option.some([{ id: 1, text: "a", done: false }]))
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("an unknown command: the fallback answer, no steps", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(todo, "dance")
      assert.strictEqual(result.answer, `I did not understand "dance". Try: add <text>, list, done <n>.`)
      assert.deepStrictEqual(result.usage, { turns: 1, steps: 0 })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("one unknown command among valid ones: the fallback answer, nothing runs", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(todo, "add milk; dance")
      assert.strictEqual(result.answer, `I did not understand "add milk; dance". Try: add <text>, list, done <n>.`)
      assert.deepStrictEqual(result.steps, [])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("empty input: the fallback answer", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(todo, " ; ")
      assert.include(result.answer, "I did not understand")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("stored todos that do not decode: ToolFailed carrying the MemoryError", () =>
    Effect.gen(function*() {
      yield* Memory.Memory.use((memory) => memory.set(Memory.agent("todo"), "todos", [{ id: "x" }]))
      const error = yield* Effect.flip(AgentRuntime.run(todo, "list"))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.include(error.reason, `fact "todos" in agent:todo does not decode`)
    }).pipe(Effect.provide(Testing.layer)))
})

describe("examples/echo.ts", () => {
  it.effect("answers its input through the echo tool", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(echo, "hello world")
      assert.strictEqual(result.answer, "hello world")
      assert.deepStrictEqual(result.steps.map((step) => step.tool), ["echo"])
    }).pipe(Effect.provide(Testing.layer)))
})
