import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Layer, Redacted, Schema, Stream } from "effect"
import {
  Agent,
  AgentRuntime,
  Journal,
  LlmPlanner,
  ModelConfig,
  ModelFallback,
  Pricing,
  Replay,
  type RunEvent,
  ScriptedModel,
  Tool
} from "graphent"
import { AnthropicProvider } from "graphent/anthropic"
import { OpenAiProvider } from "graphent/openai"
import * as Testing from "graphent/testing"
import { render } from "../../src/programs/traceView.js"
import { withEnv } from "../support/env.js"
import * as FakeServer from "../support/fakeModelServer.js"

const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const agent = Agent.make({ name: "calculator", instructions: "You add.", tools: [add], planner: LlmPlanner.make() })

const anthropicText = (text: string) =>
  FakeServer.json({
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-b",
    content: [{ type: "text", text }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 2 }
  })

const openAiText = (text: string) =>
  FakeServer.json({
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "gpt-a",
    choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 2 }
  })

const openAiError = (status: number, type = "server_error") =>
  FakeServer.json({ error: { message: `failed with ${status}`, type } }, { status, headers: { "retry-after": "0" } })

type ModelCalled = Extract<RunEvent.RunEvent, { readonly _tag: "ModelCalled" }>

const runWith = (model: Layer.Layer<any, any>) =>
  Effect.gen(function*() {
    const result = yield* AgentRuntime.run(agent, "1+2")
    const events = yield* Journal.Journal.use((journal) => journal.read(result.runId))
    return { result, events }
  }).pipe(
    Effect.provide(Layer.mergeAll(Testing.layer, model, Pricing.layer({ "anthropic:claude-b": { input: 1, output: 2 } })))
  )

/** OpenAI model `gpt-a` falling back on Anthropic model `claude-b`, with the given transport settings. */
const pair = (first: string, second: string, options?: { readonly timeout?: Duration.Input; readonly maxRetries?: number }) =>
  ModelFallback.layer([
    {
      label: "openai:gpt-a",
      layer: OpenAiProvider.layer({
        model: "gpt-a",
        apiKey: Redacted.make("sk-a"),
        baseUrl: `${first}/v1`,
        retryDelay: "1 millis",
        maxRetries: options?.maxRetries ?? 1,
        ...(options?.timeout === undefined ? {} : { timeout: options.timeout })
      })
    },
    {
      label: "anthropic:claude-b",
      layer: AnthropicProvider.layer({ model: "claude-b", apiKey: Redacted.make("sk-b"), baseUrl: second, retryDelay: "1 millis" })
    }
  ])

