/**
 * Agents that call agents: `Agent.asTool` (a sub-agent is a tool; each call is
 * a child run with its own section of the journal) and handoffs (a `Handoff`
 * decision gives the rest of the run to another agent). Covered: the child's
 * journal section and its link to the parent's step; budgets inherited (a
 * child never spends more than the parent has left); the parent's principal
 * and policy; approvals inside a child pausing the tree and resuming it;
 * crash-resume cut at every event of a tree journal (every side effect once
 * across the tree); replay of the tree and a divergence inside a child named
 * with the child run and its step; handoffs from SequencePlanner and from the
 * LLM planner (`transfer_to_<agent>`), journaled and replayed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Layer, Schema, Stream } from "effect"
import {
  Agent,
  AgentRuntime,
  Approvals,
  Audit,
  AuditMemory,
  Journal,
  JournalMemory,
  LlmPlanner,
  LocalRuntime,
  MemoryInMemory,
  Planner,
  Policy,
  Pricing,
  Replay,
  type RunEvent,
  Runs,
  RunsLocal,
  ScriptedModel,
  SequencePlanner,
  Tool,
  ToolGuard
} from "graphent"
import * as Testing from "graphent/testing"

type Event = RunEvent.RunEvent

/** Side effects by `<runId>:<stepId>`, as the world would count them. */
type World = Record<string, number>

const post = (world: World, name = "post", capabilities: ReadonlyArray<string> = []) =>
  Tool.make(name, {
    description: "Posts a text (a side effect; not idempotent)",
    parameters: Schema.Struct({ text: Schema.String }),
    success: Schema.String,
    capabilities,
    handler: ({ text }, { runId, stepId }) =>
      Effect.sync(() => {
        const key = `${runId}:${stepId}`
        world[key] = (world[key] ?? 0) + 1
        return `${stepId}(${text})`
      })
  })

/** A searcher that posts three times (a DAG: s1, then s2 and s3) and joins the results. */
const makeSearcher = (world: World, options?: { readonly variant?: string; readonly maxSteps?: number }) =>
  Agent.make({
    name: "searcher",
    description: "Finds sources",
    tools: [post(world)],
    concurrency: 2,
    ...(options?.maxSteps === undefined ? {} : { budget: { maxSteps: options.maxSteps } }),
    planner: SequencePlanner.plan({
      steps: [
        { id: "s1", tool: "post", args: { text: "find" } },
        { id: "s2", tool: "post", args: { text: Planner.ref("s1") } },
        { id: "s3", tool: "post", args: { text: options?.variant ?? "more" }, dependsOn: ["s1"] }
      ],
      answer: (results) => `${results.s2} + ${results.s3}`
    })
  })

/** A coordinator: "gather" calls the searcher, "publish" posts its answer. */
const makeCoordinator = (world: World, searcher = makeSearcher(world), budget?: Partial<Agent.Budget>) =>
  Agent.make({
    name: "coordinator",
    tools: [Agent.asTool(searcher, { description: "Finds sources on a topic" }), post(world)],
    ...(budget === undefined ? {} : { budget }),
    planner: SequencePlanner.plan({
      steps: [
        { id: "gather", tool: "searcher", args: { input: "effect" } },
        { id: "publish", tool: "post", args: { text: Planner.ref("gather") } }
      ],
      answer: (results) => `published ${results.publish}`
    })
  })

/** A runtime over a memory journal holding `events`; `log` is every event in the order it was appended. */
const runtimeHolding = (events: ReadonlyArray<Event>) => {
  const memory = JournalMemory.make()
  const log: Array<Event> = []
  const journal: Journal.JournalShape = {
    ...memory,
    append: (event) => Effect.andThen(memory.append(event), Effect.sync(() => void log.push(event)))
  }
  for (const event of events) Effect.runSync(journal.append(event))
  const layer = Layer.fresh(Layer.mergeAll(
    LocalRuntime.layer.pipe(Layer.provideMerge(Layer.succeed(Journal.Journal, journal))),
    MemoryInMemory.layer,
    Testing.layerSequentialIds()
  ))
  return { journal, layer, log }
}

