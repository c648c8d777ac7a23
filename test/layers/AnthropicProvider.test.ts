import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Redacted, Schema, Stream } from "effect"
import * as Chat from "effect/ai/Chat"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as Tool from "effect/ai/Tool"
import { TestClock } from "effect/testing"
import { ModelConfig } from "graphent"
import { AnthropicProvider } from "graphent/anthropic"
import * as FakeServer from "../support/fakeModelServer.js"
import { withEnv } from "../support/env.js"
import { GetTime, GetWeather, providerContract, Toolbox, ToolboxLayer } from "./providerContract.js"

const KEY = "sk-ant-test-0123456789-SECRET"

const modelLayer = (url: string, options?: Partial<AnthropicProvider.Options>) =>
  AnthropicProvider.layer({
    model: "claude-test",
    apiKey: Redacted.make(KEY),
    baseUrl: url,
    retryDelay: "1 millis",
    promptCaching: false, // tested in PromptCaching.test.ts
    ...options
  })

const usage = { input_tokens: 20, output_tokens: 7, cache_read_input_tokens: 5, cache_creation_input_tokens: 0 }

const message = (content: ReadonlyArray<object>, stop_reason = "end_turn") => ({
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-test-2025",
  content,
  stop_reason,
  stop_sequence: null,
  usage
})

const text = (value: string) => FakeServer.json(message([{ type: "text", text: value }]))

const twoToolUses = FakeServer.json(message([
  { type: "text", text: "Let me check." },
  { type: "tool_use", id: "toolu_1", name: "GetWeather", input: { city: "Paris" } },
  { type: "tool_use", id: "toolu_2", name: "GetTime", input: { city: "Oslo" } }
], "tool_use"))

const event = (type: string, data: object = {}) => FakeServer.named(type, { type, ...data })
const messageStart = event("message_start", {
  message: {
    id: "msg_2",
    type: "message",
    role: "assistant",
    model: "claude-test-2025",
    content: [],
    stop_reason: null,
    usage: { input_tokens: 20, output_tokens: 1 }
  }
})
const messageEnd = (stop_reason: string) => [
  event("message_delta", { delta: { stop_reason, stop_sequence: null }, usage: { output_tokens: 9 } }),
  event("message_stop")
]

