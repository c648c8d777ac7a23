import * as net from "node:net"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Exit, Fiber, Layer, Schedule, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import {
  Agent,
  AgentRuntime,
  Errors,
  Journal,
  LocalRuntime,
  Planner,
  RateLimits,
  RateLimitsMemory,
  SequencePlanner,
  Tool
} from "graphent"
import { RateLimitsRedis } from "graphent/redis"
import { withEnv } from "../support/env.js"
import { redisUrl } from "../support/services.js"

const prefix = `graphent-test:${process.pid}:${Date.now()}:`

/**
 * Checks the side-effect times against the bucket: over any interval [t_i, t_j] at most
 * `burst + rate·(t_j − t_i + slackMs)` calls. `slackMs` absorbs timer jitter: a call's time is
 * taken when its sleep ends, which the event loop may delay by a few milliseconds.
 */
const assertWithinRate = (times: ReadonlyArray<number>, perSecond: number, burst: number, slackMs: number) => {
  const sorted = [...times].sort((a, b) => a - b)
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i; j < sorted.length; j++) {
      const calls = j - i + 1
      const allowed = burst + (perSecond * (sorted[j]! - sorted[i]! + slackMs)) / 1000
      if (calls > allowed) {
        assert.fail(`${calls} calls in ${sorted[j]! - sorted[i]!} ms: more than ${allowed.toFixed(2)} allowed`)
      }
    }
  }
}

/** Runs `effect` under the TestClock, moving it on 1 ms at a time until `effect` is done. */
const drive = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    while (fiber.pollUnsafe() === undefined) yield* TestClock.adjust("1 millis")
    return yield* Fiber.join(fiber)
  })

// ---------------------------------------------------------------------------
// parsing
// ---------------------------------------------------------------------------

describe("RateLimits.parseLimit", () => {
  it.effect("every spelling of a unit, with and without a burst", () =>
    Effect.gen(function*() {
      const spellings: Array<[string, number, number, number]> = [
        ["60/minute", 60, 60_000, 1],
        ["60/minutes", 60, 60_000, 1],
        ["60 / min", 60, 60_000, 1],
        ["60/m", 60, 60_000, 1],
        ["10/second", 10, 1_000, 1],
        ["10/s", 10, 1_000, 1],
        ["10/sec", 10, 1_000, 1],
        ["  10/SECOND  ", 10, 1_000, 1],
        ["1000/hour", 1000, 3_600_000, 1],
        ["5/h burst 2", 5, 3_600_000, 2],
        ["100/day", 100, 86_400_000, 1],
        ["100/5 minutes burst 20", 100, 300_000, 20],
        ["0.5/second", 0.5, 1_000, 1]
      ]
      for (const [spec, limit, perMs, burst] of spellings) {
        const parsed = yield* RateLimits.parseLimit("k", spec)
        assert.deepStrictEqual([parsed.limit, Duration.toMillis(parsed.per), parsed.burst], [limit, perMs, burst], spec)
      }
    }))

  it.effect("malformed limits and keys are typed errors (misconfigured)", () =>
    Effect.gen(function*() {
      const bad: Array<[string, unknown]> = [
        ["k", "60"],
        ["k", "60/fortnight"],
        ["k", "/minute"],
        ["k", "0/minute"],
        ["k", "-1/minute"],
        ["k", "10/0 seconds"],
        ["k", "10/second burst 0"],
        ["k", "ten/second"],
        ["k", 60],
        ["k", null],
        ["k", ""],
        ["", "1/second"],
        ["  ", "1/second"]
      ]
      for (const [key, spec] of bad) {
        const error = yield* Effect.flip(RateLimits.parseLimit(key, spec))
        assert.strictEqual(error._tag, "RateLimitsInvalid", JSON.stringify(spec))
        assert.deepStrictEqual(Errors.outcomeOf(error), Errors.misconfigured)
      }
      for (const text of ["not json", "[]", "3", "null", `{"tool:x": "fast"}`]) {
        const error = yield* Effect.flip(RateLimits.parseLimitsJson(text))
        assert.strictEqual(error._tag, "RateLimitsInvalid", text)
      }
    }))

  it("model keys: the provider's and the model's, only those with a limit", () => {
    const limits: RateLimits.RateLimitsShape = {
      backend: "test",
      has: (key) => key === "model:openai" || key === "model:anthropic:claude",
      acquire: () => Effect.void
    }
    assert.deepStrictEqual(RateLimits.modelKeys(limits, "openai:gpt-4o"), ["model:openai"])
    assert.deepStrictEqual(RateLimits.modelKeys(limits, "anthropic:claude"), ["model:anthropic:claude"])
    assert.deepStrictEqual(RateLimits.modelKeys(limits, "model"), [])
  })
})

