import { randomUUID } from "node:crypto"
import { afterAll } from "vitest"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Redacted, Stream } from "effect"
import { Errors, FlowConfig, Journal, JournalMemory, LocalRuntime, RateLimits, RunEvent, RunEventsBus, Runs, RunsLocal } from "graphent"
import { withEnv } from "../support/env.js"
import { JournalPg, RunEventsBusPg } from "graphent/postgres"
import { ApiAuth, Server } from "graphent/server"
import { HttpServer } from "effect/http"
import * as Gated from "../support/gatedAgent.js"
import { readSse } from "../support/sse.js"
import { pgConfig, pgUrl } from "../support/services.js"
import * as Store from "../support/store.js"

const testId = randomUUID().slice(0, 8)
const pgPrefix = `graphent_bus${testId}_`
const channel = `graphent_bus_${testId}`

afterAll(async () => {
  await Store.dropPgPrefixes([pgPrefix])
}, 60_000)

/**
 * One server's stack: its own journal pool and its own bus (own connections) over the shared
 * database. The bus's fallback is an hour: a follower that sees a run of the other server move on
 * was woken by a notice, not by polling.
 */
const server = (name: string) =>
  RunsLocal.layer({ agents: [Gated.gated] }).pipe(
    Layer.provideMerge(LocalRuntime.layer.pipe(Layer.provide(RunEventsBus.announcing))),
    Layer.provideMerge(JournalPg.layerPg({ pg: { ...pgConfig, maxConnections: 2, applicationName: `graphent-bus-${name}` }, tablePrefix: pgPrefix })),
    Layer.provideMerge(RunEventsBusPg.layer({ pg: pgConfig, channel, fallback: "1 hour" }))
  )

const build = (name: string) => Layer.build(server(name))

const tags = (events: ReadonlyArray<{ readonly event: RunEvent.RunEvent }>) => events.map(({ event }) => event._tag)

describe("RunEventsBus over PostgreSQL", () => {
  it.live("a follower on server A sees a run executing on server B, woken by notices (no polling)", () =>
    Effect.gen(function*() {
      const a = Context.get(yield* build("a"), Runs.Runs)
      const b = Context.get(yield* build("b"), Runs.Runs)
      const gates = [`bus-${testId}-1`, `bus-${testId}-2`]
      const started = yield* b.start({ agent: "gated", input: gates.join(",") })
      // B is inside step 1: A starts following from the beginning.
      yield* Stream.runDrain(Stream.takeUntil(
        yield* b.events(started.id),
        ({ event }) => event._tag === "StepStarted"
      ))
      const follower = yield* Effect.forkChild(Stream.runCollect(yield* a.events(started.id)))
      yield* Gated.open(gates[0]!)
      yield* Gated.open(gates[1]!)
      const seen = yield* Fiber.join(follower)
      // B publishes an event to its own readers after the journal has it (and announced it): A may see the end
      // first. Compare with B once B's own stream has ended too.
      yield* Stream.runDrain(yield* b.events(started.id))
      const onB = yield* b.read(started.id)
      assert.deepStrictEqual(tags(seen), onB.map((event) => event._tag))
      assert.deepStrictEqual(seen.map(({ index }) => index), onB.map((_, i) => i))
      assert.strictEqual(seen.at(-1)?.event._tag, "RunCompleted")
      // A follower that joins late, after index 2, gets exactly the rest.
      const late = yield* Stream.runCollect(yield* a.events(started.id, 2))
      assert.deepStrictEqual(late.map(({ index }) => index), onB.slice(3).map((_, i) => i + 3))
    }).pipe(Effect.scoped))

  it.live("HTTP: an SSE client of server A receives the events of a run server B executes", () =>
    Effect.gen(function*() {
      const a = yield* Layer.build(Server.layer({ viewer: false }).pipe(
        Layer.provide(ApiAuth.layerOpen),
        Layer.provideMerge(server("http-a"))
      ))
      const b = Context.get(yield* build("http-b"), Runs.Runs)
      const gate = `bus-${testId}-http`
      const started = yield* b.start({ agent: "gated", input: gate })
      yield* Stream.runDrain(Stream.takeUntil(yield* b.events(started.id), ({ event }) => event._tag === "StepStarted"))
      const url = `${HttpServer.formatAddress(Context.get(a, HttpServer.HttpServer).address)}/v1/runs/${started.id}/events`
      const reading = yield* Effect.forkChild(Effect.promise(() => readSse(url, {})))
      yield* Gated.open(gate)
      const { events, ended, status } = yield* Fiber.join(reading)
      assert.strictEqual(status, 200)
      assert.isTrue(ended)
      yield* Stream.runDrain(yield* b.events(started.id))
      const onB = yield* b.read(started.id)
      assert.deepStrictEqual(events.map((event) => JSON.parse(event.data)._tag), onB.map((event) => event._tag))
      assert.deepStrictEqual(events.map((event) => event.id), onB.map((_, i) => String(i)))
    }).pipe(Effect.scoped))

  it.live("a notice reaches every process on the channel; a run id too long for NOTIFY wakes every follower", () =>
    Effect.gen(function*() {
      const busOf = (name: string) =>
        Effect.map(
          Layer.build(RunEventsBusPg.layer({ pg: { ...pgConfig, applicationName: `graphent-bus-${name}` }, channel, fallback: "1 hour" })),
          (context) => Context.get(context, RunEventsBus.RunEventsBus)
        )
      const [one, two, three] = yield* Effect.all([busOf("1"), busOf("2"), busOf("3")])
      const watchTwo = yield* two!.watch("run-x")
      const watchThree = yield* three!.watch("run-y")
      yield* one!.announce("run-x")
      yield* watchTwo.next("1 hour")
      // A run id over the payload limit is announced as "every run".
      yield* one!.announce("r".repeat(9_000))
      yield* Effect.all([watchTwo.next("1 hour"), watchThree.next("1 hour")], { concurrency: "unbounded" })
      // Many announcements of many runs: each follower is woken (fuzzed over the order of announcements).
      const runs = Array.from({ length: 20 }, (_, i) => `run-${i}`)
      const watches = yield* Effect.forEach(runs, (runId) => three!.watch(runId))
      for (let seed = 0; seed < 3; seed++) {
        const order = runs.map((runId, i) => ({ runId, key: (i * 7919 + seed * 104729) % 97 })).sort((x, y) => x.key - y.key)
        yield* Effect.forEach(order, ({ runId }) => (seed % 2 === 0 ? one! : two!).announce(runId), { discard: true })
        yield* Effect.forEach(watches, (watch) => watch.next("1 hour"), { concurrency: "unbounded", discard: true })
      }
    }).pipe(Effect.scoped))

  it.live("a database that is not there: RunEventsBusUnavailable (unavailable), not a hang", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        RunEventsBusPg.layer({ pg: { ...pgConfig, port: 1 }, channel })
      )))
      assert.strictEqual(error._tag, "RunEventsBusUnavailable")
      assert.deepStrictEqual(Errors.outcomeOf(error), Errors.unavailable)
      const bad = yield* Effect.flip(Effect.scoped(Layer.build(RunEventsBusPg.layer({ pg: pgConfig, channel: "Bad-Name" }))))
      assert.strictEqual(bad._tag, "RunEventsBusUnavailable")
    }))
})

