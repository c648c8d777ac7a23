/**
 * `POST /v1/runs/:id/fork` (what the viewer's "fork from here" calls), on an in-process server: a
 * finished wordstats run forked at a step with a new result runs as a new run whose steps before the
 * fork point are not run again, whose events carry the lineage, and whose journal replays; a bad fork
 * point, a bad edit, an unknown run and a viewer's key are refused with typed errors.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { Replay, RunsLocal } from "graphent"
import { Api, ApiAuth, Server } from "graphent/server"
import * as Testing from "graphent/testing"
import assistant, { layer as assistantModel } from "../../examples/assistant.js"
import wordstats from "../../examples/wordstats.js"

const keys = "run-key:runner:rita, view-key:viewer:vera"

const serve = () =>
  Server.layer({ viewer: false }).pipe(
    Layer.provide(RunsLocal.layer({ agents: [wordstats, { agent: assistant, layer: assistantModel }] })),
    Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse(keys, "test")), ApiAuth.layer))),
    Layer.provide(Testing.layer)
  )

const client = (key: string) =>
  Effect.flatMap(HttpServer.HttpServer, (server) =>
    HttpApiClient.make(Api.Api, {
      baseUrl: HttpServer.formatAddress(server.address),
      transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(key))
    })).pipe(Effect.provide(FetchHttpClient.layer))

describe("POST /v1/runs/:id/fork", () => {
  it.effect("forks a finished run at a step with a new result: a new run, its lineage, the steps before replayed, a journal that replays", () =>
    Effect.gen(function*() {
      const api = yield* client("run-key")
      const parent = yield* api.runs.start({ payload: { agent: "wordstats", input: "one two three" } })
      yield* api.runs.events({ params: { id: parent.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      const forked = yield* api.runs.fork({
        params: { id: parent.id },
        payload: { at: "summary", edit: { _tag: "SetResult", stepId: "summary", result: "EDITED" } }
      })
      assert.notStrictEqual(forked.id, parent.id)
      assert.strictEqual(forked.startedBy, "rita")
      const events = yield* api.runs.events({ params: { id: forked.id }, headers: {}, query: {} }).pipe(
        Effect.flatMap(Stream.runCollect)
      )
      const first = events[0]!.event
      assert.strictEqual(first._tag, "RunStarted")
      assert.deepStrictEqual(first._tag === "RunStarted" ? first.forkedFrom : undefined, {
        runId: parent.id,
        at: "step:summary",
        edit: { _tag: "SetResult", stepId: "summary", result: "EDITED" }
      })
      const info = yield* api.runs.get({ params: { id: forked.id } })
      assert.strictEqual(info.status, "completed")
      assert.strictEqual(info.answer, "EDITED")
      // The three measurements (summary depends on them) ran before the fork point: their recorded events are in the fork.
      const parentEvents = yield* api.runs.events({ params: { id: parent.id }, headers: {}, query: {} }).pipe(
        Effect.flatMap(Stream.runCollect)
      )
      const startOf = (list: typeof events, id: string) =>
        list.map((e) => e.event).find((e) => e._tag === "StepStarted" && e.stepId === id)?.at
      for (const step of ["words", "longest", "distinct"]) {
        assert.isDefined(startOf(events, step))
        assert.strictEqual(startOf(events, step), startOf(parentEvents, step))
      }
      const report = yield* Replay.replay(wordstats, events.map((e) => e.event)).pipe(Effect.provide(Testing.layer))
      assert.deepStrictEqual(report.outcome, { answer: info.answer! })
      // A turn number forks from that turn, with no edit.
      const turn = yield* api.runs.fork({ params: { id: parent.id }, payload: { at: 2 } })
      yield* api.runs.events({ params: { id: turn.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      assert.strictEqual((yield* api.runs.get({ params: { id: turn.id } })).status, "completed")
    }).pipe(Effect.provide(serve())))

  it.effect("forks an LLM run at a model call with its reply set, or the message it answers edited (the viewer's other action)", () =>
    Effect.gen(function*() {
      const api = yield* client("run-key")
      const parent = yield* api.runs.start({ payload: { agent: "assistant", input: "what is 2 + 3?" } })
      yield* api.runs.events({ params: { id: parent.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      assert.strictEqual((yield* api.runs.get({ params: { id: parent.id } })).answer, "The answer is 5.")
      const forked = yield* api.runs.fork({
        params: { id: parent.id },
        payload: { at: 1, edit: { _tag: "SetReply", call: 1, text: "I would rather not." } }
      })
      const events = yield* api.runs.events({ params: { id: forked.id }, headers: {}, query: {} }).pipe(
        Effect.flatMap(Stream.runCollect)
      )
      assert.strictEqual((yield* api.runs.get({ params: { id: forked.id } })).answer, "I would rather not.")
      assert.isFalse(events.some((e) => e.event._tag === "StepStarted"))
      // The user's message edited: the (offline) model answers the new question live, with the calculator.
      const asked = yield* api.runs.fork({
        params: { id: parent.id },
        payload: { edit: { _tag: "EditMessage", call: 1, text: "what is 6 * 7?" } }
      })
      yield* api.runs.events({ params: { id: asked.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      assert.strictEqual((yield* api.runs.get({ params: { id: asked.id } })).answer, "The answer is 42.")
    }).pipe(Effect.provide(serve())))

  it.effect("a bad fork point or edit is 400 ForkInvalid; an unknown run 404; a viewer may not fork", () =>
    Effect.gen(function*() {
      const api = yield* client("run-key")
      const parent = yield* api.runs.start({ payload: { agent: "wordstats", input: "a b" } })
      yield* api.runs.events({ params: { id: parent.id }, headers: {}, query: {} }).pipe(Effect.flatMap(Stream.runDrain))
      const bad = [
        { at: "nope" },
        { at: 9 },
        {},
        { edit: { _tag: "SetResult" as const, stepId: "words", result: "many" } },
        { edit: { _tag: "EditMessage" as const, call: 1, text: "x" } },
        { edit: { _tag: "SetReply" as const, call: 1, text: "x" } }
      ]
      for (const payload of bad) {
        const error = yield* api.runs.fork({ params: { id: parent.id }, payload }).pipe(Effect.flip)
        assert.instanceOf(error, Replay.ForkInvalid, JSON.stringify(payload))
      }
      const missing = yield* api.runs.fork({ params: { id: "nope" }, payload: { at: 1 } }).pipe(Effect.flip)
      assert.strictEqual(missing._tag, "RunNotFound")
      const viewer = yield* client("view-key")
      const forbidden = yield* viewer.runs.fork({ params: { id: parent.id }, payload: { at: 1 } }).pipe(Effect.flip)
      assert.strictEqual(forbidden._tag, "Forbidden")
      const page = yield* api.runs.list({ query: {} })
      assert.strictEqual(page.runs.length, 1)
    }).pipe(Effect.provide(serve())))
})
