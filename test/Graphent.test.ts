import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Audit,
  AuditMemory,
  Graphent,
  Journal,
  LlmPlanner,
  LocalRuntime,
  Policy,
  ScriptedModel,
  SequencePlanner,
  Tool,
  ToolGuard
} from "graphent"

const root = path.resolve(import.meta.dirname, "..")

/** Tools that count how often each really ran; `gate`, while set, holds a call of `slow` until it is opened. */
const makeTools = () => {
  const ran: Array<string> = []
  let hold: (() => void) | undefined
  const record = (name: string) =>
    Tool.make(name, {
      description: name,
      parameters: Schema.Struct({ text: Schema.String }),
      success: Schema.String,
      capabilities: name === "deploy" ? ["shell:deploy"] : [],
      handler: ({ text }) => Effect.sync(() => (ran.push(`${name}:${text}`), `${name} ${text}`))
    })
  const slow = Tool.make("slow", {
    description: "Waits while held.",
    parameters: Schema.Struct({ text: Schema.String }),
    success: Schema.String,
    handler: ({ text }) =>
      Effect.suspend(() => {
        ran.push(`slow:${text}`)
        const onHold = hold
        hold = undefined
        return onHold === undefined ? Effect.succeed(`slow ${text}`) : Effect.andThen(Effect.sync(onHold), Effect.never)
      })
  })
  const fails = Tool.make("fails", {
    description: "Always fails.",
    parameters: Schema.Struct({ text: Schema.String }),
    success: Schema.String,
    handler: () => Effect.fail(new Error("disk full"))
  })
  return {
    ran,
    echo: record("echo"),
    deploy: record("deploy"),
    slow,
    fails,
    /** The next call of `slow` calls `onStart`, then never ends. */
    holdNext: (onStart: () => void) => {
      hold = onStart
    }
  }
}

const twoSteps = (tools: ReturnType<typeof makeTools>, name = "two") =>
  Agent.make({
    name,
    tools: [tools.echo, tools.slow],
    planner: SequencePlanner.plan({
      steps: [
        { id: "s1", tool: "echo", args: { text: "a" } },
        { id: "s2", tool: "slow", args: { text: "b" }, dependsOn: ["s1"] }
      ],
      answer: (results) => `${results.s1} + ${results.s2}`
    })
  })

const failing = (tools: ReturnType<typeof makeTools>) =>
  Agent.make({
    name: "failing",
    tools: [tools.fails],
    planner: SequencePlanner.plan({ steps: [{ id: "f", tool: "fails", args: { text: "x" } }] })
  })

/** Resolves with the rejection of `promise`; fails the test when it resolves. */
const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("expected a rejection")
}

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "graphent-promise-"))

