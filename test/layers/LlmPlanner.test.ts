import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import type * as Prompt from "effect/ai/Prompt"
import {
  Agent,
  AgentRuntime,
  Audit,
  AuditMemory,
  Journal,
  LlmPlanner,
  Memory,
  ModelTransport,
  Policy,
  Pricing,
  Replay,
  type RunEvent,
  ScriptedModel,
  Tool,
  ToolGuard
} from "graphent"
import * as Testing from "graphent/testing"

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { key: Schema.String }) {}

const makeLookup = (recoverable: boolean) =>
  Tool.make("lookup", {
    description: "Looks a key up",
    parameters: Schema.Struct({ key: Schema.String }),
    success: Schema.String,
    recoverable,
    handler: ({ key }) => key === "known" ? Effect.succeed("value") : Effect.fail(new NotFound({ key }))
  })

/** A tool that counts how many of its calls run at once. */
const makeSlow = () => {
  const stats = { inFlight: 0, maxInFlight: 0 }
  const tool = Tool.make("slow", {
    description: "Takes a while",
    parameters: Schema.Struct({ n: Schema.Number }),
    success: Schema.Number,
    handler: ({ n }) =>
      Effect.gen(function*() {
        stats.inFlight++
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
        yield* Effect.sleep(5)
        stats.inFlight--
        return n * 10
      })
  })
  return { tool, stats }
}

const assistant = Agent.make({
  name: "assistant",
  instructions: "You are a calculator.",
  tools: [add, makeLookup(false)],
  planner: LlmPlanner.make()
})

const run = <O>(agent: Agent.Agent<any, O>, input: string, options?: AgentRuntime.RunOptions) =>
  AgentRuntime.run(agent, input, options)

const journalOf = (runId: string) => Journal.Journal.use((journal) => journal.read(runId))

/** The last message of a prompt the model received. */
const lastMessage = (prompt: Prompt.Prompt) => prompt.content[prompt.content.length - 1]!

const toolResults = (prompt: Prompt.Prompt) => {
  const message = lastMessage(prompt)
  assert.strictEqual(message.role, "tool")
  return (message.content as ReadonlyArray<Prompt.ToolResultPart>).map((part) => ({
    id: part.id,
    name: part.name,
    isFailure: part.isFailure,
    result: part.result
  }))
}

const withModel = (script: Parameters<typeof ScriptedModel.layer>[0]) =>
  Layer.mergeAll(Testing.layer, ScriptedModel.layer(script))

// ---------------------------------------------------------------------------
// the loop
// ---------------------------------------------------------------------------

