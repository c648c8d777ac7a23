import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Redacted, Schema, Stream } from "effect"
import * as AiError from "effect/ai/AiError"
import * as Chat from "effect/ai/Chat"
import * as LanguageModel from "effect/ai/LanguageModel"
import type * as Response from "effect/ai/Response"
import * as Tool from "effect/ai/Tool"
import { ModelConfig } from "graphent"
import { OpenAiProvider } from "graphent/openai"
import * as FakeServer from "../support/fakeModelServer.js"
import { withEnv } from "../support/env.js"
import { GetTime, GetWeather, providerContract, Toolbox, ToolboxLayer } from "./providerContract.js"

const KEY = "sk-test-0123456789-SECRET"

const modelLayer = (url: string, options?: Partial<OpenAiProvider.Options>) =>
  OpenAiProvider.layer({
    model: "gpt-test",
    apiKey: Redacted.make(KEY),
    baseUrl: `${url}/v1`,
    retryDelay: "1 millis",
    ...options
  })

const usage = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 }

const completion = (message: object, finish_reason: string | null = "stop") => ({
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-test-2025",
  choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason }],
  usage
})

const text = (content: string) => FakeServer.json(completion({ content }))

const twoToolCalls = FakeServer.json(completion({
  content: null,
  tool_calls: [
    { id: "call_1", type: "function", function: { name: "GetWeather", arguments: "{\"city\":\"Paris\"}" } },
    { id: "call_2", type: "function", function: { name: "GetTime", arguments: "{\"city\":\"Oslo\"}" } }
  ]
}, "tool_calls"))

const chunk = (delta: object, finish_reason: string | null = null) => ({
  id: "chatcmpl-2",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "gpt-test-2025",
  choices: [{ index: 0, delta, finish_reason }]
})
const usageChunk = { id: "chatcmpl-2", object: "chat.completion.chunk", choices: [], usage }

