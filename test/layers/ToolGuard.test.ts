import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Approvals,
  Audit,
  AuditMemory,
  Journal,
  Policy,
  Replay,
  SequencePlanner,
  Tool,
  ToolGuard,
  Tools
} from "graphent"
import * as Testing from "graphent/testing"
import * as TraceView from "../../src/programs/traceView.js"

const policy: Policy.Document = {
  version: 1,
  roles: {
    dev: { allow: ["tool:*", "fs:read:/data/**"], approve: ["shell:deploy"] },
    guest: { allow: ["tool:read_file", "fs:read:**"] },
    lead: { allow: ["approval:*"] }
  },
  principals: { alice: ["dev"], bob: ["lead"] }
}

/** Tools that count how often they really ran. */
const makeTools = () => {
  const ran: Array<string> = []
  const tool = (name: string, capabilities: ReadonlyArray<string>) =>
    Tool.make(name, {
      description: name,
      parameters: Schema.Struct({ target: Schema.String }),
      success: Schema.String,
      capabilities,
      handler: ({ target }) => Effect.sync(() => (ran.push(`${name}:${target}`), `${name} ${target}`))
    })
  return {
    ran,
    readFile: tool("read_file", ["fs:read:/data/reports"]),
    deploy: tool("deploy", ["shell:deploy"]),
    wipe: tool("wipe", ["shell:rm"])
  }
}

const makeLayer = (document: Policy.Document = policy, principal?: Policy.Principal) => {
  const audit = AuditMemory.make()
  // The policy stays in context: deciding an approval checks the approver against it.
  const security = ToolGuard.layer(principal === undefined ? {} : { principal }).pipe(
    Layer.provideMerge(Layer.mergeAll(Layer.succeed(Audit.Audit, audit), Policy.layer(document).pipe(Layer.orDie)))
  )
  return { audit, layer: Layer.mergeAll(Testing.layer, security) }
}

const alice: Policy.Principal = { id: "alice", roles: ["dev"] }