describe("Agent.asTool: a sub-agent is a child run of its parent's step", () => {
  it.effect("the child has its own run id and journal section, linked to the parent's step; usage adds up", () => {
    const world: World = {}
    return Effect.gen(function*() {
      const result = yield* AgentRuntime.run(makeCoordinator(world), "write about effect", {
        principal: { id: "alice", roles: [] }
      })
      assert.strictEqual(result.answer, "published publish(s2(s1(find)) + s3(more))")
      assert.deepStrictEqual(Object.keys(world).sort(), ["run-1/gather:s1", "run-1/gather:s2", "run-1/gather:s3", "run-1:publish"])
      const journal = yield* Journal.Journal
      const child = yield* journal.read("run-1/gather")
      const started = child[0]
      assert.strictEqual(started?._tag, "RunStarted")
      if (started?._tag !== "RunStarted") return
      assert.strictEqual(started.agent, "searcher")
      assert.strictEqual(started.input, "effect")
      assert.strictEqual(started.parentRunId, "run-1")
      assert.strictEqual(started.parentStepId, "gather")
      // The parent's principal.
      assert.deepStrictEqual(started.principal, { id: "alice", roles: [] })
      assert.strictEqual(child.at(-1)?._tag, "RunCompleted")
      // The parent's own events stay its own; its usage counts the child's steps.
      assert.isTrue(result.events.every((event) => event.runId === "run-1"))
      assert.strictEqual(result.usage.steps, 2 + 3)
    }).pipe(Effect.provide(Testing.layer))
  })

  it.effect("a structured sub-agent: custom input Schema, the child's output Schema as the tool's result", () => {
    const world: World = {}
    const counter = Agent.make({
      name: "counter",
      tools: [post(world)],
      output: Schema.Struct({ words: Schema.Number }),
      planner: {
        decide: (state) =>
          Effect.succeed(Planner.answer(JSON.stringify({ words: state.input.split(" ").length })))
      }
    })
    const parent = Agent.make({
      name: "parent",
      tools: [Agent.asTool(counter, { input: Schema.Struct({ text: Schema.String }) })],
      planner: SequencePlanner.plan({
        steps: [{ id: "count", tool: "counter", args: { text: "one two three" } }],
        answer: (results) => `words: ${(results.count as { words: number }).words}`
      })
    })
    return Effect.gen(function*() {
      const result = yield* AgentRuntime.run(parent, "go")
      assert.strictEqual(result.answer, "words: 3")
      const child = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1/count"))
      // The child's input is the parameters as JSON (words: 1 — one JSON token).
      assert.strictEqual(child[0]?._tag === "RunStarted" ? child[0].input : undefined, `{"text":"one two three"}`)
    }).pipe(Effect.provide(Testing.layer))
  })

  it.effect("a sub-agent tool called outside a run is a defect of the step, not a hang", () =>
    Effect.gen(function*() {
      const tool = Agent.asTool(makeSearcher({}))
      const { exit } = yield* Testing.callTool(tool, { input: "x" })
      assert.isTrue(exit._tag === "Failure")
    }).pipe(Effect.provide(Testing.layer)))
})

describe("budgets: a child never spends more than its parent has left", () => {
  it.effect("the parent's steps run out inside the child: BudgetExceeded names both runs, both runs fail", () => {
    const world: World = {}
    return Effect.gen(function*() {
      // 3 steps: "gather" and "publish" are planned, so the child may use 1 of its 3.
      const error = yield* Effect.flip(AgentRuntime.run(makeCoordinator(world, undefined, { maxSteps: 3 }), "go"))
      assert.strictEqual(error._tag, "BudgetExceeded")
      if (error._tag !== "BudgetExceeded") return
      assert.strictEqual(error.runId, "run-1/gather")
      assert.strictEqual(error.parentRunId, "run-1")
      assert.strictEqual(error.limit, 1)
      assert.match(error.message, /child run run-1\/gather needed 3 steps, but its parent run run-1 had only 1 left/)
      const journal = yield* Journal.Journal
      const parent = yield* journal.read("run-1")
      const child = yield* journal.read("run-1/gather")
      assert.strictEqual(parent.at(-1)?._tag, "RunFailed")
      assert.strictEqual(child.at(-1)?._tag, "RunFailed")
      // Nothing ran: the child's plan was refused as a whole, and the parent stopped.
      assert.deepStrictEqual(world, {})
    }).pipe(Effect.provide(Testing.layer))
  })

  it.effect("many budgets: whatever the parent's limit, the tree's steps never exceed it", () =>
    Effect.gen(function*() {
      for (let maxSteps = 1; maxSteps <= 7; maxSteps++) {
        const world: World = {}
        const exit = yield* Effect.exit(
          AgentRuntime.run(makeCoordinator(world, undefined, { maxSteps }), "go").pipe(Effect.provide(Testing.layer))
        )
        const effects = Object.values(world).reduce((a, b) => a + b, 0)
        // The sub-agent step counts as one of the parent's steps.
        assert.isAtMost(effects + (world["run-1/gather:s1"] === undefined ? 0 : 1), maxSteps, `maxSteps ${maxSteps}`)
        if (maxSteps >= 5) assert.strictEqual(exit._tag, "Success", `maxSteps ${maxSteps}`)
        else assert.strictEqual(exit._tag === "Failure" ? String(exit.cause) .includes("BudgetExceeded") : false, true)
      }
    }))

  it.effect("a child over its own (smaller) budget fails the step only; the failed tree replays identically", () => {
    const world: World = {}
    const small = (world: World) => makeCoordinator(world, makeSearcher(world, { maxSteps: 1 }))
    return Effect.gen(function*() {
      const { layer, log } = runtimeHolding([])
      const error = yield* Effect.flip(AgentRuntime.run(small(world), "go").pipe(Effect.provide(layer)))
      // The parent's plan fails at the step (SequencePlanner gives up with the step's error), not with a budget.
      assert.strictEqual(error._tag, "ToolFailed")
      assert.match(error.message, /step "gather": tool "searcher" failed: budget exceeded: steps limit is 1/)
      const report = yield* Replay.replay(small({}), log).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, log.length)
      assert.deepStrictEqual(report.outcome, { error: { _tag: "ToolFailed", message: error.message } })
    })
  })
})

