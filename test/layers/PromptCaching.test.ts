import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import { Agent, AgentRuntime, Journal, LlmPlanner, Pricing, Replay, type RunEvent, ScriptedModel, Tool } from "graphent"
import { AnthropicProvider } from "graphent/anthropic"
import { OpenAiProvider } from "graphent/openai"
import * as Testing from "graphent/testing"
import { render } from "../../src/programs/traceView.js"
import * as FakeServer from "../support/fakeModelServer.js"

const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const agent = Agent.make({
  name: "calculator",
  instructions: "You add numbers.",
  tools: [add],
  planner: LlmPlanner.make()
})

const message = (content: ReadonlyArray<object>, usage: object, stop_reason = "end_turn") =>
  FakeServer.json({
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-test-2025",
    content,
    stop_reason,
    stop_sequence: null,
    usage
  })

/** The first call writes the cache; the second reads the prefix from it. */
const script = [
  message([{ type: "tool_use", id: "toolu_1", name: "add", input: { a: 1, b: 2 } }], {
    input_tokens: 100,
    cache_creation_input_tokens: 900,
    output_tokens: 10
  }, "tool_use"),
  message([{ type: "text", text: "3" }], { input_tokens: 50, cache_read_input_tokens: 1000, output_tokens: 5 })
]

const prices = Pricing.layer({ "anthropic:claude-test": { input: 3, output: 15, cachedInput: 0.3 } })

const runOn = (url: string, promptCaching?: boolean) =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "1+2")
    const events = yield* Journal.Journal.use((journal) => journal.read(result.runId))
    return { result, events }
  }).pipe(
    Effect.provide(Layer.mergeAll(
      Testing.layer,
      prices,
      AnthropicProvider.layer({ model: "claude-test", apiKey: Redacted.make("sk-ant-test"), baseUrl: url, promptCaching })
    ))
  )

const ephemeral = { type: "ephemeral" }

describe("AnthropicProvider: prompt caching", () => {
  it.effect("breakpoints on the tools, the system prompt and the conversation's end; cached tokens priced at the cached rate", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make(script)
      const { events, result } = yield* runOn(server.url)
      assert.strictEqual(result.answer, "3")
      for (const request of server.requests) {
        const body = request.body
        assert.deepStrictEqual(body.tools.at(-1).cache_control, ephemeral)
        assert.deepStrictEqual(body.system, [{ type: "text", text: "You add numbers.", cache_control: ephemeral }])
        assert.deepStrictEqual(body.messages.at(-1).content.at(-1).cache_control, ephemeral)
        // One breakpoint in the conversation: the earlier messages carry none.
        const marked = JSON.stringify(body.messages).split("cache_control").length - 1
        assert.strictEqual(marked, 1)
      }
      // The second call ends with the tool result: the prefix the third call would share.
      assert.strictEqual(server.requests[1]!.body.messages.at(-1).content.at(-1).type, "tool_result")

      const calls = events.filter((event): event is Extract<RunEvent.RunEvent, { _tag: "ModelCalled" }> =>
        event._tag === "ModelCalled"
      )
      assert.strictEqual(calls[0]!.model, "anthropic:claude-test")
      assert.deepStrictEqual(calls[0]!.response.usage, { inputTokens: 1000, outputTokens: 10 })
      assert.deepStrictEqual(calls[1]!.response.usage, { inputTokens: 1050, outputTokens: 5, cachedInputTokens: 1000 })
      // Cache writes are priced as input; reads at the cached rate.
      assert.closeTo(calls[0]!.cost!, (1000 * 3 + 10 * 15) / 1e6, 1e-12)
      assert.closeTo(calls[1]!.cost!, (50 * 3 + 1000 * 0.3 + 5 * 15) / 1e6, 1e-12)
      assert.strictEqual(result.usage.cachedInputTokens, 1000)
      assert.strictEqual(result.usage.inputTokens, 2050)
      assert.closeTo(result.usage.cost!, calls[0]!.cost! + calls[1]!.cost!, 1e-12)

      const trace = render(events)
      assert.include(trace, "1050 in (95% cached) / 5 out tokens")
      assert.include(trace, "2050 in (49% cached) / 15 out tokens")

      // Replay needs no server and gives the same usage.
      const report = yield* Replay.replay(agent, events).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, prices, ScriptedModel.layer([])))
      )
      assert.strictEqual(report.identical, events.length)
    }))

  it.effect("promptCaching: false sends no breakpoint", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make(script)
      yield* runOn(server.url, false)
      assert.strictEqual(server.requests.length, 2)
      for (const request of server.requests) {
        assert.notInclude(JSON.stringify(request.body), "cache_control")
        assert.strictEqual(request.body.system, "You add numbers.")
      }
    }))
})