describe("ToolGuard: policy decisions in a run", () => {
  it.effect("allowed calls run and are audited with who, capabilities, an args hash, outcome", () => {
    const { audit, layer } = makeLayer()
    const tools = makeTools()
    const agent = Agent.make({
      name: "reader",
      tools: [tools.readFile],
      planner: SequencePlanner.plan({ steps: [{ id: "r", tool: "read_file", args: { target: "q3.csv" } }] })
    })
    return Effect.gen(function*() {
      const result = yield* AgentRuntime.run(agent, "go", { principal: alice })
      assert.strictEqual(result.answer, "read_file q3.csv")
      assert.deepStrictEqual(tools.ran, ["read_file:q3.csv"])
      const [entry] = audit.entries
      assert.strictEqual(audit.entries.length, 1)
      assert.deepStrictEqual(
        { ...entry!, at: 0, durationMs: 0 },
        {
          at: 0,
          runId: result.runId,
          stepId: "r",
          agent: "reader",
          principal: "alice",
          roles: ["dev"],
          tool: "read_file",
          argsHash: Audit.hashArgs({ target: "q3.csv" }),
          capabilities: ["tool:read_file", "fs:read:/data/reports"],
          decision: "allow",
          rule: "dev: allow tool:*; dev: allow fs:read:/data/**",
          outcome: "succeeded",
          durationMs: 0
        }
      )
      // The principal is journaled with the run.
      const started = result.events[0]
      assert.deepStrictEqual(started?._tag === "RunStarted" ? started.principal : undefined, alice)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a denied capability: ToolDenied reaches the planner, the tool does not run, the audit says denied", () => {
    const { audit, layer } = makeLayer()
    const tools = makeTools()
    const agent = Agent.make({
      name: "wiper",
      tools: [tools.wipe],
      planner: SequencePlanner.plan({ steps: [{ id: "w", tool: "wipe", args: { target: "/" } }] })
    })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go", { principal: alice }))
      assert.strictEqual(error._tag, "ToolDenied")
      assert.instanceOf(error, Tool.ToolDenied)
      if (error._tag !== "ToolDenied") return
      assert.strictEqual(error.capability, "shell:rm")
      assert.strictEqual(error.principal, "alice")
      assert.deepStrictEqual(tools.ran, [])
      assert.strictEqual(audit.entries[0]?.decision, "deny")
      assert.strictEqual(audit.entries[0]?.outcome, "denied")
      assert.strictEqual(audit.entries[0]?.rule, "default")
      // The planner saw it as the step's failure, journaled with its data so replay rebuilds it.
      const journal = yield* Journal.Journal
      const events = yield* journal.read("run-1")
      const failed = events.find((event) => event._tag === "StepFailed")
      assert.strictEqual(failed?._tag === "StepFailed" ? failed.error._tag : undefined, "ToolDenied")
      const report = yield* Replay.replay(agent, events)
      assert.deepStrictEqual(report.outcome, { error: { _tag: "ToolDenied", message: error.message } })
    }).pipe(Effect.provide(layer))
  })

  it.effect("a run with no principal acts for the layer's default, else anonymous (no roles: denied)", () => {
    const tools = makeTools()
    const agent = Agent.make({
      name: "reader",
      tools: [tools.readFile],
      planner: SequencePlanner.plan({ steps: [{ id: "r", tool: "read_file", args: { target: "x" } }] })
    })
    const anonymous = makeLayer()
    const guest = makeLayer(policy, { id: "svc", roles: ["guest"] })
    return Effect.gen(function*() {
      const denied = yield* Effect.flip(AgentRuntime.run(agent, "go").pipe(Effect.provide(anonymous.layer)))
      assert.strictEqual(denied._tag, "ToolDenied")
      assert.strictEqual(anonymous.audit.entries[0]?.principal, "anonymous")
      const result = yield* AgentRuntime.run(agent, "go").pipe(Effect.provide(guest.layer))
      assert.strictEqual(result.answer, "read_file x")
      assert.strictEqual(guest.audit.entries[0]?.principal, "svc")
    })
  })
})