describe("Graphent (Promise API): run", () => {
  it("runs an agent, and a registered one by name; the result is AgentRuntime.run's", async () => {
    const tools = makeTools()
    const agent = twoSteps(tools)
    const graphent = Graphent.create({ agents: [agent] })
    try {
      const result = await graphent.run(agent, "go")
      assert.strictEqual(result.answer, "echo a + slow b")
      assert.deepStrictEqual(result.events.map((event) => event._tag), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])
      const byName = await graphent.run("two", "again", { threadId: "t1", metadata: { from: "test" } })
      assert.strictEqual(byName.answer, "echo a + slow b")
      const started = byName.events[0]
      assert.deepStrictEqual(started?._tag === "RunStarted" ? [started.threadId, started.metadata] : [], ["t1", { from: "test" }])
      // The store keeps both runs.
      assert.lengthOf(await graphent.events(result.runId), result.events.length)
      assert.deepStrictEqual(tools.ran, ["echo:a", "slow:b", "echo:a", "slow:b"])
    } finally {
      await graphent.close()
    }
  })

  it("rejects with the typed error Effect sees: same class, same message", async () => {
    const tools = makeTools()
    const agent = failing(tools)
    const graphent = Graphent.create()
    try {
      const error = await rejection(graphent.run(agent, "go"))
      assert.instanceOf(error, Graphent.ToolFailed)
      const inEffect = await Effect.runPromise(
        Effect.flip(AgentRuntime.run(agent, "go")).pipe(Effect.provide(LocalRuntime.layerMemory))
      )
      assert.instanceOf(inEffect, Graphent.ToolFailed)
      assert.strictEqual((error as Error).message, inEffect.message)
      assert.match((error as Error).message, /disk full/)

      const budget = await rejection(graphent.run(twoSteps(tools, "tight"), "go", { budget: { maxSteps: 1 } }))
      assert.instanceOf(budget, Graphent.BudgetExceeded)
      assert.instanceOf(budget, Error)

      assert.throws(() => Graphent.create({ agents: [agent, failing(tools)] }), /agent "failing" could not be set up: two agents have this name/)
      const unknown = await rejection(graphent.run("nobody", "go"))
      assert.instanceOf(unknown, Graphent.AgentNotFound)
      assert.match((unknown as Error).message, /no agent named "nobody"; this server runs: failing, tight/)
      assert.instanceOf(await rejection(graphent.events("no-such-run")), Graphent.RunNotFound)
    } finally {
      await graphent.close()
    }
  })

  it("runs an LLM-planned agent on the model layer it is given", async () => {
    const tools = makeTools()
    const agent = Agent.make({ name: "llm", tools: [tools.echo], planner: LlmPlanner.make({ model: "scripted" }) })
    const graphent = Graphent.create({
      model: ScriptedModel.layer([ScriptedModel.toolCall("echo", { text: "hi" }, "c1"), ScriptedModel.text("said hi")])
    })
    try {
      const result = await graphent.run(agent, "say hi")
      assert.strictEqual(result.answer, "said hi")
      assert.deepStrictEqual(tools.ran, ["echo:hi"])
    } finally {
      await graphent.close()
    }
  })
})

describe("Graphent (Promise API): tools as async functions", () => {
  it("decodes the arguments, returns the result, a throw is ToolFailed, a timeout aborts the handler's signal", async () => {
    const aborted: Array<string> = []
    const lookup = Graphent.tool("lookup", {
      description: "Looks a word up",
      parameters: Graphent.Schema.Struct({ word: Graphent.Schema.String }),
      success: Graphent.Schema.String,
      timeout: "50 millis",
      handler: async ({ word }, context, signal) => {
        if (word === "boom") throw new Error(`no entry for ${word}`)
        if (word === "slow") {
          signal.addEventListener("abort", () => aborted.push(context.stepId))
          return await new Promise<string>(() => {})
        }
        return `${word}: a word (step ${context.stepId})`
      }
    })
    const agentFor = (args: unknown) =>
      Agent.make({ name: "dictionary", tools: [lookup], planner: SequencePlanner.plan({ steps: [{ id: "l", tool: "lookup", args }] }) })
    const graphent = Graphent.create()
    try {
      assert.strictEqual((await graphent.run(agentFor({ word: "tea" }), "go")).answer, "tea: a word (step l)")
      const thrown = await rejection(graphent.run(agentFor({ word: "boom" }), "go"))
      assert.instanceOf(thrown, Graphent.ToolFailed)
      assert.match((thrown as Error).message, /no entry for boom/)
      assert.instanceOf(await rejection(graphent.run(agentFor({ word: 42 }), "go")), Graphent.ToolArgumentsInvalid)
      assert.instanceOf(await rejection(graphent.run(agentFor({ word: "slow" }), "go")), Graphent.ToolTimeout)
      assert.deepStrictEqual(aborted, ["l"])
    } finally {
      await graphent.close()
    }
  })
})

