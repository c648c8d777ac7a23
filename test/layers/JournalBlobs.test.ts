import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { Agent, AgentRuntime, JournalFile, LocalRuntime, Planner, Tool } from "graphent"

const Message = Schema.Struct({ role: Schema.String, content: Schema.String })

/** A chat turn: the whole history goes in (as with a model call), a reply comes out. */
const chat = Tool.make("chat", {
  description: "Replies to a conversation",
  parameters: Schema.Struct({ messages: Schema.Array(Message) }),
  success: Schema.String,
  handler: ({ messages }) =>
    Effect.succeed(`reply ${messages.length}: ${"lorem ipsum dolor sit amet ".repeat(6)}`)
})

/** Each turn sends the conversation so far plus a new user message. */
const conversation = (turns: number) =>
  Agent.make({
    name: "chatty",
    tools: [chat],
    budget: { maxTurns: turns + 1 },
    planner: {
      decide: (state) => {
        if (state.turn > turns) return Effect.succeed(Planner.answer("bye"))
        const messages: Array<typeof Message.Type> = []
        for (const step of state.steps) {
          if (step._tag !== "Succeeded") continue
          const sent = (step.args as { messages: ReadonlyArray<typeof Message.Type> }).messages
          messages.push(sent[sent.length - 1]!, { role: "assistant", content: step.value as string })
        }
        messages.push({ role: "user", content: `question ${state.turn}: ${"what about this? ".repeat(8)}` })
        return Effect.succeed(Planner.runSteps([{ id: `t${state.turn}`, tool: "chat", args: { messages } }]))
      }
    }
  })

const record = (turns: number) =>
  Effect.gen(function*() {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "graphent-blobs-")), "chat.jsonl")
    const result = yield* AgentRuntime.run(conversation(turns), "hi").pipe(
      Effect.provide(LocalRuntime.layer.pipe(Layer.provide(JournalFile.layer({ path: file }))))
    )
    const inline = result.events.reduce((size, event) => size + JSON.stringify(event).length + 1, 0)
    return { file, result, inline, size: fs.statSync(file).size }
  })

describe("JournalFile payload storage", () => {
  it.effect("stores a 50-turn conversation once: the file grows linearly, not with the square", () =>
    Effect.gen(function*() {
      const half = yield* record(25)
      const full = yield* record(50)
      // Inline, each turn re-sends the history: quadratic.
      assert.isAbove(full.inline / half.inline, 3.5)
      // Stored by content, doubling the conversation roughly doubles the file.
      assert.isBelow(full.size / half.size, 2.3)
      assert.isBelow(full.size, full.inline / 5)
    }))

  it.effect("reads back exactly the events that were appended", () =>
    Effect.gen(function*() {
      const { file, result } = yield* record(30)
      const contents = yield* JournalFile.readFile(file)
      assert.isAbove(contents.blobs.length, 0)
      assert.deepStrictEqual(contents.events, JSON.parse(JSON.stringify(result.events)))
    }))

  it.effect("a reopened file does not store its blobs again", () =>
    Effect.gen(function*() {
      const { file } = yield* record(20)
      const before = (yield* JournalFile.readFile(file)).blobs.length
      // Another run of the same conversation appended to the same file: the same payloads.
      yield* AgentRuntime.run(conversation(20), "hi").pipe(
        Effect.provide(LocalRuntime.layer.pipe(Layer.provide(JournalFile.layer({ path: file }))))
      )
      const after = yield* JournalFile.readFile(file)
      assert.strictEqual(after.blobs.length, before)
      assert.strictEqual(new Set(after.events.map((event) => event.runId)).size, 2)
    }))

  it.effect("a reference to a blob the file does not hold is an error naming the line", () =>
    Effect.gen(function*() {
      const { file } = yield* record(20)
      const lines = fs.readFileSync(file, "utf8").split("\n")
      const index = lines.findIndex((line) => line.startsWith(`{"_tag":"Blob"`))
      lines.splice(index, 1)
      fs.writeFileSync(file, lines.join("\n"))
      const error = yield* Effect.flip(JournalFile.readFile(file))
      assert.strictEqual(error._tag, "JournalError")
      assert.match(error.message, /:\d+: refers to blob [0-9a-f]{24}, which the file does not hold/)
    }))
})
