import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Redacted, Schedule, Schema } from "effect"
import type * as Scope from "effect/Scope"
import { Agent, AgentRuntime, Planner, RemotePlanner, Replay, Tool } from "graphent"
import * as Testing from "graphent/testing"
import * as FakeServer from "../support/fakeModelServer.js"
import * as Cli from "../support/cli.js"
import { withEnv } from "../support/env.js"

// ---------------------------------------------------------------------------
// a loopback planner server
// ---------------------------------------------------------------------------

interface Received {
  readonly path: string
  readonly headers: Readonly<Record<string, string | Array<string> | undefined>>
  readonly text: string
  readonly body: any
}

type Reply =
  | { readonly status?: number; readonly headers?: Record<string, string>; readonly json: unknown }
  | { readonly status?: number; readonly raw: string }
  /** Accept the request, never answer. */
  | "hang"
  /** Close the connection without an answer. */
  | "drop"

/** A planner server on 127.0.0.1: `handler` answers each request (`index` counts from 0); every request is kept. */
const planServer = (
  handler: (request: Received, index: number) => Reply
): Effect.Effect<{ readonly url: string; readonly received: ReadonlyArray<Received> }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const received: Array<Received> = []
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let body: unknown = undefined
          try {
            body = JSON.parse(text)
          } catch {
            // kept as text only
          }
          const request = { path: req.url ?? "", headers: req.headers, text, body }
          const reply = handler(request, received.length)
          received.push(request)
          if (reply === "hang") return
          if (reply === "drop") return void req.socket.destroy()
          if ("json" in reply) {
            res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers })
            res.end(JSON.stringify(reply.json))
          } else {
            res.writeHead(reply.status ?? 200, { "content-type": "application/json" })
            res.end(reply.raw)
          }
        })
      })
      return new Promise<{ server: http.Server; received: Array<Received> }>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve({ server, received }))
      )
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ received, server }) => ({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/decide`,
    received
  })))

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

const Operands = Schema.Struct({ a: Schema.Finite, b: Schema.Finite })

const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Operands,
  success: Schema.Finite,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

const multiply = Tool.make("multiply", {
  description: "Multiplies two numbers",
  parameters: Operands,
  success: Schema.Finite,
  handler: ({ a, b }) => Effect.succeed(a * b)
})

const refuse = Tool.make("refuse", {
  description: "Always fails",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.fail("not today")
})

const note = Tool.make("note", {
  description: "Returns nothing",
  parameters: Schema.Struct({ text: Schema.String }),
  success: Schema.Void,
  handler: () => Effect.void
})

const TOKEN = "planner-token-0123456789-SECRET"
const HEADER_SECRET = "header-secret-9876543210"

const agentWith = (planner: Planner.PlannerShape) =>
  Agent.make({
    name: "calc",
    description: "Does arithmetic",
    instructions: "Compute the expression.",
    tools: [add, multiply, refuse, note],
    planner
  })

/** The published request Schema, with every field it does not name rejected. */
const decodeRequestStrict = Schema.decodeUnknownSync(RemotePlanner.Request, { onExcessProperty: "error" })

/** A planner written against the protocol: (2 + 3) * (4 + 5), over three turns, from the request alone. */
const arithmeticServer = (request: Received): Reply => {
  const body = request.body as RemotePlanner.Request
  const result = (id: string) => {
    const step = body.steps.find((step) => step.id === id)
    return step?._tag === "Succeeded" ? step.result as number : undefined
  }
  const left = result("left")
  const right = result("right")
  const product = result("product")
  if (left === undefined) {
    return {
      json: {
        _tag: "RunSteps",
        steps: [
          { id: "left", tool: "add", args: { a: 2, b: 3 } },
          { id: "right", tool: "add", args: { a: 4, b: 5 } }
        ]
      }
    }
  }
  if (product === undefined) {
    return { json: { _tag: "RunSteps", steps: [{ id: "product", tool: "multiply", args: { a: left, b: right } }] } }
  }
  return { json: { _tag: "Answer", answer: String(product), version: 1 } }
}

/** The `PlannerFailed` a run failed with. */
const plannerFailure = <A, E>(exit: Exit.Exit<A, E>): Planner.PlannerFailed => {
  assert.isTrue(Exit.isFailure(exit), "the run should fail")
  const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
  assert.instanceOf(error, Planner.PlannerFailed)
  return error as Planner.PlannerFailed
}

const causeOf = (error: Planner.PlannerFailed): RemotePlanner.RemotePlannerError => {
  assert.instanceOf(error.cause, RemotePlanner.RemotePlannerError)
  return error.cause as RemotePlanner.RemotePlannerError
}

const runOnce = (planner: Planner.PlannerShape, input = "(2 + 3) * (4 + 5)") =>
  AgentRuntime.run(agentWith(planner), input).pipe(Effect.exit, Effect.provide(Testing.layer))

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

describe("RemotePlanner: a multi-turn run through the local runtime", () => {
  it.live("plans over HTTP, turn by turn, and sends requests that match the published Schema", () =>
    Effect.gen(function*() {
      const server = yield* planServer(arithmeticServer)
      const planner = RemotePlanner.make({
        url: server.url,
        token: Redacted.make(TOKEN),
        headers: { "x-team": "planning" }
      })
      const result = yield* AgentRuntime.run(agentWith(planner), "(2 + 3) * (4 + 5)", { threadId: "thread-7" }).pipe(
        Effect.provide(Testing.layer)
      )
      assert.strictEqual(result.answer, "45")
      assert.deepStrictEqual(result.steps.map((step) => step.id), ["left", "right", "product"])
      assert.strictEqual(server.received.length, 3)

      const requests = server.received.map((request) => decodeRequestStrict(request.body))
      assert.deepStrictEqual(requests.map((request) => request.turn), [1, 2, 3])
      for (const [index, request] of requests.entries()) {
        assert.strictEqual(request.version, 1)
        assert.strictEqual(request.runId, result.runId)
        assert.strictEqual(request.input, "(2 + 3) * (4 + 5)")
        assert.strictEqual(request.threadId, "thread-7")
        assert.strictEqual(server.received[index]!.path, "/decide")
        assert.strictEqual(server.received[index]!.headers.authorization, `Bearer ${TOKEN}`)
        assert.strictEqual(server.received[index]!.headers["x-team"], "planning")
        assert.match(String(server.received[index]!.headers["content-type"]), /^application\/json/)
      }
      const agent = requests[0]!.agent
      assert.strictEqual(agent.name, "calc")
      assert.strictEqual(agent.description, "Does arithmetic")
      assert.strictEqual(agent.instructions, "Compute the expression.")
      assert.deepStrictEqual(agent.tools.map((tool) => tool.name), ["add", "multiply", "refuse", "note"])
      assert.deepStrictEqual(agent.tools[0], {
        name: "add",
        description: "Adds two numbers",
        parameters: {
          type: "object",
          properties: { a: { type: "number" }, b: { type: "number" } },
          required: ["a", "b"],
          additionalProperties: true
        },
        success: { type: "number" }
      })
      // Turn 2 sees both results of turn 1, encoded as journaled; turn 3 sees all three.
      assert.deepStrictEqual(requests[0]!.steps, [])
      assert.deepStrictEqual(
        requests[1]!.steps.map((step) => step._tag === "Succeeded" ? [step.id, step.tool, step.args, step.result] : []),
        [["left", "add", { a: 2, b: 3 }, 5], ["right", "add", { a: 4, b: 5 }, 9]]
      )
      assert.deepStrictEqual(requests[2]!.steps.map((step) => step.id), ["left", "right", "product"])
      const journaled = result.events.filter((event) => event._tag === "StepSucceeded").map((event) => event.result)
      assert.deepStrictEqual(
        requests[2]!.steps.map((step) => step._tag === "Succeeded" ? step.result : undefined),
        journaled
      )
      // Each request carries the decisions of the earlier turns.
      assert.deepStrictEqual(requests.map((request) => request.decisions.length), [0, 1, 2])
      const made = result.events.flatMap((event) => event._tag === "DecisionMade" ? [event.decision] : [])
      assert.deepStrictEqual<unknown>(requests[2]!.decisions, made.slice(0, 2))
      // The decisions the server sent are the ones the run journaled.
      const decisions = result.events.flatMap((event) => event._tag === "DecisionMade" ? [event.decision._tag] : [])
      assert.deepStrictEqual(decisions, ["RunSteps", "RunSteps", "Answer"])
    }))

  it.live("sends failed and skipped steps, and a void result as null; a Fail naming a step fails the run with its error", () =>
    Effect.gen(function*() {
      const server = yield* planServer((request) => {
        const body = request.body as RemotePlanner.Request
        if (body.turn === 1) {
          return {
            json: {
              _tag: "RunSteps",
              steps: [
                { id: "n", tool: "note", args: { text: "hi" } },
                { id: "r", tool: "refuse", args: {} },
                { id: "after", tool: "add", args: { a: { $ref: "r" }, b: 1 } },
                { id: "ghost", tool: "nope", args: {} },
                { id: "bad", tool: "add", args: { a: "two", b: 1 } }
              ]
            }
          }
        }
        return { json: { _tag: "Fail", reason: "a step failed", stepId: "r" } }
      })
      const exit = yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(0) }))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, Tool.ToolFailed)
      assert.strictEqual((error as Tool.ToolFailed).stepId, "r")

      const second = decodeRequestStrict(server.received[1]!.body)
      const byId = new Map(second.steps.map((step) => [step.id, step]))
      const noted = byId.get("n")
      assert.strictEqual(noted?._tag, "Succeeded")
      assert.isTrue(noted !== undefined && "result" in noted && noted.result === null)
      const failed = byId.get("r")
      assert.strictEqual(failed?._tag, "Failed")
      if (failed?._tag === "Failed") {
        assert.strictEqual(failed.error._tag, "ToolFailed")
        assert.include(failed.error.message, "not today")
      }
      const errorTag = (id: string) => {
        const step = byId.get(id)
        return step?._tag === "Failed" ? step.error._tag : step?._tag
      }
      // The planner's own mistakes come back as failed steps, for it to see.
      assert.strictEqual(errorTag("ghost"), "ToolNotFound")
      assert.strictEqual(errorTag("bad"), "ToolArgumentsInvalid")
      assert.deepStrictEqual(byId.get("after"), {
        _tag: "Skipped",
        id: "after",
        tool: "add",
        args: { a: { $ref: "r" }, b: 1 },
        blockedBy: "r"
      })
    }))

  it.live("journals each decision it received: a replay answers from the recording, with the server gone", () =>
    Effect.gen(function*() {
      const { agent, recorded } = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* planServer(arithmeticServer)
        const agent = agentWith(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(0) }))
        const recorded = yield* AgentRuntime.run(agent, "(2 + 3) * (4 + 5)").pipe(Effect.provide(Testing.layer))
        return { agent, recorded }
      }))
      // The server is closed now.
      const values = recorded.events.filter((event) => event._tag === "ValueRecorded")
      assert.deepStrictEqual(values.map((event) => event._tag === "ValueRecorded" ? event.key : ""), [
        "RemotePlanner.decide",
        "RemotePlanner.decide",
        "RemotePlanner.decide"
      ])
      // Live, nothing answers any more.
      const live = yield* AgentRuntime.run(agent, "(2 + 3) * (4 + 5)").pipe(Effect.provide(Testing.layer), Effect.exit)
      assert.strictEqual(causeOf(plannerFailure(live)).kind, "Network")
      const report = yield* Replay.replay(agent, recorded.events).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, recorded.events.length)
      assert.deepStrictEqual(report.outcome, { answer: "45" })
    }))

  it.live("works as the Planner service (layer), for agents without a planner", () =>
    Effect.gen(function*() {
      const server = yield* planServer(arithmeticServer)
      const agent = Agent.make({ name: "calc", tools: [add, multiply] })
      const result = yield* AgentRuntime.run(agent, "go").pipe(
        Effect.provide(Layer.merge(Testing.layer, RemotePlanner.layer({ url: server.url })))
      )
      assert.strictEqual(result.answer, "45")
      assert.strictEqual(server.received.length, 3)
    }))
})

describe("RemotePlanner: timeouts and retries", () => {
  it.live("a server that hangs: each attempt times out, then PlannerFailed says so", () =>
    Effect.gen(function*() {
      const server = yield* planServer(() => "hang")
      const exit = yield* runOnce(RemotePlanner.make({ url: server.url, timeout: "150 millis", retry: Schedule.recurs(1) }))
      const error = plannerFailure(exit)
      assert.include(error.reason, "no response within")
      assert.include(error.reason, "after 2 attempts")
      assert.include(error.message, server.url)
      const cause = causeOf(error)
      assert.strictEqual(cause.kind, "Network")
      assert.strictEqual(cause.attempts, 2)
      assert.strictEqual(server.received.length, 2)
    }))

  it.live("a 500, then an answer: retried, the run completes", () =>
    Effect.gen(function*() {
      const server = yield* planServer((request, index) =>
        index === 0 ? { status: 500, json: { error: "the planner is restarting" } } : arithmeticServer(request)
      )
      const exit = yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(2) }))
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.answer, "45")
      // The failed first turn was asked again, with the same body.
      assert.strictEqual(server.received.length, 4)
      assert.strictEqual(server.received[0]!.text, server.received[1]!.text)
    }))

  it.live("a 429 (with retry-after) and a dropped connection are retried too", () =>
    Effect.gen(function*() {
      const server = yield* planServer((request, index) =>
        index === 0
          ? { status: 429, headers: { "retry-after": "0" }, json: { error: "slow down" } }
          : index === 1
          ? "drop"
          : arithmeticServer(request)
      )
      const exit = yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(2) }))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.strictEqual(server.received.length, 5)
    }))

  it.live("5xx on every attempt: PlannerFailed with the status and the body after the retries ran out", () =>
    Effect.gen(function*() {
      const server = yield* planServer(() => ({ status: 503, json: { error: "overloaded, try later" } }))
      const exit = yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(2) }))
      const error = plannerFailure(exit)
      assert.include(error.reason, "HTTP 503")
      assert.include(error.reason, "overloaded, try later")
      assert.include(error.reason, "after 3 attempts")
      const cause = causeOf(error)
      assert.strictEqual(cause.kind, "Status")
      assert.strictEqual(cause.status, 503)
      assert.strictEqual(server.received.length, 3)
    }))

  it.live("the default retry policy retries (3 times)", () =>
    Effect.gen(function*() {
      const server = yield* planServer(() => ({ status: 502, raw: "bad gateway" }))
      const error = plannerFailure(yield* runOnce(RemotePlanner.make({ url: server.url })))
      assert.strictEqual(causeOf(error).attempts, 4)
      assert.strictEqual(server.received.length, 4)
    }))

  it.live("nothing listening: a network error, retried, then PlannerFailed", () =>
    Effect.gen(function*() {
      const url = yield* FakeServer.closedPortUrl
      const error = plannerFailure(yield* runOnce(RemotePlanner.make({ url, retry: Schedule.recurs(1) })))
      const cause = causeOf(error)
      assert.strictEqual(cause.kind, "Network")
      assert.strictEqual(cause.attempts, 2)
      assert.include(error.reason, url)
    }))
})

describe("RemotePlanner: failures that are not retried", () => {
  it.live("a 4xx is not retried: PlannerFailed with the status and the server's message", () =>
    Effect.gen(function*() {
      for (const status of [400, 401, 404, 409, 422]) {
        const server = yield* planServer(() => ({ status, json: { error: `refused with ${status}` } }))
        const error = plannerFailure(yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(3) })))
        assert.include(error.reason, `HTTP ${status}`)
        assert.include(error.reason, `refused with ${status}`)
        assert.notInclude(error.reason, "attempts")
        const cause = causeOf(error)
        assert.strictEqual(cause.status, status)
        assert.include(cause.body ?? "", `refused with ${status}`)
        assert.strictEqual(server.received.length, 1, `HTTP ${status} must not be retried`)
      }
    }))

  it.live("a body that is not JSON: PlannerFailed quoting it, not retried", () =>
    Effect.gen(function*() {
      const server = yield* planServer(() => ({ raw: "<html>oops</html>" }))
      const error = plannerFailure(yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(3) })))
      assert.include(error.reason, "not JSON")
      assert.include(error.reason, "<html>oops</html>")
      assert.strictEqual(causeOf(error).kind, "InvalidResponse")
      assert.strictEqual(server.received.length, 1)
    }))

  it.live("a JSON body that is not a decision: PlannerFailed naming the field and its path, not retried", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, ReadonlyArray<string>]> = [
        [{ _tag: "RunSteps", steps: [{ id: 1, tool: "add", args: {} }] }, ["Expected string", `["steps"][0]["id"]`]],
        [{ _tag: "Answer" }, ["Missing key", `["answer"]`]],
        [{ _tag: "RunSteps", steps: [{ id: "a", tool: "add", args: {}, dependsOn: "b" }] }, [
          "Expected array",
          `["steps"][0]["dependsOn"]`
        ]],
        [{ _tag: "Answr", answer: "45" }, [`"_tag" must be "RunSteps", "Answer" or "Fail", got "Answr"`]],
        [{ answer: "45" }, [`"_tag" must be`, "got none"]],
        [[1, 2], ["expected a JSON object", "an array"]],
        ["45", ["expected a JSON object", "string"]]
      ]
      for (const [body, expected] of cases) {
        const server = yield* planServer(() => ({ json: body }))
        const error = plannerFailure(yield* runOnce(RemotePlanner.make({ url: server.url, retry: Schedule.recurs(3) })))
        assert.include(error.reason, "the response is not a decision")
        for (const text of expected) assert.include(error.reason, text, JSON.stringify(body))
        assert.strictEqual(causeOf(error).kind, "InvalidResponse")
        assert.strictEqual(server.received.length, 1)
      }
    }))

  it.live("secrets never appear in errors, even when the server echoes them", () =>
    Effect.gen(function*() {
      const server = yield* planServer((request) => ({
        status: 400,
        json: { error: `bad request with ${request.headers.authorization} and ${request.headers["x-api-key"]}` }
      }))
      const error = plannerFailure(
        yield* runOnce(RemotePlanner.make({
          url: server.url,
          token: Redacted.make(TOKEN),
          headers: { "x-api-key": Redacted.make(HEADER_SECRET) }
        }))
      )
      assert.strictEqual(server.received[0]!.headers["x-api-key"], HEADER_SECRET)
      assert.include(error.reason, "<redacted>")
      for (const text of [error.reason, error.message, JSON.stringify(causeOf(error)), Cause.pretty(Cause.fail(error))]) {
        assert.notInclude(text, TOKEN)
        assert.notInclude(text, HEADER_SECRET)
      }
    }))

  it("an invalid URL is refused when the planner is made", () => {
    assert.throws(() => RemotePlanner.make({ url: "not a url" }), /invalid url/)
  })
})

describe("RemotePlanner.layerConfig", () => {
  it.live("reads the URL, token, timeout and retries from the environment", () =>
    Effect.gen(function*() {
      const server = yield* planServer((request, index) =>
        index === 0 ? { status: 503, json: {} } : arithmeticServer(request)
      )
      const agent = Agent.make({ name: "calc", tools: [add, multiply] })
      const result = yield* AgentRuntime.run(agent, "go").pipe(
        Effect.provide(Layer.merge(Testing.layer, RemotePlanner.layerConfig())),
        Effect.provide(withEnv({
          GRAPHENT_PLANNER_URL: server.url,
          GRAPHENT_PLANNER_TOKEN: TOKEN,
          GRAPHENT_PLANNER_TIMEOUT: "5 seconds",
          GRAPHENT_PLANNER_MAX_RETRIES: "1"
        }))
      )
      assert.strictEqual(result.answer, "45")
      assert.strictEqual(server.received[0]!.headers.authorization, `Bearer ${TOKEN}`)
      assert.strictEqual(server.received.length, 4)
    }))

  it.live("GRAPHENT_PLANNER_MAX_RETRIES=0 disables retries", () =>
    Effect.gen(function*() {
      const server = yield* planServer(() => ({ status: 503, json: {} }))
      const agent = Agent.make({ name: "calc", tools: [add] })
      const error = plannerFailure(
        yield* AgentRuntime.run(agent, "go").pipe(
          Effect.provide(Layer.merge(Testing.layer, RemotePlanner.layerConfig())),
          Effect.provide(withEnv({ GRAPHENT_PLANNER_URL: server.url, GRAPHENT_PLANNER_MAX_RETRIES: "0" })),
          Effect.exit
        )
      )
      assert.strictEqual(causeOf(error).attempts, 1)
      assert.strictEqual(server.received.length, 1)
    }))

  it.effect("a missing or invalid URL is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const build = (env: Record<string, string>) =>
        Layer.build(RemotePlanner.layerConfig()).pipe(Effect.provide(withEnv(env)), Effect.scoped, Effect.flip)
      const missing = yield* build({})
      assert.include(missing.message, "GRAPHENT_PLANNER_URL is not set")
      const invalid = yield* build({ GRAPHENT_PLANNER_URL: "ftp://example.com" })
      assert.include(invalid.message, "GRAPHENT_PLANNER_URL: expected an http(s) URL")
      const retries = yield* build({ GRAPHENT_PLANNER_URL: "http://127.0.0.1:1/", GRAPHENT_PLANNER_MAX_RETRIES: "-1" })
      assert.include(retries.message, "GRAPHENT_PLANNER_MAX_RETRIES")
    }))
})

describe("RemotePlanner: the published protocol", () => {
  it("docs/remote-planner.md shows the request and response JSON Schemas as the code derives them", () => {
    const doc = fs.readFileSync(path.resolve(import.meta.dirname, "../../docs/remote-planner.md"), "utf8")
    const blocks = [...doc.matchAll(/<!-- (request|response)-json-schema -->\s*```json\n([\s\S]*?)```/g)]
    const byName = new Map(blocks.map((match) => [match[1], JSON.parse(match[2]!) as unknown]))
    assert.deepStrictEqual(byName.get("request"), RemotePlanner.requestJsonSchema())
    assert.deepStrictEqual(byName.get("response"), RemotePlanner.responseJsonSchema())
  })

  it("the example requests and responses of docs/remote-planner.md and the README decode with the published Schemas", () => {
    const read = (file: string) => fs.readFileSync(path.resolve(import.meta.dirname, "../..", file), "utf8")
    const doc = read("docs/remote-planner.md")
    const request = doc.match(/<!-- example-request -->\s*```json\n([\s\S]*?)```/)
    const response = doc.match(/<!-- example-response -->\s*```json\n([\s\S]*?)```/)
    assert.isNotNull(request)
    assert.isNotNull(response)
    decodeRequestStrict(JSON.parse(request![1]!))
    Schema.decodeUnknownSync(RemotePlanner.Response)(JSON.parse(response![1]!))

    const readme = read("README.md")
    const section = readme.slice(readme.indexOf("## Remote planner"))
    const [readmeRequest, readmeResponse] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((match) =>
      JSON.parse(match[1]!) as unknown
    )
    decodeRequestStrict(readmeRequest)
    Schema.decodeUnknownSync(RemotePlanner.Response)(readmeResponse)
  })
})

// ---------------------------------------------------------------------------
// end to end: the Python example server and the graphent executable
// ---------------------------------------------------------------------------

const { root } = Cli

/** Starts `examples/remote-planner/server.py` on a free port; resolves with its URL. */
const startPythonServer = (env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ child: ChildProcess; url: string }>((resolve, reject) => {
        const child = spawn("python3", [path.join(root, "examples/remote-planner/server.py"), "--port", "0"], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
        child.stdout!.on("data", (chunk: Buffer) => {
          stdout += chunk.toString()
          const match = stdout.match(/listening on (\S+)/)
          if (match) resolve({ child, url: match[1]! })
        })
        child.on("exit", (code) => reject(new Error(`server.py exited with ${code}: ${stderr}`)))
      })
    ),
    ({ child }) => Effect.sync(() => void child.kill())
  )

/** Runs the real executable as a child process, the way a user does (several may run at once). */
const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  // No project store: these runs keep their journal in the --record file, and may run at once.
  Cli.runEffect(args, { env: { GRAPHENT_STORE: "memory", ...env } })

const agentFile = "examples/remote-planner/agent.ts"

describe("RemotePlanner with the Python example server (examples/remote-planner/server.py)", () => {
  const calculator = () => Effect.promise(() => import("../../examples/remote-planner/agent.js"))

  it.live("plans the example calculator in process: answers, the server's own Fail, a wrong token, another version", () =>
    Effect.gen(function*() {
      const server = yield* startPythonServer({ PLANNER_TOKEN: TOKEN })
      const { default: agent } = yield* calculator()
      const run = (input: string, token = TOKEN) =>
        AgentRuntime.run(agent, input).pipe(
          Effect.provide(Layer.merge(
            Testing.layer,
            RemotePlanner.layer({ url: server.url, token: Redacted.make(token), retry: Schedule.recurs(0) })
          )),
          Effect.exit
        )
      const product = yield* run("(2 + 3) * (4 + 5)")
      assert.isTrue(Exit.isSuccess(product), String(product))
      if (Exit.isSuccess(product)) {
        assert.strictEqual(product.value.answer, "45")
        assert.deepStrictEqual(product.value.steps.map((step) => step.id), ["op0", "op1", "op2"])
      }
      const quotient = yield* run("7 / 2 - -1")
      assert.isTrue(Exit.isSuccess(quotient) && quotient.value.answer === "4.5", String(quotient))

      const notMath = plannerFailure(yield* run("hello"))
      assert.include(notMath.reason, "not an arithmetic expression: 'hello'")

      const wrongToken = plannerFailure(yield* run("1 + 1", "bad-token-123"))
      assert.strictEqual(causeOf(wrongToken).status, 401)
      assert.include(wrongToken.reason, "missing or wrong bearer token")

      // The server checks the protocol version.
      const response = yield* Effect.promise(() =>
        fetch(server.url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ version: 2 })
        })
      )
      assert.strictEqual(response.status, 400)
      assert.include(yield* Effect.promise(() => response.text()), "unsupported protocol version 2")
    }))

  it.live("end to end through graphent run: three turns, recorded, then replayed with the server stopped", () =>
    Effect.gen(function*() {
      const dir = Cli.scratch("remote-planner")
      const journal = path.join(dir, "run.jsonl")
      const json = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* startPythonServer({ PLANNER_TOKEN: TOKEN })
        return yield* graphent(["run", agentFile, "--input", "(2 + 3) * (4 + 5)", "--json", "--record", journal], {
          GRAPHENT_PLANNER_URL: server.url,
          GRAPHENT_PLANNER_TOKEN: TOKEN
        })
      }))
      assert.strictEqual(json.code, 0, json.stderr)
      const events = json.stdout.trim().split("\n").map((line) => JSON.parse(line))
      const decisions = events.filter((event) => event._tag === "DecisionMade").map((event) => event.decision)
      assert.deepStrictEqual(decisions, [
        {
          _tag: "RunSteps",
          steps: [
            { id: "op0", tool: "add", args: { a: 2, b: 3 } },
            { id: "op1", tool: "add", args: { a: 4, b: 5 } }
          ]
        },
        { _tag: "RunSteps", steps: [{ id: "op2", tool: "multiply", args: { a: 5, b: 9 } }] },
        { _tag: "Answer", answer: "45" }
      ])
      assert.deepStrictEqual(events.at(-1), { ...events.at(-1), _tag: "RunCompleted", answer: "45" })

      const url = yield* FakeServer.closedPortUrl
      const replayed = yield* graphent(["replay", journal], { GRAPHENT_PLANNER_URL: url, GRAPHENT_PLANNER_MAX_RETRIES: "0" })
      assert.strictEqual(replayed.code, 0, replayed.stderr)
      assert.match(replayed.stdout, /^identical: \d+ events\n$/)
      fs.rmSync(dir, { recursive: true, force: true })
    }), { timeout: 120_000 })

  it.live("end to end through graphent run: a tool failure the planner reports fails the run with the tool's error", () =>
    Effect.gen(function*() {
      const server = yield* startPythonServer()
      const byZero = yield* graphent(["run", agentFile, "--input", "1 / (2 - 2)"], { GRAPHENT_PLANNER_URL: server.url })
      assert.strictEqual(byZero.code, 1)
      assert.include(byZero.stderr, `tool "divide" failed: cannot divide 1 by zero`)
    }), { timeout: 120_000 })
})
