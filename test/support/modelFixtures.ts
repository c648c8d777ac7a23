/**
 * Fixtures shared by the tests of model calls through real providers against
 * the fake model servers: a tool, and provider responses with a given usage.
 */
import { Effect, Schema } from "effect"
import { Tool } from "graphent"
import * as FakeServer from "./fakeModelServer.js"

/** Adds two numbers. */
export const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

/** An Anthropic Messages API response. */
export const anthropicMessage = (content: ReadonlyArray<object>, usage: object, stop_reason = "end_turn", model = "claude-test-2025") =>
  FakeServer.json({ id: "msg_1", type: "message", role: "assistant", model, content, stop_reason, stop_sequence: null, usage })

/** An OpenAI Chat Completions response. */
export const openAiCompletion = (message: object, usage: object, finish_reason = "stop", model = "gpt-test") =>
  FakeServer.json({
    id: "chatcmpl-1",
    object: "chat.completion",
    model,
    choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason }],
    usage
  })
