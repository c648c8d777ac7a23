/**
 * The policy-lookup sub-agent: finds the clause of the refund policy (`policy/refunds.md`) that fits a situation.
 * The support agent calls it as a tool (`Agent.asTool`); each call is a child run of the support run, with its own
 * journal section, inside the parent's budget and policy.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"

const policyFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../policy/refunds.md")

const words = (text: string) => new Set(text.toLowerCase().match(/[a-z]+/g) ?? [])

/** The section of the policy sharing the most words with `topic` (the first one on a tie). */
export const bestClause = (policy: string, topic: string): string => {
  const wanted = words(topic)
  const sections = policy.split(/^## /m).slice(1).map((section) => `## ${section.trim()}`)
  const score = (section: string) => [...words(section)].filter((word) => wanted.has(word)).length
  return sections.reduce((best, section) => (score(section) > score(best) ? section : best), sections[0] ?? "")
}

export const searchPolicy = Tool.make("search_policy", {
  description: "Finds the refund policy's clause about a situation.",
  parameters: Schema.Struct({ topic: Schema.String }),
  success: Schema.String,
  idempotent: true,
  capabilities: ["docs:read:policy"],
  handler: ({ topic }) =>
    Effect.tryPromise({ try: () => fs.readFile(policyFile, "utf8"), catch: (error) => `cannot read the policy: ${String(error)}` })
      .pipe(Effect.map((policy) => bestClause(policy, topic)))
})

export const policyLookup = Agent.make({
  name: "policy_lookup",
  description: "Finds the refund policy clause that applies to a customer's situation",
  tools: [searchPolicy],
  planner: SequencePlanner.rules([{
    match: (input) => input.trim() !== "",
    steps: (input) => [{ id: "search", tool: "search_policy", args: { topic: input } }],
    answer: (results) => results.search as string
  }])
})
