/**
 * The API's edge, attacked from outside with a bare socket, on the in-memory
 * store and on PostgreSQL (which rejects NUL in text, the original 500):
 *
 * - ids in every path that takes one, spelled badly in many ways (NUL and
 *   every other control character, raw and percent-encoded; invalid and
 *   overlong UTF-8 sequences; broken percent-encoding; too long; outside the
 *   pattern; random bytes): `400 InvalidRequest`, never 404/500;
 * - text in bodies (NUL, unpaired surrogates, raw control bytes, bad ids)
 *   in every field: `400`, and nothing is accepted or written;
 * - unknown routes `404`, wrong methods `405` with `allow`;
 * - limits: URL `414`, headers (count, size, beyond Node's own cap) `431`,
 *   body (declared, chunked, 20 MB) `413`; the defaults and configured ones;
 * - a POST without JSON `415`.
 *
 * Every error answer must be JSON with a string `_tag` and `message`.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer } from "effect/http"
import { EmbeddingLocal, Errors, Journal, LocalRuntime, RunsLocal, Storage } from "graphent"
import { ApiAuth, ApiEdge, Server } from "graphent/server"
import * as Testing from "graphent/testing"
import echo from "../../examples/echo.js"
import { request, send, type RawAnswer } from "../support/rawHttp.js"
import * as Store from "../support/store.js"

const pgUrl = "postgres://postgres@127.0.0.1:5432/test"

const limits: ApiEdge.Limits = { maxBodyBytes: 2048, maxUrlBytes: 1024, maxHeaderBytes: 2048, maxHeaders: 30 }

/** Starts a server on `stores` in a scope of its own; returns its port and how to stop it. */
const startServer = async (stores: Layer.Layer<any, any, never>, serverLimits?: Partial<ApiEdge.Limits>) => {
  const scope = Effect.runSync(Scope.make())
  const server = Server.layer({ viewer: false, limits: serverLimits }).pipe(
    Layer.provide(RunsLocal.layer({ agents: [echo] })),
    Layer.provide(ApiAuth.layerOpen),
    Layer.provide(stores)
  )
  const context = await Effect.runPromise(Layer.buildWithScope(server, scope))
  const address = Context.get(context, HttpServer.HttpServer).address
  return { port: (address as { port: number }).port, stop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The documented error body. */
const assertErrorShape = (answer: RawAnswer, status: number, tag: string | undefined, what: string) => {
  assert.strictEqual(answer.status, status, `${what}: ${answer.status} ${answer.body.slice(0, 300)}`)
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/, what)
  assert.isObject(answer.json, `${what}: ${answer.body.slice(0, 200)}`)
  assert.isString(answer.json._tag, what)
  assert.isString(answer.json.message, what)
  if (tag !== undefined) assert.strictEqual(answer.json._tag, tag, what)
}

// ---------------------------------------------------------------------------
// the spellings
// ---------------------------------------------------------------------------

const hex = (byte: number) => `%${byte.toString(16).padStart(2, "0").toUpperCase()}`

/** A pseudo-random generator with a fixed seed: the same spellings on every run. */
const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

/** Ids no path may take, percent-encoded as a client would send them. */
const badIds = (): ReadonlyArray<string> => {
  const controls = [...Array.from({ length: 32 }, (_, byte) => byte), 0x7f].map((byte) => `a${hex(byte)}b`)
  const next = random(42)
  // Random bytes with at least one control character or invalid UTF-8 byte among them.
  const randomBytes = Array.from({ length: 40 }, () => {
    const bytes = Array.from({ length: 1 + Math.floor(next() * 12) }, () => Math.floor(next() * 256))
    bytes[Math.floor(next() * bytes.length)] = [0x00, 0x0a, 0x1b, 0x80, 0xc0, 0xff][Math.floor(next() * 6)]!
    return bytes.map(hex).join("")
  })
  return [
    "%00", "a%00b", "%00abc", "abc%00", "%2500", "%00%00",
    ...controls,
    // Invalid UTF-8: overlong NUL and dot, a lone continuation byte, surrogates, beyond U+10FFFF, truncated.
    "%C0%80", "%E0%80%80", "%F0%80%80%80", "%C0%AE", "%80", "%BF", "%FE", "%FF", "%ED%A0%80", "%ED%BF%BF",
    "%F4%90%80%80", "%E0%A4", "a%E0%A4%A", "%F0%9F%98",
    // Broken percent-encoding.
    "%", "%0", "%G0", "%%", "a%", "%zz", "%%30%30",
    // Too long, or outside the pattern.
    "a".repeat(129), "b".repeat(900), "%20", "a%20b", "-abc", ".abc", "a%5Cb", "%2E%2E", "a%22b", "%E2%80%AE",
    // A child run's id is ids joined by "/" (`a%2Fb` is one): not an empty id, a bad one, nor more than 8 levels.
    "a%2F", "%2Fa", "a%2F%2Fb", "a%2F-b", `a%2F${"b".repeat(129)}`, Array.from({ length: 9 }, () => "a").join("%2F"),
    ...randomBytes
  ]
}

/** Every endpoint that takes an id in its path, with the id in both places where it takes two. */
const idTargets = (id: string): ReadonlyArray<readonly [string, string, string | undefined]> => [
  ["GET", `/v1/runs/${id}`, undefined],
  ["GET", `/v1/runs/${id}/events`, undefined],
  ["GET", `/v1/runs/${id}/journal`, undefined],
  ["POST", `/v1/runs/${id}/cancel`, undefined],
  ["POST", `/v1/runs/${id}/approvals/step-1`, `{"approved":true}`],
  ["POST", `/v1/runs/run-1/approvals/${id}`, `{"approved":true}`],
  ["POST", `/v1/runs/${id}/steps/s1/retry`, undefined],
  ["POST", `/v1/runs/run-1/steps/${id}/assume-done`, undefined]
]

/** Bodies of `POST /v1/runs` with text no store may keep, in every field. */
const badStartBodies = (): ReadonlyArray<string> => {
  const poison = ["\\u0000", "a\\u0000b", "\\ud800", "\\udfff", "x\\udc00y", "\\ud83d"]
  const bodies: Array<string> = []
  for (const bad of poison) {
    bodies.push(`{"agent":"echo","input":"${bad}"}`)
    bodies.push(`{"agent":"echo${bad}","input":"hi"}`)
    bodies.push(`{"agent":"echo","input":"hi","threadId":"${bad}"}`)
    bodies.push(`{"agent":"echo","input":"hi","metadata":{"k":"${bad}"}}`)
    bodies.push(`{"agent":"echo","input":"hi","metadata":{"${bad}":"v"}}`)
  }
  // Raw control bytes inside JSON strings are not JSON.
  bodies.push(`{"agent":"echo","input":"a\u0000b"}`, `{"agent":"echo","input":"a\u0001b"}`)
  // Thread ids are ids.
  bodies.push(`{"agent":"echo","input":"hi","threadId":"${"t".repeat(129)}"}`, `{"agent":"echo","input":"hi","threadId":"a b"}`)
  return bodies
}

// ---------------------------------------------------------------------------
// the attacks, on each store
// ---------------------------------------------------------------------------

const stores: ReadonlyArray<readonly [string, () => Layer.Layer<any, any, never>]> = [
  ["the in-memory store", () => Testing.layer],
  [
    "PostgreSQL",
    () =>
      LocalRuntime.layer.pipe(
        Layer.provideMerge(Storage.layer({ databaseUrl: pgUrl, prefix: Store.uniquePrefix() })),
        Layer.provide(EmbeddingLocal.layer)
      )
  ]
]

describe.each(stores)("the API's edge on %s", (_, makeStores) => {
  let port = 0
  let stop: () => Promise<void> = async () => {}
  beforeAll(async () => {
    ;({ port, stop } = await startServer(makeStores(), limits))
  }, 60_000)
  afterAll(() => stop())

  it("answers 400 InvalidRequest for every bad spelling of an id, in every path that takes one", async () => {
    const spellings = badIds()
    assert.isAbove(spellings.length, 100)
    for (const id of spellings) {
      for (const [method, target, body] of idTargets(id)) {
        const headers = body === undefined ? [] : ["content-type: application/json"]
        const answer = await send(port, request(method, target, { headers, ...(body === undefined ? {} : { body }) }))
        assertErrorShape(answer, 400, "InvalidRequest", `${method} ${target}`)
      }
    }
    // Raw bytes Node's parser refuses: the same shape.
    for (const raw of ["/v1/runs/a\u0000b", "/v1/runs/a\u0001b", "/v1/runs/a b", "/v1/runs/\u007f"]) {
      assertErrorShape(await send(port, request("GET", raw)), 400, "InvalidRequest", JSON.stringify(raw))
    }
    // A good id the store does not know is a 404 with the documented body (on PostgreSQL too).
    assertErrorShape(await send(port, request("GET", "/v1/runs/no-such-run")), 404, "RunNotFound", "unknown run")
  })

  it("answers 400 for text no store can keep, in every field of a body, and accepts nothing", async () => {
    for (const body of badStartBodies()) {
      const answer = await send(port, request("POST", "/v1/runs", { headers: ["content-type: application/json"], body }))
      assertErrorShape(answer, 400, "InvalidRequest", body)
    }
    for (const reason of ["\\u0000", "\\ud800"]) {
      const answer = await send(port, request("POST", "/v1/runs/run-1/approvals/s1", {
        headers: ["content-type: application/json"],
        body: `{"approved":true,"reason":"${reason}"}`
      }))
      assertErrorShape(answer, 400, "InvalidRequest", `reason ${reason}`)
    }
    const listed = await send(port, request("GET", "/v1/runs"))
    assert.strictEqual(listed.json.total, 0)
    // The server is well: a good run goes through.
    const good = await send(port, request("POST", "/v1/runs", {
      headers: ["content-type: application/json; charset=utf-8"],
      body: `{"agent":"echo","input":"still here \\u00e9\\ud83d\\ude00","metadata":{"k":"v"}}`
    }))
    assert.strictEqual(good.status, 202, good.body)
  })

  it("answers 404 RouteNotFound and 405 MethodNotAllowed with allow", async () => {
    for (const target of ["/", "/v2/runs", "/v1/run", "/v1/runs/a/b/c/d", "/v1/agentsx", "/openapi", "/v1/runs/a/steps/b"]) {
      assertErrorShape(await send(port, request("GET", target)), 404, "RouteNotFound", target)
    }
    const wrong: ReadonlyArray<readonly [string, string, string]> = [
      ["DELETE", "/v1/runs", "GET"],
      ["PUT", "/v1/runs", "POST"],
      ["PATCH", "/v1/runs/abc", "GET"],
      ["DELETE", "/v1/runs/abc", "GET"],
      ["GET", "/v1/runs/abc/cancel", "POST"],
      ["POST", "/v1/agents", "GET"],
      ["POST", "/healthz", "GET"],
      ["GET", "/v1/runs/abc/steps/s1/retry", "POST"]
    ]
    for (const [method, target, allowed] of wrong) {
      const answer = await send(port, request(method, target, method === "GET" ? {} : { headers: ["content-type: application/json"], body: "{}" }))
      assertErrorShape(answer, 405, "MethodNotAllowed", `${method} ${target}`)
      assert.include(answer.headers["allow"] ?? "", allowed, `${method} ${target}`)
    }
  })

  it("holds requests to the configured limits: 414, 431, 413", async () => {
    const longQuery = (bytes: number) => `/v1/runs?agent=${"a".repeat(bytes)}`
    assert.strictEqual((await send(port, request("GET", longQuery(1000 - 16)))).status, 200)
    for (const bytes of [1100, 5_000, 64 * 1024, 512 * 1024]) {
      assertErrorShape(await send(port, request("GET", longQuery(bytes))), 414, "UriTooLong", `URL of ${bytes}`)
    }
    const headerLines = (count: number) => Array.from({ length: count }, (_, i) => `x-h${i}: 1`)
    assert.strictEqual((await send(port, request("GET", "/v1/runs", { headers: headerLines(20) }))).status, 200)
    for (const count of [31, 200, 3000]) {
      assertErrorShape(await send(port, request("GET", "/v1/runs", { headers: headerLines(count) })), 431, "HeadersTooLarge", `${count} headers`)
    }
    for (const bytes of [3000, 20_000, 200_000]) {
      const answer = await send(port, request("GET", "/v1/runs", { headers: [`x-big: ${"b".repeat(bytes)}`] }))
      assertErrorShape(answer, 431, "HeadersTooLarge", `a header of ${bytes}`)
    }
    const input = (bytes: number) => `{"agent":"echo","input":"${"i".repeat(bytes)}"}`
    const json = ["content-type: application/json"]
    assert.strictEqual((await send(port, request("POST", "/v1/runs", { headers: json, body: input(1900) }))).status, 202)
    assertErrorShape(await send(port, request("POST", "/v1/runs", { headers: json, body: input(2100) })), 413, "PayloadTooLarge", "body")
    // Declared 20 MB, and only the start of it sent: answered at once.
    const declared = Buffer.from(
      "POST /v1/runs HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n" +
        `content-length: ${20 * 1024 * 1024}\r\n\r\n{"agent":"echo","input":"`
    )
    assertErrorShape(await send(port, declared), 413, "PayloadTooLarge", "declared 20 MB")
    // Chunked, no length declared: stopped while it is read.
    const chunk = `{"agent":"echo","input":"${"c".repeat(4000)}"}`
    const chunked = Buffer.from(
      "POST /v1/runs HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n" +
        `transfer-encoding: chunked\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`
    )
    assertErrorShape(await send(port, chunked), 413, "PayloadTooLarge", "chunked")
  })

  it("answers 415 for a body that is not JSON, or a POST that needs one without it", async () => {
    const body = `{"agent":"echo","input":"hi"}`
    for (const headers of [[], ["content-type: text/plain"], ["content-type: application/x-www-form-urlencoded"], ["content-type: "]]) {
      const answer = await send(port, request("POST", "/v1/runs", { headers, body }))
      assertErrorShape(answer, 415, "UnsupportedMediaType", JSON.stringify(headers))
    }
    const decide = await send(port, request("POST", "/v1/runs/run-1/approvals/s1", { body: `{"approved":true}` }))
    assertErrorShape(decide, 415, "UnsupportedMediaType", "approval without content-type")
    const cancelWithText = await send(port, request("POST", "/v1/runs/run-1/cancel", { headers: ["content-type: text/plain"], body: "x" }))
    assertErrorShape(cancelWithText, 415, "UnsupportedMediaType", "cancel with a text body")
    // A POST that takes no body needs no content-type.
    assert.strictEqual((await send(port, request("POST", "/v1/runs/no-such-run/cancel"))).status, 404)
  })
})

describe("the API's answer to a store that is down", () => {
  it("is the status its error declares (503 ServiceUnavailable), the details only in the log", async () => {
    const down = new Journal.JournalError({ backend: "postgres", operation: "read", reason: "connection refused at 10.0.0.7" })
    const journalDown = Layer.succeed(Journal.Journal, {
      append: () => Effect.void,
      read: () => Effect.fail(down),
      runs: Effect.succeed([])
    })
    const { port, stop } = await startServer(Layer.merge(Testing.layer, journalDown))
    try {
      const answer = await send(port, request("GET", "/v1/runs/run-1"))
      assertErrorShape(answer, Errors.httpStatusOf(down), "ServiceUnavailable", "journal down")
      assert.strictEqual(answer.status, 503)
      assert.notInclude(answer.body, "10.0.0.7")
    } finally {
      await stop()
    }
  })
})

describe("the API's default limits", () => {
  it("answer a 64 KiB URL with 414 and a 20 MB body with 413, as documented", async () => {
    assert.deepStrictEqual(ApiEdge.defaultLimits, { maxBodyBytes: 1024 * 1024, maxUrlBytes: 8 * 1024, maxHeaderBytes: 16 * 1024, maxHeaders: 100 })
    const { port, stop } = await startServer(Testing.layer)
    try {
      assertErrorShape(await send(port, request("GET", `/v1/runs/${"a".repeat(64 * 1024)}`)), 414, "UriTooLong", "64 KiB URL")
      const declared = Buffer.from(
        "POST /v1/runs HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n" +
          `content-length: ${20 * 1024 * 1024}\r\n\r\n{"agent":"echo"`
      )
      assertErrorShape(await send(port, declared), 413, "PayloadTooLarge", "20 MB")
      const headers = Array.from({ length: 101 }, (_, i) => `x-h${i}: 1`)
      assertErrorShape(await send(port, request("GET", "/v1/runs", { headers })), 431, "HeadersTooLarge", "101 headers")
    } finally {
      await stop()
    }
  })

  it("are read from GRAPHENT_API_MAX_* and refuse nonsense", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        Effect.result(ApiEdge.limitsConfig).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))
        )
      const configured = yield* read({ GRAPHENT_API_MAX_BODY_BYTES: "10", GRAPHENT_API_MAX_HEADERS: "7" })
      assert.deepStrictEqual(configured._tag === "Success" ? configured.success : undefined, {
        ...ApiEdge.defaultLimits,
        maxBodyBytes: 10,
        maxHeaders: 7
      })
      for (const bad of ["0", "-5", "lots"]) {
        const refused = yield* read({ GRAPHENT_API_MAX_URL_BYTES: bad })
        assert.strictEqual(refused._tag, "Failure", bad)
      }
    }).pipe((effect) => Effect.runPromise(effect)))
})