// ---------------------------------------------------------------------------
// the runtime waits for the slots
// ---------------------------------------------------------------------------

const makeStamped = () => {
  const times: Array<number> = []
  const tool = Tool.make("stamp", {
    description: "Records when it ran",
    parameters: Schema.Struct({ after: Schema.optionalKey(Schema.Unknown) }),
    success: Schema.Number,
    handler: () => Effect.map(Clock.currentTimeMillis, (now) => times.push(now))
  })
  return { times, tool }
}

describe("RateLimits in the local runtime", () => {
  it.effect("tool calls of concurrent runs share the tool's limit (in memory)", () =>
    Effect.gen(function*() {
      const { times, tool } = makeStamped()
      const agent = Agent.make({
        name: "stamper",
        tools: [tool],
        planner: SequencePlanner.plan({ steps: [1, 2, 3].map((n) => ({ id: `s${n}`, tool: "stamp", args: {} })) })
      })
      yield* drive(Effect.forEach([1, 2, 3, 4], () => AgentRuntime.run(agent, "go"), { concurrency: "unbounded" }))
      assert.strictEqual(times.length, 12)
      assertWithinRate(times, 100, 2, 0)
      // The last call waited for its slot: 12 calls, 2 at once, then one every 10 ms.
      assert.strictEqual(Math.max(...times) - Math.min(...times), 100)
    }).pipe(
      Effect.provide(LocalRuntime.layerMemory),
      Effect.provide(RateLimitsMemory.layer({ "tool:stamp": "100/second burst 2" }))
    ))

  it.effect("a wait is bounded by the run's wall-time budget, and interruptible", () =>
    Effect.gen(function*() {
      const { times, tool } = makeStamped()
      const agent = Agent.make({
        name: "patient",
        tools: [tool],
        planner: SequencePlanner.plan({
          steps: [{ id: "a", tool: "stamp", args: {} }, { id: "b", tool: "stamp", args: { after: Planner.ref("a") } }]
        }),
        budget: { maxWallTime: "1 second" }
      })
      // The second call's slot is an hour away: the budget ends the run after a second.
      const error = yield* drive(Effect.flip(AgentRuntime.run(agent, "go")))
      assert.strictEqual(error._tag, "BudgetExceeded")
      assert.strictEqual(times.length, 1)
      // Without a budget, interrupting the run interrupts the wait (its slot is two hours away: the
      // tokens of the wait the budget ended are not given back).
      const unbounded = Agent.make({ ...agent, name: "unbounded", budget: {} })
      const fiber = yield* Effect.forkChild(AgentRuntime.run(unbounded, "go"))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
      assert.strictEqual(times.length, 1)
    }).pipe(
      Effect.provide(LocalRuntime.layerMemory),
      Effect.provide(RateLimitsMemory.layer({ "tool:stamp": "1/hour" }))
    ))

  it.effect("model calls wait for model:<provider>", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const call = (state: Agent.RunState) =>
        state.context.callModel(
          "openai:gpt-test",
          { prefix: 0, messages: [], tools: [] },
          Effect.map(Clock.currentTimeMillis, (now) => {
            times.push(now)
            return { text: "", toolCalls: [], finishReason: "stop", usage: { inputTokens: 1, outputTokens: 1 } }
          })
        )
      const planner = {
        decide: (state: Agent.RunState) =>
          Effect.as(Effect.repeat(call(state), { times: 3 }), Planner.answer("done"))
      }
      const agent = Agent.make({ name: "caller", tools: [], planner })
      const result = yield* drive(AgentRuntime.run(agent, "go"))
      assert.strictEqual(result.answer, "done")
      assert.strictEqual(times.length, 4)
      assertWithinRate(times, 50, 1, 0)
      assert.deepStrictEqual(times.map((t) => t - times[0]!), [0, 20, 40, 60])
    }).pipe(
      Effect.provide(LocalRuntime.layerMemory),
      Effect.provide(RateLimitsMemory.layer({ "model:openai": "50/second" }))
    ))

  it.live("GRAPHENT_RATE_LIMITS: unset is unlimited; set is parsed; a bad value fails the layer", () =>
    Effect.gen(function*() {
      const none = yield* Effect.provide(Effect.service(RateLimits.RateLimits), RateLimitsMemory.layerConfig.pipe(Layer.provide(withEnv({}))))
      assert.strictEqual(none, RateLimits.unlimited)
      const memory = yield* Effect.provide(
        Effect.service(RateLimits.RateLimits),
        RateLimitsMemory.layerConfig.pipe(Layer.provide(withEnv({ GRAPHENT_RATE_LIMITS: `{"tool:x":"5/second"}` })))
      )
      assert.strictEqual(memory.backend, "memory")
      assert.isTrue(memory.has("tool:x"))
      const redis = yield* Effect.scoped(Effect.provide(
        Effect.service(RateLimits.RateLimits),
        RateLimitsMemory.layerConfig.pipe(Layer.provide(withEnv({
          GRAPHENT_RATE_LIMITS: `{"tool:x":"5/second"}`,
          GRAPHENT_RATE_LIMITS_REDIS: redisUrl
        })))
      ))
      assert.strictEqual(redis.backend, "redis")
      const bad = yield* Effect.flip(Effect.provide(
        Effect.service(RateLimits.RateLimits),
        RateLimitsMemory.layerConfig.pipe(Layer.provide(withEnv({ GRAPHENT_RATE_LIMITS: `{"tool:x":"often"}` })))
      ))
      assert.strictEqual(bad._tag, "RateLimitsInvalid")
    }))
})

