/**
 * An agent with a memory of notes, recalled by meaning: `remember <text>` keeps a note, `recall <question>` finds
 * the closest ones; several commands separated by `;` run in order.
 *
 *   npx graphent run src/agent.ts --input "remember the deploy key is in the vault; recall where is the deploy key?"
 *
 * The notes outlive the run: with no GRAPHENT_DATABASE_URL they are kept in the embedded PostgreSQL (PGlite, with
 * pgvector) under `.graphent/`; with GRAPHENT_DATABASE_URL=postgres://… in that server (pgvector when installed).
 */
import { Agent, type Planner, SequencePlanner } from "graphent"
import { recall, remember } from "./tools.js"

const commandsOf = (input: string) => input.split(";").map((command) => command.trim()).filter((command) => command !== "")

/** One command as a step, after the step before it; `undefined` when it is not a command. */
const stepOf = (command: string, index: number): Planner.PlanStep | undefined => {
  const id = `${index + 1}`
  const after = index === 0 ? {} : { dependsOn: [`${index}`] }
  let match: RegExpExecArray | null
  if ((match = /^remember\s+(.+)$/is.exec(command))) return { id, tool: "remember", args: { text: match[1]!.trim() }, ...after }
  if ((match = /^recall\s+(.+)$/is.exec(command))) return { id, tool: "recall", args: { query: match[1]!.trim() }, ...after }
  return undefined
}

const plan = (input: string) => commandsOf(input).map(stepOf)

const describe = (step: Planner.PlanStep, value: unknown): string => {
  if (step.tool === "remember") return `Remembered: ${(step.args as { readonly text: string }).text}`
  const found = value as ReadonlyArray<{ readonly text: string; readonly score: number }>
  return found.length === 0 ? "Nothing remembered yet." : found.map((note) => `${note.score.toFixed(2)}  ${note.text}`).join("\n")
}

export default Agent.make({
  name: "notes",
  description: "Remembers notes and recalls them by meaning: remember <text>; recall <question>.",
  tools: [remember, recall],
  planner: SequencePlanner.rules(
    [{
      match: (input) => commandsOf(input).length > 0 && plan(input).every((step) => step !== undefined),
      steps: (input) => plan(input) as ReadonlyArray<Planner.PlanStep>,
      answer: (results, input) =>
        (plan(input) as ReadonlyArray<Planner.PlanStep>).map((step) => describe(step, results[step.id])).join("\n")
    }],
    { fallback: (input) => `I did not understand ${JSON.stringify(input)}. Try: remember <text>; recall <question>.` }
  )
})