describe("LlmPlanner", () => {
  it.effect("multi-turn tool use: the tool result goes back to the model, then it answers", () =>
    Effect.gen(function*() {
      const result = yield* run(assistant, "what is 2 + 3?")
      assert.strictEqual(result.answer, "2 + 3 = 5")
      assert.strictEqual(result.output, "2 + 3 = 5")
      assert.deepStrictEqual(result.steps.map((step) => [step.id, step.tool, step._tag]), [["c1", "add", "Succeeded"]])

      const calls = yield* ScriptedModel.calls
      assert.strictEqual(calls.length, 2)
      assert.deepStrictEqual(calls[0]!.tools, ["add", "lookup"])
      const first = calls[0]!.prompt.content
      assert.deepStrictEqual(first.map((message) => message.role), ["system", "user"])
      assert.strictEqual(first[0]!.content, "You are a calculator.")
      assert.deepStrictEqual(toolResults(calls[1]!.prompt), [{ id: "c1", name: "add", isFailure: false, result: 5 }])
      yield* ScriptedModel.assertUsedUp

      // Usage: model calls and tokens, in the result and the terminal event.
      assert.strictEqual(result.usage.modelCalls, 2)
      assert.strictEqual(result.usage.inputTokens, 30)
      assert.strictEqual(result.usage.outputTokens, 7)
      assert.strictEqual(result.usage.cost, undefined)
      const events = yield* journalOf(result.runId)
      const modelCalls = events.filter((event) => event._tag === "ModelCalled")
      assert.deepStrictEqual(modelCalls.map((event) => [event.turn, event.call, event.model]), [
        [1, 1, "scripted"],
        [2, 2, "scripted"]
      ])
      assert.deepStrictEqual(modelCalls[1]!.response.usage, { inputTokens: 20, outputTokens: 5 })
      // The journal keeps each prompt as what is new since the previous call: the conversation is stored once.
      assert.deepStrictEqual(modelCalls.map((event) => [event.request.prefix, event.request.messages.length]), [[0, 2], [2, 2]])
      assert.deepStrictEqual(events.map((event) => event._tag), [
        "RunStarted",
        "ModelCalled",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "ModelCalled",
        "DecisionMade",
        "RunCompleted"
      ])
      const completed = events[events.length - 1]!
      assert(completed._tag === "RunCompleted")
      assert.deepStrictEqual(completed.usage, result.usage)
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCalls([{ name: "add", params: { a: 2, b: 3 }, id: "c1" }], {
          usage: { inputTokens: 10, outputTokens: 2 }
        }),
        ScriptedModel.text("2 + 3 = 5", { inputTokens: 20, outputTokens: 5 })
      ]))
    ))

  it.live("several tool calls in one response run concurrently", () => {
    const slow = makeSlow()
    const agent = Agent.make({ name: "parallel", tools: [slow.tool], planner: LlmPlanner.make() })
    return Effect.gen(function*() {
      const result = yield* run(agent, "go")
      assert.strictEqual(result.answer, "done")
      assert.strictEqual(slow.stats.maxInFlight, 3)
      assert.deepStrictEqual(result.steps.map((step) => step._tag === "Succeeded" ? step.value : undefined).sort(), [
        10,
        20,
        30
      ])
      const calls = yield* ScriptedModel.calls
      assert.deepStrictEqual(toolResults(calls[1]!.prompt).map((result) => result.result), [10, 20, 30])
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCalls([1, 2, 3].map((n) => ({ name: "slow", params: { n } }))),
        ScriptedModel.text("done")
      ]))
    )
  })

  it.effect("the model's text beside its tool calls stays in the conversation", () =>
    Effect.gen(function*() {
      yield* run(assistant, "add")
      const calls = yield* ScriptedModel.calls
      const assistantMessage = calls[1]!.prompt.content[2]!
      assert.strictEqual(assistantMessage.role, "assistant")
      const parts = assistantMessage.content as ReadonlyArray<Prompt.AssistantMessagePart>
      assert.deepStrictEqual(parts.map((part) => part.type), ["text", "tool-call"])
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCalls([{ name: "add", params: { a: 1, b: 1 } }], { text: "Let me add." }),
        ScriptedModel.text("2")
      ]))
    ))

  it.effect("model ids reused across turns still give unique step ids", () =>
    Effect.gen(function*() {
      const result = yield* run(assistant, "twice")
      assert.deepStrictEqual(result.steps.map((step) => step.id), ["call_0", "call_0~2.0"])
      const calls = yield* ScriptedModel.calls
      assert.deepStrictEqual(toolResults(calls[2]!.prompt).map((result) => result.id), ["call_0~2.0"])
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCall("add", { a: 1, b: 1 }, "call_0"),
        ScriptedModel.toolCall("add", { a: 2, b: 2 }, "call_0"),
        ScriptedModel.text("done")
      ]))
    ))
})

// ---------------------------------------------------------------------------
// mistakes
// ---------------------------------------------------------------------------