describe("Graphent (Promise API): stream", () => {
  it("yields the run's events as they happen; the same events the journal keeps", async () => {
    const tools = makeTools()
    const agent = twoSteps(tools)
    const graphent = Graphent.create()
    try {
      const events: Array<Graphent.RunEvent> = []
      for await (const event of graphent.stream(agent, "go")) events.push(event)
      assert.strictEqual(events.at(-1)?._tag, "RunCompleted")
      assert.deepStrictEqual(await graphent.events(events[0]!.runId), events)
    } finally {
      await graphent.close()
    }
  })

  it("throws the run's typed error after its last event", async () => {
    const graphent = Graphent.create()
    try {
      const seen: Array<string> = []
      const error = await rejection((async () => {
        for await (const event of graphent.stream(failing(makeTools()), "go")) seen.push(event._tag)
      })())
      assert.instanceOf(error, Graphent.ToolFailed)
      assert.strictEqual(seen.at(-1), "RunFailed")
    } finally {
      await graphent.close()
    }
  })

  it("leaving the loop interrupts the run: it journals RunInterrupted, its held step never ends", async () => {
    const tools = makeTools()
    const graphent = Graphent.create()
    try {
      tools.holdNext(() => {})
      let runId = ""
      for await (const event of graphent.stream(twoSteps(tools), "go")) {
        runId = event.runId
        if (event._tag === "StepStarted" && event.stepId === "s2") break
      }
      const events = await graphent.events(runId)
      assert.strictEqual(events.at(-1)?._tag, "RunInterrupted")
    } finally {
      await graphent.close()
    }
  })
})

describe("Graphent (Promise API): replay and resume", () => {
  it("replays a result, a run of the store by id, and rejects a changed recording with ReplayDivergence", async () => {
    const tools = makeTools()
    const agent = twoSteps(tools)
    const graphent = Graphent.create({ agents: [agent] })
    try {
      const result = await graphent.run(agent, "go")
      const ran = tools.ran.length
      assert.deepStrictEqual((await graphent.replay(result)).outcome, { answer: "echo a + slow b" })
      assert.isAbove((await graphent.replay(result.runId)).identical, 0)
      assert.strictEqual(tools.ran.length, ran, "a replay runs no tool")
      // The store is left as it was: the replay journals elsewhere.
      assert.lengthOf(await graphent.events(result.runId), result.events.length)

      // The recording says the first step echoed "z"; the agent now asks for "a".
      const changed = result.events.map((event) =>
        event._tag === "StepStarted" && event.stepId === "s1" ? { ...event, args: { text: "z" } } : event
      )
      const divergence = await rejection(graphent.replay(changed))
      assert.instanceOf(divergence, Graphent.ReplayDivergence)
    } finally {
      await graphent.close()
    }
  })

  it("resumes an interrupted run from the store: done steps are not run again; a step in flight needs retry", async () => {
    const tools = makeTools()
    const agent = twoSteps(tools)
    const folder = tempDir()
    const first = Graphent.create({ agents: [agent], store: { folder } })
    const controller = new AbortController()
    tools.holdNext(() => controller.abort())
    await rejection(first.run(agent, "go", { runId: "r1", signal: controller.signal }))
    await first.close()
    assert.deepStrictEqual(tools.ran, ["echo:a", "slow:b"])

    // Another Graphent (another process, in effect) over the same folder.
    const second = Graphent.create({ agents: [agent], store: { folder } })
    try {
      assert.strictEqual((await second.events("r1")).at(-1)?._tag, "RunInterrupted")
      const unsafe = await rejection(second.resume("r1"))
      assert.instanceOf(unsafe, Graphent.ResumeUnsafe)
      assert.match((unsafe as Error).message, /s2/)
      const result = await second.resume("r1", { retry: ["s2"] })
      assert.strictEqual(result.answer, "echo a + slow b")
      assert.deepStrictEqual(tools.ran, ["echo:a", "slow:b", "slow:b"])
      const finished = await rejection(second.resume("r1"))
      assert.instanceOf(finished, Graphent.ReplayUnavailable)
      assert.instanceOf(await rejection(second.resume("nope")), Graphent.RunNotFound)
    } finally {
      await second.close()
      fs.rmSync(folder, { recursive: true, force: true })
    }
  })

  it("a recording of an agent it does not know is AgentNotFound", async () => {
    const tools = makeTools()
    const graphent = Graphent.create()
    try {
      const result = await Effect.runPromise(
        AgentRuntime.run(twoSteps(tools, "elsewhere"), "go").pipe(Effect.provide(LocalRuntime.layerMemory))
      )
      const error = await rejection(graphent.replay(result.events))
      assert.instanceOf(error, Graphent.AgentNotFound)
    } finally {
      await graphent.close()
    }
  })
})

