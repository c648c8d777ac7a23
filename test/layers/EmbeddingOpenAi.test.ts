import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Redacted } from "effect"
import * as EmbeddingModel from "effect/ai/EmbeddingModel"
import { TestClock } from "effect/testing"
import { EmbeddingConfig, EmbeddingLocal, Memory, MemoryInMemory } from "graphent"
import { EmbeddingOpenAi } from "graphent/openai"
import * as FakeServer from "../support/fakeModelServer.js"
import { withEnv } from "../support/env.js"

const KEY = "sk-embed-0123456789-SECRET"

const embedderLayer = (url: string, options?: Partial<EmbeddingOpenAi.Options>) =>
  EmbeddingOpenAi.layer({
    model: "embed-test",
    apiKey: Redacted.make(KEY),
    baseUrl: `${url}/v1`,
    retryDelay: "1 millis",
    ...options
  })

const embedMany = (inputs: ReadonlyArray<string>) => EmbeddingModel.EmbeddingModel.use((model) => model.embedMany(inputs))

const keyIsAbsent = (error: unknown) => {
  for (const text of [String(error), (error as Error).message, JSON.stringify(error), Cause.pretty(Cause.fail(error))]) {
    assert.notInclude(text, KEY)
  }
}

describe("EmbeddingOpenAi", () => {
  it.effect("embedMany: batches of maxBatchSize, the vectors in the inputs' order, usage summed", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.embeddings({ dimensions: 6 })])
      const inputs = ["alpha", "beta", "gamma", "delta", "epsilon"]
      const response = yield* embedMany(inputs).pipe(Effect.provide(embedderLayer(server.url, { maxBatchSize: 2 })))
      assert.deepStrictEqual(response.embeddings.map((e) => e.vector), inputs.map((t) => FakeServer.fakeVector(t, 6)))
      assert.strictEqual(response.usage.inputTokens, 5)
      assert.deepStrictEqual(server.requests.map((r) => r.body.input), [["alpha", "beta"], ["gamma", "delta"], ["epsilon"]])
      for (const request of server.requests) {
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.path, "/v1/embeddings")
        assert.strictEqual(request.headers.authorization, `Bearer ${KEY}`)
        assert.strictEqual(request.body.model, "embed-test")
        assert.strictEqual(request.body.encoding_format, "float")
        assert.notProperty(request.body, "dimensions")
      }
    }))

  it.effect("honours each item's index when the server lists them out of order", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.embeddings({ reverse: true })])
      const response = yield* embedMany(["one", "two", "three"]).pipe(Effect.provide(embedderLayer(server.url)))
      assert.deepStrictEqual(response.embeddings.map((e) => e.vector), ["one", "two", "three"].map((t) => FakeServer.fakeVector(t, 8)))
    }))

  it.effect("concurrent embed calls share one request; dimensions are sent", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.embeddings()])
      const vectors = yield* Effect.forEach(
        ["red", "green", "blue"],
        (text) => EmbeddingModel.EmbeddingModel.use((model) => model.embed(text)),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(embedderLayer(server.url, { dimensions: 4 })))
      assert.strictEqual(server.requests.length, 1)
      assert.sameMembers(server.requests[0]!.body.input, ["red", "green", "blue"])
      assert.strictEqual(server.requests[0]!.body.dimensions, 4)
      assert.deepStrictEqual(vectors.map((v) => v.vector), ["red", "green", "blue"].map((t) => FakeServer.fakeVector(t, 4)))
    }))

  it.effect("429 with retry-after: 2 waits two seconds (on the Clock), then succeeds", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([
        FakeServer.json({ error: { message: "slow down", type: "rate_limit_exceeded" } }, {
          status: 429,
          headers: { "retry-after": "2" }
        }),
        FakeServer.embeddings()
      ])
      const fiber = yield* embedMany(["x"]).pipe(Effect.provide(embedderLayer(server.url, { retryDelay: "1 hour" })), Effect.forkChild)
      const live = (millis: number) => TestClock.withLive(Effect.sleep(millis))
      while (server.requests.length < 1) yield* live(5)
      yield* live(100)
      yield* TestClock.adjust("1999 millis")
      yield* live(100)
      assert.strictEqual(server.requests.length, 1, "still waiting after 1999 ms")
      yield* TestClock.adjust("1 millis")
      const response = yield* TestClock.withLive(Effect.timeout(Fiber.join(fiber), "5 seconds"))
      assert.deepStrictEqual(response.embeddings[0]!.vector, FakeServer.fakeVector("x", 8))
      assert.strictEqual(server.requests.length, 2)
    }))

  it.effect("5xx is retried up to maxRetries, then an InternalProviderError", () =>
    Effect.gen(function*() {
      const failing = yield* FakeServer.make([FakeServer.json({ error: { message: "overloaded" } }, { status: 503 })])
      const error = yield* embedMany(["x"]).pipe(Effect.provide(embedderLayer(failing.url, { maxRetries: 2 })), Effect.flip)
      assert.strictEqual(error.reason._tag, "InternalProviderError")
      assert.include(error.message, "overloaded")
      assert.strictEqual(failing.requests.length, 3)
      keyIsAbsent(error)

      const recovering = yield* FakeServer.make([
        FakeServer.json({ error: { message: "oops" } }, { status: 500 }),
        FakeServer.embeddings()
      ])
      const response = yield* embedMany(["y"]).pipe(Effect.provide(embedderLayer(recovering.url)))
      assert.strictEqual(response.embeddings.length, 1)
      assert.strictEqual(recovering.requests.length, 2)
    }).pipe(TestClock.withLive))

  it.effect("a 400 is an InvalidRequestError naming the parameter, not retried; the key never shows", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([
        FakeServer.json({ error: { message: `bad input for key ${KEY}`, type: "invalid_request_error", param: "input" } }, {
          status: 400
        })
      ])
      const error = yield* embedMany(["x"]).pipe(Effect.provide(embedderLayer(server.url)), Effect.flip)
      assert.strictEqual(error.reason._tag, "InvalidRequestError")
      if (error.reason._tag === "InvalidRequestError") assert.strictEqual(error.reason.parameter, "input")
      assert.strictEqual(error.module, "EmbeddingOpenAi")
      assert.strictEqual(server.requests.length, 1)
      keyIsAbsent(error)
    }))

  it.effect("a 401 without a key is an AuthenticationError (MissingKey)", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json({ error: { message: "no key" } }, { status: 401 })])
      const error = yield* embedMany(["x"]).pipe(
        Effect.provide(EmbeddingOpenAi.layer({ model: "m", baseUrl: `${server.url}/v1` })),
        Effect.flip
      )
      assert.strictEqual(error.reason._tag, "AuthenticationError")
      if (error.reason._tag === "AuthenticationError") assert.strictEqual(error.reason.kind, "MissingKey")
      assert.isUndefined(server.requests[0]!.headers.authorization)
    }))

  it.effect("malformed responses: InvalidResponseError (wrong count, duplicate index, unequal sizes, not JSON)", () =>
    Effect.gen(function*() {
      const cases = [
        [FakeServer.json({ data: [{ index: 0, embedding: [1, 2] }] }), "returned 1 embeddings for 2 inputs"],
        [
          FakeServer.json({ data: [{ index: 0, embedding: [1, 2] }, { index: 0, embedding: [3, 4] }] }),
          "index 0"
        ],
        [FakeServer.json({ data: [{ index: 0, embedding: [1, 2] }, { index: 1, embedding: [3] }] }), "sizes 2, 1"],
        [FakeServer.json({ data: [{ index: 0, embedding: "nope" }, { index: 1, embedding: [3] }] }), "embedding"],
        [FakeServer.raw("<html>"), "not JSON"]
      ] as const
      for (const [reply, expected] of cases) {
        const server = yield* FakeServer.make([reply])
        const error = yield* embedMany(["a", "b"]).pipe(Effect.provide(embedderLayer(server.url)), Effect.flip)
        assert.strictEqual(error.reason._tag, "InvalidResponseError", expected)
        assert.include(error.message, expected)
        assert.strictEqual(server.requests.length, 1, "not retried")
      }
    }))

  it.effect("a server that does not answer: a NetworkError after the timeout, retried", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.hang])
      const error = yield* embedMany(["x"]).pipe(
        Effect.provide(embedderLayer(server.url, { timeout: "100 millis", maxRetries: 1 })),
        Effect.flip,
        TestClock.withLive
      )
      assert.strictEqual(error.reason._tag, "NetworkError")
      assert.include(error.message, "no response within")
      assert.strictEqual(server.requests.length, 2)
    }))

  it.effect("invalid options fail the layer", () =>
    Effect.gen(function*() {
      for (const options of [{ maxBatchSize: 0 }, { concurrency: 1.5 }, { dimensions: -1 }]) {
        const exit = yield* Layer.build(EmbeddingOpenAi.layer({ model: "m", ...options })).pipe(Effect.scoped, Effect.exit)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) assert.include(String(Cause.squash(exit.cause)), Object.keys(options)[0]!)
      }
    }))

  it.effect("semantic recall through Memory, with the vectors from the server", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.embeddings({ dimensions: 16 })])
      const recalled = yield* Effect.gen(function*() {
        const memory = yield* Memory.Memory
        const ns = Memory.user("ada")
        yield* memory.remember(ns, { id: "a", text: "the cat sat on the mat", metadata: {} })
        yield* memory.remember(ns, { id: "b", text: "quarterly revenue grew", metadata: {} })
        return yield* memory.recall(ns, "quarterly revenue grew", { k: 1 })
      }).pipe(Effect.provide(MemoryInMemory.layerNoDeps.pipe(Layer.provide(embedderLayer(server.url)))))
      assert.strictEqual(recalled[0]?.id, "b")
      assert.closeTo(recalled[0]!.score, 1, 1e-9)
      assert.isAtLeast(server.requests.length, 3)
    }))
})