describe("AnthropicProvider.generateText", () => {
  it.effect("answers text; sends system on top, the key and the API version", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("Hello there")])
      const response = yield* LanguageModel.generateText({
        prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]
      }).pipe(Effect.provide(modelLayer(server.url)))

      assert.strictEqual(response.text, "Hello there")
      assert.strictEqual(response.finishReason, "stop")
      assert.deepStrictEqual(response.usage.inputTokens, { uncached: 20, total: 25, cacheRead: 5, cacheWrite: 0 })
      assert.strictEqual(response.usage.outputTokens.total, 7)

      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/messages")
      assert.strictEqual(request.headers["x-api-key"], KEY)
      assert.strictEqual(request.headers["anthropic-version"], "2023-06-01")
      assert.isUndefined(request.headers.authorization)
      assert.deepStrictEqual(request.body, {
        model: "claude-test",
        max_tokens: 4096,
        system: "Be brief.",
        messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }]
      })
    }))

  it.effect("returns two parallel tool uses, runs them, and sends the tools' input schemas", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([twoToolUses])
      const response = yield* LanguageModel.generateText({ prompt: "Weather in Paris, time in Oslo?", toolkit: Toolbox })
        .pipe(Effect.provide(modelLayer(server.url)))

      assert.strictEqual(response.finishReason, "tool-calls")
      assert.strictEqual(response.text, "Let me check.")
      assert.deepStrictEqual(
        response.toolCalls.map((call) => [call.id, call.name, call.params]),
        [["toolu_1", "GetWeather", { city: "Paris" }], ["toolu_2", "GetTime", { city: "Oslo" }]]
      )
      assert.strictEqual(response.toolResults.length, 2)

      const body = server.requests[0]!.body
      assert.deepStrictEqual(body.tool_choice, { type: "auto" })
      assert.deepStrictEqual(body.tools, [
        {
          name: "GetWeather",
          description: "The current weather in a city",
          input_schema: Tool.getJsonSchema(GetWeather)
        },
        { name: "GetTime", description: "The local time in a city", input_schema: Tool.getJsonSchema(GetTime) }
      ])
      assert.deepStrictEqual(body.tools[0].input_schema.properties.city, { type: "string" })
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("maps toolChoice", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      const layer = modelLayer(server.url)
      for (const toolChoice of ["required", "none", { tool: "GetTime" }] as const) {
        yield* LanguageModel.generateText({ prompt: "x", toolkit: Toolbox, toolChoice }).pipe(Effect.provide(layer))
      }
      assert.deepStrictEqual(server.requests.map((request) => request.body.tool_choice), [
        { type: "any" },
        { type: "none" },
        { type: "tool", name: "GetTime" }
      ])
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("a 2-turn tool loop sends the tool_use blocks and the tool_result blocks back", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([twoToolUses, text("Paris: 21C, Oslo: noon")])
      yield* Effect.gen(function*() {
        const chat = yield* Chat.fromPrompt([
          { role: "system", content: "Use tools." },
          { role: "user", content: "Weather in Paris, time in Oslo?" }
        ])
        yield* chat.generateText({ prompt: [], toolkit: Toolbox })
        const second = yield* chat.generateText({ prompt: [], toolkit: Toolbox })
        assert.strictEqual(second.text, "Paris: 21C, Oslo: noon")
      }).pipe(Effect.provide(modelLayer(server.url)))

      const body = server.requests[1]!.body
      assert.strictEqual(body.system, "Use tools.")
      const [user, assistant, results] = body.messages
      assert.deepStrictEqual(user, { role: "user", content: [{ type: "text", text: "Weather in Paris, time in Oslo?" }] })
      assert.deepStrictEqual(assistant, {
        role: "assistant",
        content: [
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: "toolu_1", name: "GetWeather", input: { city: "Paris" } },
          { type: "tool_use", id: "toolu_2", name: "GetTime", input: { city: "Oslo" } }
        ]
      })
      assert.strictEqual(results.role, "user")
      assert.deepStrictEqual(
        [...results.content].sort((a: any, b: any) => a.tool_use_id.localeCompare(b.tool_use_id)),
        [
          { type: "tool_result", tool_use_id: "toolu_1", content: "{\"city\":\"Paris\",\"tempC\":21}" },
          { type: "tool_result", tool_use_id: "toolu_2", content: "12:00 in Oslo" }
        ]
      )
      assert.strictEqual(body.messages.length, 3)
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("merges a tool result and the next user words into one user message; marks failures", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      yield* LanguageModel.generateText({
        prompt: Prompt.fromMessages([
          Prompt.userMessage({ content: [Prompt.textPart({ text: "Go" })] }),
          Prompt.assistantMessage({
            content: [Prompt.toolCallPart({ id: "t1", name: "GetTime", params: { city: "X" }, providerExecuted: false })]
          }),
          Prompt.toolMessage({
            content: [Prompt.toolResultPart({
              id: "t1",
              name: "GetTime",
              isFailure: true,
              result: { message: "no such city" },
              providerExecuted: false
            })]
          }),
          Prompt.userMessage({ content: [Prompt.textPart({ text: "Try Oslo" })] })
        ])
      }).pipe(Effect.provide(modelLayer(server.url)))
      assert.deepStrictEqual(server.requests[0]!.body.messages.at(-1), {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "t1", content: "{\"message\":\"no such city\"}", is_error: true },
          { type: "text", text: "Try Oslo" }
        ]
      })
    }))

  it.effect("generateObject forces a tool whose input is the object", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json(message([
        { type: "tool_use", id: "toolu_9", name: "person", input: { name: "Ada", age: 36 } }
      ], "tool_use"))])
      const Person = Schema.Struct({ name: Schema.String, age: Schema.Number })
      const response = yield* LanguageModel.generateObject({ prompt: "Who?", schema: Person, objectName: "person" })
        .pipe(Effect.provide(modelLayer(server.url)))
      assert.deepStrictEqual(response.value, { name: "Ada", age: 36 })
      const body = server.requests[0]!.body
      assert.deepStrictEqual(body.tool_choice, { type: "tool", name: "person" })
      assert.strictEqual(body.tools[0].name, "person")
      assert.deepStrictEqual(body.tools[0].input_schema.required, ["name", "age"])
    }))

  it.effect("keeps thinking blocks with their signature for the next turn", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([
        FakeServer.json(message([
          { type: "thinking", thinking: "Paris first.", signature: "sig-123" },
          { type: "tool_use", id: "toolu_1", name: "GetWeather", input: { city: "Paris" } }
        ], "tool_use")),
        text("21C")
      ])
      yield* Effect.gen(function*() {
        const chat = yield* Chat.fromPrompt("Weather in Paris?")
        const first = yield* chat.generateText({ prompt: [], toolkit: Toolbox })
        assert.strictEqual(first.reasoningText, "Paris first.")
        yield* chat.generateText({ prompt: [], toolkit: Toolbox })
      }).pipe(Effect.provide(modelLayer(server.url)))
      assert.deepStrictEqual(server.requests[1]!.body.messages[1].content[0], {
        type: "thinking",
        thinking: "Paris first.",
        signature: "sig-123"
      })
    }).pipe(Effect.provide(ToolboxLayer)))
})

