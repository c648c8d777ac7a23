/**
 * A chat assistant with memory: the conversation of each thread (`--thread`), notes recalled by meaning across
 * threads, answers streamed (`--stream`), and a prompt that stays within the model's context window.
 *
 *   npx graphent run src/agent.ts --thread monday --input "remember that the dentist is on Friday at 10"
 *   npx graphent run src/agent.ts --thread tuesday --input "when is the dentist?" --stream
 *
 * Memory: the thread's messages (the planner shows them and appends each exchange), and the user's notes as documents
 * for semantic recall (`Memory.user`), so a note taken in one thread is found in another.
 * Context: `LlmPlanner.make({ context })` summarizes older turns of a run before a prompt would overflow the window,
 * and the thread's older messages once they outgrow their share of it (that summary is kept in the thread's memory,
 * so the next run starts from it); it shows the model long tool results cut (the journal keeps them whole).
 */
import { Effect, Schema } from "effect"
import { Agent, LlmPlanner, Memory, ModelConfig, ScriptedModel, Tool } from "graphent"

/** The notes of whoever the run is for (`GRAPHENT_PRINCIPAL`), else of "me". */
const notesOf = (principal: string | undefined) => Memory.user(principal ?? "me")

export const rememberNote = Tool.make("remember_note", {
  description: "Saves a note the user asks you to remember.",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  capabilities: ["memory:write"],
  handler: ({ text }, context) =>
    Memory.Memory.use((memory) =>
      memory.remember(notesOf(context.principal?.id), {
        id: `${context.runId}/${context.stepId}`,
        text,
        metadata: { thread: context.threadId ?? null }
      })
    ).pipe(Effect.as(text))
})

export const recallNotes = Tool.make("recall_notes", {
  description: "Finds the user's notes closest in meaning to a question (best first).",
  parameters: Schema.Struct({ query: Schema.String }),
  success: Schema.Array(Schema.Struct({ text: Schema.String, score: Schema.Number })),
  idempotent: true,
  capabilities: ["memory:read"],
  handler: ({ query }, context) =>
    Memory.Memory.use((memory) => memory.recall(notesOf(context.principal?.id), query, { k: 3 })).pipe(
      Effect.map((found) => found.map((note) => ({ text: note.text, score: Math.round(note.score * 1000) / 1000 })))
    )
})

/** The window the planner keeps the prompt in (small here, so that long runs show compaction offline). */
export const contextLimit = 3000

export default Agent.make({
  name: "chat",
  description: "A chat assistant that remembers notes and conversations.",
  instructions: "You are a concise assistant. Save what the user asks you to remember with remember_note; look " +
    "notes up with recall_notes before answering questions about the past. Answer in one sentence.",
  tools: [rememberNote, recallNotes],
  planner: LlmPlanner.make({
    // The thread's history is kept within the window too: no message count needed.
    context: { limit: contextLimit, policy: "summarize", maxToolResult: 600 }
  })
})

// ---------------------------------------------------------------------------
// the offline model
// ---------------------------------------------------------------------------

type Prompt = Parameters<typeof ScriptedModel.lastUserText>[0]

/** The run's input: the last user message that is not the summary a compaction put after it. */
const inputOf = (prompt: Prompt): string => {
  for (const message of [...prompt.content].reverse()) {
    if (message.role !== "user") continue
    const text = message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
    if (!text.startsWith("Summary of the earlier conversation")) return text
  }
  return ""
}

/** A few rules over the conversation, as a function from the request to a reply. */
export const offlineReply = ({ prompt }: { readonly prompt: Prompt }) => {
  const system = prompt.content[0]
  if (system?.role === "system" && system.content.startsWith("You condense")) {
    return ScriptedModel.text("Earlier, the user and the assistant exchanged notes and questions.")
  }
  const results = ScriptedModel.lastToolResults(prompt)
  const input = inputOf(prompt)
  // "remember these: a; b; c": one note a turn, so a long list makes a long run (and shows compaction). The next
  // item follows the last one saved: the input and the latest turn are never compacted away.
  const list = /^remember these:\s*(.+)$/is.exec(input.trim())
  if (list !== null) {
    const items = list[1]!.split(";").map((item) => item.trim()).filter((item) => item !== "")
    const last = results.find((result) => result.name === "remember_note")?.result
    const next = last === undefined ? 0 : items.indexOf(String(last)) + 1
    return next < items.length
      ? ScriptedModel.toolCall("remember_note", { text: items[next]! })
      : ScriptedModel.text(`Noted ${items.length} notes.`)
  }
  const saved = results.filter((result) => result.name === "remember_note" && !result.isFailure)
  if (saved.length > 0) return ScriptedModel.text(`Noted: ${saved.map((result) => String(result.result)).join("; ")}.`)
  const found = results.find((result) => result.name === "recall_notes")
  if (found !== undefined) {
    const notes = found.result as ReadonlyArray<{ readonly text: string; readonly score: number }>
    const relevant = notes.filter((note) => note.score > 0.2)
    return ScriptedModel.text(relevant.length === 0 ? "I have no note about that." : `From your notes: ${relevant[0]!.text}.`)
  }
  const remember = /^(?:please )?remember (?:that )?(.+?)[.!]?$/i.exec(input.trim())
  if (remember !== null) return ScriptedModel.toolCall("remember_note", { text: remember[1]! })
  if (/\?$/.test(input.trim()) && /\b(when|where|what|which|who|did i|do you remember)\b/i.test(input)) {
    return ScriptedModel.toolCall("recall_notes", { query: input.trim() })
  }
  const earlier = prompt.content.filter((message) => message.role === "user").length - 1
  return ScriptedModel.text(`You said: "${input.trim()}" (${earlier} earlier message${earlier === 1 ? "" : "s"} in view).`)
}

/** The model: `GRAPHENT_MODEL` when set, else the offline rules above. */
export const layer = ModelConfig.layerConfigOrElse(ScriptedModel.layerFunction(offlineReply))
