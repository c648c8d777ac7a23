import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Agent, AuditMemory, JournalFile, Policy, Replay, Runs, RunsLocal, SequencePlanner, ToolGuard } from "graphent"
import { Api, ApiAuth, Server } from "graphent/server"
import * as Testing from "graphent/testing"
import echo from "../../examples/echo.js"
import * as Gated from "../support/gatedAgent.js"
import { readSse, type SseEvent } from "../support/sse.js"

// ---------------------------------------------------------------------------
// a server per test
// ---------------------------------------------------------------------------

const keys = "admin-key:admin:alice, run-key:runner, view-key:viewer:vera"

const serve = (options: { readonly maxConcurrent?: number; readonly maxQueued?: number } = {}) =>
  Server.layer({ viewer: false }).pipe(
    Layer.provide(RunsLocal.layer({ agents: [echo, Gated.gated], retryAfterSeconds: 2, ...options })),
    Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse(keys, "test")), ApiAuth.layer))),
    Layer.provide(Testing.layer)
  )

/** A server whose tool calls are checked: runners' echo calls wait for an admin's approval. */
const serveGuarded = () =>
  Server.layer({ viewer: false }).pipe(
    Layer.provide(RunsLocal.layer({ agents: [echo, Gated.gated] })),
    Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse(keys, "test")), ApiAuth.layer))),
    Layer.provide(ToolGuard.layer().pipe(Layer.provideMerge(Layer.mergeAll(
      Policy.layer({
        version: 1,
        roles: {
          runner: { allow: ["tool:**"], approve: ["tool:echo"] },
          admin: { inherits: ["runner"], allow: ["approval:*"] }
        }
      }),
      AuditMemory.layer()
    )))),
    Layer.provide(Testing.layer)
  )

/** A parent whose one step calls the echo agent as a sub-agent: a tree of two runs. */
const relay = Agent.make({
  name: "relay",
  tools: [Agent.asTool(echo, { name: "echoer" })],
  planner: SequencePlanner.plan({ steps: [{ id: "ask", tool: "echoer", args: { input: "hi" } }], answer: (results) => String(results.ask) })
})

/** A parent of three child runs: two echo calls, and a relay whose own echo call is a grandchild. */
const fanout = Agent.make({
  name: "fanout",
  tools: [Agent.asTool(echo, { name: "echoer" }), Agent.asTool(relay, { name: "relayer" })],
  planner: SequencePlanner.plan({
    steps: [
      { id: "a", tool: "echoer", args: { input: "a" } },
      { id: "b", tool: "echoer", args: { input: "b" } },
      { id: "c", tool: "relayer", args: { input: "c" } }
    ],
    answer: () => "done"
  })
})

const baseUrl = Effect.map(HttpServer.HttpServer, (server) => HttpServer.formatAddress(server.address))

/** The typed client derived from the API definition, with a key. */
const client = (key: string) =>
  Effect.flatMap(baseUrl, (url) =>
    HttpApiClient.make(Api.Api, {
      baseUrl: url,
      transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(key))
    })).pipe(Effect.provide(FetchHttpClient.layer))

interface Raw {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

/** Raw HTTP, as any other language would speak it. */
const raw = (method: string, path: string, options: { readonly key?: string; readonly body?: string; readonly headers?: Record<string, string> } = {}) =>
  Effect.flatMap(baseUrl, (url) =>
    Effect.promise(async (): Promise<Raw> => {
      const response = await fetch(url + path, {
        method,
        ...(options.body === undefined ? {} : { body: options.body }),
        headers: {
          ...(options.body === undefined ? {} : { "content-type": "application/json" }),
          ...(options.key === undefined ? {} : { authorization: `Bearer ${options.key}` }),
          ...options.headers
        }
      })
      const text = await response.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: response.status, headers: response.headers, text, json }
    }))

const sse = (path: string, headers: Record<string, string>, stop?: (event: SseEvent) => boolean) =>
  Effect.flatMap(baseUrl, (url) => Effect.promise(() => readSse(url + path, headers, stop)))

const startRaw = (agent: string, input: string, key = "run-key") =>
  raw("POST", "/v1/runs", { key, body: JSON.stringify({ agent, input }) })