describe("Graphent (Promise API): approvals", () => {
  const policy: Policy.Document = {
    version: 1,
    roles: { dev: { allow: ["tool:*"], approve: ["shell:deploy"] }, lead: { allow: ["approval:*"] } },
    principals: { alice: ["dev"], bob: ["lead"] }
  }
  const security = () =>
    ToolGuard.layer().pipe(
      Layer.provideMerge(Layer.mergeAll(AuditMemory.layer(), Policy.layer(policy)))
    ) as Layer.Layer<Policy.Policy | Audit.Audit, Policy.PolicyInvalid>
  const deployer = (tools: ReturnType<typeof makeTools>) =>
    Agent.make({
      name: "deployer",
      tools: [tools.echo, tools.deploy],
      planner: SequencePlanner.plan({
        steps: [
          { id: "check", tool: "echo", args: { text: "manifest" } },
          { id: "deploy", tool: "deploy", args: { text: "prod" }, dependsOn: ["check"] }
        ],
        answer: (results) => String(results.deploy)
      })
    })
  const alice = { id: "alice", roles: ["dev"] }

  it("a run paused for approval rejects with ApprovalRequired; approve resumes it and the step runs once", async () => {
    const tools = makeTools()
    const agent = deployer(tools)
    const graphent = Graphent.create({ agents: [agent], layer: security() })
    try {
      const paused = await rejection(graphent.run(agent, "ship", { runId: "p1", principal: alice }))
      assert.instanceOf(paused, Graphent.ApprovalRequired)
      assert.deepStrictEqual(tools.ran, ["echo:manifest"])

      const refused = await rejection(graphent.approve("p1", "deploy", { by: "alice" }))
      assert.instanceOf(refused, Graphent.ApprovalInvalid)
      assert.match((refused as Error).message, /alice may not decide it/)

      const result = await graphent.approve("p1", "deploy", { by: "bob", reason: "go" })
      assert.strictEqual(result.answer, "deploy prod")
      assert.deepStrictEqual(tools.ran, ["echo:manifest", "deploy:prod"])
      const again = await rejection(graphent.approve("p1", "deploy", { by: "bob" }))
      assert.instanceOf(again, Graphent.ApprovalInvalid)
    } finally {
      await graphent.close()
    }
  })

  it("reject resumes the run with the step denied; without a policy, a decision is ApprovalInvalid", async () => {
    const tools = makeTools()
    const agent = deployer(tools)
    const graphent = Graphent.create({ agents: [agent], layer: security() })
    try {
      await rejection(graphent.run(agent, "ship", { runId: "p2", principal: alice }))
      const denied = await rejection(graphent.reject("p2", "deploy", { by: { id: "bob", roles: [] }, reason: "freeze" }))
      assert.instanceOf(denied, Graphent.ToolDenied)
      assert.deepStrictEqual(tools.ran, ["echo:manifest"])
      const events = await graphent.events("p2")
      assert.isTrue(events.some((event) => event._tag === "ApprovalDecided" && !event.approved && event.reason === "freeze"))
    } finally {
      await graphent.close()
    }
    const open = Graphent.create({ agents: [agent] })
    try {
      await open.run(agent, "ship", { runId: "p3" })
      const error = await rejection(open.approve("p3", "deploy", { by: "bob" }))
      assert.instanceOf(error, Graphent.ApprovalInvalid)
      assert.match((error as Error).message, /no Policy/)
    } finally {
      await open.close()
    }
  })
})