// ---------------------------------------------------------------------------
// policy and approvals
// ---------------------------------------------------------------------------

const policy: Policy.Document = {
  version: 1,
  roles: {
    dev: { allow: ["tool:*"], approve: ["shell:deploy"] },
    lead: { allow: ["approval:*"] }
  },
  principals: { alice: ["dev"], bob: ["lead"] }
}

const guarded = () => {
  const audit = AuditMemory.make()
  const security = ToolGuard.layer({}).pipe(
    Layer.provideMerge(Layer.mergeAll(Layer.succeed(Audit.Audit, audit), Policy.layer(policy).pipe(Layer.orDie)))
  )
  return { audit, layer: Layer.mergeAll(Testing.layer, security) }
}

const makeDeployer = (world: World) =>
  Agent.make({
    name: "deployer",
    tools: [post(world), post(world, "deploy", ["shell:deploy"])],
    planner: SequencePlanner.plan({
      steps: [
        { id: "build", tool: "post", args: { text: "build" } },
        { id: "ship", tool: "deploy", args: { text: Planner.ref("build") } }
      ],
      answer: (results) => String(results.ship)
    })
  })

/** A parent whose one step runs the deployer. */
const releaseOnly = (world: World) =>
  Agent.make({
    name: "release",
    tools: [Agent.asTool(makeDeployer(world))],
    planner: SequencePlanner.plan({ steps: [{ id: "release", tool: "deployer", args: { input: "v1" } }] })
  })

