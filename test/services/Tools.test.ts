import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Fiber, Option, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Agent, AgentRuntime, SequencePlanner, Tool, Tools } from "graphent"
import * as Testing from "graphent/testing"

const context: Tool.ToolContext = { runId: "run-x", agent: "tester", stepId: "s1", threadId: undefined }
const noDefaults: Tools.CallDefaults = { timeout: undefined, retry: undefined }

const echo = Tool.make("echo", {
  description: "Repeats its input",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.String,
  handler: ({ text }) => Effect.succeed(text)
})

const upper = Tool.make("upper", {
  description: "Upper-cases its input",
  parameters: Schema.Struct({ text: Schema.String, nested: Schema.Struct({ n: Schema.Number }) }),
  success: Schema.String,
  handler: ({ text }) => Effect.succeed(text.toUpperCase())
})

class Nope extends Schema.TaggedError<Nope>()("Nope", { why: Schema.String }) {
  override get message() {
    return `nope because ${this.why}`
  }
}

const exec = (
  tools: ReadonlyArray<Tool.Any>,
  tool: string,
  args: unknown,
  defaults: Tools.CallDefaults = noDefaults,
  stepId = "s1"
) => Tools.executeLocal(Tools.compile(tools), { stepId, tool, args }, { ...context, stepId }, defaults)

describe("Tools.compile", () => {
  it("indexes tools by name, in order", () => {
    const registry = Tools.compile([echo, upper])
    assert.deepStrictEqual(registry.names, ["echo", "upper"])
    assert.strictEqual(registry.entries.get("echo")?.tool, echo)
  })

  it("throws on two tools with one name", () => {
    assert.throws(() => Tools.compile([echo, echo]), /two tools are named "echo"/)
  })
})