describe("ToolGuard: require-approval pauses the run; approve / reject resume it", () => {
  const planAgent = (tools: ReturnType<typeof makeTools>) =>
    Agent.make({
      name: "deployer",
      tools: [tools.readFile, tools.deploy],
      planner: SequencePlanner.plan({
        steps: [
          { id: "read", tool: "read_file", args: { target: "manifest" } },
          { id: "deploy", tool: "deploy", args: { target: "prod" } },
          // Depends on the step that waits: left out until the run resumes.
          { id: "verify", tool: "read_file", args: { target: "status" }, dependsOn: ["deploy"] }
        ],
        answer: (results) => `${results.deploy}; ${results.verify}`
      })
    })

  it.effect("pauses: ApprovalRequested journaled, no RunFailed, the tool and its dependents do not run", () => {
    const { audit, layer } = makeLayer()
    const tools = makeTools()
    const agent = planAgent(tools)
    return Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(agent, "ship it", { principal: alice }))
      assert.strictEqual(error._tag, "ApprovalRequired")
      assert.instanceOf(error, Policy.ApprovalRequired)
      assert.match(error.message, /graphent approve <journal> deploy/)
      assert.deepStrictEqual(tools.ran, ["read_file:manifest"])
      const events = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1"))
      const tags = events.map((event) => event._tag)
      assert.include(tags, "ApprovalRequested")
      assert.notInclude(tags, "RunFailed")
      assert.notInclude(tags, "StepSkipped")
      const requested = events.find((event) => event._tag === "ApprovalRequested")
      assert.deepStrictEqual(
        requested?._tag === "ApprovalRequested" ? { ...requested, at: 0 } : undefined,
        { _tag: "ApprovalRequested", runId: "run-1", stepId: "deploy", tool: "deploy", capability: "shell:deploy", principal: "alice", at: 0 }
      )
      const recorded = yield* Replay.recording(events)
      assert.deepStrictEqual(Approvals.pending(recorded).map((step) => [step.stepId, step.args]), [["deploy", { target: "prod" }]])
      assert.deepStrictEqual(audit.entries.map((entry) => [entry.tool, entry.decision, entry.outcome]), [
        ["read_file", "allow", "succeeded"],
        ["deploy", "approval-required", "paused"]
      ])
    }).pipe(Effect.provide(layer))
  })

  it.effect("resumed without a decision: the run pauses again and the journal keeps one ApprovalRequested", () => {
    const { layer } = makeLayer()
    const tools = makeTools()
    const agent = planAgent(tools)
    return Effect.gen(function*() {
      yield* Effect.flip(AgentRuntime.run(agent, "ship it", { principal: alice }))
      const journal = yield* Journal.Journal
      const paused = yield* journal.read("run-1")
      for (let attempt = 0; attempt < 2; attempt++) {
        const events = yield* journal.read("run-1")
        const error = yield* Effect.flip(Replay.resume(agent, events))
        assert.strictEqual(error._tag, "ApprovalRequired")
      }
      const after = yield* journal.read("run-1")
      assert.deepStrictEqual(after.filter((event) => event._tag === "ApprovalRequested").length, 1)
      // Only the resumes' own markers were added; the tool that waits never ran.
      assert.deepStrictEqual(after.slice(paused.length).map((event) => event._tag), ["RunResumed", "RunResumed"])
      assert.deepStrictEqual(tools.ran, ["read_file:manifest"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("approve: the run resumes as its own principal, the step and its dependents run once, nothing repeats", () => {
    const { audit, layer } = makeLayer()
    const tools = makeTools()
    const agent = planAgent(tools)
    return Effect.gen(function*() {
      yield* Effect.flip(AgentRuntime.run(agent, "ship it", { principal: alice }))
      const journal = yield* Journal.Journal
      const events = yield* journal.read("run-1")
      const result = yield* Approvals.decide(agent, events, {
        stepId: "deploy",
        approved: true,
        approver: { id: "bob", roles: [] }
      })
      assert.strictEqual(result.answer, "deploy prod; read_file status")
      assert.deepStrictEqual(tools.ran, ["read_file:manifest", "deploy:prod", "read_file:status"])
      const deploy = audit.entries.filter((entry) => entry.tool === "deploy")
      assert.deepStrictEqual(deploy.map((entry) => [entry.decision, entry.outcome, entry.approvedBy, entry.principal]), [
        ["approval-required", "paused", undefined, "alice"],
        ["approved", "succeeded", "bob", "alice"]
      ])
      // One journal, one complete run, that replays with no side effect.
      const all = yield* journal.read("run-1")
      assert.deepStrictEqual(all.filter((event) => event._tag === "StepStarted").map((event) => event._tag === "StepStarted" && event.stepId), ["read", "deploy", "verify"])
      assert.strictEqual(all.at(-1)?._tag, "RunCompleted")
      const report = yield* Replay.replay(agent, all)
      assert.deepStrictEqual(report.outcome, { answer: "deploy prod; read_file status" })
      const trace = TraceView.render(all)
      assert.include(trace, "│ for alice (dev)")
      assert.include(trace, "⏸ deploy deploy waits for approval (shell:deploy, for alice)")
      assert.include(trace, "├─ approved deploy by bob")
      assert.strictEqual(tools.ran.length, 3)
      // Deciding again is refused: the run finished.
      const again = yield* Effect.flip(
        Approvals.decide(agent, all, { stepId: "deploy", approved: true, approver: { id: "bob", roles: [] } })
      )
      assert.strictEqual(again._tag, "ApprovalInvalid")
    }).pipe(Effect.provide(layer))
  })

  it.effect("reject: the step fails with ToolDenied (the planner sees it), the tool never runs", () => {
    const { audit, layer } = makeLayer()
    const tools = makeTools()
    const agent = planAgent(tools)
    return Effect.gen(function*() {
      yield* Effect.flip(AgentRuntime.run(agent, "ship it", { principal: alice }))
      const events = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1"))
      const error = yield* Effect.flip(
        Approvals.decide(agent, events, {
          stepId: "deploy",
          approved: false,
          approver: { id: "bob", roles: [] },
          reason: "change freeze"
        })
      )
      assert.strictEqual(error._tag, "ToolDenied")
      assert.include(error.message, "rejected by bob: change freeze")
      assert.deepStrictEqual(tools.ran, ["read_file:manifest"])
      assert.deepStrictEqual(audit.entries.at(-1)?.decision, "rejected")
    }).pipe(Effect.provide(layer))
  })

  it.effect("who may decide: not the run's own principal, not someone without approval:<tool>, not an unknown step", () => {
    const { layer } = makeLayer()
    const tools = makeTools()
    const agent = planAgent(tools)
    return Effect.gen(function*() {
      yield* Effect.flip(AgentRuntime.run(agent, "ship it", { principal: alice }))
      const journal = yield* Journal.Journal
      const events = yield* journal.read("run-1")
      const self = yield* Effect.flip(
        Approvals.decide(agent, events, { stepId: "deploy", approved: true, approver: { id: "alice", roles: ["lead"] } })
      )
      assert.strictEqual(self._tag, "ApprovalInvalid")
      assert.include(self.message, "no self-approval")
      const outsider = yield* Effect.flip(
        Approvals.decide(agent, events, { stepId: "deploy", approved: true, approver: { id: "carol", roles: ["dev"] } })
      )
      assert.include(outsider.message, "carol may not decide it")
      const unknown = yield* Effect.flip(
        Approvals.decide(agent, events, { stepId: "read", approved: true, approver: { id: "bob", roles: [] } })
      )
      assert.include(unknown.message, "does not wait for approval (waiting: deploy)")
      // Nothing was written, nothing ran.
      assert.strictEqual((yield* journal.read("run-1")).length, events.length)
      assert.deepStrictEqual(tools.ran, ["read_file:manifest"])
    }).pipe(Effect.provide(layer))
  })

  it.effect("a decision holds for the arguments it was taken on only", () =>
    Effect.gen(function*() {
      const tools = makeTools()
      const audit = AuditMemory.make()
      const compiled = Policy.compile(policy) as Policy.Compiled
      const executor = ToolGuard.make({ execute: Tools.executeLocal }, Policy.fromCompiled(compiled), audit)
      const call = (target: string) =>
        Effect.flip(executor.execute(
          Tools.compile([tools.deploy]),
          { stepId: "deploy", tool: "deploy", args: { target } },
          {
            runId: "r",
            agent: "a",
            stepId: "deploy",
            threadId: undefined,
            principal: alice,
            approval: { approved: true, by: "bob", argsHash: Audit.hashArgs({ target: "staging" }) }
          },
          { timeout: undefined, retry: undefined }
        ))
      const error = yield* call("prod")
      assert.strictEqual(error._tag, "ApprovalRequired")
      assert.deepStrictEqual(tools.ran, [])
      // (flipped: a failure here means the call succeeded)
      const ok = yield* Effect.exit(call("staging"))
      assert.isTrue(Exit.isFailure(ok), `the approved arguments run: ${JSON.stringify(ok)}`)
      assert.deepStrictEqual(tools.ran, ["deploy:staging"])
    }))

  it.effect("a plain resume without a decision pauses again, running nothing", () => {
    const { layer } = makeLayer()
    const tools = makeTools()
    const agent = planAgent(tools)
    return Effect.gen(function*() {
      yield* Effect.flip(AgentRuntime.run(agent, "ship it", { principal: alice }))
      const events = yield* Effect.flatMap(Journal.Journal, (journal) => journal.read("run-1"))
      const exit = yield* Effect.exit(Replay.resume(agent, events))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Replay.resume(agent, events))
      assert.strictEqual(error._tag, "ApprovalRequired")
      assert.deepStrictEqual(tools.ran, ["read_file:manifest"])
    }).pipe(Effect.provide(layer))
  })
})