describe("LlmPlanner: the model's mistakes are fed back", () => {
  it.effect("an unknown tool: the model sees ToolNotFound and tries again", () =>
    Effect.gen(function*() {
      const result = yield* run(assistant, "2+2")
      assert.strictEqual(result.answer, "4")
      // Both attempts count against the step budget.
      assert.strictEqual(result.usage.steps, 2)
      const calls = yield* ScriptedModel.calls
      const [feedback] = toolResults(calls[1]!.prompt)
      assert.strictEqual(feedback!.isFailure, true)
      assert.include(String(feedback!.result), "ToolNotFound")
      assert.include(String(feedback!.result), "multiply")
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCall("multiply", { a: 2, b: 2 }),
        ScriptedModel.toolCall("add", { a: 2, b: 2 }),
        ScriptedModel.text("4")
      ]))
    ))

  it.effect("arguments the tool's Schema rejects (and arguments that are not JSON) are shown to the model", () =>
    Effect.gen(function*() {
      const result = yield* run(assistant, "2+2")
      assert.strictEqual(result.answer, "4")
      const calls = yield* ScriptedModel.calls
      const [badType] = toolResults(calls[1]!.prompt)
      assert.include(String(badType!.result), "ToolArgumentsInvalid")
      assert.include(String(badType!.result), "b")
      const [notJson] = toolResults(calls[2]!.prompt)
      assert.include(String(notJson!.result), "ToolArgumentsInvalid")
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCall("add", { a: 2, b: "two" }),
        ScriptedModel.toolCall("add", "{\"a\": 2, \"b\": "),
        ScriptedModel.toolCall("add", { a: 2, b: 2 }),
        ScriptedModel.text("4")
      ]))
    ))

  it.effect("a tool's typed failure ends the run unless the tool is recoverable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(assistant, "look up x"))
      assert.strictEqual(error._tag, "ToolFailed")
      assert.include(error.message, "lookup")
      yield* ScriptedModel.assertUsedUp
    }).pipe(Effect.provide(withModel([ScriptedModel.toolCall("lookup", { key: "missing" })]))))

  it.effect("a recoverable tool's failure goes back to the model", () => {
    const agent = Agent.make({ name: "lenient", tools: [makeLookup(true)], planner: LlmPlanner.make() })
    return Effect.gen(function*() {
      const result = yield* run(agent, "look up")
      assert.strictEqual(result.answer, "value")
      const calls = yield* ScriptedModel.calls
      const [feedback] = toolResults(calls[1]!.prompt)
      assert.strictEqual(feedback!.isFailure, true)
      assert.include(String(feedback!.result), "ToolFailed")
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCall("lookup", { key: "missing" }),
        ScriptedModel.toolCall("lookup", { key: "known" }),
        ScriptedModel.text("value")
      ]))
    )
  })

  it.effect("a tool the policy denies goes back to the model, which answers without it", () => {
    const policy: Policy.Document = { version: 1, roles: { user: { allow: ["tool:add"] } } }
    const guard = ToolGuard.layer({}).pipe(
      Layer.provideMerge(
        Layer.mergeAll(Layer.succeed(Audit.Audit, AuditMemory.make()), Policy.layer(policy).pipe(Layer.orDie))
      )
    )
    return Effect.gen(function*() {
      const result = yield* run(assistant, "look x up", { principal: { id: "ann", roles: ["user"] } })
      assert.strictEqual(result.answer, "I may not look that up.")
      const calls = yield* ScriptedModel.calls
      const [feedback] = toolResults(calls[1]!.prompt)
      assert.strictEqual(feedback!.isFailure, true)
      assert.include(String(feedback!.result), "ToolDenied")
    }).pipe(
      Effect.provide(Layer.mergeAll(
        withModel([ScriptedModel.toolCall("lookup", { key: "known" }), ScriptedModel.text("I may not look that up.")]),
        guard
      ))
    )
  })

  it.effect("a failing model call is PlannerFailed with the provider's error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(assistant, "hi"))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "model call failed")
      assert.include(error.message, "overloaded")
    }).pipe(Effect.provide(withModel([ScriptedModel.fail("overloaded")]))))

  it.effect("a model that keeps calling tools runs out of steps", () => {
    const agent = Agent.make({ name: "loop", tools: [add], planner: LlmPlanner.make(), budget: { maxSteps: 3 } })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(run(agent, "loop"))
      assert.strictEqual(error._tag, "BudgetExceeded")
      assert(error._tag === "BudgetExceeded")
      assert.strictEqual(error.budget, "steps")
    }).pipe(
      Effect.provide(Layer.mergeAll(
        Testing.layer,
        ScriptedModel.layerFunction(() => ScriptedModel.toolCall("add", { a: 1, b: 1 }))
      ))
    )
  })
})

// ---------------------------------------------------------------------------
// structured output
// ---------------------------------------------------------------------------

const Weather = Schema.Struct({ city: Schema.String, celsius: Schema.Number })

const forecaster = Agent.make({
  name: "forecaster",
  tools: [],
  output: Weather,
  planner: LlmPlanner.make()
})