describe("Graphent (Promise API): close", () => {
  it("interrupts the runs still going, then refuses new calls with GraphentClosed", async () => {
    const tools = makeTools()
    const graphent = Graphent.create()
    let started!: () => void
    const holding = new Promise<void>((resolve) => (started = resolve))
    tools.holdNext(() => started())
    const running = rejection(graphent.run(twoSteps(tools), "go", { runId: "c1" }))
    await holding
    const events = graphent.events("c1")
    assert.strictEqual((await events).at(-1)?._tag, "StepStarted")
    await graphent.close()
    await running
    const error = await rejection(graphent.run(twoSteps(tools), "go"))
    assert.instanceOf(error, Graphent.GraphentClosed)
    assert.match((error as Error).message, /graphent.run\(\) was called after graphent.close\(\)/)
    assert.throws(() => graphent.stream(twoSteps(tools), "go")[Symbol.asyncIterator](), /after graphent.close/)
    // Closing twice waits for the same close.
    await graphent.close()
  })

  it("a layer that fails to build rejects the call with its error", async () => {
    const broken = new Graphent.JournalError({ backend: "test", operation: "read", reason: "the disk is gone" })
    const graphent = Graphent.create({ store: Layer.effect(Journal.Journal, Effect.fail(broken)) })
    try {
      assert.strictEqual(await rejection(graphent.run(twoSteps(makeTools()), "go")), broken)
      assert.strictEqual(await rejection(graphent.events("r")), broken)
    } finally {
      await graphent.close()
    }
  })

  it("leaves no open handle: a process that runs, streams, stops a stream and closes exits by itself", () => {
    const folder = tempDir()
    const script = path.join(root, "test/.scratch", `graphent-close-${process.pid}.ts`)
    fs.writeFileSync(
      script,
      `import { Effect, Schema } from "effect"
import { Agent, Graphent, SequencePlanner, Tool } from "${path.join(root, "src/index.ts")}"
const wait = Tool.make("wait", {
  description: "Waits.",
  parameters: Schema.Struct({ ms: Schema.Number }),
  success: Schema.Number,
  handler: ({ ms }) => Effect.as(Effect.sleep(ms), ms)
})
const agent = Agent.make({
  name: "waiter",
  tools: [wait],
  planner: SequencePlanner.plan({ steps: [{ id: "a", tool: "wait", args: { ms: 5 } }, { id: "b", tool: "wait", args: { ms: 60000 }, dependsOn: ["a"] }] })
})
const graphent = Graphent.create({ agents: [agent], store: { folder: ${JSON.stringify(folder)} } })
for await (const event of graphent.stream(agent, "go")) if (event._tag === "StepStarted" && event.stepId === "b") break
// A run left going: close interrupts it (its 60 s timer must not keep the process alive).
const pending = graphent.run(agent, "go").catch(() => "interrupted")
await new Promise((resolve) => setTimeout(resolve, 20))
await graphent.close()
console.log(await pending)
`
    )
    try {
      const child = spawnSync(process.execPath, ["--import", "tsx", script], { cwd: root, encoding: "utf8", timeout: 60_000 })
      assert.isNull(child.signal, `the process did not exit by itself: ${child.stderr}`)
      assert.strictEqual(child.status, 0, child.stderr)
      assert.strictEqual(child.stdout, "interrupted\n")
      assert.lengthOf(fs.readdirSync(folder).filter((file) => file.endsWith(".jsonl")), 2)
    } finally {
      fs.rmSync(script, { force: true })
      fs.rmSync(folder, { recursive: true, force: true })
    }
  })
})

// The Effect API and the Promise API over one runtime: what Effect users keep.
describe("Graphent (Promise API): the runtime underneath", () => {
  it("runs Effect programs on the same services", async () => {
    const tools = makeTools()
    const agent = twoSteps(tools)
    const graphent = Graphent.create()
    try {
      const exit = await graphent.runtime.runPromise(Effect.exit(AgentRuntime.run(agent, "go", { runId: "e1" })))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual((await graphent.events("e1")).at(-1)?._tag, "RunCompleted")
    } finally {
      await graphent.close()
    }
  })
})