describe("FlowConfig", () => {
  it.live("GRAPHENT_RUN_EVENTS_URL and GRAPHENT_RATE_LIMITS: the store's journal announces appends; runs get the limits", () =>
    Effect.gen(function*() {
      const listener = Context.get(
        yield* Layer.build(RunEventsBusPg.layer({ pg: pgConfig, fallback: "1 hour" })),
        RunEventsBus.RunEventsBus
      )
      const runId = `flow-${testId}`
      const watch = yield* listener.watch(runId)
      const context = yield* Layer.build(
        FlowConfig.withFlow(JournalMemory.layer()).pipe(Layer.provide(withEnv({
          GRAPHENT_RUN_EVENTS_URL: pgUrl,
          GRAPHENT_RATE_LIMITS: `{"tool:x": "5/second"}`
        })))
      )
      assert.strictEqual(Context.get(context, RateLimits.RateLimits).backend, "memory")
      const journal = Context.get(context, Journal.Journal)
      yield* journal.append({ _tag: "RunInterrupted", runId, usage: { turns: 0, steps: 0 }, durationMs: 0, at: 0 })
      yield* watch.next("1 hour")
      assert.strictEqual((yield* journal.read(runId)).length, 1)
      const none = yield* Layer.build(FlowConfig.layerConfig.pipe(Layer.provide(withEnv({}))))
      assert.strictEqual(Context.get(none, RunEventsBus.RunEventsBus), RunEventsBus.none)
      assert.strictEqual(Context.get(none, RateLimits.RateLimits), RateLimits.unlimited)
    }).pipe(Effect.scoped))

  it.live("a cluster's default bus (its database) when GRAPHENT_RUN_EVENTS_URL is unset or empty; `off` turns it off", () =>
    Effect.gen(function*() {
      const bus = (env: Record<string, string>) =>
        Effect.map(
          Layer.build(FlowConfig.busConfigWith(Redacted.make(pgUrl)).pipe(Layer.provide(withEnv(env)))),
          (context) => Context.get(context, RunEventsBus.RunEventsBus).backend
        )
      assert.strictEqual(yield* bus({}), "postgres")
      assert.strictEqual(yield* bus({ GRAPHENT_RUN_EVENTS_URL: " " }), "postgres")
      assert.strictEqual(yield* bus({ GRAPHENT_RUN_EVENTS_URL: "off" }), "none")
      assert.strictEqual(yield* bus({ GRAPHENT_RUN_EVENTS_URL: "OFF" }), "none")
      // A URL of its own wins over the default: one that cannot be reached fails the layer (typed).
      const unreachable = yield* Effect.flip(bus({ GRAPHENT_RUN_EVENTS_URL: "postgres://postgres@127.0.0.1:1/test" }))
      assert.strictEqual(unreachable._tag, "RunEventsBusUnavailable")
    }).pipe(Effect.scoped))
})

describe("RunEventsBus hub", () => {
  it.effect("a notice before next() is kept; next() then returns at once; a notice of another run does not wake", () =>
    Effect.gen(function*() {
      const hub = RunEventsBus.makeHub()
      const watch = yield* hub.watch("r1")
      hub.deliver("r1")
      yield* watch.next("1 hour")
      const waiting = yield* Effect.forkChild(watch.next("1 hour"))
      hub.deliver("r2")
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe())
      hub.deliver(RunEventsBus.everyRun)
      yield* Fiber.join(waiting)
    }).pipe(Effect.scoped))
})