describe("AnthropicProvider.streamText", () => {
  it.effect("streams text deltas, then finish with usage", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        messageStart,
        event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
        event("ping"),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hel" } }),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "lo" } }),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: " world" } }),
        event("content_block_stop", { index: 0 }),
        ...messageEnd("end_turn")
      ])])
      const parts = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url))
      )
      assert.deepStrictEqual(parts.map((part) => part.type), [
        "response-metadata",
        "text-start",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-end",
        "finish"
      ])
      assert.deepStrictEqual(parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : []), [
        "Hel",
        "lo",
        " world"
      ])
      const finish = parts.at(-1) as Response.FinishPart
      assert.strictEqual(finish.reason, "stop")
      assert.strictEqual(finish.usage.inputTokens.total, 20)
      assert.strictEqual(finish.usage.outputTokens.total, 9)
      assert.strictEqual(server.requests[0]!.body.stream, true)
      assert.strictEqual(server.requests[0]!.headers["x-api-key"], KEY)
    }))

  it.effect("assembles tool input split across input_json_delta events, two tool uses", () =>
    Effect.gen(function*() {
      const json = (index: number, partial_json: string) =>
        event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json } })
      const server = yield* FakeServer.make([FakeServer.sse([
        messageStart,
        event("content_block_start", {
          index: 0,
          content_block: { type: "tool_use", id: "toolu_a", name: "GetWeather", input: {} }
        }),
        json(0, ""),
        json(0, "{\"ci"),
        json(0, "ty\": \"Pa"),
        json(0, "ris\"}"),
        event("content_block_stop", { index: 0 }),
        event("content_block_start", {
          index: 1,
          content_block: { type: "tool_use", id: "toolu_b", name: "GetTime", input: {} }
        }),
        json(1, "{\"city\""),
        json(1, ": \"Oslo\"}"),
        event("content_block_stop", { index: 1 }),
        ...messageEnd("tool_use")
      ], { pieceSize: 11 })])
      const parts = yield* LanguageModel.streamText({ prompt: "x", toolkit: Toolbox }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url))
      )
      const calls = parts.flatMap((part) => part.type === "tool-call" ? [[part.id, part.name, part.params]] : [])
      assert.deepStrictEqual(calls, [["toolu_a", "GetWeather", { city: "Paris" }], ["toolu_b", "GetTime", {
        city: "Oslo"
      }]])
      const deltas = (id: string) =>
        parts.flatMap((part) => part.type === "tool-params-delta" && part.id === id ? [part.delta] : []).join("")
      assert.strictEqual(deltas("toolu_a"), "{\"city\": \"Paris\"}")
      assert.strictEqual(deltas("toolu_b"), "{\"city\": \"Oslo\"}")
      assert.deepStrictEqual(parts.flatMap((part) => part.type === "tool-result" ? [part.id] : []).sort(), [
        "toolu_a",
        "toolu_b"
      ])
      const finish = parts.at(-1) as Response.FinishPart
      assert.strictEqual(finish.reason, "tool-calls")
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("streams thinking with its signature", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        messageStart,
        event("content_block_start", { index: 0, content_block: { type: "thinking", thinking: "" } }),
        event("content_block_delta", { index: 0, delta: { type: "thinking_delta", thinking: "Hmm." } }),
        event("content_block_delta", { index: 0, delta: { type: "signature_delta", signature: "sig-9" } }),
        event("content_block_stop", { index: 0 }),
        event("content_block_start", { index: 1, content_block: { type: "text", text: "" } }),
        event("content_block_delta", { index: 1, delta: { type: "text_delta", text: "Yes" } }),
        event("content_block_stop", { index: 1 }),
        ...messageEnd("end_turn")
      ])])
      const parts = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url))
      )
      const end = parts.find((part) => part.type === "reasoning-end")
      assert.deepStrictEqual(end?.metadata, { anthropic: { signature: "sig-9" } })
      const prompt = Prompt.fromResponseParts(parts)
      const assistant = prompt.content[0] as Prompt.AssistantMessage
      assert.deepStrictEqual(assistant.content.map((part) => part.type), ["reasoning", "text"])
    }))

  it.effect("an error event fails the stream with the matching reason", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        messageStart,
        event("error", { error: { type: "overloaded_error", message: "Overloaded" } })
      ])])
      const error = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "InternalProviderError")
      assert.include(error.message, "Overloaded")
    }))

  it.effect("a stream cut off before message_stop fails", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        messageStart,
        event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
        event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hel" } })
      ])])
      const error = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "NetworkError")
    }))
})