describe("LlmPlanner: structured output", () => {
  it.effect("the answer decodes with the output Schema, after repairs", () =>
    Effect.gen(function*() {
      const result = yield* run(forecaster, "weather in Paris")
      // Typed: result.output is { city, celsius }.
      const output: { readonly city: string; readonly celsius: number } = result.output
      assert.deepStrictEqual(output, { city: "Paris", celsius: 21 })
      const calls = yield* ScriptedModel.calls
      assert.strictEqual(calls.length, 3)
      const system = calls[0]!.prompt.content[0]!
      assert.include(String(system.content), "JSON Schema")
      assert.include(String(system.content), "celsius")
      const repair1 = lastMessage(calls[1]!.prompt)
      assert.strictEqual(repair1.role, "user")
      assert.include(JSON.stringify(repair1.content), "not JSON")
      const repair2 = JSON.stringify(lastMessage(calls[2]!.prompt).content)
      assert.include(repair2, "celsius")
      // All three calls belong to the one turn; each repair extends the previous prompt by two messages.
      const events = yield* journalOf(result.runId)
      const modelCalls = events.flatMap((event) => event._tag === "ModelCalled" ? [event] : [])
      assert.deepStrictEqual(modelCalls.map((event) => event.turn), [1, 1, 1])
      assert.deepStrictEqual(modelCalls.map((event) => [event.request.prefix, event.request.messages.length]), [
        [0, 2],
        [2, 2],
        [4, 2]
      ])
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.text("It is sunny."),
        ScriptedModel.text("{\"city\":\"Paris\"}"),
        ScriptedModel.text("```json\n{\"city\":\"Paris\",\"celsius\":21}\n```")
      ]))
    ))

  it.effect("after the last repair attempt: OutputInvalid", () =>
    Effect.gen(function*() {
      const strict = Agent.make({ name: "strict", tools: [], output: Weather, outputRepairs: 1, planner: LlmPlanner.make() })
      const error = yield* Effect.flip(run(strict, "x"))
      assert.strictEqual(error._tag, "OutputInvalid")
      assert.include(error.message, "output schema")
      assert.strictEqual((yield* ScriptedModel.calls).length, 2)
    }).pipe(Effect.provide(withModel([ScriptedModel.text("no"), ScriptedModel.text("still no")]))))
})

// ---------------------------------------------------------------------------
// budgets and cost
// ---------------------------------------------------------------------------

