import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { TestConsole } from "effect/testing"
import { Agent, AgentRuntime, Logging, SequencePlanner, Tool } from "graphent"
import * as Testing from "graphent/testing"
import { withEnv } from "../support/env.js"

const chatty = Tool.make("chatty", {
  description: "Logs a line",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.logInfo("inside tool").pipe(Effect.as("ok"))
})

const agent = Agent.make({
  name: "logger",
  tools: [chatty],
  planner: SequencePlanner.plan({ steps: [{ id: "talk", tool: "chatty", args: {} }] })
})

interface JsonLine {
  readonly message: unknown
  readonly level: string
  readonly annotations: Record<string, unknown>
}

const parseJson = (lines: ReadonlyArray<unknown>) =>
  lines.flatMap((line): Array<JsonLine> => {
    if (typeof line !== "string") return []
    try {
      return [JSON.parse(line) as JsonLine]
    } catch {
      return []
    }
  })

const jsonLines = Effect.map(TestConsole.logLines, parseJson)

const textOf = (lines: ReadonlyArray<unknown>) =>
  lines.map((line) => Array.isArray(line) ? line.join(" ") : String(line)).join("\n")

describe("Logging", () => {
  it.effect("layer({ format: json }): one JSON object per line, with the message and level", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(agent, "go")
      const lines = yield* jsonLines
      const line = lines.find((entry) => entry.message === "inside tool")
      assert.isDefined(line)
      assert.strictEqual(line?.level, "INFO")
    }).pipe(Effect.provide(Testing.layer), Effect.provide(Logging.layer({ format: "json" }))))

  it.effect("layer({ format: json }): a tool's log line carries the agent, step and traceId annotations", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "go")
      const line = (yield* jsonLines).find((entry) => entry.message === "inside tool")
      assert.isDefined(line)
      if (line === undefined) return
      assert.strictEqual(line.annotations.agent, "logger")
      assert.strictEqual(line.annotations.step, "talk")
      assert.strictEqual(line.annotations.traceId, result.traceId)
    }).pipe(Effect.provide(Testing.layer), Effect.provide(Logging.layer({ format: "json" }))))

  it.effect("layer({ format: json }): a tool's log line carries the runId annotation (as documented)", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "go")
      const line = (yield* jsonLines).find((entry) => entry.message === "inside tool")
      assert.isDefined(line)
      assert.strictEqual(line?.annotations.runId, result.runId)
    }).pipe(Effect.provide(Testing.layer), Effect.provide(Logging.layer({ format: "json" }))))

  it.effect("layer({ format: pretty }): readable text, not JSON", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(agent, "go")
      const lines = yield* TestConsole.logLines
      assert.include(textOf(lines), "inside tool")
      assert.strictEqual((yield* jsonLines).length, 0)
    }).pipe(Effect.provide(Testing.layer), Effect.provide(Logging.layer({ format: "pretty" }))))

  it.effect("layer({ format: json, stderr: true }): JSON lines go to standard error, nothing to standard output", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(agent, "go")
      const errors = parseJson(yield* TestConsole.errorLines)
      assert.isDefined(errors.find((entry) => entry.message === "inside tool"))
      assert.notInclude(textOf(yield* TestConsole.logLines), "inside tool")
    }).pipe(Effect.provide(Testing.layer), Effect.provide(Logging.layer({ format: "json", stderr: true }))))

  it.effect("layer({ format: pretty, stderr: true }): text goes to standard error", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(agent, "go")
      assert.include(textOf(yield* TestConsole.errorLines), "inside tool")
      assert.notInclude(textOf(yield* TestConsole.logLines), "inside tool")
    }).pipe(Effect.provide(Testing.layer), Effect.provide(Logging.layer({ format: "pretty", stderr: true }))))

  it.effect("layerConfig: GRAPHENT_LOG=json selects JSON lines", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(agent, "go")
      const line = (yield* jsonLines).find((entry) => entry.message === "inside tool")
      assert.isDefined(line)
    }).pipe(
      Effect.provide(Testing.layer),
      Effect.provide(Logging.layerConfig().pipe(Layer.provide(withEnv({ GRAPHENT_LOG: "json" }))))
    ))

  it.effect("layerConfig: pretty by default", () =>
    Effect.gen(function*() {
      yield* AgentRuntime.run(agent, "go")
      assert.include(textOf(yield* TestConsole.logLines), "inside tool")
      assert.strictEqual((yield* jsonLines).length, 0)
    }).pipe(
      Effect.provide(Testing.layer),
      Effect.provide(Logging.layerConfig().pipe(Layer.provide(withEnv({}))))
    ))

  it.effect("layerConfig: an unknown format is a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.void.pipe(Effect.provide(Logging.layerConfig().pipe(Layer.provide(withEnv({ GRAPHENT_LOG: "xml" })))))
      )
      assert.strictEqual(error._tag, "ConfigError")
    }))
})