// ---------------------------------------------------------------------------
// Redis: shared by independent clients
// ---------------------------------------------------------------------------

/** A TCP proxy to Redis on `port` (0: a free one) for the scope's lifetime; `cut` closes it and drops its connections. */
const redisProxy = (port: number) =>
  Effect.gen(function*() {
    const target = new URL(redisUrl)
    const sockets = new Set<net.Socket>()
    const proxy = net.createServer((socket) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname)
      sockets.add(socket).add(upstream)
      socket.pipe(upstream).pipe(socket)
      socket.on("error", () => upstream.destroy())
      upstream.on("error", () => socket.destroy())
    })
    yield* Effect.acquireRelease(
      Effect.callback<void>((resume) => {
        proxy.listen(port, "127.0.0.1", () => resume(Effect.void))
      }),
      () => Effect.sync(() => proxy.close())
    )
    const cut = () => {
      proxy.close()
      for (const socket of sockets) socket.destroy()
    }
    return { port: (proxy.address() as net.AddressInfo).port, cut }
  })

/** A port no one listens on now. */
const freePort = Effect.scoped(Effect.map(redisProxy(0), ({ port }) => port))

describe("RateLimitsRedis", () => {
  /**
   * 4 clients, each with its own limiter (its own connection and store), 4 calls each; all
   * connected before the first call, so a client's start-up does not stall another's calls.
   */
  const fourClients = (make: (limit: RateLimits.Limit) => Effect.Effect<RateLimits.RateLimitsShape, unknown, Scope.Scope>) =>
    Effect.scoped(Effect.gen(function*() {
      const times: Array<number> = []
      const limit = yield* RateLimits.parseLimit("tool:shared", "10/second burst 2")
      const clients = yield* Effect.all([make(limit), make(limit), make(limit), make(limit)], { concurrency: "unbounded" })
      yield* Effect.forEach(clients, (limits) =>
        Effect.gen(function*() {
          for (let i = 0; i < 4; i++) {
            yield* limits.acquire("tool:shared")
            times.push(Date.now())
          }
        }), { concurrency: "unbounded", discard: true })
      return times
    }))

  it.live("4 independent clients (own connections, own stores) together stay within the rate", () =>
    Effect.gen(function*() {
      const keyPrefix = `${prefix}shared:`
      // A call's time is taken when its sleep ends; a stalled event loop (a loaded machine) delays some
      // calls more than others. The slack is that delay, measured while the clients run, plus 10 ms.
      const lag = monitorEventLoopDelay({ resolution: 5 })
      lag.enable()
      const times = yield* fourClients((limit) =>
        RateLimitsRedis.make(new Map([["tool:shared", limit]]), { url: redisUrl, keyPrefix })
      )
      lag.disable()
      assert.strictEqual(times.length, 16)
      assertWithinRate(times, 10, 2, 10 + lag.max / 1e6)
      // The check can fail: 4 limiters that share nothing admit 4 times the rate.
      const apart = yield* fourClients((limit) => RateLimitsMemory.make(new Map([["tool:shared", limit]])))
      assert.throws(() => assertWithinRate(apart, 10, 2, 40))
    }))

  it.live("a Redis that is not there: the layer fails at once with RateLimitUnavailable (unavailable)", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(
        RateLimitsRedis.layer({ "tool:x": "1/second" }, { url: "redis://127.0.0.1:1", connectTimeout: "500 millis" })
      )))
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(exit)
      assert.strictEqual(error._tag, "RateLimitUnavailable")
      assert.deepStrictEqual(Errors.outcomeOf(error), Errors.unavailable)
    }))

  it.live("connect: background, Redis unreachable at start: the layer builds, calls fail (unavailable) until it is reachable", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const limits = Context.get(
        yield* Layer.build(RateLimitsRedis.layer(
          { "tool:late": "1000/second burst 10" },
          { url: `redis://127.0.0.1:${port}`, keyPrefix: `${prefix}late:`, connectTimeout: "500 millis", connect: "background" }
        )),
        RateLimits.RateLimits
      )
      const down = yield* Effect.flip(limits.acquire("tool:late"))
      assert.strictEqual(down._tag, "RateLimitUnavailable")
      assert.deepStrictEqual(Errors.outcomeOf(down), Errors.unavailable)
      // Redis becomes reachable on that port: the client connects on its own (no call made it try).
      yield* redisProxy(port)
      yield* limits.acquire("tool:late").pipe(Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "20 seconds" }))))
    }).pipe(Effect.scoped))

  it.live("Redis dies mid-run: the call does not go out, the run stops with RateLimitUnavailable, resumable", () =>
    Effect.gen(function*() {
      const { cut, port } = yield* redisProxy(0)
      const { times, tool } = makeStamped()
      const cutter = Tool.make("cut", {
        description: "Cuts the link to Redis",
        parameters: Schema.Struct({ after: Schema.Unknown }),
        success: Schema.Boolean,
        handler: () => Effect.sync(() => (cut(), true))
      })
      const agent = Agent.make({
        name: "cutter",
        tools: [tool, cutter],
        planner: SequencePlanner.plan({
          steps: [
            { id: "a", tool: "stamp", args: {} },
            { id: "c", tool: "cut", args: { after: Planner.ref("a") } },
            { id: "b", tool: "stamp", args: { after: Planner.ref("c") } }
          ]
        })
      })
      const limits = yield* RateLimitsRedis.layer(
        { "tool:stamp": "1000/second burst 10" },
        { url: `redis://127.0.0.1:${port}`, keyPrefix: `${prefix}cut:`, commandTimeout: "1 second" }
      ).pipe(Layer.build)
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go", { runId: "cut-1" })).pipe(
        Effect.provideContext(limits),
        Effect.provide(LocalRuntime.layerMemory)
      )
      assert.strictEqual(error._tag, "RateLimitUnavailable")
      assert.deepStrictEqual(Errors.outcomeOf(error), Errors.unavailable)
      // The first call went out, the second did not.
      assert.strictEqual(times.length, 1)
    }))

  it.live("a run whose store is down is journaled without an outcome (it can resume)", () =>
    Effect.gen(function*() {
      const { times, tool } = makeStamped()
      const agent = Agent.make({
        name: "down",
        tools: [tool],
        planner: SequencePlanner.plan({ steps: [{ id: "a", tool: "stamp", args: {} }] })
      })
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go", { runId: "down-1" }))
      assert.strictEqual(error._tag, "RateLimitUnavailable")
      assert.strictEqual(times.length, 0)
      const events = yield* Journal.Journal.use((journal) => journal.read("down-1"))
      assert.deepStrictEqual(events.map((event) => event._tag), ["RunStarted", "DecisionMade", "StepStarted"])
    }).pipe(
      Effect.provide(LocalRuntime.layerMemory),
      Effect.provideService(RateLimits.RateLimits, {
        backend: "test",
        has: () => true,
        acquire: (key) => Effect.fail(new RateLimits.RateLimitUnavailable({ key, backend: "test", reason: "down" }))
      })
    ))
})
