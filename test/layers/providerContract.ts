/**
 * The contract every model provider layer must pass (OpenAI-compatible,
 * Anthropic, ...), against a loopback fake of its API
 * (test/support/fakeModelServer.ts). A provider suite describes its wire
 * format — how its API answers text, tool calls, a stream and an error — and
 * gets the tests every provider must pass:
 *
 * - text with usage; several tool calls in one response, run by the toolkit;
 *   a streamed answer as text deltas then a finish with usage;
 * - retries: 429 waits `retry-after` (on the Clock, so the test does not wait),
 *   5xx is retried up to `maxRetries` then fails with InternalProviderError, a
 *   stream retries a 5xx that came before its first byte;
 * - typed errors, not retried: 401 AuthenticationError, 400
 *   InvalidRequestError, a body that is not JSON InvalidResponseError; a closed
 *   port NetworkError;
 * - the API key redacted: never in an error, a span or a log line, even when
 *   the server echoes it back and across retries.
 *
 * Wire details (request bodies, headers, provider-specific statuses) stay in
 * the provider's own suite.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, type Duration, Effect, Exit, Fiber, type Layer, Schema, Stream } from "effect"
import * as AiError from "effect/ai/AiError"
import * as LanguageModel from "effect/ai/LanguageModel"
import type * as Response from "effect/ai/Response"
import * as Tool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import { TestClock } from "effect/testing"
import * as FakeServer from "../support/fakeModelServer.js"

/** The tools of the contract's tool-call test. */
export const GetWeather = Tool.make("GetWeather", {
  description: "The current weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ city: Schema.String, tempC: Schema.Number })
})
export const GetTime = Tool.make("GetTime", {
  description: "The local time in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String
})
export const Toolbox = Toolkit.make(GetWeather, GetTime)
export const ToolboxLayer = Toolbox.toLayer({
  GetWeather: ({ city }) => Effect.succeed({ city, tempC: 21 }),
  GetTime: ({ city }) => Effect.succeed(`12:00 in ${city}`)
})

/** The kinds of API error the contract provokes. */
export type ErrorKind = "rate_limit" | "server" | "authentication" | "invalid_request"

/** A provider under test: its layer and how its API says things on the wire. */
export interface ProviderUnderTest {
  /** The provider's name, as its spans are named (`<name>.generateText`). */
  readonly name: string
  /** The API key the layer sends (a test checks it never leaks). */
  readonly key: string
  /** The provider's layer against the fake server at `url` (retry delays short unless asked). */
  readonly layer: (url: string, options?: {
    readonly maxRetries?: number
    readonly retryDelay?: Duration.Input
  }) => Layer.Layer<LanguageModel.LanguageModel>
  /** A response answering `value`, with the usage below. */
  readonly text: (value: string) => FakeServer.Reply
  /** The token usage `text` reports. */
  readonly usage: { readonly input: number; readonly output: number }
  /** A response calling GetWeather for Paris and GetTime for Oslo at once. */
  readonly twoToolCalls: FakeServer.Reply
  /** A streamed response of these text deltas, then its end, with `streamUsage`. */
  readonly stream: (deltas: ReadonlyArray<string>) => FakeServer.Reply
  readonly streamUsage: { readonly input: number; readonly output: number }
  /** The API's error body for `kind` with `message`. */
  readonly error: (kind: ErrorKind, message: string) => unknown
}

const keyIsAbsent = (key: string, error: unknown) => {
  for (const rendered of [String(error), (error as Error).message, JSON.stringify(error), Cause.pretty(Cause.fail(error))]) {
    assert.notInclude(rendered, key)
  }
}

const deltas = (parts: ReadonlyArray<Response.StreamPart<any>>) =>
  parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])

