/**
 * A fixed plan with concurrent steps: three independent measurements of the
 * input run at the same time, then a summary step that references all three.
 *
 *   npx graphent run examples/wordstats.ts --input "the quick brown fox jumps over the lazy dog"
 */
import { Effect, Schema } from "effect"
import { Agent, Planner, SequencePlanner, Tool } from "graphent"

const Text = Schema.Struct({ text: Schema.String })
const words = (text: string) => text.split(/\s+/).filter((word) => word !== "")

export const countWords = Tool.make("count_words", {
  description: "Counts the words of a text.",
  parameters: Text,
  success: Schema.Int,
  idempotent: true,
  handler: ({ text }) => Effect.succeed(words(text).length)
})

export const longestWord = Tool.make("longest_word", {
  description: "Finds the longest word of a text.",
  parameters: Text,
  success: Schema.String,
  idempotent: true,
  handler: ({ text }) => Effect.succeed(words(text).reduce((best, word) => word.length > best.length ? word : best, ""))
})

export const distinctWords = Tool.make("distinct_words", {
  description: "Counts the distinct words of a text, ignoring case.",
  parameters: Text,
  success: Schema.Int,
  idempotent: true,
  handler: ({ text }) => Effect.succeed(new Set(words(text.toLowerCase())).size)
})

export const summarize = Tool.make("summarize", {
  description: "Writes one sentence from the measurements.",
  parameters: Schema.Struct({ words: Schema.Int, distinct: Schema.Int, longest: Schema.String }),
  success: Schema.String,
  idempotent: true,
  handler: ({ distinct, longest, words }) =>
    Effect.succeed(`${words} words (${distinct} distinct); the longest is "${longest}".`)
})

export default Agent.make({
  name: "wordstats",
  description: "Measures a text with three concurrent steps and summarizes them.",
  tools: [countWords, longestWord, distinctWords, summarize],
  planner: SequencePlanner.rules([{
    match: (input) => input.trim() !== "",
    steps: (input) => [
      { id: "words", tool: "count_words", args: { text: input } },
      { id: "longest", tool: "longest_word", args: { text: input } },
      { id: "distinct", tool: "distinct_words", args: { text: input } },
      {
        id: "summary",
        tool: "summarize",
        args: { words: Planner.ref("words"), distinct: Planner.ref("distinct"), longest: Planner.ref("longest") }
      }
    ]
  }], { fallback: () => "Give me some text to measure." })
})