describe("OpenAiProvider.generateText", () => {
  it.effect("answers text; sends model, messages and the bearer key", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("Hello there")])
      const response = yield* LanguageModel.generateText({
        prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]
      }).pipe(Effect.provide(modelLayer(server.url)))

      assert.strictEqual(response.text, "Hello there")
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.usage.inputTokens.total, 12)
      assert.strictEqual(response.usage.outputTokens.total, 5)

      assert.strictEqual(server.requests.length, 1)
      const request = server.requests[0]!
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.path, "/v1/chat/completions")
      assert.strictEqual(request.headers.authorization, `Bearer ${KEY}`)
      assert.strictEqual(request.headers["content-type"], "application/json")
      assert.deepStrictEqual(request.body, {
        model: "gpt-test",
        messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]
      })
    }))

  it.effect("sends no authorization header without a key (local servers)", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url, { apiKey: undefined, maxTokens: 100, temperature: 0.2 }))
      )
      const request = server.requests[0]!
      assert.isUndefined(request.headers.authorization)
      assert.strictEqual(request.body.max_tokens, 100)
      assert.strictEqual(request.body.temperature, 0.2)
    }))

  it.effect("returns two parallel tool calls, runs them, and sends the tools' JSON schemas", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([twoToolCalls])
      const response = yield* LanguageModel.generateText({ prompt: "Weather in Paris, time in Oslo?", toolkit: Toolbox })
        .pipe(Effect.provide(modelLayer(server.url)))

      assert.strictEqual(response.finishReason, "tool-calls")
      assert.deepStrictEqual(
        response.toolCalls.map((call) => [call.id, call.name, call.params]),
        [["call_1", "GetWeather", { city: "Paris" }], ["call_2", "GetTime", { city: "Oslo" }]]
      )
      const results = new Map(response.toolResults.map((result) => [result.id, result.result]))
      assert.deepStrictEqual(results.get("call_1"), { city: "Paris", tempC: 21 })
      assert.strictEqual(results.get("call_2"), "12:00 in Oslo")

      const body = server.requests[0]!.body
      assert.strictEqual(body.tool_choice, "auto")
      assert.deepStrictEqual(body.tools, [
        {
          type: "function",
          function: {
            name: "GetWeather",
            description: "The current weather in a city",
            parameters: Tool.getJsonSchema(GetWeather)
          }
        },
        {
          type: "function",
          function: { name: "GetTime", description: "The local time in a city", parameters: Tool.getJsonSchema(GetTime) }
        }
      ])
      assert.strictEqual(body.tools[0].function.parameters.type, "object")
      assert.deepStrictEqual(body.tools[0].function.parameters.properties.city, { type: "string" })
      assert.deepStrictEqual(body.tools[0].function.parameters.required, ["city"])
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("maps toolChoice", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      const layer = modelLayer(server.url)
      yield* LanguageModel.generateText({ prompt: "x", toolkit: Toolbox, toolChoice: { tool: "GetTime" } })
        .pipe(Effect.provide(layer))
      yield* LanguageModel.generateText({ prompt: "x", toolkit: Toolbox, toolChoice: "required" })
        .pipe(Effect.provide(layer))
      yield* LanguageModel.generateText({ prompt: "x", toolkit: Toolbox, toolChoice: { oneOf: ["GetTime"] } })
        .pipe(Effect.provide(layer))
      const [tool, required, oneOf] = server.requests.map((request) => request.body)
      assert.deepStrictEqual(tool.tool_choice, { type: "function", function: { name: "GetTime" } })
      assert.strictEqual(required.tool_choice, "required")
      assert.strictEqual(oneOf.tool_choice, "auto")
      assert.deepStrictEqual(oneOf.tools.map((t: any) => t.function.name), ["GetTime"])
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("a 2-turn tool loop sends the assistant tool_calls and the tool results back", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([twoToolCalls, text("Paris: 21C, Oslo: noon")])
      yield* Effect.gen(function*() {
        const chat = yield* Chat.fromPrompt([
          { role: "system", content: "Use tools." },
          { role: "user", content: "Weather in Paris, time in Oslo?" }
        ])
        const first = yield* chat.generateText({ prompt: [], toolkit: Toolbox })
        assert.strictEqual(first.toolCalls.length, 2)
        const second = yield* chat.generateText({ prompt: [], toolkit: Toolbox })
        assert.strictEqual(second.text, "Paris: 21C, Oslo: noon")
        assert.strictEqual(second.toolCalls.length, 0)
      }).pipe(Effect.provide(modelLayer(server.url)))

      assert.strictEqual(server.requests.length, 2)
      const messages = server.requests[1]!.body.messages
      assert.deepStrictEqual(messages.slice(0, 3), [
        { role: "system", content: "Use tools." },
        { role: "user", content: "Weather in Paris, time in Oslo?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "GetWeather", arguments: "{\"city\":\"Paris\"}" } },
            { id: "call_2", type: "function", function: { name: "GetTime", arguments: "{\"city\":\"Oslo\"}" } }
          ]
        }
      ])
      // Tool results come back in completion order.
      const toolMessages = [...messages.slice(3)].sort((a: any, b: any) => a.tool_call_id.localeCompare(b.tool_call_id))
      assert.deepStrictEqual(toolMessages, [
        { role: "tool", tool_call_id: "call_1", content: "{\"city\":\"Paris\",\"tempC\":21}" },
        { role: "tool", tool_call_id: "call_2", content: "12:00 in Oslo" }
      ])
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("generateObject sends a json_schema response format and decodes the answer", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("{\"name\":\"Ada\",\"age\":36}")])
      const Person = Schema.Struct({ name: Schema.String, age: Schema.Number })
      const response = yield* LanguageModel.generateObject({ prompt: "Who?", schema: Person, objectName: "person" })
        .pipe(Effect.provide(modelLayer(server.url)))
      assert.deepStrictEqual(response.value, { name: "Ada", age: 36 })
      const format = server.requests[0]!.body.response_format
      assert.strictEqual(format.type, "json_schema")
      assert.strictEqual(format.json_schema.name, "person")
      assert.strictEqual(format.json_schema.strict, false)
      assert.deepStrictEqual(format.json_schema.schema.required, ["name", "age"])
    }))

  it.effect("a model's malformed tool arguments fail with InvalidOutputError", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json(completion({
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "GetWeather", arguments: "{\"city\": " } }]
      }, "tool_calls"))])
      const error = yield* LanguageModel.generateText({ prompt: "x", toolkit: Toolbox }).pipe(
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "InvalidOutputError")
      assert.strictEqual(server.requests.length, 1)
    }).pipe(Effect.provide(ToolboxLayer)))
})

