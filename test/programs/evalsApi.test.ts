/**
 * Experiments in the dev server: `graphent eval run` on the project's store (files under a fresh
 * GRAPHENT_HOME) journals each case's run there and keeps the report in `<home>/experiments`; a server over
 * that home (as `graphent dev` builds it) lists the experiments newest first (`GET /v1/evals`), serves one
 * whole (`GET /v1/evals/:id`: totals, cases with scores, cost, latency, the baseline comparison) and each
 * case's run (`GET /v1/runs/:runId`), and answers a 404 `ExperimentNotFound` for an unknown or path-like id.
 * With `GRAPHENT_STORE=memory` nothing is kept. A server without an experiments store lists none.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpServer } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { JournalFolder, LocalRuntime, MemoryInMemory, RunsLocal, Storage } from "graphent"
import { ExperimentsFolder } from "graphent/eval"
import { Api, ApiAuth, Server } from "graphent/server"
import * as Testing from "graphent/testing"
import assistant, { layer as assistantModel } from "../../examples/assistant.js"
import { inProcess, root, scratch } from "../support/cli.js"

const serverOver = (home: string | undefined) =>
  Server.layer({ viewer: false }).pipe(
    Layer.provide(RunsLocal.layer({ agents: [{ agent: assistant, layer: assistantModel }] })),
    Layer.provide(ApiAuth.layerOpen),
    Layer.provide(home === undefined ? Testing.layer : Layer.mergeAll(
      LocalRuntime.layer.pipe(Layer.provideMerge(JournalFolder.layer({ dir: Storage.runsDir(home) }))),
      MemoryInMemory.layer,
      ExperimentsFolder.layer(ExperimentsFolder.experimentsDir(home))
    ))
  )

const client = Effect.flatMap(HttpServer.HttpServer, (server) =>
  HttpApiClient.make(Api.Api, { baseUrl: HttpServer.formatAddress(server.address) })).pipe(Effect.provide(FetchHttpClient.layer))

describe("GET /v1/evals", () => {
  const dir = scratch("evals-api")
  const home = path.join(dir, "home")
  const cases = path.join(dir, "cases.jsonl")
  const env = { GRAPHENT_HOME: home, GRAPHENT_STORE: undefined, GRAPHENT_MODEL: undefined, GRAPHENT_PRICES: "{\"scripted\":{\"input\":1,\"output\":2}}" }

  it.effect("lists the kept experiments, serves a report with its comparison, and each case's run", () =>
    Effect.gen(function*() {
      fs.writeFileSync(cases, [
        { id: "sum", input: "what is 6 * 7?", expected: "The answer is 42." },
        { id: "wrong", input: "what is 2 + 2?", expected: "The answer is 5." }
      ].map((item) => JSON.stringify(item) + "\n").join(""))
      const report = path.join(dir, "base.json")
      const args = ["eval", "run", path.join(root, "examples/assistant.ts"), "--dataset", cases, "--scorers", "exact"]
      const base = yield* Effect.promise(() => inProcess([...args, "--report", report], { env }))
      assert.strictEqual(base.code, 0, base.stderr)
      const compared = yield* Effect.promise(() => inProcess([...args, "--baseline", report], { env }))
      assert.strictEqual(compared.code, 0, compared.stderr)
      const ids = [base, compared].map((result) => /experiment kept as (\S+):/.exec(result.stderr)?.[1])
      assert.isDefined(ids[0])
      assert.isDefined(ids[1])
      // Nothing kept when the store keeps nothing.
      const ephemeral = yield* Effect.promise(() => inProcess(args, { env: { ...env, GRAPHENT_STORE: "memory" } }))
      assert.notInclude(ephemeral.stderr, "experiment kept")

      const api = yield* client
      const listed = yield* api.evals.list()
      assert.deepStrictEqual(listed.map((item) => item.id), [ids[1], ids[0]])
      assert.deepStrictEqual(listed.map((item) => [item.agent, item.compared, item.totals.cases, item.totals.passed]), [
        ["assistant", true, 2, 1],
        ["assistant", false, 2, 1]
      ])
      const shown = yield* api.evals.get({ params: { id: ids[1]! } })
      assert.deepStrictEqual(shown, JSON.parse(fs.readFileSync(path.join(home, "experiments", `${ids[1]}.json`), "utf8")))
      assert.deepStrictEqual(shown.cases.map((item) => [item.id, item.pass, item.scores.exact?.value]), [["sum", true, 1], ["wrong", false, 0]])
      assert.strictEqual(shown.comparison?.unchanged, 2)
      // Each case links to its run, journaled in the project's store.
      for (const item of shown.cases) {
        const run = yield* api.runs.get({ params: { id: item.runId } })
        assert.deepStrictEqual([run.status, run.input, run.answer], ["completed", item.input, item.answer])
      }
      const missing = yield* Effect.flip(api.evals.get({ params: { id: "no-such-experiment" } }))
      assert.strictEqual(missing._tag, "ExperimentNotFound")
      // An id never names a file outside the folder (the API's Id Schema refuses these first).
      const store = ExperimentsFolder.make(path.join(home, "experiments", "inner"))
      for (const id of ["../" + ids[1], ".hidden", "a/b"]) {
        assert.strictEqual((yield* Effect.flip(store.get(id)))._tag, "ExperimentNotFound", id)
      }
    }).pipe(Effect.provide(serverOver(home))))

  it.effect("a server without an experiments store lists none and finds none", () =>
    Effect.gen(function*() {
      const api = yield* client
      assert.deepStrictEqual(yield* api.evals.list(), [])
      assert.strictEqual((yield* Effect.flip(api.evals.get({ params: { id: "x" } })))._tag, "ExperimentNotFound")
    }).pipe(Effect.provide(serverOver(undefined))))
})