describe("LlmPlanner: token and cost budgets", () => {
  const script = [
    ScriptedModel.toolCall("add", { a: 1, b: 2 }),
    ScriptedModel.text("3", { inputTokens: 1000, outputTokens: 500 })
  ]
  const first = { inputTokens: 100, outputTokens: 50 }
  const scriptWithUsage = [
    ScriptedModel.toolCalls([{ name: "add", params: { a: 1, b: 2 } }], { usage: first }),
    ...script.slice(1)
  ]

  it.effect("cost from the price table, per call and per run", () =>
    Effect.gen(function*() {
      const result = yield* run(assistant, "1+2")
      // (100 * 2 + 50 * 10) / 1e6 + (1000 * 2 + 500 * 10) / 1e6
      assert.closeTo(result.usage.cost!, 0.0077, 1e-12)
      const events = yield* journalOf(result.runId)
      const costs = events.flatMap((event) => event._tag === "ModelCalled" ? [event.cost] : [])
      assert.closeTo(costs[0]!, 0.0007, 1e-12)
    }).pipe(
      Effect.provide(Layer.mergeAll(withModel(scriptWithUsage), Pricing.layer({ "scripted": { input: 2, output: 10 } })))
    ))

  it.effect("a token budget ends the run with BudgetExceeded after the call that crossed it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(assistant, "1+2", { budget: { maxTokens: 1000 } }))
      assert(error._tag === "BudgetExceeded")
      assert.strictEqual(error.budget, "tokens")
      assert.strictEqual(error.limit, 1000)
      assert.strictEqual(error.used, 1650)
      const runs = yield* Journal.Journal.use((journal) => journal.runs)
      const events = yield* journalOf(runs[0]!)
      // The call that crossed the budget is journaled; the run ends there.
      assert.deepStrictEqual(events.slice(-2).map((event) => event._tag), ["ModelCalled", "RunFailed"])
    }).pipe(Effect.provide(withModel(scriptWithUsage))))

  it.effect("a cost budget ends the run with BudgetExceeded", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(run(assistant, "1+2", { budget: { maxCost: 0.001 } }))
      assert(error._tag === "BudgetExceeded")
      assert.strictEqual(error.budget, "cost")
      assert.closeTo(error.used, 0.0077, 1e-12)
    }).pipe(
      Effect.provide(Layer.mergeAll(withModel(scriptWithUsage), Pricing.layer({ "scripted": { input: 2, output: 10 } })))
    ))

  it("the price table from GRAPHENT_PRICES: inline JSON, a file, and a bad value", async () => {
    const { ConfigProvider } = await import("effect")
    const read = (env: Record<string, string>) =>
      Effect.runPromiseExit(
        Effect.provide(Effect.gen(function*() {
          return yield* Pricing.Pricing
        }), Pricing.layerConfig).pipe(
          Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
        )
      )
    const file = path.join(os.tmpdir(), `graphent-prices-${process.pid}.json`)
    fs.writeFileSync(file, JSON.stringify({ "claude-sonnet": { input: 3, output: 15 } }))
    const fromFile = await read({ GRAPHENT_PRICES: `@${file}` })
    fs.rmSync(file)
    assert(fromFile._tag === "Success")
    assert.deepStrictEqual(Pricing.priceOf(fromFile.value, "anthropic:claude-sonnet"), { input: 3, output: 15 })
    const inline = await read({ GRAPHENT_PRICES: "{\"openai:gpt-4o-mini\":{\"input\":0.15,\"output\":0.6}}" })
    assert(inline._tag === "Success")
    assert.deepStrictEqual(Pricing.priceOf(inline.value, "openai:gpt-4o-mini"), { input: 0.15, output: 0.6 })
    const bad = await read({ GRAPHENT_PRICES: "{\"m\":{\"input\":-1,\"output\":1}}" })
    assert(bad._tag === "Failure")
    assert.include(String(bad.cause), "GRAPHENT_PRICES")
    const missing = await read({ GRAPHENT_PRICES: "@/nonexistent/prices.json" })
    assert(missing._tag === "Failure")
    assert.include(String(missing.cause), "cannot read")
  })
})

// ---------------------------------------------------------------------------
// streaming
// ---------------------------------------------------------------------------

describe("LlmPlanner: streaming", () => {
  it.effect("stream() carries text deltas and tool calls as they arrive; the journal keeps whole responses", () =>
    Effect.gen(function*() {
      const events = yield* AgentRuntime.stream(assistant, "2+3").pipe(Stream.runCollect)
      const tags = events.map((event) => event._tag)
      const deltas = events.flatMap((event) => event._tag === "TextDelta" ? [event.text] : [])
      assert.isAbove(deltas.length, 2)
      assert.strictEqual(deltas.join(""), "The sum of 2 and 3 is 5.")
      const toolCall = events.find((event) => event._tag === "ToolCallDelta")
      assert(toolCall?._tag === "ToolCallDelta")
      assert.strictEqual(toolCall.toolCall.name, "add")
      // The tool call is streamed before the turn's decision.
      assert.isBelow(tags.indexOf("ToolCallDelta"), tags.indexOf("DecisionMade"))
      const calls = yield* ScriptedModel.calls
      assert.deepStrictEqual(calls.map((call) => call.method), ["streamText", "streamText"])

      const journaled = yield* journalOf(events[0]!.runId)
      assert.notInclude(journaled.map((event) => event._tag), "TextDelta")
      assert.notInclude(journaled.map((event) => event._tag), "ToolCallDelta")
      const last = journaled.filter((event) => event._tag === "ModelCalled").pop()
      assert.strictEqual(last?._tag === "ModelCalled" ? last.response.text : undefined, "The sum of 2 and 3 is 5.")
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.toolCall("add", { a: 2, b: 3 }),
        ScriptedModel.text("The sum of 2 and 3 is 5.")
      ]))
    ))

  it.effect("raw stream chunks: tool-call arguments split across deltas arrive as one call", () =>
    Effect.gen(function*() {
      const events = yield* AgentRuntime.stream(assistant, "1+1").pipe(Stream.runCollect)
      const completed = events[events.length - 1]!
      assert(completed._tag === "RunCompleted")
      assert.strictEqual(completed.answer, "two")
      const started = events.find((event) => event._tag === "StepStarted")
      assert.deepStrictEqual(started?._tag === "StepStarted" ? started.args : undefined, { a: 1, b: 1 })
    }).pipe(
      Effect.provide(withModel([
        ScriptedModel.chunks([
          { type: "tool-params-start", id: "t1", name: "add" },
          { type: "tool-params-delta", id: "t1", delta: "{\"a\":1," },
          { type: "tool-params-delta", id: "t1", delta: "\"b\":1}" },
          { type: "tool-params-end", id: "t1" },
          { type: "tool-call", id: "t1", name: "add", params: { a: 1, b: 1 } },
          {
            type: "finish",
            reason: "tool-calls",
            usage: { inputTokens: { total: 5 }, outputTokens: { total: 5 } }
          }
        ]),
        ScriptedModel.text("two")
      ]))
    ))
})