describe("OpenAiProvider.streamText", () => {
  it.effect("streams text deltas, then finish with usage; asks for stream usage", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        chunk({ role: "assistant", content: "" }),
        chunk({ content: "Hel" }),
        chunk({ content: "lo" }),
        chunk({ content: " world" }),
        chunk({}, "stop"),
        usageChunk,
        "[DONE]"
      ])])
      const parts = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url))
      )
      const types = parts.map((part) => part.type)
      assert.deepStrictEqual(types, [
        "response-metadata",
        "text-start",
        "text-delta",
        "text-delta",
        "text-delta",
        "text-end",
        "finish"
      ])
      const deltas = parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])
      assert.deepStrictEqual(deltas, ["Hel", "lo", " world"])
      const finish = parts.at(-1) as Response.FinishPart
      assert.strictEqual(finish.reason, "stop")
      assert.strictEqual(finish.usage.inputTokens.total, 12)
      assert.strictEqual(finish.usage.outputTokens.total, 5)

      const body = server.requests[0]!.body
      assert.strictEqual(body.stream, true)
      assert.deepStrictEqual(body.stream_options, { include_usage: true })
      assert.strictEqual(server.requests[0]!.headers.authorization, `Bearer ${KEY}`)
    }))

  it.effect("assembles tool-call arguments split across chunks, two calls interleaved by index", () =>
    Effect.gen(function*() {
      const call = (index: number, fn: object, id?: string) => ({
        tool_calls: [{ index, ...(id ? { id, type: "function" } : {}), function: fn }]
      })
      const server = yield* FakeServer.make([FakeServer.sse([
        chunk({ role: "assistant", content: null }),
        chunk(call(0, { name: "GetWeather", arguments: "" }, "call_a")),
        chunk(call(1, { name: "GetTime", arguments: "{\"ci" }, "call_b")),
        chunk(call(0, { arguments: "{\"city\"" })),
        chunk(call(1, { arguments: "ty\":\"Os" })),
        chunk(call(0, { arguments: ":\"Par" })),
        chunk(call(1, { arguments: "lo\"}" })),
        chunk(call(0, { arguments: "is\"}" })),
        chunk({}, "tool_calls"),
        usageChunk,
        "[DONE]"
        // Tiny pieces: SSE lines and events are split across reads too.
      ], { pieceSize: 7 })])
      const parts = yield* LanguageModel.streamText({ prompt: "x", toolkit: Toolbox }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url))
      )
      const calls = parts.flatMap((part) => part.type === "tool-call" ? [[part.id, part.name, part.params]] : [])
      assert.deepStrictEqual(calls, [["call_a", "GetWeather", { city: "Paris" }], ["call_b", "GetTime", {
        city: "Oslo"
      }]])
      const deltas = (id: string) =>
        parts.flatMap((part) => part.type === "tool-params-delta" && part.id === id ? [part.delta] : []).join("")
      assert.strictEqual(deltas("call_a"), "{\"city\":\"Paris\"}")
      assert.strictEqual(deltas("call_b"), "{\"city\":\"Oslo\"}")
      assert.deepStrictEqual(
        parts.flatMap((part) => part.type === "tool-params-start" ? [part.name] : []),
        ["GetWeather", "GetTime"]
      )
      // LanguageModel ran the handlers.
      const results = parts.flatMap((part) => part.type === "tool-result" ? [part.id] : []).sort()
      assert.deepStrictEqual(results, ["call_a", "call_b"])
      const finish = parts.at(-1) as Response.FinishPart
      assert.strictEqual(finish.type, "finish")
      assert.strictEqual(finish.reason, "tool-calls")
    }).pipe(Effect.provide(ToolboxLayer)))

  it.effect("a stream cut off before it finished fails", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([chunk({ content: "Hel" })])])
      const error = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "NetworkError")
    }))

  it.effect("an error chunk fails the stream", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.sse([
        chunk({ content: "Hel" }),
        { error: { message: "model crashed" } }
      ])])
      const error = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "InternalProviderError")
      assert.include(error.message, "model crashed")
    }))
})

providerContract({
  name: "OpenAiProvider",
  key: KEY,
  layer: (url, options) => modelLayer(url, options),
  text,
  usage: { input: 12, output: 5 },
  twoToolCalls,
  stream: (deltas) =>
    FakeServer.sse([...deltas.map((content) => chunk({ content })), chunk({}, "stop"), usageChunk, "[DONE]"]),
  streamUsage: { input: 12, output: 5 },
  error: (kind, message) => ({
    error: {
      message,
      type: { rate_limit: "rate_limit_exceeded", server: "server_error", authentication: "invalid_request_error", invalid_request: "invalid_request_error" }[kind]
    }
  })
})

