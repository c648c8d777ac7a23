import { assert, describe, it } from "@effect/vitest"
import * as dns from "node:dns"
import { Effect, Layer, Schedule, Schema } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { Credentials } from "graphent"
import * as HttpTool from "../../src/tools/HttpTool.js"
import { failureOf, guardedCall, json, serve, toolCause } from "../support/security.js"

const secretToken = "tok_9f8e7d6c5b4a"
const fetchLayer = Layer.mergeAll(FetchHttpClient.layer, Credentials.layerTest({ API_TOKEN: secretToken }))

/** A tool whose whole URL comes from the caller: only the guards stand between it and the network. */
const fetchAny = (options: { hosts?: ReadonlyArray<string>; allowAddresses?: ReadonlyArray<string> } = {}) =>
  HttpTool.make("fetch", {
    description: "Fetches a URL",
    url: "{+url}",
    hosts: options.hosts ?? ["*:*"],
    allowAddresses: options.allowAddresses,
    parameters: Schema.Struct({ url: Schema.String }),
    timeout: "5 seconds"
  })

describe("HttpTool: requests", () => {
  it.live("GET with a URL template, query, a secret header; the JSON response decoded", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, { items: [{ id: 1, title: "one" }] }))
      const tool = HttpTool.make("list", {
        description: "Lists items",
        url: `${server.origin}/repos/{owner}/items`,
        query: { limit: "{limit}" },
        headers: { Authorization: "Bearer {secret:API_TOKEN}" },
        secrets: ["API_TOKEN"],
        hosts: [server.origin],
        allowAddresses: ["127.0.0.1/32"],
        parameters: Schema.Struct({ owner: Schema.String, limit: Schema.Int }),
        success: Schema.Struct({ items: Schema.Array(Schema.Struct({ id: Schema.Number, title: Schema.String })) })
      })
      assert.deepStrictEqual(tool.capabilities, ["net:127.0.0.1"])
      const out = yield* guardedCall(tool, { owner: "a b/../c", limit: 5 })
      assert.strictEqual(out.exit._tag, "Success")
      if (out.exit._tag === "Success") assert.deepStrictEqual(out.exit.value.value, { items: [{ id: 1, title: "one" }] })
      const request = server.received[0]!
      // {owner} is one percent-encoded path segment: no traversal, no extra segment.
      assert.strictEqual(request.url, "/repos/a%20b%2F..%2Fc/items?limit=5")
      assert.strictEqual(request.headers.authorization, `Bearer ${secretToken}`)
      assert.strictEqual(out.audit[0]?.outcome, "succeeded")
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("POST sends the parameters as JSON; a secret echoed back is redacted from the result", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => json(res, 200, { echoed: req.headers.authorization, body: JSON.parse(req.body) }))
      const tool = HttpTool.make("create", {
        description: "Creates",
        method: "POST",
        url: `${server.origin}/items`,
        headers: { Authorization: "Bearer {secret:API_TOKEN}" },
        secrets: ["API_TOKEN"],
        hosts: [server.origin],
        allowAddresses: ["127.0.0.1/32"],
        parameters: Schema.Struct({ title: Schema.String })
      })
      assert.isFalse(tool.idempotent)
      const out = yield* guardedCall(tool, { title: "x" })
      assert.strictEqual(out.exit._tag, "Success")
      if (out.exit._tag !== "Success") return
      assert.deepStrictEqual(out.exit.value.result, { echoed: "Bearer [REDACTED:API_TOKEN]", body: { title: "x" } })
      assert.notInclude(JSON.stringify(out.exit.value), secretToken)
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it("declaration errors: no hosts, undeclared secret, secret in the URL, bad CIDR", () => {
    const base = { description: "", parameters: Schema.Struct({}), url: "https://api.example.com/" }
    assert.throws(() => HttpTool.make("a", { ...base, hosts: [] }), /at least one host/)
    assert.throws(
      () => HttpTool.make("b", { ...base, hosts: ["api.example.com"], headers: { x: "{secret:NOPE}" } }),
      /not declared/
    )
    assert.throws(
      () => HttpTool.make("c", { ...base, hosts: ["api.example.com"], url: "https://x/{secret:T}", secrets: ["T"] }),
      /may not appear in the URL/
    )
    assert.throws(() => HttpTool.make("d", { ...base, hosts: ["*"], allowAddresses: ["10.0.0.0/99"] }), /CIDR/)
  })
})

