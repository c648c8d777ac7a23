import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { Agent, AgentRuntime, Journal, LlmPlanner, Pricing, Replay, type RunEvent, ScriptedModel, Telemetry } from "graphent"
import { AnthropicProvider } from "graphent/anthropic"
import { OpenAiProvider } from "graphent/openai"
import * as Testing from "graphent/testing"
import { render } from "../../src/programs/traceView.js"
import * as FakeServer from "../support/fakeModelServer.js"
import { add, anthropicMessage as message, openAiCompletion } from "../support/modelFixtures.js"

const agent = Agent.make({
  name: "calculator",
  instructions: "You add numbers.",
  tools: [add],
  planner: LlmPlanner.make()
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
      assert.deepStrictEqual(calls[0]!.response.usage, { inputTokens: 1000, outputTokens: 10, cacheWriteInputTokens: 900 })
      assert.deepStrictEqual(calls[1]!.response.usage, { inputTokens: 1050, outputTokens: 5, cachedInputTokens: 1000 })
      // Cache writes are priced at 1.25 × input (the table gives no cache-write rate); reads at the cached rate.
      assert.closeTo(calls[0]!.cost!, (100 * 3 + 900 * 3 * 1.25 + 10 * 15) / 1e6, 1e-12)
      assert.closeTo(calls[1]!.cost!, (50 * 3 + 1000 * 0.3 + 5 * 15) / 1e6, 1e-12)
      assert.strictEqual(result.usage.cachedInputTokens, 1000)
      assert.strictEqual(result.usage.cacheWriteInputTokens, 900)
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
      const completion = openAiCompletion
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

describe("Telemetry: cached input tokens", () => {
  it.effect("graphent_model_tokens_total counts them as type cached_input, and cache writes as cache_write_input (beside input)", () =>
    Effect.gen(function*() {
      const context = yield* Effect.context<never>()
      const observe = Telemetry.metricsObserver(context, "llm")!
      observe({
        _tag: "ModelCalled",
        runId: "r",
        turn: 1,
        call: 1,
        model: "anthropic:claude-test",
        request: { prefix: 0, messages: [], tools: [] },
        response: { text: "hi", toolCalls: [], finishReason: "stop", usage: { inputTokens: 100, outputTokens: 20, cachedInputTokens: 80, cacheWriteInputTokens: 15 } },
        durationMs: 1,
        at: 0
      })
      const text = yield* Telemetry.prometheusText
      const line = (type: string) =>
        text.split("\n").find((row) => row.startsWith(`graphent_model_tokens_total{agent="llm",model="anthropic:claude-test",type="${type}"}`))
      assert.strictEqual(line("input")?.split(" ").pop(), "100")
      assert.strictEqual(line("cached_input")?.split(" ").pop(), "80")
      assert.strictEqual(line("cache_write_input")?.split(" ").pop(), "15")
    }).pipe(Effect.provide(Telemetry.metricRegistry(new Map()))))
})

describe("Pricing: cached input tokens", () => {
  it("are priced at cachedInput, or at input when the table has no cached rate", () => {
    const usage = { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 800 }
    assert.closeTo(Pricing.cost({ input: 2, output: 10, cachedInput: 0.5 }, usage), (200 * 2 + 800 * 0.5 + 100 * 10) / 1e6, 1e-15)
    assert.closeTo(Pricing.cost({ input: 2, output: 10 }, usage), (1000 * 2 + 100 * 10) / 1e6, 1e-15)
    // A provider reporting more cached than total tokens never makes a negative price.
    assert.isAtLeast(Pricing.cost({ input: 2, output: 0, cachedInput: 0 }, { inputTokens: 5, outputTokens: 0, cachedInputTokens: 9 }), 0)
  })

  // Class: usages with reads, writes, both, and more reported than the input total; prices with and without the rates.
  it("cache writes are priced at cacheWriteInput, or 1.25 × input; never more tokens than the input total", () => {
    const usage = { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 600, cacheWriteInputTokens: 300 }
    const price = { input: 2, output: 10, cachedInput: 0.5 }
    assert.closeTo(Pricing.cost(price, usage), (100 * 2 + 600 * 0.5 + 300 * 2.5 + 100 * 10) / 1e6, 1e-15)
    assert.closeTo(Pricing.cost({ ...price, cacheWriteInput: 4 }, usage), (100 * 2 + 600 * 0.5 + 300 * 4 + 100 * 10) / 1e6, 1e-15)
    // Reads and writes reported beyond the total are capped by it: every token is priced once.
    const over = { inputTokens: 100, outputTokens: 0, cachedInputTokens: 80, cacheWriteInputTokens: 80 }
    assert.closeTo(Pricing.cost({ input: 1, output: 0, cachedInput: 0, cacheWriteInput: 0 }, over), 0, 1e-15)
    assert.closeTo(Pricing.cost({ input: 0, output: 0, cachedInput: 0, cacheWriteInput: 1 }, over), 20 / 1e6, 1e-15)
  })

  it("context windows: the configured table, then the known models, by provider:model or bare name", () => {
    assert.strictEqual(Pricing.contextWindowOf({ "openai:qwen3:8b": 32768 }, "openai:qwen3:8b"), 32768)
    assert.strictEqual(Pricing.contextWindowOf({ "qwen3:8b": 16384 }, "openai:qwen3:8b"), 16384)
    assert.strictEqual(Pricing.contextWindowOf({}, "anthropic:claude-sonnet-4-5"), 200_000)
    assert.strictEqual(Pricing.contextWindowOf({ "claude-sonnet-4-5": 1000 }, "anthropic:claude-sonnet-4-5"), 1000)
    assert.isUndefined(Pricing.contextWindowOf({}, "scripted"))
  })
})