/** Registers `describe("Provider contract: <name>", ...)` with the tests every provider must pass. */
export const providerContract = (provider: ProviderUnderTest) =>
  describe(`Provider contract: ${provider.name}`, () => {
    const generate = (url: string, options?: Parameters<ProviderUnderTest["layer"]>[1]) =>
      LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(provider.layer(url, options)))
    const failing = (status: number, kind: ErrorKind, message: string, headers?: Record<string, string>) =>
      FakeServer.json(provider.error(kind, message), { status, ...(headers === undefined ? {} : { headers }) })

    it.effect("answers text, with usage", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([provider.text("Hello there")])
        const response = yield* generate(server.url)
        assert.strictEqual(response.text, "Hello there")
        assert.strictEqual(response.finishReason, "stop")
        assert.strictEqual(response.usage.inputTokens.total, provider.usage.input)
        assert.strictEqual(response.usage.outputTokens.total, provider.usage.output)
      }))

    it.effect("several tool calls in one response: each decoded and run by the toolkit", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([provider.twoToolCalls])
        const response = yield* LanguageModel.generateText({ prompt: "Weather in Paris, time in Oslo?", toolkit: Toolbox }).pipe(
          Effect.provide(provider.layer(server.url))
        )
        assert.deepStrictEqual(response.toolCalls.map((call) => [call.name, call.params]), [
          ["GetWeather", { city: "Paris" }],
          ["GetTime", { city: "Oslo" }]
        ])
        assert.sameDeepMembers(response.toolResults.map((result) => [result.name, result.result]), [
          ["GetWeather", { city: "Paris", tempC: 21 }],
          ["GetTime", "12:00 in Oslo"]
        ])
      }).pipe(Effect.provide(ToolboxLayer)))

    it.effect("streams text deltas, then a finish with usage", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([provider.stream(["Hel", "lo", " world"])])
        const parts = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
          Stream.runCollect,
          Effect.provide(provider.layer(server.url))
        )
        assert.deepStrictEqual(deltas(parts), ["Hel", "lo", " world"])
        const finish = parts.at(-1) as Response.FinishPart
        assert.strictEqual(finish.type, "finish")
        assert.strictEqual(finish.reason, "stop")
        assert.strictEqual(finish.usage.inputTokens.total, provider.streamUsage.input)
        assert.strictEqual(finish.usage.outputTokens.total, provider.streamUsage.output)
      }))

    it.effect("429 with retry-after: 1 waits one second (on the Clock), then succeeds", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([
          failing(429, "rate_limit", "slow down", { "retry-after": "1" }),
          provider.text("finally")
        ])
        const fiber = yield* generate(server.url, { retryDelay: "1 hour" }).pipe(Effect.forkChild)
        // Real time passes for the HTTP round trip; the retry then sleeps on the TestClock.
        const live = (millis: number) => TestClock.withLive(Effect.sleep(millis))
        while (server.requests.length < 1) yield* live(5)
        yield* live(100)
        yield* TestClock.adjust("999 millis")
        yield* live(100)
        assert.strictEqual(server.requests.length, 1, "still waiting after 999 ms")
        yield* TestClock.adjust("1 millis")
        const response = yield* TestClock.withLive(Effect.timeout(Fiber.join(fiber), "5 seconds"))
        assert.strictEqual(response.text, "finally")
        assert.strictEqual(server.requests.length, 2)
      }))

    it.live("5xx twice, then success", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([
          failing(500, "server", "boom"),
          failing(502, "server", "boom"),
          provider.text("recovered")
        ])
        assert.strictEqual((yield* generate(server.url)).text, "recovered")
        assert.strictEqual(server.requests.length, 3)
      }))

    it.live("500 always: an InternalProviderError after maxRetries + 1 requests", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([failing(500, "server", "down")])
        const error = yield* generate(server.url, { maxRetries: 2 }).pipe(Effect.flip)
        assert.isTrue(AiError.isAiError(error))
        assert.strictEqual(error.reason._tag, "InternalProviderError")
        assert.include(error.message, "down")
        assert.strictEqual(server.requests.length, 3)
      }))

    it.live("streaming retries a 503 that came before the stream started", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([failing(503, "server", "busy"), provider.stream(["ok"])])
        const parts = yield* LanguageModel.streamText({ prompt: "Hi" }).pipe(
          Stream.runCollect,
          Effect.provide(provider.layer(server.url))
        )
        assert.deepStrictEqual(deltas(parts), ["ok"])
        assert.strictEqual(server.requests.length, 2)
      }))

    it.effect("401: an AuthenticationError, not retried, the echoed key redacted", () =>
      Effect.gen(function*() {
        // The server echoes the key, as a careless proxy might.
        const server = yield* FakeServer.make([failing(401, "authentication", `invalid key ${provider.key}`)])
        const error = yield* generate(server.url).pipe(Effect.flip)
        assert.strictEqual(error.reason._tag, "AuthenticationError")
        assert.strictEqual(server.requests.length, 1)
        assert.include(error.message, "invalid key <redacted>")
        keyIsAbsent(provider.key, error)
      }))

    it.live("the key appears in no span and no log line, also across retries", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([
          failing(500, "server", `bad key ${provider.key}`),
          failing(401, "authentication", `bad key ${provider.key}`)
        ])
        const { logs, result, spanNames, spans } = yield* FakeServer.recordTelemetry(generate(server.url))
        assert.isTrue(Exit.isFailure(result))
        assert.strictEqual(server.requests.length, 2)
        assert.includeMembers([...spanNames], ["LanguageModel.generateText", `${provider.name}.generateText`, "POST"])
        assert.isTrue(logs.some((line) => line.includes("retrying after InternalProviderError")))
        for (const text of [...spans, ...logs]) assert.notInclude(text, provider.key)
      }))

    it.effect("400: an InvalidRequestError with the API's message, not retried", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([failing(400, "invalid_request", "max_tokens: too large")])
        const error = yield* generate(server.url).pipe(Effect.flip)
        assert.strictEqual(error.reason._tag, "InvalidRequestError")
        assert.include(error.message, "max_tokens: too large")
        assert.strictEqual(server.requests.length, 1)
      }))

    it.effect("a body that is not JSON: an InvalidResponseError, not retried", () =>
      Effect.gen(function*() {
        const server = yield* FakeServer.make([FakeServer.raw("{\"id\": \"x\", \"content\": [")])
        const error = yield* generate(server.url).pipe(Effect.flip)
        assert.strictEqual(error.reason._tag, "InvalidResponseError")
        assert.strictEqual(server.requests.length, 1)
      }))

    it.live("connection refused: a NetworkError after the retries, without the key", () =>
      Effect.gen(function*() {
        const url = yield* FakeServer.closedPortUrl
        const error = yield* generate(url, { maxRetries: 1 }).pipe(Effect.flip)
        assert.strictEqual(error.reason._tag, "NetworkError")
        keyIsAbsent(provider.key, error)
      }))
  })