describe("approvals inside a child pause the whole tree and resume it", () => {
  it.effect("paused at the parent's step; approving it runs the child's waiting step once, nothing repeats", () => {
    const world: World = {}
    const { audit, layer } = guarded()
    const parent = Agent.make({
      name: "release",
      tools: [Agent.asTool(makeDeployer(world)), post(world)],
      planner: SequencePlanner.plan({
        steps: [
          { id: "prep", tool: "post", args: { text: "prep" } },
          { id: "release", tool: "deployer", args: { input: "v1" }, dependsOn: ["prep"] }
        ],
        answer: (results) => `released ${results.release}`
      })
    })
    const alice = { id: "alice", roles: ["dev"] }
    return Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(parent, "ship v1", { principal: alice }))
      assert.strictEqual(error._tag, "ApprovalRequired")
      if (error._tag !== "ApprovalRequired") return
      // The tree pauses at the parent's step, with the child's capability.
      assert.deepStrictEqual([error.stepId, error.tool, error.capability, error.principal], [
        "release",
        "deployer",
        "shell:deploy",
        "alice"
      ])
      const journal = yield* Journal.Journal
      const parentEvents = yield* journal.read("run-1")
      const childEvents = yield* journal.read("run-1/release")
      for (const events of [parentEvents, childEvents]) {
        const tags = events.map((event) => event._tag)
        assert.include(tags, "ApprovalRequested")
        assert.notInclude(tags, "RunFailed")
      }
      assert.deepStrictEqual(Object.keys(world).sort(), ["run-1/release:build", "run-1:prep"])
      // Approving the parent's step resumes the tree; the child's waiting step runs with the decision.
      const result = yield* Approvals.decide(parent, parentEvents, {
        stepId: "release",
        approved: true,
        approver: { id: "bob", roles: [] }
      })
      assert.strictEqual(result.answer, "released ship(build(build))")
      assert.deepStrictEqual(world, { "run-1:prep": 1, "run-1/release:build": 1, "run-1/release:ship": 1 })
      const ship = audit.entries.filter((entry) => entry.tool === "deploy")
      assert.deepStrictEqual(ship.map((entry) => [entry.decision, entry.outcome, entry.approvedBy]), [
        ["approval-required", "paused", undefined],
        ["approved", "succeeded", "bob"]
      ])
      assert.strictEqual((yield* journal.read("run-1/release")).at(-1)?._tag, "RunCompleted")
    }).pipe(Effect.provide(layer))
  })

  it.effect("rejecting the parent's step fails the child's step with ToolDenied; the deploy never runs", () => {
    const world: World = {}
    const { layer } = guarded()
    const parent = releaseOnly(world)
    return Effect.gen(function*() {
      yield* Effect.flip(AgentRuntime.run(parent, "ship v1", { principal: { id: "alice", roles: ["dev"] } }))
      const events = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1"))
      const error = yield* Effect.flip(
        Approvals.decide(parent, events, { stepId: "release", approved: false, approver: { id: "bob", roles: [] } })
      )
      assert.strictEqual(error._tag, "ToolFailed")
      assert.match(error.message, /rejected by bob/)
      assert.isUndefined(world["run-1/release:ship"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("through the Runs service (HTTP API): decided at the parent's step; its stream holds its own events", () => {
    const world: World = {}
    const { layer } = guarded()
    return Effect.gen(function*() {
      const runs = yield* Runs.Runs
      const drain = (runId: string, after?: number) =>
        Effect.flatMap(runs.events(runId, after), (stream) => Effect.map(Stream.runCollect(stream), (all) => [...all]))
      const { id } = yield* runs.start({ agent: "release", input: "ship v1" }, { principal: { id: "alice", roles: ["dev"] } })
      const before = yield* drain(id)
      assert.strictEqual((yield* runs.get(id)).status, "paused")
      yield* runs.decide(id, "release", { approved: true }, { id: "bob", roles: [] })
      const after = yield* drain(id, before.at(-1)?.index)
      assert.strictEqual(after.at(-1)?.event._tag, "RunCompleted")
      assert.isTrue([...before, ...after].every(({ event }) => event.runId === id))
      assert.strictEqual((yield* runs.get(id)).status, "completed")
      assert.deepStrictEqual(world, { [`${id}/release:build`]: 1, [`${id}/release:ship`]: 1 })
    }).pipe(Effect.provide(RunsLocal.layer({ agents: [releaseOnly(world)] }).pipe(Layer.provideMerge(layer))))
  })

  it.effect("the parent's policy holds in the child: a capability the principal lacks is denied there", () => {
    const world: World = {}
    const { layer } = guarded()
    const parent = releaseOnly(world)
    return Effect.gen(function*() {
      // A guest has no role: tool:* is not allowed, so the child's first step is denied.
      const error = yield* Effect.flip(AgentRuntime.run(parent, "ship", { principal: { id: "guest", roles: [] } }))
      assert.strictEqual(error._tag, "ToolDenied")
      assert.deepStrictEqual(world, {})
    }).pipe(Effect.provide(layer))
  })
})

// ---------------------------------------------------------------------------
// crash-resume and replay over the tree
// ---------------------------------------------------------------------------

/** Records an uninterrupted tree run: its events in append order, and its answer. */
const recordTree = (agent: (world: World) => Agent.Agent<never>, input: string) =>
  Effect.gen(function*() {
    const { layer, log } = runtimeHolding([])
    const result = yield* AgentRuntime.run(agent({}), input).pipe(Effect.provide(layer))
    return { events: log, answer: result.answer }
  })

describe("resume: a crash anywhere in the tree re-runs nothing that completed", () => {
  it.effect("cut at every event of the tree journal: every side effect exactly once, the same answer", () =>
    Effect.gen(function*() {
      const baseline = yield* recordTree((world) => makeCoordinator(world), "go")
      assert.isAbove(baseline.events.filter((event) => event.runId === "run-1/gather").length, 5)
      for (let cut = 1; cut < baseline.events.length; cut++) {
        const prefix = baseline.events.slice(0, cut)
        // The world as the crash left it: a call took effect exactly when its result was journaled.
        const world: World = {}
        for (const event of prefix) {
          if (event._tag === "StepSucceeded" && event.tool === "post") world[`${event.runId}:${event.stepId}`] = 1
        }
        const inFlight = prefix.flatMap((event) =>
          event._tag === "StepStarted" &&
            !prefix.some((other) => other._tag === "StepSucceeded" && other.runId === event.runId && other.stepId === event.stepId)
            ? [event.stepId]
            : []
        )
        const { journal, layer, log } = runtimeHolding(prefix)
        const parentEvents = prefix.filter((event) => event.runId === "run-1")
        const result = yield* Replay.resume(makeCoordinator(world), parentEvents, { retry: inFlight }).pipe(
          Effect.provide(layer)
        )
        assert.strictEqual(result.answer, baseline.answer, `cut ${cut}`)
        assert.deepStrictEqual(
          world,
          { "run-1/gather:s1": 1, "run-1/gather:s2": 1, "run-1/gather:s3": 1, "run-1:publish": 1 },
          `cut ${cut}: ${prefix.at(-1)?._tag}`
        )
        // One outcome per step per run in the final journal.
        const finals = log
        const outcomes = finals.flatMap((event) => event._tag === "StepSucceeded" ? [`${event.runId}:${event.stepId}`] : [])
        assert.strictEqual(new Set(outcomes).size, outcomes.length, `cut ${cut}`)
        // Resuming the finished tree again is refused: nothing to do.
        const again = yield* Effect.flip(Replay.resume(makeCoordinator(world), yield* journal.read("run-1")).pipe(Effect.provide(layer)))
        assert.strictEqual(again._tag, "ReplayUnavailable")
      }
    }))

  it.effect("a non-idempotent step of the child in flight at the crash: ResumeUnsafe names it, --retry goes on", () =>
    Effect.gen(function*() {
      const baseline = yield* recordTree((world) => makeCoordinator(world), "go")
      const cut = baseline.events.findIndex((event) => event._tag === "StepStarted" && event.stepId === "s2") + 1
      const prefix = baseline.events.slice(0, cut)
      const world: World = {}
      const { layer } = runtimeHolding(prefix)
      const parentEvents = prefix.filter((event) => event.runId === "run-1")
      const error = yield* Effect.flip(Replay.resume(makeCoordinator(world), parentEvents).pipe(Effect.provide(layer)))
      assert.strictEqual(error._tag, "ResumeUnsafe")
      if (error._tag === "ResumeUnsafe") assert.strictEqual(error.stepId, "s2")
    }))
})

describe("usage on resume: a child answered from the journal counts as it did on the first run", () => {
  const prices = { m: { input: 1, output: 2 } }
  /** A model call of `tokens` input and a fifth as many output tokens, made through the run (journaled, priced). */
  const callModel = (state: Planner.RunState, tokens: number) =>
    state.context.callModel("m", { prefix: 0, messages: [state.turn], tools: [] }, Effect.succeed({
      text: "ok",
      toolCalls: [],
      finishReason: "stop",
      usage: { inputTokens: tokens, outputTokens: tokens / 5 }
    }))
  /** A child that calls the model, posts, calls it again and answers; a parent that calls it, then the model, then posts. */
  const tree = (world: World, budget?: Partial<Agent.Budget>) => {
    const child = Agent.make({
      name: "thinker",
      tools: [post(world)],
      planner: {
        decide: (state) =>
          Effect.map(callModel(state, 100), () =>
            state.turn === 1 ? Planner.runSteps([{ id: "note", tool: "post", args: { text: "n" } }]) : Planner.answer("idea"))
      }
    })
    return Agent.make({
      name: "boss",
      tools: [Agent.asTool(child), post(world)],
      ...(budget === undefined ? {} : { budget }),
      planner: {
        decide: (state) =>
          state.turn === 1
            ? Effect.succeed(Planner.runSteps([{ id: "think", tool: "thinker", args: { input: "go" } }]))
            : state.turn === 2
            ? Effect.map(callModel(state, 50), () => Planner.runSteps([{ id: "ship", tool: "post", args: { text: "s" } }]))
            : Effect.succeed(Planner.answer("done"))
      }
    })
  }
  const record = (budget?: Partial<Agent.Budget>) =>
    Effect.gen(function*() {
      const { layer, log } = runtimeHolding([])
      const exit = yield* Effect.exit(AgentRuntime.run(tree({}, budget), "go").pipe(Effect.provide(layer)))
      return { events: log, exit }
    })
  /** Resumes the tree from the first `cut` events of `events`; the parent's events are what `graphent resume` reads. */
  const resumeAt = (events: ReadonlyArray<Event>, cut: number, budget?: Partial<Agent.Budget>) => {
    const prefix = events.slice(0, cut)
    const { layer } = runtimeHolding(prefix)
    const inFlight = prefix.flatMap((event) => event._tag === "StepStarted" ? [event.stepId] : [])
    return Effect.exit(
      Replay.resume(tree({}, budget), prefix.filter((event) => event.runId === "run-1"), { retry: inFlight }).pipe(
        Effect.provide(layer)
      )
    )
  }

  it.effect("cut at every event after the child started: the resumed tree's usage equals the uninterrupted run's", () =>
    Effect.gen(function*() {
      const baseline = yield* record()
      assert.strictEqual(baseline.exit._tag, "Success")
      if (baseline.exit._tag !== "Success") return
      const expected = baseline.exit.value.usage
      // 3 model calls (2 in the child), 3 steps (1 in the child) besides the sub-agent's own step.
      assert.deepInclude(expected, { modelCalls: 3, steps: 3, inputTokens: 250, outputTokens: 50 })
      const parentEnd = baseline.events.findIndex((event) => event.runId === "run-1" && event._tag === "RunCompleted")
      for (let cut = 2; cut <= parentEnd; cut++) {
        const resumed = yield* resumeAt(baseline.events, cut)
        assert.strictEqual(resumed._tag, "Success", `cut ${cut}`)
        if (resumed._tag === "Success") assert.deepStrictEqual(resumed.value.usage, expected, `cut ${cut}: ${baseline.events[cut - 1]?._tag}`)
      }
      // A journal written before steps carried `childUsage`: the child's own end event, in the tree read, counts.
      const older = baseline.events.map((event) => {
        if (event._tag !== "StepSucceeded") return event
        const { childUsage: _, ...rest } = event
        return rest
      })
      const { layer } = runtimeHolding(older.slice(0, parentEnd))
      const resumed = yield* Replay.resume(tree({}), older.slice(0, parentEnd)).pipe(Effect.provide(layer))
      assert.deepStrictEqual(resumed.usage, expected)
    }).pipe(Effect.provideService(Pricing.Pricing, prices)))

  it.effect("the child's recorded tokens count against the parent's budget: the same BudgetExceeded after a resume", () =>
    Effect.gen(function*() {
      // The child spends 240 tokens, the parent's own call 60: a limit of 299 ends the run at the parent's call.
      const budget = { maxTokens: 299 }
      const baseline = yield* record(budget)
      assert.strictEqual(baseline.exit._tag, "Failure")
      const childEnd = baseline.events.findIndex((event) => event.runId === "run-1/think" && event._tag === "RunCompleted")
      const stepEnd = baseline.events.findIndex((event) => event._tag === "StepSucceeded" && event.stepId === "think")
      assert.isAbove(childEnd, 0)
      for (const cut of [childEnd + 1, stepEnd + 1]) {
        const resumed = yield* resumeAt(baseline.events, cut, budget)
        assert.strictEqual(resumed._tag, "Failure", `cut ${cut}`)
        const error = resumed._tag === "Failure" ? Cause.findErrorOption(resumed.cause) : undefined
        assert.deepInclude(error?._tag === "Some" ? error.value : {}, { _tag: "BudgetExceeded", budget: "tokens", used: 300 })
      }
    }).pipe(Effect.provideService(Pricing.Pricing, prices)))
})

describe("replay: the tree replays offline; a divergence inside a child names the child run and its step", () => {
  it.effect("identical: the child is re-run against its own recording, nothing runs live", () =>
    Effect.gen(function*() {
      const baseline = yield* recordTree((world) => makeCoordinator(world), "go")
      const world: World = {}
      const report = yield* Replay.replay(makeCoordinator(world), baseline.events).pipe(Effect.provide(Testing.layer))
      assert.deepStrictEqual(report.outcome, { answer: baseline.answer })
      assert.deepStrictEqual(world, {})
    }))

  it.effect("the child's plan changed: ReplayDivergence with the child's run id and step", () =>
    Effect.gen(function*() {
      const baseline = yield* recordTree((world) => makeCoordinator(world), "go")
      const world: World = {}
      const changed = makeCoordinator(world, makeSearcher(world, { variant: "less" }))
      const error = yield* Effect.flip(Replay.replay(changed, baseline.events).pipe(Effect.provide(Testing.layer)))
      assert.strictEqual(error._tag, "ReplayDivergence")
      if (error._tag !== "ReplayDivergence") return
      assert.strictEqual(error.runId, "run-1/gather")
      assert.strictEqual(error.kind, "decision")
      assert.match(error.message, /in child run run-1\/gather/)
      assert.deepStrictEqual(world, {})
    }))

  it.effect("update re-records the tree: the new journal holds the changed child's section and replays", () =>
    Effect.gen(function*() {
      const baseline = yield* recordTree((world) => makeCoordinator(world), "go")
      const changed = (world: World) => makeCoordinator(world, makeSearcher(world, { variant: "less" }))
      const world: World = {}
      const { layer, log } = runtimeHolding([])
      const { divergence, result } = yield* Replay.update(changed(world), baseline.events).pipe(Effect.provide(layer))
      assert.strictEqual(divergence?.runId, "run-1/gather")
      assert.strictEqual(result.answer, "published publish(s2(s1(find)) + s3(less))")
      assert.isTrue(log.some((event) => event.runId === "run-1/gather" && event._tag === "RunStarted"))
      const report = yield* Replay.replay(changed({}), log).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, log.length)
    }))

  it.effect("the child's section is missing from the journal: a divergence naming the child run", () =>
    Effect.gen(function*() {
      const baseline = yield* recordTree((world) => makeCoordinator(world), "go")
      const error = yield* Effect.flip(
        Replay.replay(makeCoordinator({}), baseline.events.filter((event) => event.runId === "run-1")).pipe(
          Effect.provide(Testing.layer)
        )
      )
      assert.strictEqual(error._tag, "ReplayDivergence")
      if (error._tag === "ReplayDivergence") assert.strictEqual(error.runId, "run-1/gather")
    }))
})

// ---------------------------------------------------------------------------
// handoffs
// ---------------------------------------------------------------------------

const makeWriter = (world: World) =>
  Agent.make({
    name: "writer",
    description: "Writes the final text",
    tools: [post(world)],
    planner: SequencePlanner.plan({
      steps: [{ id: "draft", tool: "post", args: { text: "draft" } }],
      answer: (results, input) => `${input}: ${results.draft}`
    })
  })

describe("handoff: a planner hands the rest of the run to another agent", () => {
  const triage = (world: World) =>
    Agent.make({
      name: "triage",
      tools: [post(world), Agent.handoff(makeWriter(world))],
      planner: SequencePlanner.plan({
        steps: [{ id: "look", tool: "post", args: { text: "look" } }],
        handoff: { agent: "writer", input: (results) => `about ${results.look}` }
      })
    })

  it.effect("SequencePlanner: journaled as a Handoff decision; the child's answer is the run's; replays", () =>
    Effect.gen(function*() {
      const world: World = {}
      const { journal, layer, log } = runtimeHolding([])
      const result = yield* AgentRuntime.run(triage(world), "help").pipe(Effect.provide(layer))
      assert.strictEqual(result.answer, "about look(look): draft(draft)")
      const decisions = result.events.flatMap((event) => event._tag === "DecisionMade" ? [event.decision] : [])
      assert.deepStrictEqual(decisions.at(-1), { _tag: "Handoff", agent: "writer", input: "about look(look)" })
      const child = yield* journal.read("run-1/handoff-2")
      assert.strictEqual(child[0]?._tag === "RunStarted" ? child[0].agent : undefined, "writer")
      assert.deepStrictEqual(world, { "run-1:look": 1, "run-1/handoff-2:draft": 1 })
      const events = log
      const replayWorld: World = {}
      const report = yield* Replay.replay(triage(replayWorld), events).pipe(Effect.provide(Testing.layer))
      assert.deepStrictEqual(report.outcome, { answer: result.answer })
      assert.deepStrictEqual(replayWorld, {})
    }))

  /** A triage that looks twice (one lookup fails), then hands over to `target` with its own input. */
  const lookingTriage = (world: World, target: Tool.Any) =>
    Agent.make({
      name: "triage",
      tools: [post(world), target, Tool.make("broken", {
        description: "Always fails",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.fail(new Tool.ToolFailed({ tool: "broken", stepId: "oops", reason: "down", defect: false, cause: null }))
      })],
      planner: {
        decide: (state) =>
          Effect.succeed(
            state.turn === 1
              ? {
                _tag: "RunSteps",
                steps: [{ id: "look", tool: "post", args: { text: "account" } }, { id: "oops", tool: "broken", args: {} }],
                text: "Looking it up."
              }
              : Planner.handoff("writer")
          )
      }
    })
  /** A writer that answers with the conversation it was handed. */
  const echoingWriter = Agent.make({
    name: "writer",
    tools: [],
    planner: { decide: (state) => Effect.succeed(Planner.answer(JSON.stringify(state.conversation ?? null))) }
  })

  it.effect("the receiving agent gets the conversation so far: input, text, tool calls with results and errors; journaled", () =>
    Effect.gen(function*() {
      const { layer, log } = runtimeHolding([])
      const agent = lookingTriage({}, Agent.handoff(echoingWriter))
      const result = yield* AgentRuntime.run(agent, "I was charged twice").pipe(Effect.provide(layer))
      const failed = log.find((event) => event._tag === "StepFailed" && event.stepId === "oops")
      const error = failed?._tag === "StepFailed" ? `ToolFailed: ${failed.error.message}` : ""
      const expected: ReadonlyArray<RunEvent.ConversationItem> = [
        { _tag: "UserMessage", text: "I was charged twice" },
        { _tag: "AssistantMessage", text: "Looking it up." },
        { _tag: "ToolCall", id: "look", tool: "post", args: { text: "account" }, result: "look(account)" },
        { _tag: "ToolCall", id: "oops", tool: "broken", args: {}, error }
      ]
      assert.match(error, /down$/)
      assert.deepStrictEqual(JSON.parse(result.answer), expected)
      // In the child's RunStarted: replay and resume hand over the same.
      const started = log.find((event) => event._tag === "RunStarted" && event.runId === "run-1/handoff-2")
      assert.deepStrictEqual(started?._tag === "RunStarted" ? started.conversation : undefined, expected)
      const report = yield* Replay.replay(lookingTriage({}, Agent.handoff(echoingWriter)), log).pipe(Effect.provide(Testing.layer))
      assert.deepStrictEqual(report.outcome, { answer: result.answer })
    }))

  it.effect("inputFilter trims what is handed over: removeToolCalls keeps the messages only", () =>
    Effect.gen(function*() {
      const agent = lookingTriage({}, Agent.handoff(echoingWriter, { inputFilter: Agent.removeToolCalls }))
      const result = yield* AgentRuntime.run(agent, "I was charged twice")
      assert.deepStrictEqual(JSON.parse(result.answer), [
        { _tag: "UserMessage", text: "I was charged twice" },
        { _tag: "AssistantMessage", text: "Looking it up." }
      ])
      const last = Agent.handoff(echoingWriter, { inputFilter: (items) => items.slice(-1) })
      const trimmed = yield* AgentRuntime.run(lookingTriage({}, last), "x")
      assert.deepStrictEqual(JSON.parse(trimmed.answer).map((item: { _tag: string }) => item._tag), ["ToolCall"])
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("an LLM-planned receiver sees the handed-over calls and results in its prompt, the input once; replays without the model", () =>
    Effect.gen(function*() {
      const prompts: Array<ReadonlyArray<{ readonly role: string; readonly parts: ReadonlyArray<string> }>> = []
      const receiver = Agent.make({ name: "writer", tools: [], planner: LlmPlanner.make() })
      const model = ScriptedModel.layerFunction(({ prompt }) => {
        prompts.push(prompt.content.map((message) => ({
          role: message.role,
          parts: typeof message.content === "string"
            ? [message.content]
            : message.content.map((part) =>
              part.type === "text" ? part.text : part.type === "tool-call" ? `call ${part.name}` : part.type === "tool-result" ? `result ${JSON.stringify(part.result)}` : part.type)
        })))
        return ScriptedModel.text("refund issued")
      })
      const { layer, log } = runtimeHolding([])
      const agent = lookingTriage({}, Agent.handoff(receiver))
      const result = yield* AgentRuntime.run(agent, "I was charged twice").pipe(Effect.provide(Layer.mergeAll(layer, model)))
      assert.strictEqual(result.answer, "refund issued")
      const failed = log.find((event) => event._tag === "StepFailed" && event.stepId === "oops")
      const error = failed?._tag === "StepFailed" ? `ToolFailed: ${failed.error.message}` : ""
      assert.strictEqual(prompts.length, 1)
      assert.deepStrictEqual(prompts[0]!.slice(1), [
        { role: "user", parts: ["I was charged twice"] },
        { role: "assistant", parts: ["Looking it up."] },
        { role: "assistant", parts: ["call post", "call broken"] },
        { role: "tool", parts: ['result "look(account)"', `result ${JSON.stringify(error)}`] }
      ])
      const report = yield* Replay.replay(agent, log).pipe(Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([]))))
      assert.deepStrictEqual(report.outcome, { answer: "refund issued" })
    }))

  it.effect("an unknown handoff target is a PlanInvalid naming the declared ones", () =>
    Effect.gen(function*() {
      const agent = Agent.make({
        name: "lost",
        tools: [Agent.handoff(makeWriter({}))],
        planner: { decide: () => Effect.succeed(Planner.handoff("nobody")) }
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "x"))
      assert.strictEqual(error._tag, "PlanInvalid")
      assert.match(error.message, /no handoff to agent "nobody".*handoffs: writer/)
    }).pipe(Effect.provide(Testing.layer)))

  it.effect("LLM planner: the model calls transfer_to_writer; the run is handed over and replays without the model", () =>
    Effect.gen(function*() {
      const world: World = {}
      const agent = Agent.make({
        name: "desk",
        tools: [Agent.handoff(makeWriter(world))],
        planner: LlmPlanner.make()
      })
      const model = ScriptedModel.layer([
        ScriptedModel.toolCalls([{ name: "transfer_to_writer", params: { input: "a haiku" }, id: "h1" }])
      ])
      const { layer, log } = runtimeHolding([])
      const result = yield* AgentRuntime.run(agent, "write me a haiku").pipe(Effect.provide(Layer.mergeAll(layer, model)))
      assert.strictEqual(result.answer, "a haiku: draft(draft)")
      const decisions = result.events.flatMap((event) => event._tag === "DecisionMade" ? [event.decision] : [])
      assert.deepStrictEqual(decisions, [{ _tag: "Handoff", agent: "writer", input: "a haiku" }])
      const events = log
      // Replay: no model script at all (an empty one fails if called), no tool runs.
      const report = yield* Replay.replay(agent, events).pipe(
        Effect.provide(Layer.mergeAll(Testing.layer, ScriptedModel.layer([])))
      )
      assert.deepStrictEqual(report.outcome, { answer: result.answer })
      assert.deepStrictEqual(world, { "run-1/handoff-1:draft": 1 })
    }))
})