describe("EmbeddingOpenAi.layerConfig and EmbeddingConfig", () => {
  it.effect("GRAPHENT_EMBEDDING_MODEL=openai:<model> with OPENAI_API_KEY, OPENAI_BASE_URL, GRAPHENT_EMBEDDING_DIMENSIONS", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.embeddings()])
      const response = yield* embedMany(["hello"]).pipe(
        Effect.provide(
          EmbeddingConfig.layerConfig().pipe(Layer.provide(withEnv({
            GRAPHENT_EMBEDDING_MODEL: "openai:nomic-embed-text:v1.5",
            GRAPHENT_EMBEDDING_DIMENSIONS: "5",
            OPENAI_API_KEY: KEY,
            OPENAI_BASE_URL: `${server.url}/v1/`
          })))
        )
      )
      assert.strictEqual(response.embeddings[0]!.vector.length, 5)
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/v1/embeddings")
      assert.strictEqual(request.body.model, "nomic-embed-text:v1.5")
      assert.strictEqual(request.body.dimensions, 5)
      assert.strictEqual(request.headers.authorization, `Bearer ${KEY}`)
    }))

  it.effect("unset or local: the offline embedder (GRAPHENT_EMBEDDING_DIMENSIONS sizes it)", () =>
    Effect.gen(function*() {
      for (const [env, size] of [[{}, 384], [{ GRAPHENT_EMBEDDING_MODEL: "local" }, 384], [{ GRAPHENT_EMBEDDING_DIMENSIONS: "32" }, 32]] as const) {
        const response = yield* embedMany(["hello world"]).pipe(
          Effect.provide(EmbeddingConfig.layerConfig().pipe(Layer.provide(withEnv(env))))
        )
        assert.deepStrictEqual(response.embeddings[0]!.vector, EmbeddingLocal.embedText("hello world", { dimensions: size }))
      }
    }))

  it.effect("an unknown embedder, a missing model or bad dimensions: a ConfigError", () =>
    Effect.gen(function*() {
      for (
        const [env, expected] of [
          [{ GRAPHENT_EMBEDDING_MODEL: "cohere:embed" }, "unknown embedder \"cohere\""],
          [{ GRAPHENT_EMBEDDING_MODEL: "openai:" }, "no model name"],
          [{ GRAPHENT_EMBEDDING_MODEL: "openai" }, "no model name"],
          [{ GRAPHENT_EMBEDDING_DIMENSIONS: "0" }, "GRAPHENT_EMBEDDING_DIMENSIONS"],
          [{ GRAPHENT_EMBEDDING_DIMENSIONS: "many" }, "GRAPHENT_EMBEDDING_DIMENSIONS"]
        ] as const
      ) {
        const exit = yield* Layer.build(EmbeddingConfig.layerConfig().pipe(Layer.provide(withEnv(env)))).pipe(
          Effect.scoped,
          Effect.exit
        )
        assert.isTrue(Exit.isFailure(exit), expected)
        if (Exit.isFailure(exit)) {
          const error = Cause.squash(exit.cause) as { readonly _tag: string; readonly message: string }
          assert.strictEqual(error._tag, "ConfigError")
          assert.include(error.message, expected)
        }
      }
    }))
})