const tagOf = (event: SseEvent) => (JSON.parse(event.data) as { _tag: string })._tag

// ---------------------------------------------------------------------------
// the typed client
// ---------------------------------------------------------------------------

describe("HTTP API through the typed client", () => {
  it.effect("starts a run, reads it, lists it, streams its events and downloads a journal that replays", () =>
    Effect.gen(function*() {
      const api = yield* client("run-key")
      const started = yield* api.runs.start({ payload: { agent: "echo", input: "hello api", threadId: "t-1" } })
      assert.strictEqual(started.id, "run-1")
      assert.strictEqual(started.agent, "echo")
      assert.strictEqual(started.startedBy, "key-2")

      const events = yield* api.runs.events({ params: { id: started.id }, headers: {}, query: {} }).pipe(
        Effect.flatMap(Stream.runCollect)
      )
      assert.deepStrictEqual(events.map((e) => e.index), [0, 1, 2, 3, 4, 5])
      assert.deepStrictEqual(events.map((e) => e.event._tag), [
        "RunStarted",
        "DecisionMade",
        "StepStarted",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])

      const info = yield* api.runs.get({ params: { id: started.id } })
      assert.strictEqual(info.status, "completed")
      assert.strictEqual(info.answer, "hello api")
      assert.strictEqual(info.threadId, "t-1")
      const page = yield* api.runs.list({ query: { agent: "echo" } })
      assert.deepStrictEqual(page.runs.map((r) => r.id), [started.id])
      const agents = yield* api.agents.list()
      assert.deepStrictEqual(agents.map((a) => a.name), ["echo", "gated"])
      assert.deepStrictEqual(agents[0]!.tools, [{ name: "echo", description: "Repeats the text it is given." }])

      const journal = yield* api.runs.journal({ params: { id: started.id } })
      assert.strictEqual(journal.headers["content-disposition"], `attachment; filename="run-${started.id}.jsonl"`)
      const contents = yield* JournalFile.parse(journal.body, "download.jsonl")
      assert.deepStrictEqual(contents.events, events.map((e) => e.event))
      const report = yield* Replay.replay(echo, contents.events).pipe(Effect.provide(Testing.layer))
      assert.strictEqual(report.identical, contents.events.length)
    }).pipe(Effect.provide(serve())))

  it.effect("GET /v1/runs lists top-level runs; ?all=true adds the child runs (sub-agents), ?parent= lists one run's", () =>
    Effect.gen(function*() {
      const api = yield* client("run-key")
      const started = yield* api.runs.start({ payload: { agent: "relay", input: "hi" } })
      yield* api.runs.events({ params: { id: started.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      const ids = (page: { readonly runs: ReadonlyArray<{ readonly id: string }> }) => page.runs.map((run) => run.id)
      assert.deepStrictEqual(ids(yield* api.runs.list({ query: {} })), [started.id])
      const all = yield* api.runs.list({ query: { all: "true" } })
      assert.deepStrictEqual(ids(all).sort(), [started.id, `${started.id}/ask`].sort())
      assert.deepInclude(all.runs.find((run) => run.id !== started.id), { parentRunId: started.id, parentStepId: "ask", agent: "echo" })
      assert.deepStrictEqual(ids(yield* api.runs.list({ query: { parent: started.id } })), [`${started.id}/ask`])
      // Over raw HTTP, as the viewer asks.
      const raw_ = yield* raw("GET", "/v1/runs?all=true", { key: "view-key" })
      assert.strictEqual(raw_.json.total, 2)
      // A child run is read by its id (it holds a "/": URL-encoded), as the viewer reads it to nest it under its step.
      const child = yield* raw("GET", `/v1/runs/${encodeURIComponent(`${started.id}/ask`)}`, { key: "view-key" })
      assert.strictEqual(child.status, 200, child.text)
      assert.strictEqual(child.json.parentRunId, started.id)
      const journal = yield* raw("GET", `/v1/runs/${encodeURIComponent(`${started.id}/ask`)}/journal`, { key: "view-key" })
      assert.strictEqual(journal.status, 200, journal.text)
      assert.include(journal.text, `"parentStepId":"ask"`)
    }).pipe(Effect.provide(Server.layer({ viewer: false }).pipe(
      Layer.provide(RunsLocal.layer({ agents: [relay] })),
      Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse(keys, "test")), ApiAuth.layer))),
      Layer.provide(Testing.layer)
    ))))

  it.effect("GET /v1/runs counts each run's direct child runs, as many as ?parent= lists; a run without any: 0", () =>
    Effect.gen(function*() {
      const api = yield* client("view-key")
      const runner = yield* client("run-key")
      const parent = yield* runner.runs.start({ payload: { agent: "fanout", input: "go" } })
      yield* runner.runs.events({ params: { id: parent.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      const alone = yield* runner.runs.start({ payload: { agent: "echo", input: "alone" } })
      yield* runner.runs.events({ params: { id: alone.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      const counts = (page: { readonly runs: ReadonlyArray<{ readonly id: string; readonly children?: number }> }) =>
        Object.fromEntries(page.runs.map((run) => [run.id, run.children]))
      // Top-level runs: the fanout's three children (its grandchild is its child's), none for the echo run.
      assert.deepStrictEqual(counts(yield* api.runs.list({ query: {} })), { [parent.id]: 3, [alone.id]: 0 })
      // The whole tree: each run's count is what ?parent= lists for it, filters or not.
      const all = yield* api.runs.list({ query: { all: "true" } })
      assert.deepStrictEqual(counts(all), {
        [parent.id]: 3,
        [alone.id]: 0,
        [`${parent.id}/a`]: 0,
        [`${parent.id}/b`]: 0,
        [`${parent.id}/c`]: 1,
        [`${parent.id}/c/ask`]: 0
      })
      for (const run of all.runs) {
        assert.strictEqual(run.children, (yield* api.runs.list({ query: { parent: run.id } })).total, run.id)
      }
      assert.deepStrictEqual(counts(yield* api.runs.list({ query: { parent: parent.id, agent: "relay" } })), { [`${parent.id}/c`]: 1 })
      // Over raw HTTP, as the viewer reads it; a single run's GET does not count.
      const listed = yield* raw("GET", "/v1/runs?limit=1&offset=1", { key: "view-key" })
      assert.deepInclude(listed.json.runs[0], { id: parent.id, children: 3 })
      assert.notProperty((yield* raw("GET", `/v1/runs/${parent.id}`, { key: "view-key" })).json, "children")
    }).pipe(Effect.provide(Server.layer({ viewer: false }).pipe(
      Layer.provide(RunsLocal.layer({ agents: [fanout, echo] })),
      Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse(keys, "test")), ApiAuth.layer))),
      Layer.provide(Testing.layer)
    ))))

  it.effect("decodes the API's errors into their classes", () =>
    Effect.gen(function*() {
      const api = yield* client("run-key")
      const missing = yield* api.runs.get({ params: { id: "nope" } }).pipe(Effect.flip)
      assert.instanceOf(missing, Runs.RunNotFound)
      assert.strictEqual((missing as Runs.RunNotFound).runId, "nope")
      const noAgent = yield* api.runs.start({ payload: { agent: "nope", input: "" } }).pipe(Effect.flip)
      assert.instanceOf(noAgent, Runs.AgentNotFound)
      assert.deepStrictEqual((noAgent as Runs.AgentNotFound).available, ["echo", "gated"])

      yield* api.runs.start({ payload: { agent: "gated", input: "t2-a" } })
      const overloaded = yield* api.runs.start({ payload: { agent: "echo", input: "x" } }).pipe(Effect.flip)
      assert.instanceOf(overloaded, Runs.RunsOverloaded)
      assert.strictEqual((overloaded as Runs.RunsOverloaded).retryAfterSeconds, 2)

      const viewer = yield* client("view-key")
      const forbidden = yield* viewer.runs.cancel({ params: { id: "run-1" } }).pipe(Effect.flip)
      assert.instanceOf(forbidden, Api.Forbidden)
      const stranger = yield* client("who-knows")
      const unauthorized = yield* stranger.agents.list().pipe(Effect.flip)
      assert.instanceOf(unauthorized, Api.Unauthorized)

      const cancelled = yield* api.runs.cancel({ params: { id: "run-1" } })
      assert.strictEqual(cancelled.status, "interrupted")
    }).pipe(Effect.provide(serve({ maxConcurrent: 1, maxQueued: 0 }))))
})

// ---------------------------------------------------------------------------
// raw HTTP
// ---------------------------------------------------------------------------

describe("HTTP API over raw HTTP", () => {
  it.effect("answers a bad request with 400 and the Schema's message, never a 500", () =>
    Effect.gen(function*() {
      const post = (body: string) => raw("POST", "/v1/runs", { key: "run-key", body })
      const cases: ReadonlyArray<readonly [Effect.Effect<Raw, never, HttpServer.HttpServer>, string, string]> = [
        [post("{not json"), "Payload", "Expected a valid JSON body"],
        [post(JSON.stringify({ agent: "echo" })), "Payload", `Missing key\n  at ["input"]`],
        [post(JSON.stringify({ agent: 42, input: "x" })), "Payload", `Expected string\n  at ["agent"]`],
        [post(JSON.stringify({ agent: "", input: "x" })), "Payload", `at ["agent"]`],
        [post(JSON.stringify({ agent: "echo", input: "x", budget: { maxSteps: 0 } })), "Payload", `at ["budget"]["maxSteps"]`],
        [raw("GET", "/v1/runs?status=sleeping", { key: "view-key" }), "Query", `at ["status"]`],
        [raw("GET", "/v1/runs?limit=0", { key: "view-key" }), "Query", `at ["limit"]`],
        [raw("GET", "/v1/runs?offset=x", { key: "view-key" }), "Query", `at ["offset"]`],
        [raw("GET", "/v1/runs/run-9/events", { key: "view-key", headers: { "last-event-id": "three" } }), "Headers", "Last-Event-ID must be an event index"]
      ]
      for (const [request, part, message] of cases) {
        const response = yield* request
        assert.strictEqual(response.status, 400, response.text)
        assert.strictEqual(response.json._tag, "InvalidRequest")
        assert.strictEqual(response.json.part, part)
        assert.include(response.json.message, message)
      }
    }).pipe(Effect.provide(serve())))

  it.effect("401 without a valid key, 403 without the right; health and the OpenAPI document are open", () =>
    Effect.gen(function*() {
      const none = yield* raw("GET", "/v1/runs")
      assert.strictEqual(none.status, 401)
      assert.deepStrictEqual(none.json, { _tag: "Unauthorized", message: "missing API key: send the header Authorization: Bearer <key>" })
      const wrong = yield* raw("GET", "/v1/runs", { key: "guess" })
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(wrong.json.message, "unknown API key")
      assert.notInclude(wrong.text, "guess")
      const basic = yield* raw("GET", "/v1/agents", { headers: { authorization: "Basic YWxpY2U6c2VjcmV0" } })
      assert.strictEqual(basic.status, 401)

      const forbidden = yield* startRaw("echo", "x", "view-key")
      assert.strictEqual(forbidden.status, 403)
      assert.deepStrictEqual(forbidden.json, {
        _tag: "Forbidden",
        message: `the role "viewer" of vera lacks the right "run"`,
        role: "viewer",
        right: "run"
      })
      // A 403 is decided before the body is read: a bad body does not change it.
      assert.strictEqual((yield* raw("POST", "/v1/runs", { key: "view-key", body: "{" })).status, 403)
      assert.strictEqual((yield* raw("GET", "/v1/runs", { key: "view-key" })).status, 200)
      assert.strictEqual((yield* startRaw("echo", "x", "admin-key")).status, 202)

      const health = yield* raw("GET", "/healthz")
      assert.strictEqual(health.status, 200)
      assert.deepStrictEqual(health.json, { status: "ok", version: "0.1.0", running: 0, queued: 0 })
      const openapi = yield* raw("GET", "/openapi.json")
      assert.strictEqual(openapi.status, 200)
      assert.strictEqual(openapi.json.openapi, "3.1.0")
      assert.includeMembers(Object.keys(openapi.json.paths), [
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/runs/{id}/events",
        "/v1/runs/{id}/journal",
        "/v1/runs/{id}/cancel",
        "/v1/agents",
        "/healthz",
        "/metrics"
      ])
      assert.property(openapi.json.paths["/v1/runs/{id}/events"].get.responses["200"].content, "text/event-stream")
      assert.property(openapi.json.paths["/v1/runs"].post.responses, "429")

      assert.strictEqual((yield* raw("GET", "/metrics")).status, 401)
      const metrics = yield* raw("GET", "/metrics", { key: "view-key" })
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.headers.get("content-type") ?? "", "text/plain")
      assert.include(metrics.text, "# TYPE graphent_server_runs_running gauge\ngraphent_server_runs_running 0")
    }).pipe(Effect.provide(serve())))

  it.effect("404 for unknown runs and routes, with a message", () =>
    Effect.gen(function*() {
      for (const [method, path] of [
        ["GET", "/v1/runs/nope"],
        ["GET", "/v1/runs/nope/events"],
        ["GET", "/v1/runs/nope/journal"],
        ["POST", "/v1/runs/nope/cancel"]
      ] as const) {
        const response = yield* raw(method, path, { key: "run-key" })
        assert.strictEqual(response.status, 404, `${method} ${path}`)
        assert.deepStrictEqual(response.json, { _tag: "RunNotFound", runId: "nope", message: `no run with id "nope"` })
      }
      const agent = yield* startRaw("nope", "x")
      assert.strictEqual(agent.status, 404)
      assert.strictEqual(agent.json.message, `no agent named "nope"; this server runs: echo, gated`)
      assert.strictEqual((yield* raw("GET", "/v2/runs", { key: "run-key" })).status, 404)
    }).pipe(Effect.provide(serve())))

  it.effect("SSE: a client that reconnects with Last-Event-ID misses nothing and gets nothing twice", () =>
    Effect.gen(function*() {
      const started = yield* startRaw("gated", "t5-a,t5-b")
      assert.strictEqual(started.status, 202)
      const id: string = started.json.id
      const auth = { authorization: "Bearer view-key" }

      // Connection 1: up to the first step, then the client goes away.
      const first = yield* sse(`/v1/runs/${id}/events`, auth, (e) => tagOf(e) === "StepStarted")
      assert.isFalse(first.ended)
      assert.deepStrictEqual(first.events.map((e) => e.id), ["0", "1", "2"])

      // The run moves on while nobody listens.
      yield* Gated.open("t5-a")
      // Connection 2 resumes after the last id it saw: live, up to the second step.
      const second = yield* sse(`/v1/runs/${id}/events`, { ...auth, "last-event-id": "2" }, (e) =>
        tagOf(e) === "StepStarted")
      assert.deepStrictEqual(second.events.map((e) => e.id), ["3", "4", "5"])
      assert.deepStrictEqual(second.events.map(tagOf), ["StepSucceeded", "DecisionMade", "StepStarted"])

      yield* Gated.open("t5-b")
      // Connection 3 resumes and reads to the end of the run.
      const third = yield* sse(`/v1/runs/${id}/events`, { ...auth, "last-event-id": "5" })
      assert.isTrue(third.ended)
      assert.deepStrictEqual(third.events.map((e) => e.id), ["6", "7", "8"])
      assert.strictEqual(tagOf(third.events.at(-1)!), "RunCompleted")

      // Together: exactly the journal, in order.
      const journal = yield* raw("GET", `/v1/runs/${id}/journal`, { key: "view-key" })
      const contents = yield* JournalFile.parse(journal.text, "download.jsonl")
      const followed = [...first.events, ...second.events, ...third.events].map((e) => JSON.parse(e.data))
      assert.deepStrictEqual(followed, [...contents.events])

      // After the end, from the journal: by header, or by ?after= for clients that cannot set it.
      const replayed = yield* sse(`/v1/runs/${id}/events`, { ...auth, "last-event-id": "6" })
      assert.deepStrictEqual(replayed.events.map((e) => e.id), ["7", "8"])
      const byQuery = yield* sse(`/v1/runs/${id}/events?after=7`, auth)
      assert.deepStrictEqual(byQuery.events.map((e) => e.id), ["8"])
      const all = yield* sse(`/v1/runs/${id}/events`, auth)
      assert.deepStrictEqual(all.events.map((e) => JSON.parse(e.data)), [...contents.events])
    }).pipe(Effect.provide(serve())))

  it.effect("429 with retry-after when every slot and the queue are full; accepted again once there is room", () =>
    Effect.gen(function*() {
      const a = yield* startRaw("gated", "t6-a")
      const b = yield* startRaw("gated", "t6-b")
      assert.strictEqual(a.status, 202)
      assert.strictEqual(a.json.status, "running")
      assert.strictEqual(b.status, 202)
      assert.strictEqual(b.json.status, "queued")

      const rejected = (text: string) => Number(/^graphent_server_runs_rejected (\d+)$/m.exec(text)?.[1] ?? 0)
      const before = rejected((yield* raw("GET", "/metrics", { key: "view-key" })).text)
      const c = yield* startRaw("echo", "c")
      assert.strictEqual(c.status, 429)
      assert.strictEqual(c.headers.get("retry-after"), "2")
      assert.deepStrictEqual(c.json, {
        _tag: "RunsOverloaded",
        running: 1,
        queued: 1,
        retryAfterSeconds: 2,
        message: "too many runs (1 running, 1 queued); retry in 2 s"
      })
      const health = yield* raw("GET", "/healthz")
      assert.deepStrictEqual([health.json.running, health.json.queued], [1, 1])
      const metrics = yield* raw("GET", "/metrics", { key: "view-key" })
      // The metrics registry is the process's: count this server's rejection only.
      assert.strictEqual(rejected(metrics.text) - before, 1)
      assert.include(metrics.text, "graphent_server_runs_queued 1")

      yield* Gated.open("t6-a")
      yield* Gated.open("t6-b")
      const done = yield* sse(`/v1/runs/${b.json.id}/events`, { authorization: "Bearer view-key" })
      assert.strictEqual(tagOf(done.events.at(-1)!), "RunCompleted")
      const d = yield* startRaw("echo", "d")
      assert.strictEqual(d.status, 202)
    }).pipe(Effect.provide(serve({ maxConcurrent: 1, maxQueued: 1 }))))

  it.effect("approvals: a paused run waits, the policy says who may decide, the decision resumes it", () =>
    Effect.gen(function*() {
      const auth = { authorization: "Bearer view-key" }
      const started = yield* startRaw("echo", "needs a yes")
      const id: string = started.json.id
      // The run pauses at the echo step: its events end with ApprovalRequested, and no RunFailed.
      const paused = yield* sse(`/v1/runs/${id}/events`, auth)
      assert.deepStrictEqual(paused.events.map(tagOf).slice(-3), ["DecisionMade", "StepStarted", "ApprovalRequested"])
      const info = yield* raw("GET", `/v1/runs/${id}`, { key: "view-key" })
      assert.strictEqual(info.json.status, "paused")
      assert.deepStrictEqual(info.json.awaiting, [{ stepId: "echo", tool: "echo", capability: "tool:echo", principal: "key-2" }])

      const decide = (key: string, step: string, body: object) =>
        raw("POST", `/v1/runs/${id}/approvals/${step}`, { key, body: JSON.stringify(body) })
      // Viewers may not decide; the run's own principal may not approve itself; a runner has no approval rule.
      assert.strictEqual((yield* decide("view-key", "echo", { approved: true })).status, 403)
      const own = yield* decide("run-key", "echo", { approved: true })
      assert.strictEqual(own.status, 409)
      assert.strictEqual(own.json._tag, "ApprovalInvalid")
      assert.include(own.json.message, "key-2 may not decide it (no self-approval")
      const badBody = yield* decide("admin-key", "echo", { approved: "yes" })
      assert.strictEqual(badBody.status, 400)
      const wrongStep = yield* decide("admin-key", "other", { approved: true })
      assert.strictEqual(wrongStep.status, 409)
      assert.include(wrongStep.json.message, "it does not wait for approval (waiting: echo)")
      assert.strictEqual((yield* raw("POST", "/v1/runs/nope/approvals/echo", { key: "admin-key", body: `{"approved":true}` })).status, 404)

      // An admin approves: the run resumes, and its followers pick up after the last event they saw.
      const approved = yield* decide("admin-key", "echo", { approved: true, reason: "looks fine" })
      assert.strictEqual(approved.status, 202, approved.text)
      const resumed = yield* sse(`/v1/runs/${id}/events`, { ...auth, "last-event-id": paused.events.at(-1)!.id! })
      assert.deepStrictEqual(resumed.events.map((e) => Number(e.id)), resumed.events.map((_, i) => paused.events.length + i))
      assert.deepStrictEqual(resumed.events.map(tagOf), [
        "ApprovalDecided",
        "RunResumed",
        "StepSucceeded",
        "DecisionMade",
        "RunCompleted"
      ])
      const decided = JSON.parse(resumed.events[0]!.data)
      assert.deepStrictEqual(
        [decided.stepId, decided.approved, decided.by, decided.reason],
        ["echo", true, "alice", "looks fine"]
      )
      const done = yield* raw("GET", `/v1/runs/${id}`, { key: "view-key" })
      assert.strictEqual(done.json.status, "completed")
      assert.strictEqual(done.json.answer, "needs a yes")
      assert.isUndefined(done.json.awaiting)
      // The whole journal, followed from the start, is the same sequence.
      const journal = yield* raw("GET", `/v1/runs/${id}/journal`, { key: "view-key" })
      const contents = yield* JournalFile.parse(journal.text, "download.jsonl")
      assert.deepStrictEqual([...paused.events, ...resumed.events].map((e) => JSON.parse(e.data)), [...contents.events])
      const again = yield* decide("admin-key", "echo", { approved: true })
      assert.strictEqual(again.status, 409)
      assert.include(again.json.message, "the run already finished")

      // Rejected: the step fails with ToolDenied, which ends this agent's run.
      const second = yield* startRaw("echo", "needs a no")
      yield* sse(`/v1/runs/${second.json.id}/events`, auth)
      const rejected = yield* raw("POST", `/v1/runs/${second.json.id}/approvals/echo`, {
        key: "admin-key",
        body: JSON.stringify({ approved: false, reason: "not today" })
      })
      assert.strictEqual(rejected.status, 202)
      yield* sse(`/v1/runs/${second.json.id}/events`, auth)
      const failed = yield* raw("GET", `/v1/runs/${second.json.id}`, { key: "view-key" })
      assert.strictEqual(failed.json.status, "failed")
      assert.strictEqual(failed.json.error._tag, "ToolDenied")
    }).pipe(Effect.provide(serveGuarded())))

  it.effect("approvals need a policy: without one, runs never pause and a decision is refused", () =>
    Effect.gen(function*() {
      const started = yield* startRaw("echo", "x")
      const refused = yield* raw("POST", `/v1/runs/${started.json.id}/approvals/echo`, {
        key: "admin-key",
        body: JSON.stringify({ approved: true })
      })
      assert.strictEqual(refused.status, 409)
      assert.include(refused.json.message, "this server has no policy")
    }).pipe(Effect.provide(serve())))

  it.effect("cancels a running run over HTTP; its event stream ends with RunInterrupted", () =>
    Effect.gen(function*() {
      const started = yield* startRaw("gated", "t7-a")
      const id: string = started.json.id
      yield* sse(`/v1/runs/${id}/events`, { authorization: "Bearer view-key" }, (e) => tagOf(e) === "StepStarted")
      const cancelled = yield* raw("POST", `/v1/runs/${id}/cancel`, { key: "run-key" })
      assert.strictEqual(cancelled.status, 200)
      assert.strictEqual(cancelled.json.status, "interrupted")
      const events = yield* sse(`/v1/runs/${id}/events`, { authorization: "Bearer view-key", "last-event-id": "2" })
      assert.deepStrictEqual(events.events.map(tagOf), ["RunInterrupted"])
    }).pipe(Effect.provide(serve())))
})
