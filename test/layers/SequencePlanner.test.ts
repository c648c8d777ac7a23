import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Option, Schema } from "effect"
import { Agent, AgentRuntime, Planner, SequencePlanner, Tool } from "graphent"
import * as Testing from "graphent/testing"

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const shout = Tool.make("shout", {
  description: "Upper-cases text",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  handler: ({ text }) => Effect.succeed(text.toUpperCase())
})

const stats = Tool.make("stats", {
  description: "Returns a record",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.Struct({ length: Schema.Number, words: Schema.Number }),
  handler: ({ text }) => Effect.succeed({ length: text.length, words: text.split(" ").length })
})

const refuse = Tool.make("refuse", {
  description: "Always fails",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.fail("refused")
})

const agentWith = (planner: Planner.PlannerShape) =>
  Agent.make({ name: "calc", tools: [add, shout, stats, refuse], planner })

const dummyAgent = agentWith(Testing.scriptedPlanner([])) as Agent.Agent<unknown>

/** A hand-made run state for calling `decide` directly. */
const stateOf = (
  input: string,
  turn: number,
  outcomes: ReadonlyArray<Planner.StepOutcome> = []
): Planner.RunState => ({
  runId: "run-test",
  agent: dummyAgent,
  input,
  threadId: undefined,
  turn,
  steps: outcomes,
  outcomes: new Map(outcomes.map((outcome) => [outcome.id, outcome])),
  decisions: [],
  context: Testing.directRunContext
})

const succeeded = (id: string, value: unknown, result: unknown = value): Planner.StepOutcome => ({
  _tag: "Succeeded",
  id,
  tool: "t",
  args: {},
  value,
  result,
  durationMs: 0
})

// ---------------------------------------------------------------------------
// plan()
// ---------------------------------------------------------------------------