const apiError = (type: string, message: string) => ({ type: "error", error: { type, message } })

providerContract({
  name: "AnthropicProvider",
  key: KEY,
  layer: (url, options) => modelLayer(url, options),
  text,
  usage: { input: 25, output: 7 },
  twoToolCalls: twoToolUses,
  stream: (deltas) =>
    FakeServer.sse([
      messageStart,
      event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      ...deltas.map((text) => event("content_block_delta", { index: 0, delta: { type: "text_delta", text } })),
      event("content_block_stop", { index: 0 }),
      ...messageEnd("end_turn")
    ]),
  streamUsage: { input: 20, output: 9 },
  error: (kind, message) =>
    apiError(
      { rate_limit: "rate_limit_error", server: "api_error", authentication: "authentication_error", invalid_request: "invalid_request_error" }[kind],
      message
    )
})

// What is particular to Anthropic's API; what every provider does is in the contract above.
describe("AnthropicProvider errors and retries", () => {
  it.effect("retry-after as an HTTP date", () =>
    Effect.gen(function*() {
      // The TestClock starts at 0: the epoch.
      const server = yield* FakeServer.make([
        FakeServer.json(apiError("rate_limit_error", "slow down"), {
          status: 429,
          headers: { "retry-after": new Date(2_000).toUTCString() }
        }),
        text("finally")
      ])
      const fiber = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url, { retryDelay: "1 hour" })),
        Effect.forkChild
      )
      const live = (millis: number) => TestClock.withLive(Effect.sleep(millis))
      while (server.requests.length < 1) yield* live(5)
      yield* live(100)
      yield* TestClock.adjust("1999 millis")
      yield* live(100)
      assert.strictEqual(server.requests.length, 1)
      yield* TestClock.adjust("1 millis")
      const response = yield* TestClock.withLive(Effect.timeout(Fiber.join(fiber), "5 seconds"))
      assert.strictEqual(response.text, "finally")
    }))

  it.live("529 overloaded and 500, then success", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([
        FakeServer.json(apiError("overloaded_error", "Overloaded"), { status: 529 }),
        FakeServer.json(apiError("api_error", "Internal"), { status: 500 }),
        text("recovered")
      ])
      const response = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url))
      )
      assert.strictEqual(response.text, "recovered")
      assert.strictEqual(server.requests.length, 3)
    }))

  it.effect("malformed streamed tool input: an InvalidOutputError", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        messageStart,
        event("content_block_start", {
          index: 0,
          content_block: { type: "tool_use", id: "toolu_a", name: "GetWeather", input: {} }
        }),
        event("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: "{\"city\": " } }),
        event("content_block_stop", { index: 0 }),
        ...messageEnd("tool_use")
      ])])
      const error = yield* LanguageModel.streamText({ prompt: "x", toolkit: Toolbox }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "InvalidOutputError")
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("a missing ANTHROPIC_API_KEY is a ConfigError", () =>
    Effect.gen(function*() {
      const exit = yield* Layer.build(
        AnthropicProvider.layerConfig({ model: "claude-test" }).pipe(Layer.provide(withEnv({})))
      ).pipe(Effect.scoped, Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.strictEqual((Cause.squash(exit.cause) as any)._tag, "ConfigError")
    }))
})