// What is particular to OpenAI's API; what every provider does is in the contract above.
describe("OpenAiProvider errors", () => {
  it.effect("429 insufficient_quota: a QuotaExhaustedError, not retried", () =>
    Effect.gen(function*() {
      const quota = yield* FakeServer.make([
        FakeServer.json({ error: { message: "no money", type: "insufficient_quota", code: "insufficient_quota" } }, {
          status: 429
        })
      ])
      const error = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(quota.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "QuotaExhaustedError")
      assert.strictEqual(quota.requests.length, 1)
    }))

  it.effect("401: the AuthenticationError says the key is invalid", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([
        FakeServer.json({ error: { message: `Incorrect API key provided: ${KEY}`, type: "invalid_request_error" } }, {
          status: 401
        })
      ])
      const error = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "AuthenticationError")
      assert.strictEqual((error.reason as AiError.AuthenticationError).kind, "InvalidKey")
    }))

  it.effect("400: an InvalidRequestError with the parameter, not retried", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([
        FakeServer.json({ error: { message: "bad model", type: "invalid_request_error", param: "model" } }, {
          status: 400
        })
      ])
      const error = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "InvalidRequestError")
      assert.strictEqual((error.reason as AiError.InvalidRequestError).parameter, "model")
      assert.strictEqual(server.requests.length, 1)
    }))

  it.effect("a body of the wrong shape: an InvalidResponseError", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json({ choices: "none" })])
      const error = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url)),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "InvalidResponseError")
    }))

  it.live("a server that never answers: a timeout NetworkError", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.hang])
      const error = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(modelLayer(server.url, { maxRetries: 1, timeout: "100 millis" })),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "NetworkError")
      assert.include(error.message, "no response within")
      assert.strictEqual(server.requests.length, 2)
    }))
})

describe("OpenAiProvider.layerConfig", () => {
  it.effect("reads OPENAI_API_KEY and OPENAI_BASE_URL", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(
          OpenAiProvider.layerConfig({ model: "local-model" }).pipe(
            Layer.provide(withEnv({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: `${server.url}/v1` }))
          )
        )
      )
      assert.strictEqual(server.requests[0]!.headers.authorization, `Bearer ${KEY}`)
      assert.strictEqual(server.requests[0]!.body.model, "local-model")
    }))

  it.effect("the key is optional", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(
          OpenAiProvider.layerConfig({ model: "local-model" }).pipe(
            Layer.provide(withEnv({ OPENAI_BASE_URL: `${server.url}/v1` }))
          )
        )
      )
      assert.isUndefined(server.requests[0]!.headers.authorization)
    }))
})

describe("ModelConfig", () => {
  it.effect("GRAPHENT_MODEL=openai:<model> picks the OpenAI provider (model names may hold colons)", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([text("ok")])
      yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.provide(
          ModelConfig.layerConfig().pipe(
            Layer.provide(withEnv({ GRAPHENT_MODEL: "openai:qwen3:8b", OPENAI_BASE_URL: `${server.url}/v1` }))
          )
        )
      )
      assert.strictEqual(server.requests[0]!.path, "/v1/chat/completions")
      assert.strictEqual(server.requests[0]!.body.model, "qwen3:8b")
    }))

  it.effect("an unknown provider, a missing model or no GRAPHENT_MODEL: a ConfigError", () =>
    Effect.gen(function*() {
      const build = (env: Record<string, string>) =>
        Layer.build(ModelConfig.layerConfig().pipe(Layer.provide(withEnv(env)))).pipe(Effect.scoped, Effect.exit)
      for (
        const [env, expected] of [
          [{ GRAPHENT_MODEL: "mistral:large" }, "unknown provider \"mistral\""],
          [{ GRAPHENT_MODEL: "openai:" }, "no model name"],
          [{ GRAPHENT_MODEL: "anthropic" }, "no model name"],
          [{}, "GRAPHENT_MODEL"]
        ] as const
      ) {
        const exit = yield* build(env)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as { readonly _tag: string; readonly message: string }
          assert.strictEqual(error._tag, "ConfigError")
          assert.include(error.message, expected)
        }
      }
    }))
})