describe("SequencePlanner.plan", () => {
  const steps: ReadonlyArray<Planner.PlanStep> = [
    { id: "x", tool: "add", args: { a: 1, b: 2 } },
    { id: "y", tool: "add", args: { a: 10, b: 20 } },
    { id: "sum", tool: "add", args: { a: Planner.ref("x"), b: Planner.ref("y") } }
  ]

  it.effect("turn 1 returns the whole DAG at once", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.plan({ steps })
      const decision = yield* planner.decide(stateOf("in", 1))
      assert.deepStrictEqual(decision, { _tag: "RunSteps", steps })
    }))

  it.effect("turn 2 answers with the answer function over typed results, by step id", () =>
    Effect.gen(function*() {
      let seen: SequencePlanner.Results | undefined
      const planner = SequencePlanner.plan({
        steps,
        answer: (results, input) => {
          seen = results
          return `${input}: ${results.sum}`
        }
      })
      const decision = yield* planner.decide(
        stateOf("total", 2, [succeeded("x", 3), succeeded("y", 30), succeeded("sum", 33)])
      )
      assert.deepStrictEqual(decision, Planner.answer("total: 33"))
      assert.deepStrictEqual(seen, { x: 3, y: 30, sum: 33 })
    }))

  it.effect("the answer function sees typed values, not encoded results", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.plan({
        steps: [{ id: "d", tool: "t", args: {} }],
        answer: (results) => String((results.d as { n: number }).n + 1)
      })
      const decision = yield* planner.decide(stateOf("", 2, [succeeded("d", { n: 1 }, { n: "1" })]))
      assert.deepStrictEqual(decision, Planner.answer("2"))
    }))

  it.effect("a failed step makes the planner Fail with that step's id and message", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.plan({ steps })
      const decision = yield* planner.decide(
        stateOf("", 2, [
          succeeded("x", 3),
          {
            _tag: "Failed",
            id: "y",
            tool: "add",
            args: {},
            error: { _tag: "ToolFailed", message: "y broke" },
            durationMs: 1
          },
          { _tag: "Skipped", id: "sum", tool: "add", args: {}, blockedBy: "y" }
        ])
      )
      assert.deepStrictEqual(decision, Planner.fail("y broke", "y"))
    }))

  it.effect("an empty plan answers at once", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.plan({ steps: [], answer: (_, input) => `echo ${input}` })
      const decision = yield* planner.decide(stateOf("hi", 1))
      assert.deepStrictEqual(decision, Planner.answer("echo hi"))
    }))

  it.effect("through the runtime: a fixed DAG with an answer function", () =>
    Effect.gen(function*() {
      const agent = agentWith(SequencePlanner.plan({ steps, answer: (results) => `sum=${results.sum}` }))
      const result = yield* AgentRuntime.run(agent, "go")
      assert.strictEqual(result.answer, "sum=33")
      assert.deepStrictEqual(result.usage, { turns: 2, steps: 3 })
    }).pipe(Effect.provide(Testing.layer)))

  describe("default answer: the last step's output as text", () => {
    it.effect("a string as is", () =>
      Effect.gen(function*() {
        const agent = agentWith(SequencePlanner.plan({
          steps: [
            { id: "n", tool: "add", args: { a: 1, b: 1 } },
            { id: "s", tool: "shout", args: { text: "last" } }
          ]
        }))
        const result = yield* AgentRuntime.run(agent, "go")
        assert.strictEqual(result.answer, "LAST")
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("a number as text", () =>
      Effect.gen(function*() {
        const agent = agentWith(SequencePlanner.plan({
          steps: [
            { id: "s", tool: "shout", args: { text: "first" } },
            { id: "n", tool: "add", args: { a: 40, b: 2 } }
          ]
        }))
        const result = yield* AgentRuntime.run(agent, "go")
        assert.strictEqual(result.answer, "42")
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("a record as JSON", () =>
      Effect.gen(function*() {
        const agent = agentWith(SequencePlanner.plan({ steps: [{ id: "st", tool: "stats", args: { text: "a b c" } }] }))
        const result = yield* AgentRuntime.run(agent, "go")
        assert.strictEqual(result.answer, `{"length":5,"words":3}`)
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("the last step as listed, even when step ids look like numbers", () =>
      Effect.gen(function*() {
        const agent = agentWith(SequencePlanner.plan({
          steps: [
            { id: "a", tool: "shout", args: { text: "first" } },
            { id: "2", tool: "shout", args: { text: "second" } }
          ]
        }))
        const result = yield* AgentRuntime.run(agent, "go")
        assert.strictEqual(result.answer, "SECOND")
      }).pipe(Effect.provide(Testing.layer)))

    it.effect("no steps: empty answer", () =>
      Effect.gen(function*() {
        const agent = agentWith(SequencePlanner.plan({ steps: [] }))
        const result = yield* AgentRuntime.run(agent, "go")
        assert.strictEqual(result.answer, "")
        assert.deepStrictEqual(result.usage, { turns: 1, steps: 0 })
      }).pipe(Effect.provide(Testing.layer)))
  })

  it.effect("an answer function that throws: PlannerFailed (as with rules), not a defect", () =>
    Effect.gen(function*() {
      const agent = agentWith(SequencePlanner.plan({
        steps: [{ id: "s", tool: "shout", args: { text: "x" } }],
        answer: () => {
          throw new Error("bad answer")
        }
      }))
      const exit = yield* Effect.exit(AgentRuntime.run(agent, "go"))
      assert.strictEqual(exit._tag, "Failure")
      if (exit._tag !== "Failure") return
      const error = Cause.findErrorOption(exit.cause)
      assert.isTrue(Option.isSome(error), `expected PlannerFailed, got ${Cause.pretty(exit.cause)}`)
      if (Option.isSome(error)) {
        assert.strictEqual(error.value._tag, "PlannerFailed")
        assert.include(error.value.message, "bad answer")
      }
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("through the runtime: a failed step fails the run with its own ToolFailed", () =>
    Effect.gen(function*() {
      const agent = agentWith(SequencePlanner.plan({
        steps: [
          { id: "ok", tool: "shout", args: { text: "fine" } },
          { id: "no", tool: "refuse", args: {} },
          { id: "after", tool: "shout", args: { text: Planner.ref("no") } }
        ]
      }))
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.stepId, "no")
      assert.strictEqual(error.reason, "refused")
      assert.strictEqual(error.defect, false)
    }).pipe(Effect.provide(Testing.layer)))
})

// ---------------------------------------------------------------------------
// rules()
// ---------------------------------------------------------------------------

describe("SequencePlanner.rules", () => {
  const calculator = SequencePlanner.rules([
    {
      match: /^add (\d+) and (\d+)$/i,
      steps: (_, m) => [{ id: "add", tool: "add", args: { a: Number(m![1]), b: Number(m![2]) } }],
      answer: (results) => `The sum is ${results.add}`
    },
    {
      match: /^shout (.+)$/,
      steps: (_, m) => [{ id: "shout", tool: "shout", args: { text: m![1] } }]
    },
    {
      match: /^shout/,
      steps: () => [{ id: "never", tool: "shout", args: { text: "second rule" } }]
    },
    {
      match: (input) => input.startsWith("count:"),
      steps: (input, m) => [{ id: "stats", tool: "stats", args: { text: input.slice(6) + (m === undefined ? "" : "!") } }],
      answer: (results) => `${(results.stats as { words: number }).words} words`
    }
  ])

  it.effect("regex match groups reach the steps", () =>
    Effect.gen(function*() {
      const decision = yield* calculator.decide(stateOf("add 2 and 40", 1))
      assert.deepStrictEqual(decision, Planner.runSteps([{ id: "add", tool: "add", args: { a: 2, b: 40 } }]))
    }))

  it.effect("through the runtime: the rule's answer", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agentWith(calculator), "ADD 2 and 40")
      assert.strictEqual(result.answer, "The sum is 42")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the first matching rule wins", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agentWith(calculator), "shout hello")
      assert.strictEqual(result.answer, "HELLO")
      assert.deepStrictEqual(result.steps.map((step) => step.id), ["shout"])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a later rule matches when earlier ones do not", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agentWith(calculator), "shout")
      assert.strictEqual(result.answer, "SECOND RULE")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a predicate rule (no match groups)", () =>
    Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agentWith(calculator), "count:one two three")
      assert.strictEqual(result.answer, "3 words")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("no match: PlannerFailed naming the input", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(agentWith(calculator), "multiply 2 and 3"))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.strictEqual(error.message, `planner failed: no rule matches the input "multiply 2 and 3"`)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("no match with a fallback: the fallback answer, no steps", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.rules(
        [{ match: /^add/, steps: () => [] }],
        { fallback: (input) => `cannot do "${input}"` }
      )
      const result = yield* AgentRuntime.run(agentWith(planner), "dance")
      assert.strictEqual(result.answer, `cannot do "dance"`)
      assert.deepStrictEqual(result.usage, { turns: 1, steps: 0 })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a rule whose steps function throws: PlannerFailed", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.rules([
        {
          match: /.*/,
          steps: () => {
            throw new Error("bad rule")
          }
        }
      ])
      const error = yield* Effect.flip(planner.decide(stateOf("x", 1)))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "bad rule")
    }))

  it.effect("a rule whose answer function throws: PlannerFailed", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.rules([
        {
          match: /.*/,
          steps: () => [{ id: "s", tool: "shout", args: { text: "x" } }],
          answer: () => {
            throw new Error("bad answer")
          }
        }
      ])
      const error = yield* Effect.flip(AgentRuntime.run(agentWith(planner), "x"))
      assert.strictEqual(error._tag, "PlannerFailed")
      assert.include(error.message, "bad answer")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a rule whose match predicate throws: PlannerFailed, like a throwing steps function", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.rules([
        {
          match: () => {
            throw new Error("bad predicate")
          },
          steps: () => []
        }
      ])
      const exit = yield* Effect.exit(AgentRuntime.run(agentWith(planner), "x"))
      assert.strictEqual(exit._tag, "Failure")
      if (exit._tag !== "Failure") return
      const error = Cause.findErrorOption(exit.cause)
      assert.isTrue(Option.isSome(error), `expected PlannerFailed, got ${Cause.pretty(exit.cause)}`)
      if (Option.isSome(error)) assert.strictEqual(error.value._tag, "PlannerFailed")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a global regex matches on every run (lastIndex is reset)", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.rules([
        { match: /hi/g, steps: () => [{ id: "s", tool: "shout", args: { text: "hi" } }] }
      ])
      const agent = agentWith(planner)
      const first = yield* AgentRuntime.run(agent, "hi there")
      const second = yield* AgentRuntime.run(agent, "hi again")
      assert.deepStrictEqual([first.answer, second.answer], ["HI", "HI"])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("a failed step in a rule's plan fails the run with the step's error", () =>
    Effect.gen(function*() {
      const planner = SequencePlanner.rules([{ match: /.*/, steps: () => [{ id: "r", tool: "refuse", args: {} }] }])
      const error = yield* Effect.flip(AgentRuntime.run(agentWith(planner), "anything"))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag === "ToolFailed") assert.strictEqual(error.stepId, "r")
    }).pipe(Effect.provide(Testing.layer)))
})
