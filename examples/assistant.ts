/**
 * A chat assistant with memory and tools, planned by a language model.
 *
 *   npx graphent run examples/assistant.ts --thread me --input "remember that the meeting is at 3pm"
 *   npx graphent run examples/assistant.ts --thread me --input "what do you remember?"
 *   npx graphent run examples/assistant.ts --thread me --input "what is (2 + 3) * 4?" --stream
 *
 * With no `GRAPHENT_MODEL` it runs offline on a small scripted model (a
 * function from the conversation to a reply: enough to show tool calls,
 * parallel calls and thread memory). With `GRAPHENT_MODEL=openai:gpt-4.1-mini`
 * (and `OPENAI_API_KEY`), or `anthropic:...`, the same agent runs live.
 *
 * The notes live in the thread's facts and the conversation in the thread's
 * history (`Memory`), so they last as long as the memory backend does.
 */
import { Effect, Schema } from "effect"
import type * as Prompt from "effect/ai/Prompt"
import { Agent, LlmPlanner, Memory, ModelConfig, ScriptedModel, Tool } from "graphent"

// ---------------------------------------------------------------------------
// tools
// ---------------------------------------------------------------------------

/** The expression could not be evaluated. */
export class CalculatorError extends Schema.TaggedError<CalculatorError>()("CalculatorError", {
  expression: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot evaluate "${this.expression}": ${this.reason}`
  }
}

/** Evaluates + - * / ^ and parentheses; never `eval`. */
export const evaluate = (expression: string): number => {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/^()]|\S/g) ?? []
  let position = 0
  const peek = () => tokens[position]
  const take = () => tokens[position++]
  const primary = (): number => {
    const token = take()
    if (token === "(") {
      const value = sum()
      if (take() !== ")") throw new Error("missing )")
      return value
    }
    if (token === "-") return -primary()
    if (token !== undefined && /^\d/.test(token)) return Number(token)
    throw new Error(token === undefined ? "unexpected end" : `unexpected "${token}"`)
  }
  const power = (): number => {
    const base = primary()
    return peek() === "^" ? (take(), base ** power()) : base
  }
  const product = (): number => {
    let value = power()
    while (peek() === "*" || peek() === "/") {
      const op = take()
      const right = power()
      if (op === "/" && right === 0) throw new Error("division by zero")
      value = op === "*" ? value * right : value / right
    }
    return value
  }
  const sum = (): number => {
    let value = product()
    while (peek() === "+" || peek() === "-") value = take() === "+" ? value + product() : value - product()
    return value
  }
  const value = sum()
  if (position < tokens.length) throw new Error(`unexpected "${tokens[position]}"`)
  return value
}

export const calculator = Tool.make("calculator", {
  description: "Evaluates an arithmetic expression with + - * / ^ and parentheses.",
  parameters: Schema.Struct({ expression: Schema.String }),
  success: Schema.Number,
  idempotent: true,
  // A bad expression goes back to the model, which can correct it.
  recoverable: true,
  handler: ({ expression }) =>
    Effect.try({
      try: () => evaluate(expression),
      catch: (error) => new CalculatorError({ expression, reason: (error as Error).message })
    })
})

const notesOf = (threadId: string | undefined) => threadId === undefined ? Memory.agent("assistant") : Memory.thread(threadId)

export const notes = Tool.make("notes", {
  description: "Saves a note (action add, with text) or lists the saved notes (action list) of this conversation.",
  parameters: Schema.Struct({ action: Schema.Literals(["add", "list"]), text: Schema.optionalKey(Schema.String) }),
  success: Schema.Array(Schema.String),
  handler: ({ action, text }, context) =>
    Effect.gen(function*() {
      const memory = yield* Memory.Memory
      const namespace = notesOf(context.threadId)
      if (action === "add" && text !== undefined) {
        // One fact per note, keyed by the step: concurrent adds never overwrite each other.
        yield* memory.set(namespace, `note:${context.runId}:${context.stepId}`, text)
        return [text]
      }
      const keys = (yield* memory.keys(namespace)).filter((key) => key.startsWith("note:"))
      const values = yield* Effect.forEach(keys, (key) => memory.get(namespace, key))
      return values.flatMap((value) => value._tag === "Some" && typeof value.value === "string" ? [value.value] : [])
    })
})

// ---------------------------------------------------------------------------
// the agent
// ---------------------------------------------------------------------------

export default Agent.make({
  name: "assistant",
  description: "A chat assistant that keeps notes and does arithmetic",
  instructions: "You are a concise assistant. Use the calculator for arithmetic and the notes tool to save or " +
    "recall what the user asks you to remember. Answer in one or two sentences.",
  tools: [calculator, notes],
  planner: LlmPlanner.make()
})

// ---------------------------------------------------------------------------
// the offline model
// ---------------------------------------------------------------------------

const textOf = (message: Prompt.Message): string =>
  typeof message.content === "string"
    ? message.content
    : message.content.map((part) => (part.type === "text" ? part.text : "")).join("")

/** Answers from the tool results of the last turn, by what each call asked for. */
const summarize = (prompt: Prompt.Prompt, results: ReadonlyArray<Prompt.ToolResultPart>): string => {
  const asked = prompt.content.at(-2)
  const calls = new Map<string, unknown>()
  if (asked?.role === "assistant") {
    for (const part of asked.content) if (part.type === "tool-call") calls.set(part.id, part.params)
  }
  return results.map((result) => {
    if (result.isFailure) return `That did not work: ${String(result.result)}.`
    if (result.name === "calculator") return `The answer is ${String(result.result)}.`
    const saved = result.result as ReadonlyArray<string>
    if ((calls.get(result.id) as { readonly action?: string } | undefined)?.action === "add") return `Noted: ${saved[0]}.`
    return saved.length === 0 ? "I have no notes yet." : `Your notes: ${saved.join("; ")}.`
  }).join(" ")
}

/** A name the user gave earlier in the thread, from the conversation history. */
const nameFrom = (prompt: Prompt.Prompt): string | undefined => {
  for (const message of prompt.content) {
    if (message.role !== "user") continue
    const match = /my name is (\w+)/i.exec(textOf(message))
    if (match !== null) return match[1]
  }
  return undefined
}

/**
 * The offline "model": a few rules over the conversation, as a function from
 * the request to a reply. Tool calls in one reply run concurrently.
 */
const offlineModel = ScriptedModel.layerFunction(({ prompt }) => {
  const results = ScriptedModel.lastToolResults(prompt)
  if (results.length > 0) return ScriptedModel.text(summarize(prompt, results))
  const input = ScriptedModel.lastUserText(prompt)
  const calls: Array<ScriptedModel.ScriptedToolCall> = []
  const remember = /remember (?:that )?(.+?)(?:\s+and\s+(?=what)|$)/i.exec(input)
  if (remember !== null) calls.push({ name: "notes", params: { action: "add", text: remember[1]!.trim() } })
  else if (/what do you (?:remember|know)|my notes/i.test(input)) calls.push({ name: "notes", params: { action: "list" } })
  const arithmetic = /[-(]*\d[\d\s.+\-*/^()]*[+\-*/^][\d\s.+\-*/^()]*\d\)*/.exec(input)
  if (arithmetic !== null) calls.push({ name: "calculator", params: { expression: arithmetic[0].trim() } })
  if (calls.length > 0) return ScriptedModel.toolCalls(calls)
  const introduced = /my name is (\w+)/i.exec(input)
  if (introduced !== null) return ScriptedModel.text(`Nice to meet you, ${introduced[1]}.`)
  if (/what is my name/i.test(input)) {
    const name = nameFrom(prompt)
    return ScriptedModel.text(name === undefined ? "You have not told me your name." : `Your name is ${name}.`)
  }
  return ScriptedModel.text(
    "I am running offline on a scripted model. Try \"remember that ...\", \"what do you remember?\", " +
      "\"what is 2 + 3 * 4?\" or \"my name is ...\" — or set GRAPHENT_MODEL for a live model."
  )
})

/** The model: `GRAPHENT_MODEL` when it is set, the offline one otherwise. */
export const layer = ModelConfig.layerConfigOrElse(offlineModel)
