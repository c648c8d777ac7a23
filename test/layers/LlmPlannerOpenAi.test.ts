/**
 * The LlmPlanner with the real OpenAI-compatible provider, against a fake
 * Chat Completions server on loopback: a tool loop (parallel calls, arguments
 * the model got wrong, streamed arguments split across chunks), then replay of
 * the recorded run with the server gone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema, Stream } from "effect"
import { Agent, AgentRuntime, Journal, LlmPlanner, Pricing, Replay, Tool } from "graphent"
import { OpenAiProvider } from "graphent/openai"
import * as Testing from "graphent/testing"
import * as FakeServer from "../support/fakeModelServer.js"

const KEY = "sk-test-llm-planner-0123456789"

const weather = Tool.make("weather", {
  description: "The weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ city: Schema.String, celsius: Schema.Number }),
  handler: ({ city }) => Effect.succeed({ city, celsius: city.length })
})

const agent = Agent.make({
  name: "weather",
  instructions: "Answer questions about the weather.",
  tools: [weather],
  planner: LlmPlanner.make()
})

const usage = { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 }
const completion = (message: object, finish_reason: string) =>
  FakeServer.json({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-test",
    choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason }],
    usage
  })
const toolCalls = (...calls: ReadonlyArray<readonly [id: string, args: string]>) =>
  completion({
    content: null,
    tool_calls: calls.map(([id, args]) => ({ id, type: "function", function: { name: "weather", arguments: args } }))
  }, "tool_calls")
const answer = (content: string) => completion({ content }, "stop")

const modelLayer = (url: string) =>
  OpenAiProvider.layer({ model: "gpt-test", apiKey: Redacted.make(KEY), baseUrl: `${url}/v1`, retryDelay: "1 millis" })

describe("LlmPlanner over OpenAiProvider (fake server)", () => {
  it.effect("a tool loop with parallel calls and a malformed call the model repairs; replays with no server", () =>
    Effect.gen(function*() {
      const recorded = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* FakeServer.make([
          toolCalls(["a", "{\"city\":\"Paris\"}"], ["b", "{\"city\": \"Oslo\""]),
          toolCalls(["c", "{\"city\":\"Oslo\"}"]),
          answer("Paris 5°C, Oslo 4°C.")
        ])
        const result = yield* AgentRuntime.run(agent, "Weather in Paris and Oslo?").pipe(
          Effect.provide(Layer.mergeAll(modelLayer(server.url), Pricing.layer({ "openai:gpt-test": { input: 1, output: 2 } })))
        )
        assert.strictEqual(result.answer, "Paris 5°C, Oslo 4°C.")
        assert.deepStrictEqual(result.steps.map((step) => [step.id, step._tag]), [
          ["a", "Succeeded"],
          ["b", "Failed"],
          ["c", "Succeeded"]
        ])
        assert.strictEqual(result.usage.inputTokens, 300)
        assert.closeTo(result.usage.cost!, 3 * (100 + 20) / 1e6, 1e-12)

        // What the provider sent on the second turn: the tool calls and their results, the failure explained.
        const body = server.requests[1]!.body as { messages: ReadonlyArray<Record<string, unknown>>; tools: ReadonlyArray<unknown> }
        assert.deepStrictEqual(body.messages.map((message) => message.role), ["system", "user", "assistant", "tool", "tool"])
        const failed = body.messages[4]!
        assert.strictEqual(failed.tool_call_id, "b")
        assert.include(String(failed.content), "ToolArgumentsInvalid")
        assert.strictEqual(body.tools.length, 1)
        assert.notInclude(JSON.stringify(yield* Journal.Journal.use((journal) => journal.read(result.runId))), KEY)
        return result.events
      }))

      // The server is gone: replay answers every model call from the journal.
      const report = yield* Replay.replay(agent, recorded).pipe(
        Effect.provide(modelLayer(yield* FakeServer.closedPortUrl))
      )
      assert.strictEqual(report.identical, recorded.length)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("streamed: tool-call arguments split across chunks, text deltas as they arrive", () =>
    Effect.gen(function*() {
      const chunk = (delta: object, finish_reason: string | null = null) => ({
        id: "chatcmpl-2",
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model: "gpt-test",
        choices: [{ index: 0, delta, finish_reason }]
      })
      const usageChunk = { id: "chatcmpl-2", object: "chat.completion.chunk", choices: [], usage }
      const call = (fn: object, id?: string) => ({
        tool_calls: [{ index: 0, ...(id ? { id, type: "function" } : {}), function: fn }]
      })
      const server = yield* FakeServer.make([
        FakeServer.sse([
          chunk({ role: "assistant", content: null }),
          chunk(call({ name: "weather", arguments: "" }, "s1")),
          chunk(call({ arguments: "{\"ci" })),
          chunk(call({ arguments: "ty\":\"Rome\"}" })),
          chunk({}, "tool_calls"),
          usageChunk,
          "[DONE]"
        ], { pieceSize: 7 }),
        FakeServer.sse([
          chunk({ role: "assistant", content: "" }),
          chunk({ content: "Rome is " }),
          chunk({ content: "4°C." }),
          chunk({}, "stop"),
          usageChunk,
          "[DONE]"
        ])
      ])
      const events = yield* AgentRuntime.stream(agent, "Rome?").pipe(
        Stream.runCollect,
        Effect.provide(modelLayer(server.url))
      )
      const started = events.find((event) => event._tag === "StepStarted")
      assert.deepStrictEqual(started?._tag === "StepStarted" ? started.args : undefined, { city: "Rome" })
      assert.deepStrictEqual(events.flatMap((event) => event._tag === "TextDelta" ? [event.text] : []), ["Rome is ", "4°C."])
      const last = events.at(-1)
      assert(last?._tag === "RunCompleted")
      assert.strictEqual(last.answer, "Rome is 4°C.")
      assert.strictEqual((server.requests[0]!.body as { stream?: boolean }).stream, true)
    }).pipe(Effect.scoped, Effect.provide(Testing.layer)))

  it.live("a server that keeps failing ends the run with PlannerFailed naming the provider error, after retries", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json({ error: { message: "overloaded" } }, { status: 503 })])
      const error = yield* Effect.flip(
        AgentRuntime.run(agent, "x").pipe(Effect.provide(modelLayer(server.url)))
      )
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "Internal provider error: overloaded")
      assert.isAbove(server.requests.length, 1)
    }).pipe(Effect.scoped, Effect.provide(Testing.layer)))
})