describe("Model fallback", () => {
  it.effect("GRAPHENT_MODEL=openai:a,anthropic:b: a 429 that outlasts the retries goes to the next model, journaled and replayed", () =>
    Effect.gen(function*() {
      const first = yield* FakeServer.make([openAiError(429, "rate_limit_exceeded"), openAiError(429, "rate_limit_exceeded")])
      const second = yield* FakeServer.make([anthropicText("3")])
      const env = withEnv({
        GRAPHENT_MODEL: "openai:gpt-a, anthropic:claude-b",
        OPENAI_API_KEY: "sk-a",
        OPENAI_BASE_URL: `${first.url}/v1`,
        ANTHROPIC_API_KEY: "sk-b",
        ANTHROPIC_BASE_URL: second.url
      })
      const model = ModelConfig.layerConfig({ maxRetries: 1 }).pipe(Layer.provide(env))
      const { events, result } = yield* runWith(model)
      assert.strictEqual(result.answer, "3")
      // The first model was asked once and retried once, then the second answered.
      assert.strictEqual(first.requests.length, 2)
      assert.strictEqual(second.requests.length, 1)
      const called = events.find((event): event is ModelCalled => event._tag === "ModelCalled")!
      assert.strictEqual(called.model, "anthropic:claude-b")
      assert.isUndefined(called.response.model)
      // Priced as the model that answered.
      assert.closeTo(called.cost!, (10 * 1 + 2 * 2) / 1e6, 1e-12)
      assert.include(render(events), "model anthropic:claude-b")
      // Replay answers from the record: no server, the same model in the events.
      const report = yield* Replay.replay(agent, events).pipe(Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([]))))
      assert.strictEqual(report.identical, events.length)
    }))

  // Live clock: the providers' backoff and timeouts wait for real (1 ms and 50 ms).
  it.live("5xx and timeouts fall back; the first model answers when it can", () =>
    Effect.gen(function*() {
      for (const status of [500, 502, 503, 529]) {
        const first = yield* FakeServer.make([openAiError(status), openAiError(status)])
        const second = yield* FakeServer.make([anthropicText(`after ${status}`)])
        const { events, result } = yield* runWith(pair(first.url, second.url))
        assert.strictEqual(result.answer, `after ${status}`)
        assert.strictEqual((events.find((event) => event._tag === "ModelCalled") as ModelCalled).model, "anthropic:claude-b")
      }
      const hanging = yield* FakeServer.make([FakeServer.hang])
      const second = yield* FakeServer.make([anthropicText("in time")])
      const timedOut = yield* runWith(pair(hanging.url, second.url, { timeout: "50 millis", maxRetries: 0 }))
      assert.strictEqual(timedOut.result.answer, "in time")

      const healthy = yield* FakeServer.make([openAiText("first")])
      const unused = yield* FakeServer.make([])
      const { events } = yield* runWith(pair(healthy.url, unused.url))
      assert.strictEqual((events.find((event) => event._tag === "ModelCalled") as ModelCalled).model, "openai:gpt-a")
      assert.strictEqual(unused.requests.length, 0)
    }))

  it.effect("a stream that fails before its first part falls back; the streamed answer is the second model's", () =>
    Effect.gen(function*() {
      const event = (type: string, data: object = {}) => FakeServer.named(type, { type, ...data })
      const first = yield* FakeServer.make([openAiError(429, "rate_limit_exceeded"), openAiError(429, "rate_limit_exceeded")])
      const second = yield* FakeServer.make([FakeServer.sse([
        event("message_start", {
          message: { id: "m", type: "message", role: "assistant", model: "claude-b", content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } }
        }),
        event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "thr" } }),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "ee" } }),
        event("content_block_stop", { index: 0 }),
        event("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2 } }),
        event("message_stop")
      ])])
      const streamed = yield* AgentRuntime.stream(agent, "1+2").pipe(
        Stream.runCollect,
        Effect.provide(Layer.mergeAll(Testing.layer, pair(first.url, second.url)))
      )
      const text = streamed.flatMap((event) => event._tag === "TextDelta" ? [event.text] : []).join("")
      assert.strictEqual(text, "three")
      const called = streamed.find((event): event is ModelCalled => event._tag === "ModelCalled")!
      assert.strictEqual(called.model, "anthropic:claude-b")
      assert.strictEqual(called.response.text, "three")
    }))

  it.effect("non-retryable failures do not fall back: the run fails with the first model's error", () =>
    Effect.gen(function*() {
      for (const [status, type] of [[400, "invalid_request_error"], [401, "invalid_api_key"], [403, "permission_denied"], [404, "not_found"], [429, "insufficient_quota"]] as const) {
        const first = yield* FakeServer.make([openAiError(status, type)])
        const second = yield* FakeServer.make([anthropicText("never")])
        const error = yield* Effect.flip(runWith(pair(first.url, second.url)))
        assert.strictEqual(error._tag, "PlannerFailed", `${status}`)
        assert.strictEqual(second.requests.length, 0, `${status} must not fall back`)
        assert.strictEqual(first.requests.length, 1, `${status} is not retried`)
      }
    }))

  it.live("when every model fails, the last one's error ends the run", () =>
    Effect.gen(function*() {
      const first = yield* FakeServer.make([openAiError(503), openAiError(503)])
      const second = yield* FakeServer.make(Array.from({ length: 4 }, () =>
        FakeServer.json({ type: "error", error: { type: "overloaded_error", message: "overloaded" } }, { status: 529 })
      ))
      const error = yield* Effect.flip(runWith(pair(first.url, second.url)))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "AnthropicProvider")
    }))

  it.effect("a malformed model list is a ConfigError naming the bad entry", () =>
    Effect.gen(function*() {
      for (const spec of ["openai:a,,anthropic:b", "openai:a,mistral:b", "openai:a,anthropic:"]) {
        const error = yield* Effect.flip(ModelConfig.parseList(spec))
        assert.include(error.message, "GRAPHENT_MODEL")
      }
      const list = yield* ModelConfig.parseList("openai:qwen3:8b , anthropic:claude-b")
      assert.deepStrictEqual(list, [{ provider: "openai", model: "qwen3:8b" }, { provider: "anthropic", model: "claude-b" }])
    }))
})
