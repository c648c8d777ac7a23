/**
 * The agent's tools, on Graphent's `Memory`: notes kept for semantic recall (vector search). Where they are kept
 * is the program's choice, not the tools': `graphent run` / `graphent dev` keep them in PostgreSQL with pgvector
 * when GRAPHENT_DATABASE_URL is set, else in the embedded PGlite (pgvector included) under `.graphent/`.
 */
import { createHash } from "node:crypto"
import { Effect, Schema } from "effect"
import { Memory, Tool } from "graphent"

/** A note recalled, with its similarity to the question (1 = the same words). */
export const Recalled = Schema.Struct({ text: Schema.String, score: Schema.Number })

/** The same text is the same note: remembering it twice keeps one. */
const noteId = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16)

export const remember = Tool.make("remember", {
  description: "Keeps a note for later recall.",
  parameters: Schema.Struct({ text: Schema.String.check(Schema.isNonEmpty()) }),
  success: Schema.String,
  idempotent: true,
  handler: ({ text }, { agent }) =>
    Effect.as(
      Memory.Memory.use((memory) => memory.remember(Memory.agent(agent), { id: noteId(text), text, metadata: {} })),
      noteId(text)
    )
})

export const recall = Tool.make("recall", {
  description: "Finds the notes most similar to a question.",
  parameters: Schema.Struct({ query: Schema.String, k: Schema.optionalKey(Schema.Int) }),
  success: Schema.Array(Recalled),
  idempotent: true,
  handler: ({ k, query }, { agent }) =>
    Memory.Memory.use((memory) => memory.recall(Memory.agent(agent), query, { k: k ?? 3 })).pipe(
      Effect.map((found) => found.map(({ score, text }) => ({ text, score: Math.round(score * 1000) / 1000 })))
    )
})