// ---------------------------------------------------------------------------
// replay and resume
// ---------------------------------------------------------------------------

describe("LlmPlanner: replay and resume", () => {
  const script = [
    ScriptedModel.toolCall("add", { a: 2, b: 3 }, "c1"),
    ScriptedModel.toolCall("add", { a: 5, b: 5 }, "c2"),
    ScriptedModel.text("10")
  ]

  const record = Effect.gen(function*() {
    const result = yield* run(assistant, "2+3, then +5")
    return yield* journalOf(result.runId)
  }).pipe(Effect.provide(withModel(script)))

  /** A model that must not be called. */
  const noModel = ScriptedModel.layer([])

  it.effect("a recorded LLM run replays with no model", () =>
    Effect.gen(function*() {
      const events = yield* record
      const report = yield* Replay.replay(assistant, events).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, noModel))
      )
      assert.strictEqual(report.identical, events.length)
      assert.deepStrictEqual(report.outcome, { answer: "10" })
    }))

  it.effect("a changed prompt is a divergence at the model call", () =>
    Effect.gen(function*() {
      const events = yield* record
      const changed = Agent.make({
        name: "assistant",
        instructions: "You are a careful calculator.",
        tools: [add, makeLookup(false)],
        planner: LlmPlanner.make()
      })
      const error = yield* Effect.flip(
        Replay.replay(changed, events).pipe(Effect.provide(Layer.mergeAll(Testing.layer, noModel)))
      )
      assert(error._tag === "ReplayDivergence")
      assert.strictEqual(error.kind, "model")
      assert.strictEqual(error.at, "1")
      assert.include(error.message, "model call 1")
      assert.include(error.diff.join("\n"), "careful")
    }))

  it.effect("resume after a crash: recorded model calls and tool calls are not made again", () =>
    Effect.gen(function*() {
      const events = yield* record
      // The crash came after the second tool call finished, before the third model call.
      const cut = events.findIndex((event) => event._tag === "StepSucceeded" && event.stepId === "c2") + 1
      const prefix = events.slice(0, cut)
      const result = yield* Replay.resume(assistant, prefix).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([ScriptedModel.text("10")])))
      )
      assert.strictEqual(result.answer, "10")
      assert.strictEqual(result.usage.modelCalls, 3)
      assert.deepStrictEqual(result.steps.map((step) => step.id), ["c1", "c2"])
    }))

  it.effect("resume makes only the missing model call, with the whole conversation", () =>
    Effect.gen(function*() {
      const events = yield* record
      const cut = events.findIndex((event) => event._tag === "StepSucceeded" && event.stepId === "c2") + 1
      const model = ScriptedModel.layer([ScriptedModel.text("10")])
      yield* Effect.gen(function*() {
        yield* Replay.resume(assistant, events.slice(0, cut))
        const calls = yield* ScriptedModel.calls
        assert.strictEqual(calls.length, 1)
        assert.deepStrictEqual(toolResults(calls[0]!.prompt).map((result) => result.result), [10])
        assert.strictEqual(calls[0]!.prompt.content.length, 6)
      }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, model)))
    }))
})