describe("Tools.executeLocal", () => {
  it.effect("runs the handler and returns the typed value and the encoded result", () =>
    Effect.gen(function*() {
      const output = yield* exec([echo], "echo", { text: "hi" })
      assert.deepStrictEqual(output, { value: "hi", result: "hi" })
    }))

  it.effect("encodes the result with the success schema (value typed, result JSON)", () =>
    Effect.gen(function*() {
      const dated = Tool.make("dated", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Struct({ n: Schema.NumberFromString }),
        handler: () => Effect.succeed({ n: 42 })
      })
      const output = yield* exec([dated], "dated", {})
      assert.deepStrictEqual(output.value, { n: 42 })
      assert.deepStrictEqual(output.result, { n: "42" })
    }))

  it.effect("passes the tool context to the handler", () =>
    Effect.gen(function*() {
      let seen: Tool.ToolContext | undefined
      const spy = Tool.make("spy", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Null,
        handler: (_, ctx) => Effect.sync(() => (seen = ctx, null))
      })
      yield* exec([spy], "spy", {}, noDefaults, "step-7")
      assert.deepStrictEqual(seen, { runId: "run-x", agent: "tester", stepId: "step-7", threadId: undefined })
    }))

  it.effect("unknown tool: ToolNotFound with the tool, the step and the available tools", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(exec([echo, upper], "shout", {}, noDefaults, "step-3"))
      assert.strictEqual(error._tag, "ToolNotFound")
      if (error._tag !== "ToolNotFound") return
      assert.strictEqual(error.tool, "shout")
      assert.strictEqual(error.stepId, "step-3")
      assert.deepStrictEqual(error.available, ["echo", "upper"])
      assert.strictEqual(error.message, `step "step-3": no tool named "shout" (available: echo, upper)`)
    }))

  it.effect("unknown tool with no tools at all says none", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(exec([], "shout", {}))
      assert.strictEqual(error._tag, "ToolNotFound")
      assert.include(error.message, "(available: none)")
    }))

  it.effect("undecodable arguments: ToolArgumentsInvalid with the Schema issue text and path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(exec([echo], "echo", { text: 42 }))
      assert.strictEqual(error._tag, "ToolArgumentsInvalid")
      if (error._tag !== "ToolArgumentsInvalid") return
      assert.strictEqual(error.tool, "echo")
      assert.strictEqual(error.stepId, "s1")
      assert.include(error.issue, "Expected string")
      assert.include(error.issue, `["text"]`)
      assert.include(error.message, "Expected string")
      assert.include(error.message, `invalid arguments for tool "echo"`)
      assert.notInclude(error.message, "[object Object]")
    }))

  it.effect("undecodable nested arguments name the nested path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(exec([upper], "upper", { text: "a", nested: { n: "seven" } }))
      assert.strictEqual(error._tag, "ToolArgumentsInvalid")
      assert.include(error.message, "Expected number")
      assert.include(error.message, `["nested"]["n"]`)
      assert.notInclude(error.message, "[object Object]")
    }))

  it.effect("missing arguments are invalid arguments", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(exec([echo], "echo", undefined))
      assert.strictEqual(error._tag, "ToolArgumentsInvalid")
      assert.notInclude(error.message, "[object Object]")
    }))

  it.effect("typed handler failure: ToolFailed, defect false, reason = the error's message", () =>
    Effect.gen(function*() {
      const failing = Tool.make("failing", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.fail(new Nope({ why: "it is Monday" }))
      })
      const error = yield* Effect.flip(exec([failing], "failing", {}))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.defect, false)
      assert.strictEqual(error.reason, "nope because it is Monday")
      assert.strictEqual(error.tool, "failing")
      assert.strictEqual(error.stepId, "s1")
      assert.instanceOf(error.cause, Nope)
      assert.strictEqual(error.message, `step "s1": tool "failing" failed: nope because it is Monday`)
    }))

  it.effect("a plain-object failure is rendered readably, never [object Object]", () =>
    Effect.gen(function*() {
      const failing = Tool.make("failing", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.fail({ code: 7 })
      })
      const error = yield* Effect.flip(exec([failing], "failing", {}))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.reason, `{"code":7}`)
      assert.notInclude(error.message, "[object Object]")
    }))

  it.effect("handler that dies: ToolFailed with defect true", () =>
    Effect.gen(function*() {
      const dying = Tool.make("dying", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.die(new Error("kaboom"))
      })
      const error = yield* Effect.flip(exec([dying], "dying", {}))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.defect, true)
      assert.strictEqual(error.reason, "kaboom")
      assert.strictEqual(error.message, `step "s1": tool "dying" crashed: kaboom`)
    }))

  it.effect("handler that throws inside Effect.sync: ToolFailed with defect true", () =>
    Effect.gen(function*() {
      const throwing = Tool.make("throwing", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () =>
          Effect.sync((): string => {
            throw new TypeError("x is undefined")
          })
      })
      const error = yield* Effect.flip(exec([throwing], "throwing", {}))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.defect, true)
      assert.strictEqual(error.reason, "x is undefined")
    }))

  it.effect("handler that throws before returning an Effect: ToolFailed with defect true", () =>
    Effect.gen(function*() {
      const throwing = Tool.make("throwing", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: (): Effect.Effect<string> => {
          throw new Error("thrown synchronously")
        }
      })
      const error = yield* Effect.flip(Effect.suspend(() => exec([throwing], "throwing", {})))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.defect, true)
      assert.strictEqual(error.reason, "thrown synchronously")
    }))

  it.effect("a handler that throws before returning an Effect fails the run with ToolFailed, not a defect", () =>
    Effect.gen(function*() {
      const throwing = Tool.make("throwing", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: (): Effect.Effect<string> => {
          throw new Error("thrown synchronously")
        }
      })
      const agent = Agent.make({
        name: "thrower",
        tools: [throwing],
        planner: SequencePlanner.plan({ steps: [{ id: "t", tool: "throwing", args: {} }] })
      })
      const exit = yield* Effect.exit(AgentRuntime.run(agent, "go"))
      assert.strictEqual(exit._tag, "Failure")
      if (exit._tag !== "Failure") return
      const error = Cause.findErrorOption(exit.cause)
      assert.isTrue(Option.isSome(error), `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
      if (Option.isNone(error)) return
      assert.strictEqual(error.value._tag, "ToolFailed")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("tool timeout: ToolTimeout with timeoutMs, and the handler is interrupted", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      let finalized = false
      const slow = Tool.make("slow", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        timeout: "2 seconds",
        handler: () =>
          Effect.gen(function*() {
            yield* Deferred.succeed(started, undefined)
            yield* Effect.sleep("1 hour")
            return "never"
          }).pipe(Effect.onInterrupt(() => Effect.sync(() => (finalized = true))))
      })
      const fiber = yield* Effect.forkChild(Effect.flip(exec([slow], "slow", {})))
      yield* Deferred.await(started)
      yield* TestClock.adjust("1999 millis")
      assert.strictEqual(finalized, false)
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ToolTimeout")
      if (error._tag !== "ToolTimeout") return
      assert.strictEqual(error.timeoutMs, 2000)
      assert.strictEqual(error.tool, "slow")
      assert.strictEqual(error.message, `step "s1": tool "slow" timed out after 2000 ms`)
      assert.strictEqual(finalized, true)
    }))

  it.effect("the default (agent) timeout applies when the tool sets none", () =>
    Effect.gen(function*() {
      let finalized = false
      const slow = Tool.make("slow", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () =>
          Effect.never.pipe(Effect.ensuring(Effect.sync(() => (finalized = true))))
      })
      const fiber = yield* Effect.forkChild(Effect.flip(exec([slow], "slow", {}, { timeout: "500 millis", retry: undefined })))
      yield* TestClock.adjust("500 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ToolTimeout")
      if (error._tag !== "ToolTimeout") return
      assert.strictEqual(error.timeoutMs, 500)
      assert.strictEqual(finalized, true)
    }))

  it.effect("the tool's own timeout wins over the default", () =>
    Effect.gen(function*() {
      const slow = Tool.make("slow", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        timeout: "100 millis",
        handler: () => Effect.never
      })
      const fiber = yield* Effect.forkChild(Effect.flip(exec([slow], "slow", {}, { timeout: "1 minute", retry: undefined })))
      yield* TestClock.adjust("100 millis")
      yield* TestClock.adjust("1 minute") // lets a wrong (default) limit fire too, so the test cannot hang
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ToolTimeout")
      if (error._tag !== "ToolTimeout") return
      assert.strictEqual(error.timeoutMs, 100)
    }))

  it.effect("retry: handler failures are retried per the schedule", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flaky = Tool.make("flaky", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        retry: Schedule.recurs(3),
        handler: () => Effect.suspend(() => ++attempts < 3 ? Effect.fail(new Nope({ why: `try ${attempts}` })) : Effect.succeed(`ok after ${attempts}`))
      })
      const output = yield* exec([flaky], "flaky", {})
      assert.strictEqual(output.value, "ok after 3")
      assert.strictEqual(attempts, 3)
    }))

  it.effect("retry: gives up after the schedule with the last ToolFailed", () =>
    Effect.gen(function*() {
      let attempts = 0
      const broken = Tool.make("broken", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        retry: Schedule.recurs(2),
        handler: () => Effect.suspend(() => Effect.fail(new Nope({ why: `attempt ${++attempts}` })))
      })
      const error = yield* Effect.flip(exec([broken], "broken", {}))
      assert.strictEqual(attempts, 3)
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.reason, "nope because attempt 3")
    }))

  it.effect("retry: the default (agent) retry applies when the tool sets none", () =>
    Effect.gen(function*() {
      let attempts = 0
      const broken = Tool.make("broken", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.suspend(() => (attempts++, Effect.fail(new Nope({ why: "x" }))))
      })
      yield* Effect.flip(exec([broken], "broken", {}, { timeout: undefined, retry: Schedule.recurs(4) }))
      assert.strictEqual(attempts, 5)
    }))

  it.effect("retry: timeouts are retried, each attempt with its own limit", () =>
    Effect.gen(function*() {
      let attempts = 0
      let interrupted = 0
      const slow = Tool.make("slow", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        timeout: "1 second",
        retry: Schedule.recurs(1),
        handler: () =>
          Effect.suspend(() => (attempts++, Effect.never)).pipe(
            Effect.onInterrupt(() => Effect.sync(() => interrupted++))
          )
      })
      const fiber = yield* Effect.forkChild(Effect.flip(exec([slow], "slow", {})))
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ToolTimeout")
      assert.strictEqual(attempts, 2)
      assert.strictEqual(interrupted, 2)
    }))

  it.effect("retry: invalid arguments are never retried and the handler never runs", () =>
    Effect.gen(function*() {
      let attempts = 0
      const counted = Tool.make("counted", {
        description: "",
        parameters: Schema.Struct({ n: Schema.Number }),
        success: Schema.Number,
        retry: Schedule.recurs(5),
        handler: ({ n }) => Effect.sync(() => (attempts++, n))
      })
      const error = yield* Effect.flip(exec([counted], "counted", { n: "one" }))
      assert.strictEqual(error._tag, "ToolArgumentsInvalid")
      assert.strictEqual(attempts, 0)
    }))

  it.effect("a result that does not encode with the success schema: ToolResultInvalid", () =>
    Effect.gen(function*() {
      const liar = Tool.make("liar", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Number.check(Schema.isGreaterThan(0)),
        handler: () => Effect.succeed(-5)
      })
      const error = yield* Effect.flip(exec([liar], "liar", {}))
      assert.strictEqual(error._tag, "ToolResultInvalid")
      if (error._tag !== "ToolResultInvalid") return
      assert.strictEqual(error.tool, "liar")
      assert.include(error.issue, "greater than 0")
      assert.include(error.message, `tool "liar" returned an invalid result`)
      assert.notInclude(error.message, "[object Object]")
    }))

  it.effect("a result of the wrong type: ToolResultInvalid", () =>
    Effect.gen(function*() {
      const liar = Tool.make("liar", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Struct({ count: Schema.Number }),
        handler: () => Effect.succeed({ count: "many" } as unknown as { count: number })
      })
      const error = yield* Effect.flip(exec([liar], "liar", {}))
      assert.strictEqual(error._tag, "ToolResultInvalid")
      assert.include(error.message, "Expected number")
      assert.include(error.message, `["count"]`)
    }))
})

describe("Tool", () => {
  it("isRetryable: only handler failures and timeouts", () => {
    const base = { tool: "t", stepId: "s" }
    assert.isTrue(Tool.isRetryable(new Tool.ToolFailed({ ...base, reason: "r", defect: false, cause: null })))
    assert.isTrue(Tool.isRetryable(new Tool.ToolTimeout({ ...base, timeoutMs: 1 })))
    assert.isFalse(Tool.isRetryable(new Tool.ToolArgumentsInvalid({ ...base, issue: "i" })))
    assert.isFalse(Tool.isRetryable(new Tool.ToolNotFound({ ...base, available: [] })))
    assert.isFalse(Tool.isRetryable(new Tool.ToolResultInvalid({ ...base, issue: "i" })))
  })

  it("describeFailure renders every kind of value as text", () => {
    assert.strictEqual(Tool.describeFailure(new Error("e")), "e")
    assert.strictEqual(Tool.describeFailure("plain"), "plain")
    assert.strictEqual(Tool.describeFailure({ message: "m" }), "m")
    assert.strictEqual(Tool.describeFailure({ a: 1 }), `{"a":1}`)
    assert.strictEqual(Tool.describeFailure(42), "42")
    assert.strictEqual(Tool.describeFailure(new Nope({ why: "w" })), "nope because w")
  })

  it("make: defaults and the effect/ai definition", () => {
    assert.strictEqual(echo.name, "echo")
    assert.strictEqual(echo.idempotent, false)
    assert.strictEqual(echo.timeout, undefined)
    assert.strictEqual(echo.retry, undefined)
    assert.strictEqual(echo.ai.name, "echo")
  })
})

describe("Tools service", () => {
  const fetchPage = Tool.make("fetch_page", {
    description: "Fetches a page",
    parameters: Schema.Struct({ url: Schema.String }),
    success: Schema.Struct({ body: Schema.String }),
    handler: () => Effect.die(new Error("no network in tests"))
  })
  const agent = Agent.make({
    name: "fetcher",
    tools: [fetchPage, echo],
    planner: SequencePlanner.plan({
      steps: [
        { id: "page", tool: "fetch_page", args: { url: "https://example.com" } },
        { id: "echo", tool: "echo", args: { text: "also real" } }
      ],
      answer: (results) => `${(results.page as { body: string }).body} ${results.echo}`
    })
  })

  it.effect("layerTest stubs one tool, the others run for real", () =>
    Effect.gen(function*() {
      let seenArgs: unknown
      const result = yield* AgentRuntime.run(agent, "go").pipe(
        Effect.provide(Tools.layerTest({
          fetch_page: (args) => Effect.sync(() => (seenArgs = args, { body: "<html/>" }))
        }))
      )
      assert.strictEqual(result.answer, "<html/> also real")
      assert.deepStrictEqual(seenArgs, { url: "https://example.com" })
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("layerToolsTest (graphent/testing): stub results are checked against the success schema", () =>
    Effect.gen(function*() {
      const error = yield* AgentRuntime.run(agent, "go").pipe(
        Effect.provide(Testing.layerToolsTest({ fetch_page: () => Effect.succeed({ nobody: 1 }) })),
        Effect.flip
      )
      assert.strictEqual(error._tag, "ToolResultInvalid")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("layerTest still decodes the arguments with the declared schema; the stub is not called on bad ones", () =>
    Effect.gen(function*() {
      let called = false
      const badArgs = Agent.make({
        name: "bad",
        tools: [fetchPage],
        planner: SequencePlanner.plan({ steps: [{ id: "page", tool: "fetch_page", args: { url: 42 } }] })
      })
      const error = yield* AgentRuntime.run(badArgs, "go").pipe(
        Effect.provide(Tools.layerTest({ fetch_page: () => Effect.sync(() => (called = true, { body: "" })) })),
        Effect.flip
      )
      assert.strictEqual(error._tag, "ToolArgumentsInvalid")
      assert.include(error.message, "Expected string")
      assert.strictEqual(called, false)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("layerTest: a stub's typed failure is a ToolFailed like a real handler's", () =>
    Effect.gen(function*() {
      const error = yield* AgentRuntime.run(agent, "go").pipe(
        Effect.provide(Tools.layerTest({ fetch_page: () => Effect.fail(new Nope({ why: "offline" })) })),
        Effect.flip
      )
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.reason, "nope because offline")
      assert.strictEqual(error.stepId, "page")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("without a layer, the real handler runs (and here it dies)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "ToolFailed")
      if (error._tag !== "ToolFailed") return
      assert.strictEqual(error.defect, true)
      assert.strictEqual(error.reason, "no network in tests")
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the agent's stepTimeout applies through the runtime and interrupts the handler", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      let finalized = false
      const slow = Tool.make("slow", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () =>
          Effect.gen(function*() {
            yield* Effect.addFinalizer(() => Effect.sync(() => (finalized = true)))
            yield* Deferred.succeed(started, undefined)
            return yield* Effect.never
          }).pipe(Effect.scoped)
      })
      const slowAgent = Agent.make({
        name: "slow",
        tools: [slow],
        stepTimeout: "3 seconds",
        planner: SequencePlanner.plan({ steps: [{ id: "wait", tool: "slow", args: {} }] })
      })
      const fiber = yield* Effect.forkChild(Effect.flip(AgentRuntime.run(slowAgent, "go")))
      yield* Deferred.await(started)
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ToolTimeout")
      if (error._tag !== "ToolTimeout") return
      assert.strictEqual(error.timeoutMs, 3000)
      assert.strictEqual(error.stepId, "wait")
      assert.strictEqual(finalized, true)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("the agent's stepRetry applies through the runtime", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flaky = Tool.make("flaky", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Number,
        handler: () => Effect.suspend(() => ++attempts < 4 ? Effect.fail("not yet") : Effect.succeed(attempts))
      })
      const flakyAgent = Agent.make({
        name: "flaky",
        tools: [flaky],
        stepRetry: Schedule.recurs(5),
        planner: SequencePlanner.plan({ steps: [{ id: "f", tool: "flaky", args: {} }] })
      })
      const result = yield* AgentRuntime.run(flakyAgent, "go")
      assert.strictEqual(result.answer, "4")
      assert.strictEqual(attempts, 4)
      assert.deepStrictEqual(result.usage, { turns: 2, steps: 1 })
    }).pipe(Effect.provide(Testing.layer)))
})
