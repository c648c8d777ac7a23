/**
 * A todo list kept in Memory, driven by rules instead of a model.
 *
 *   npx graphent run examples/todo.ts --input "add buy milk; add call mom; done 1; list"
 *
 * Commands: `add <text>`, `list`, `done <n>` (or `complete <n>`); several
 * commands separated by `;` run in order, each step after the previous one.
 */
import { Effect, Option, Schema } from "effect"
import { Agent, Memory, type Planner, SequencePlanner, Tool } from "graphent"

const Item = Schema.Struct({ id: Schema.Number, text: Schema.String, done: Schema.Boolean })
const Items = Schema.Array(Item)
type Item = typeof Item.Type

class TodoNotFound extends Schema.TaggedError<TodoNotFound>()("TodoNotFound", { id: Schema.Number }) {
  override get message() {
    return `there is no todo #${this.id}`
  }
}

const load = (agent: string) =>
  Memory.getAs(Memory.agent(agent), "todos", Items).pipe(Effect.map(Option.getOrElse((): ReadonlyArray<Item> => [])))

const save = (agent: string, items: ReadonlyArray<Item>) =>
  Memory.Memory.use((memory) => memory.set(Memory.agent(agent), "todos", Schema.encodeSync(Items)(items)))

const render = (items: ReadonlyArray<Item>) =>
  items.length === 0 ? "No todos." : items.map((item) => `${item.done ? "[x]" : "[ ]"} #${item.id} ${item.text}`).join("\n")

export const add = Tool.make("add", {
  description: "Adds a todo item.",
  parameters: Schema.Struct({ text: Schema.String.check(Schema.isNonEmpty()) }),
  success: Item,
  handler: ({ text }, { agent }) =>
    Effect.gen(function*() {
      const items = yield* load(agent)
      const item = { id: items.reduce((max, i) => Math.max(max, i.id), 0) + 1, text, done: false }
      yield* save(agent, [...items, item])
      return item
    })
})

export const list = Tool.make("list", {
  description: "Lists the todo items.",
  parameters: Schema.Struct({}),
  success: Items,
  idempotent: true,
  handler: (_, { agent }) => load(agent)
})

export const complete = Tool.make("complete", {
  description: "Marks a todo item as done.",
  parameters: Schema.Struct({ id: Schema.Int }),
  success: Item,
  handler: ({ id }, { agent }) =>
    Effect.gen(function*() {
      const items = yield* load(agent)
      const found = items.find((item) => item.id === id)
      if (found === undefined) return yield* new TodoNotFound({ id })
      const done = { ...found, done: true }
      yield* save(agent, items.map((item) => item.id === id ? done : item))
      return done
    })
})

/** One command of the input as a step. */
const stepFor = (command: string, id: string): Planner.PlanStep | undefined => {
  let match: RegExpExecArray | null
  if ((match = /^add\s+(.+)$/i.exec(command))) return { id, tool: "add", args: { text: match[1]!.trim() } }
  if (/^(list|ls)$/i.test(command)) return { id, tool: "list", args: {} }
  if ((match = /^(?:done|complete)\s+#?(\d+)$/i.exec(command))) {
    return { id, tool: "complete", args: { id: Number(match[1]) } }
  }
  return undefined
}

const commandsOf = (input: string) => input.split(";").map((command) => command.trim()).filter((c) => c !== "")

/** Each command runs after the previous one: a chain in the DAG. */
const plan = (input: string): ReadonlyArray<Planner.PlanStep> =>
  commandsOf(input).map((command, index) => {
    const step = stepFor(command, `${index + 1}`)!
    return index === 0 ? step : { ...step, dependsOn: [`${index}`] }
  })

const describe = (step: Planner.PlanStep, value: unknown): string => {
  switch (step.tool) {
    case "add":
      return `Added #${(value as Item).id}: ${(value as Item).text}`
    case "complete":
      return `Done #${(value as Item).id}: ${(value as Item).text}`
    default:
      return render(value as ReadonlyArray<Item>)
  }
}

export default Agent.make({
  name: "todo",
  description: "Keeps a todo list: add <text>, list, done <n>; separate commands with ';'.",
  tools: [add, list, complete],
  planner: SequencePlanner.rules(
    [{
      match: (input) => commandsOf(input).length > 0 && commandsOf(input).every((c) => stepFor(c, "_") !== undefined),
      steps: plan,
      answer: (results, input) => plan(input).map((step) => describe(step, results[step.id])).join("\n")
    }],
    { fallback: (input) => `I did not understand ${JSON.stringify(input)}. Try: add <text>, list, done <n>.` }
  )
})