// ---------------------------------------------------------------------------
// memory
// ---------------------------------------------------------------------------

describe("LlmPlanner: conversation memory", () => {
  it.effect("a thread's earlier turns are in the prompt; the answer is remembered", () =>
    Effect.gen(function*() {
      yield* run(assistant, "My name is Ada.", { threadId: "t1" })
      const second = yield* run(assistant, "What is my name?", { threadId: "t1" })
      assert.strictEqual(second.answer, "Ada.")
      const calls = yield* ScriptedModel.calls
      assert.deepStrictEqual(calls[1]!.prompt.content.map((message) => message.role), [
        "system",
        "user",
        "assistant",
        "user"
      ])
      const history = yield* Memory.Memory.use((memory) => memory.history(Memory.thread("t1")))
      assert.deepStrictEqual(history.map((message) => message.content), [
        "My name is Ada.",
        "Nice to meet you, Ada.",
        "What is my name?",
        "Ada."
      ])
      // Reading and writing the history are journaled values.
      const events = yield* journalOf(second.runId)
      assert.deepStrictEqual(
        events.flatMap((event: RunEvent.RunEvent) => event._tag === "ValueRecorded" ? [event.key] : []),
        ["history", "remember"]
      )
    }).pipe(
      Effect.provide(withModel([ScriptedModel.text("Nice to meet you, Ada."), ScriptedModel.text("Ada.")]))
    ))

  it.effect("replay of a thread's run sees the recorded history, not today's memory", () =>
    Effect.gen(function*() {
      const recorded = yield* Effect.gen(function*() {
        yield* run(assistant, "My name is Ada.", { threadId: "t1" })
        const second = yield* run(assistant, "What is my name?", { threadId: "t1" })
        return yield* journalOf(second.runId)
      }).pipe(Effect.provide(withModel([ScriptedModel.text("Hi Ada."), ScriptedModel.text("Ada.")])))
      // A fresh memory (empty thread): the history comes from the journal, and nothing is written.
      yield* Effect.gen(function*() {
        const report = yield* Replay.replay(assistant, recorded)
        assert.deepStrictEqual(report.outcome, { answer: "Ada." })
        const history = yield* Memory.Memory.use((memory) => memory.history(Memory.thread("t1")))
        assert.strictEqual(history.length, 0)
      }).pipe(Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([]))))
    }))
})

// ---------------------------------------------------------------------------
// the direct path and the LanguageModel path
// ---------------------------------------------------------------------------

describe("LlmPlanner: through the provider's transport or through LanguageModel", () => {
  const script = [
    ScriptedModel.toolCalls([{ name: "add", params: { a: 2, b: 3 }, id: "x" }, { name: "nope", params: {}, id: "y" }], {
      text: "Adding."
    }),
    ScriptedModel.text("5")
  ]
  /** The scripted model without its ModelTransport: like a provider from elsewhere, only a LanguageModel. */
  const languageModelOnly = Layer.effectContext(
    Effect.map(Effect.context<never>(), Context.omit(ModelTransport.ModelTransport))
  ).pipe(Layer.provide(ScriptedModel.layer(script)))

  const journalOfRun = (stream: boolean) =>
    Effect.gen(function*() {
      const runId = stream
        ? (yield* AgentRuntime.stream(assistant, "2+3").pipe(Stream.runCollect))[0]!.runId
        : (yield* run(assistant, "2+3")).runId
      const events = yield* journalOf(runId)
      // Everything but the clock readings and the trace id.
      return events.map(({ at: _at, ...event }) =>
        "durationMs" in event ? { ...event, durationMs: 0 } : "traceId" in event ? { ...event, traceId: "" } : event
      )
    })

  for (const stream of [false, true]) {
    it.effect(`both paths journal the same run (${stream ? "stream" : "run"})`, () =>
      Effect.gen(function*() {
        const direct = yield* journalOfRun(stream).pipe(Effect.provide(withModel(script)))
        const generic = yield* journalOfRun(stream).pipe(
          Effect.provide(Layer.mergeAll(Testing.layer, languageModelOnly))
        )
        assert.deepStrictEqual(generic, direct)
        assert.include(JSON.stringify(direct), "ToolNotFound")
      }))
  }
})