describe("HttpTool: SSRF guards (typed error, audit entry, no request sent)", () => {
  it.live("loopback in every spelling, and the metadata address, are refused", () =>
    Effect.gen(function*() {
      // "::" listens on IPv4 and IPv6 loopback alike: it would see any request that got through.
      const server = yield* serve((_, res) => json(res, 200, { leaked: true }), "::")
      const attacks = [
        `http://127.0.0.1:${server.port}/`,
        `http://localhost:${server.port}/`,
        `http://[::1]:${server.port}/`,
        `http://0x7f000001:${server.port}/`,
        `http://2130706433:${server.port}/`,
        `http://0177.0.0.1:${server.port}/`,
        `http://127.1:${server.port}/`,
        `http://[::ffff:127.0.0.1]:${server.port}/`,
        `http://169.254.169.254/latest/meta-data/iam/security-credentials/`,
        `http://[fd00:ec2::254]/latest/meta-data/`,
        `http://0.0.0.0:${server.port}/`
      ]
      for (const url of attacks) {
        const out = yield* guardedCall(fetchAny(), { url })
        const cause = toolCause(out)
        assert.strictEqual(cause._tag, "RequestBlocked", url)
        assert.strictEqual(cause.reason, "address", url)
        assert.include(["loopback", "metadata", "unspecified"], cause.category, url)
        assert.strictEqual(out.audit.length, 1)
        assert.strictEqual(out.audit[0]!.outcome, "failed")
        assert.include(out.audit[0]!.error?.message ?? "", "may not reach")
      }
      assert.strictEqual(server.received.length, 0)
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("a host outside the allowlist, other schemes and credentials in the URL are refused", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, {}))
      const tool = fetchAny({ hosts: ["api.example.com", "*.example.org"], allowAddresses: ["127.0.0.1/32"] })
      const cases: Array<[string, string]> = [
        [`${server.origin}/`, "host"],
        [`http://example.org.evil.test/`, "host"],
        [`http://api.example.com.evil.test/`, "host"],
        [`file:///etc/passwd`, "scheme"],
        [`gopher://api.example.com/`, "scheme"],
        [`http://user:pw@api.example.com/`, "userinfo"]
      ]
      for (const [url, reason] of cases) {
        const out = yield* guardedCall(tool, { url })
        const cause = toolCause(out)
        assert.strictEqual(cause._tag, "RequestBlocked", url)
        assert.strictEqual(cause.reason, reason, url)
        assert.strictEqual(out.audit[0]!.outcome, "failed")
      }
      assert.strictEqual(server.received.length, 0)
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("a host name that resolves to a private address is refused (every resolved address is checked)", () =>
    Effect.gen(function*() {
      const tool = fetchAny({ hosts: ["internal.example.com"] })
      const out = yield* guardedCall(tool, { url: "http://internal.example.com/admin" }).pipe(
        Effect.provideService(HttpTool.Resolver, () => Effect.succeed(["93.184.216.34", "10.0.0.7"]))
      )
      const cause = toolCause(out)
      assert.strictEqual(cause.reason, "address")
      assert.strictEqual(cause.address, "10.0.0.7")
      assert.strictEqual(cause.category, "private")
    }).pipe(Effect.provide(fetchLayer)))

  it.live("a redirect from an allowed host to a private one is refused; the private server receives nothing", () =>
    Effect.gen(function*() {
      const internal = yield* serve((_, res) => json(res, 200, { secret: "internal" }), "127.0.0.2")
      const allowed = yield* serve((req, res) => {
        const target = req.url === "/to-internal"
          ? `${internal.origin}/admin`
          : req.url === "/to-metadata"
          ? "http://169.254.169.254/latest/meta-data/"
          : "http://evil.test/"
        res.writeHead(302, { location: target })
        res.end()
      })
      const tool = fetchAny({ hosts: ["127.0.0.1:*", "127.0.0.2:*", "169.254.169.254", "evil.test"], allowAddresses: ["127.0.0.1/32"] })
      for (const path of ["/to-internal", "/to-metadata"]) {
        const out = yield* guardedCall(tool, { url: `${allowed.origin}${path}` })
        const cause = toolCause(out)
        assert.strictEqual(cause._tag, "RequestBlocked")
        assert.strictEqual(cause.reason, "address")
        assert.isTrue(cause.redirect)
        assert.strictEqual(out.audit[0]!.outcome, "failed")
      }
      const evil = yield* guardedCall(fetchAny({ hosts: [`127.0.0.1:${allowed.port}`], allowAddresses: ["127.0.0.1/32"] }), {
        url: `${allowed.origin}/to-evil`
      })
      assert.strictEqual(toolCause(evil).reason, "host")
      assert.strictEqual(internal.received.length, 0)
      assert.strictEqual(allowed.received.length, 3)
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("same-origin redirects are followed; secret headers are not sent to another origin", () =>
    Effect.gen(function*() {
      const other = yield* serve((_, res) => json(res, 200, { where: "other" }))
      const first = yield* serve((req, res) => {
        if (req.url === "/start") {
          res.writeHead(301, { location: "/moved" })
          return res.end()
        }
        res.writeHead(307, { location: `${other.origin}/final` })
        res.end()
      })
      const tool = HttpTool.make("hop", {
        description: "",
        url: `${first.origin}/start`,
        headers: { Authorization: "Bearer {secret:API_TOKEN}", "X-Trace": "t-1" },
        secrets: ["API_TOKEN"],
        hosts: [first.origin, other.origin],
        allowAddresses: ["127.0.0.1/32"],
        parameters: Schema.Struct({})
      })
      const out = yield* guardedCall(tool, {})
      assert.strictEqual(out.exit._tag, "Success")
      assert.deepStrictEqual(first.received.map((r) => r.url), ["/start", "/moved"])
      assert.strictEqual(first.received[1]!.headers.authorization, `Bearer ${secretToken}`)
      assert.strictEqual(other.received.length, 1)
      assert.isUndefined(other.received[0]!.headers.authorization)
      assert.strictEqual(other.received[0]!.headers["x-trace"], "t-1")
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("too many redirects is a typed error", () =>
    Effect.gen(function*() {
      const loop = yield* serve((_, res) => {
        res.writeHead(302, { location: "/again" })
        res.end()
      })
      const tool = HttpTool.make("loop", {
        description: "",
        url: `${loop.origin}/`,
        hosts: [loop.origin],
        allowAddresses: ["127.0.0.1/32"],
        maxRedirects: 3,
        parameters: Schema.Struct({})
      })
      const out = yield* guardedCall(tool, {})
      assert.strictEqual(toolCause(out).reason, "too-many-redirects")
      assert.strictEqual(loop.received.length, 4)
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))
})

describe("HttpTool: limits", () => {
  const bigTool = (origin: string, path: string) =>
    HttpTool.make("big", {
      description: "",
      url: `${origin}${path}`,
      response: "text",
      success: Schema.String,
      hosts: [origin],
      allowAddresses: ["127.0.0.1/32"],
      maxResponseBytes: 64 * 1024,
      parameters: Schema.Struct({})
    })

  it.live("an oversized response is refused: announced by Content-Length, or found while reading", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        const body = "x".repeat(1024 * 1024)
        if (req.url === "/announced") res.writeHead(200, { "content-length": String(body.length) })
        else res.writeHead(200, { "transfer-encoding": "chunked" })
        res.end(body)
      })
      const announced = yield* guardedCall(bigTool(server.origin, "/announced"), {})
      const cause = toolCause(announced)
      assert.strictEqual(cause._tag, "ResponseTooLarge")
      assert.strictEqual(cause.bytes, 1024 * 1024)
      const streamed = yield* guardedCall(bigTool(server.origin, "/chunked"), {})
      const streamedCause = toolCause(streamed)
      assert.strictEqual(streamedCause._tag, "ResponseTooLarge")
      assert.isAbove(streamedCause.bytes as number, 64 * 1024)
      assert.strictEqual(streamed.audit[0]!.error?._tag, "ToolFailed")
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("a server that never answers: the call times out (ToolTimeout)", () =>
    Effect.gen(function*() {
      const server = yield* serve(() => {/* never answers */})
      const tool = HttpTool.make("slow", {
        description: "",
        url: `${server.origin}/`,
        hosts: [server.origin],
        allowAddresses: ["127.0.0.1/32"],
        timeout: "300 millis",
        parameters: Schema.Struct({})
      })
      const out = yield* guardedCall(tool, {})
      assert.strictEqual(failureOf(out)._tag, "ToolTimeout")
      assert.strictEqual(out.audit[0]!.error?._tag, "ToolTimeout")
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("transient failures are retried for GET, never for POST", () =>
    Effect.gen(function*() {
      let calls = 0
      const server = yield* serve((_, res) => {
        calls++
        if (calls <= 2) return json(res, 503, { error: "busy" })
        json(res, 200, { ok: true })
      })
      const make = (method: "GET" | "POST") =>
        HttpTool.make(`call_${method}`, {
          description: "",
          method,
          url: `${server.origin}/`,
          hosts: [server.origin],
          allowAddresses: ["127.0.0.1/32"],
          retry: Schedule.recurs(3),
          parameters: Schema.Struct({})
        })
      const get = yield* guardedCall(make("GET"), {})
      assert.strictEqual(get.exit._tag, "Success")
      assert.strictEqual(server.received.length, 3)
      calls = 0
      const post = yield* guardedCall(make("POST"), {})
      const cause = toolCause(post)
      assert.strictEqual(cause._tag, "HttpStatusFailed")
      assert.strictEqual(cause.status, 503)
      assert.strictEqual(server.received.length, 4)
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))

  it.live("non-JSON and schema-mismatched bodies are decode errors", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        if (req.url === "/text") {
          res.writeHead(200, { "content-type": "text/plain" })
          return res.end("hello")
        }
        json(res, 200, { n: "not a number" })
      })
      const tool = (path: string) =>
        HttpTool.make("decode", {
          description: "",
          url: `${server.origin}${path}`,
          hosts: [server.origin],
          allowAddresses: ["127.0.0.1/32"],
          success: Schema.Struct({ n: Schema.Number }),
          parameters: Schema.Struct({})
        })
      assert.strictEqual(toolCause(yield* guardedCall(tool("/text"), {})).reason, "decode")
      assert.strictEqual(toolCause(yield* guardedCall(tool("/json"), {})).reason, "decode")
    }).pipe(Effect.scoped, Effect.provide(fetchLayer)))
})

describe("HttpTool.layerClient: the connect-time guard", () => {
  it.live("DNS rebinding: the tool's resolver said public, the connection resolves to loopback: refused", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, { leaked: true }))
      const tool = fetchAny({ hosts: [`rebind.test:${server.port}`] })
      // First answer public (the tool's check), then loopback (the socket's own lookup).
      const rebinding = ((_host: string, _options: unknown, callback: (e: null, a: Array<dns.LookupAddress>) => void) =>
        callback(null, [{ address: "127.0.0.1", family: 4 }])) as unknown as typeof dns.lookup
      const out = yield* guardedCall(tool, { url: `http://rebind.test:${server.port}/` }).pipe(
        Effect.provideService(HttpTool.Resolver, () => Effect.succeed(["93.184.216.34"])),
        Effect.provide(HttpTool.layerClient({ lookup: rebinding }))
      )
      const cause = toolCause(out)
      assert.strictEqual(cause._tag, "HttpRequestFailed")
      assert.strictEqual(cause.reason, "transport")
      assert.include(cause.detail, "refused to connect to rebind.test: it resolves to 127.0.0.1 (loopback)")
      assert.strictEqual(server.received.length, 0)
    }).pipe(Effect.scoped, Effect.provide(Credentials.layerTest({}))))

  it.live("allowed private blocks connect; IP literals in blocked ranges do not", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, { ok: 1 }))
      const tool = fetchAny({ allowAddresses: ["127.0.0.1/32"] })
      const ok = yield* guardedCall(tool, { url: `${server.origin}/` }).pipe(
        Effect.provide(HttpTool.layerClient({ allowAddresses: ["127.0.0.1/32"] }))
      )
      assert.strictEqual(ok.exit._tag, "Success")
      // The tool allows it, the client does not: the client wins.
      const refused = yield* guardedCall(tool, { url: `${server.origin}/` }).pipe(Effect.provide(HttpTool.layerClient()))
      assert.strictEqual(toolCause(refused).reason, "transport")
      assert.include(toolCause(refused).detail, "refused to connect to 127.0.0.1 (loopback)")
      assert.strictEqual(server.received.length, 1)
    }).pipe(Effect.scoped, Effect.provide(Credentials.layerTest({}))))

  it("blockedCategory: a quick check for custom tools", () => {
    assert.strictEqual(HttpTool.blockedCategory("0x7f000001"), "loopback")
    assert.strictEqual(HttpTool.blockedCategory("10.1.1.1", ["10.0.0.0/8"]), undefined)
    assert.strictEqual(HttpTool.blockedCategory("8.8.8.8"), undefined)
  })
})