describe("OpenAiProvider: automatic prompt caching", () => {
  it.effect("prompt_tokens_details.cached_tokens is counted and priced at the cached rate", () =>
    Effect.gen(function*() {
      const completion = (message: object, usage: object, finish_reason: string) =>
        FakeServer.json({
          id: "chatcmpl-1",
          object: "chat.completion",
          model: "gpt-test",
          choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason }],
          usage
        })
      const server = yield* FakeServer.make([
        completion(
          { content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "add", arguments: "{\"a\":1,\"b\":2}" } }] },
          { prompt_tokens: 1200, completion_tokens: 10 },
          "tool_calls"
        ),
        completion({ content: "3" }, { prompt_tokens: 1300, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 1024 } }, "stop")
      ])
      const result = yield* AgentRuntime.run(agent, "1+2").pipe(
        Effect.provide(Layer.mergeAll(
          Testing.layer,
          Pricing.layer({ "openai:gpt-test": { input: 2, output: 8, cachedInput: 0.5 } }),
          OpenAiProvider.layer({ model: "gpt-test", apiKey: Redacted.make("sk-test"), baseUrl: `${server.url}/v1` })
        ))
      )
      assert.strictEqual(result.answer, "3")
      assert.strictEqual(result.usage.cachedInputTokens, 1024)
      assert.strictEqual(result.usage.inputTokens, 2500)
      assert.closeTo(result.usage.cost!, (1200 * 2 + 10 * 8 + 276 * 2 + 1024 * 0.5 + 5 * 8) / 1e6, 1e-12)
      // OpenAI caches by itself: the request carries no cache markers.
      assert.notInclude(JSON.stringify(server.requests.map((request) => request.body)), "cache_control")
    }))
})

describe("Pricing: cached input tokens", () => {
  it("are priced at cachedInput, or at input when the table has no cached rate", () => {
    const usage = { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 800 }
    assert.closeTo(Pricing.cost({ input: 2, output: 10, cachedInput: 0.5 }, usage), (200 * 2 + 800 * 0.5 + 100 * 10) / 1e6, 1e-15)
    assert.closeTo(Pricing.cost({ input: 2, output: 10 }, usage), (1000 * 2 + 100 * 10) / 1e6, 1e-15)
    // A provider reporting more cached than total tokens never makes a negative price.
    assert.isAtLeast(Pricing.cost({ input: 2, output: 0, cachedInput: 0 }, { inputTokens: 5, outputTokens: 0, cachedInputTokens: 9 }), 0)
  })

  it("context windows: the configured table, then the known models, by provider:model or bare name", () => {
    assert.strictEqual(Pricing.contextWindowOf({ "openai:qwen3:8b": 32768 }, "openai:qwen3:8b"), 32768)
    assert.strictEqual(Pricing.contextWindowOf({ "qwen3:8b": 16384 }, "openai:qwen3:8b"), 16384)
    assert.strictEqual(Pricing.contextWindowOf({}, "anthropic:claude-sonnet-4-5"), 200_000)
    assert.strictEqual(Pricing.contextWindowOf({ "claude-sonnet-4-5": 1000 }, "anthropic:claude-sonnet-4-5"), 1000)
    assert.isUndefined(Pricing.contextWindowOf({}, "scripted"))
  })
})
