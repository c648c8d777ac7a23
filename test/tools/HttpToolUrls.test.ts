/**
 * HttpTool, the URL guards an attacker aims at: the allowlist's scheme, host
 * and port (directly and through redirects), and path parameters that try to
 * add, remove or climb a segment. Every refusal is checked for its typed
 * error, its audit entry, and that the counting loopback server saw nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import { Credentials } from "graphent"
import * as Allowlist from "../../src/internal/allowlist.js"
import * as HttpTool from "../../src/tools/HttpTool.js"
import { type Guarded, guardedCall, json, random, serve, toolCause } from "../support/security.js"

const clientLayer = Layer.mergeAll(FetchHttpClient.layer, Credentials.layerTest({}))

const fetchUrl = (hosts: ReadonlyArray<string>, allowAddresses: ReadonlyArray<string>) =>
  HttpTool.make("fetch", {
    description: "Fetches a URL",
    url: "{+url}",
    hosts,
    allowAddresses,
    maxRedirects: 2,
    parameters: Schema.Struct({ url: Schema.String }),
    timeout: "5 seconds"
  })

/** Spellings of 127.0.0.1 that URL parsers accept for the same address. */
const loopbackSpellings = ["127.0.0.1", "127.0.0.1.", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "0x7f000001", "127.1", "127.0.1"]
/** Spellings of ::1. */
const ipv6Spellings = ["[::1]", "[0:0:0:0:0:0:0:1]", "[0000::0001]", "[::0:1]"]
/** Spellings of a port: as is, with leading zeros. */
const portSpellings = (port: number) => [`${port}`, `0${port}`, `00${port}`]
const schemeSpellings = ["http", "HTTP", "HtTp"]

/** Every combination: scheme × host × port spellings. */
const urls = (hosts: ReadonlyArray<string>, port: number, path = "/x"): Array<string> =>
  schemeSpellings.flatMap((scheme) =>
    hosts.flatMap((host) => portSpellings(port).map((spelled) => `${scheme}://${host}:${spelled}${path}`))
  )

const assertBlocked = (out: Guarded, reason: string, label: string, redirect = false) => {
  const cause = toolCause(out)
  assert.strictEqual(cause._tag, "RequestBlocked", label)
  assert.strictEqual(cause.reason, reason, label)
  assert.strictEqual(cause.redirect, redirect, label)
  assert.strictEqual(out.audit.length, 1, label)
  assert.strictEqual(out.audit[0]!.outcome, "failed", label)
  assert.strictEqual(out.audit[0]!.error?._tag, "ToolFailed", label)
}

describe("HttpTool allowlist: entries name scheme, host and port", () => {
  it("Allowlist.check: default ports, schemes, wildcards and spellings (no network)", () => {
    const cases: Array<[string, string, Allowlist.Verdict]> = [
      ["api.example.com", "https://api.example.com/", "allowed"],
      ["api.example.com", "http://api.example.com/", "allowed"],
      ["api.example.com", "https://API.Example.COM./", "allowed"],
      ["api.example.com", "https://api.example.com:443/", "allowed"],
      ["api.example.com", "http://api.example.com:80/", "allowed"],
      ["api.example.com", "https://api.example.com:8443/", "port"],
      ["api.example.com", "http://api.example.com:443/", "port"],
      ["api.example.com", "https://api.example.com:80/", "port"],
      ["api.example.com", "https://api.example.com.evil.test/", "host"],
      ["API.EXAMPLE.COM.", "https://api.example.com/", "allowed"],
      ["https://api.example.com", "https://api.example.com/", "allowed"],
      ["https://api.example.com", "http://api.example.com/", "port"],
      ["HTTPS://api.example.com:443/", "https://api.example.com/", "allowed"],
      ["api.example.com:8443", "https://api.example.com:8443/", "allowed"],
      ["api.example.com:8443", "http://api.example.com:8443/", "allowed"],
      ["api.example.com:8443", "https://api.example.com/", "port"],
      ["http://[::1]:9000", "http://[::1]:9000/", "allowed"],
      ["http://[::1]:9000", "http://[0:0::1]:9000/", "allowed"],
      ["http://[::1]:9000", "https://[::1]:9000/", "port"],
      ["http://[::1]:9000", "http://[::1]/", "port"],
      ["http://[::1]:9000", "http://127.0.0.1:9000/", "host"],
      ["::1", "http://[::1]/", "allowed"],
      ["127.0.0.1:8080", "http://2130706433:8080/", "allowed"],
      ["127.0.0.1:8080", "http://127.0.0.1:8081/", "port"],
      ["127.0.0.1", "http://127.0.0.1:8080/", "port"],
      ["0x7f000001:8080", "http://127.0.0.1:8080/", "allowed"],
      ["*.example.com", "https://a.example.com/", "allowed"],
      ["*.example.com", "https://example.com/", "host"],
      ["*.example.com", "https://a.example.com:444/", "port"],
      ["*", "https://anything.test/", "allowed"],
      ["*", "http://anything.test:81/", "port"],
      ["*:*", "http://anything.test:81/", "allowed"],
      ["127.0.0.1:*", "http://127.0.0.1:65535/", "allowed"]
    ]
    for (const [entry, url, verdict] of cases) {
      const parsed = Allowlist.parseEntry(entry)
      if (typeof parsed === "string") throw new Error(`${entry}: ${parsed}`)
      assert.strictEqual(Allowlist.check([parsed], new URL(url)), verdict, `${entry} vs ${url}`)
    }
    for (const bad of ["https://api.example.com/v1", "ftp://x", "x:0", "x:65536", "x:abc", "user@x", "a*b.com", "[::1", ":8080", "[zz]:1"]) {
      assert.throws(() => fetchUrl([bad], []), /hosts/, bad)
    }
    assert.deepStrictEqual(fetchUrl(["https://API.example.com:8443", "[::1]:9000"], []).capabilities, [
      "net:api.example.com",
      "net:[::1]"
    ])
  })

  it.live("another port of an allowed host, in every spelling, directly: refused (reason port); the allowed port works in every spelling", () =>
    Effect.gen(function*() {
      const allowed = yield* serve((_, res) => json(res, 200, { ok: true }))
      const victim = yield* serve((_, res) => json(res, 200, { leaked: true }))
      const tool = fetchUrl([`127.0.0.1:${allowed.port}`], ["127.0.0.1/32"])
      for (const url of urls(loopbackSpellings, victim.port)) assertBlocked(yield* guardedCall(tool, { url }), "port", url)
      // Credentials in the URL are refused before anything else, whatever the port.
      for (const url of [`http://user@127.0.0.1:${victim.port}/`, `http://127.0.0.1:${allowed.port}@127.0.0.1:${victim.port}/`]) {
        assertBlocked(yield* guardedCall(tool, { url }), "userinfo", url)
      }
      assert.strictEqual(victim.received.length, 0)
      const good = urls(loopbackSpellings, allowed.port)
      for (const url of good) assert.strictEqual((yield* guardedCall(tool, { url })).exit._tag, "Success", url)
      assert.strictEqual(allowed.received.length, good.length)
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))

  it.live("IPv6: an entry with brackets and a port allows that port only, in every spelling of the address", () =>
    Effect.gen(function*() {
      const allowed = yield* serve((_, res) => json(res, 200, { ok: true }), "::1")
      const victim = yield* serve((_, res) => json(res, 200, { leaked: true }), "::1")
      const tool = fetchUrl([`http://[::1]:${allowed.port}`], ["::1/128"])
      for (const url of urls(ipv6Spellings, victim.port)) assertBlocked(yield* guardedCall(tool, { url }), "port", url)
      assert.strictEqual(victim.received.length, 0)
      const good = urls(ipv6Spellings, allowed.port)
      for (const url of good) assert.strictEqual((yield* guardedCall(tool, { url })).exit._tag, "Success", url)
      assert.strictEqual(allowed.received.length, good.length)
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))

  it.live("allowAddresses opens addresses, not ports: a host-only entry or * still allows only the default port", () =>
    Effect.gen(function*() {
      const victim = yield* serve((_, res) => json(res, 200, { leaked: true }))
      for (const hosts of [["127.0.0.1"], ["*"], ["http://127.0.0.1"], ["127.0.0.1:80", "127.0.0.1:443"]]) {
        const tool = fetchUrl(hosts, ["127.0.0.0/8"])
        for (const url of urls(loopbackSpellings, victim.port)) {
          assertBlocked(yield* guardedCall(tool, { url }), "port", `${hosts.join(",")} ${url}`)
        }
      }
      assert.strictEqual(victim.received.length, 0)
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))

  it.live("a redirect to another port of the allowed host, in every spelling: refused as a redirect target", () =>
    Effect.gen(function*() {
      const victim = yield* serve((_, res) => json(res, 200, { leaked: true }))
      const v6victim = yield* serve((_, res) => json(res, 200, { leaked: true }), "::1")
      const allowed = yield* serve((req, res) => {
        res.writeHead(302, { location: decodeURIComponent(req.url.slice("/go?to=".length)) })
        res.end()
      })
      const tool = fetchUrl([`127.0.0.1:${allowed.port}`, `[::1]:${allowed.port}`], ["127.0.0.1/32", "::1/128"])
      const targets = [
        ...urls(loopbackSpellings, victim.port),
        `//127.0.0.1:${victim.port}/scheme-relative`,
        `/\\127.0.0.1:${victim.port}/backslash`,
        ...urls(ipv6Spellings, v6victim.port)
      ]
      for (const target of targets) {
        const out = yield* guardedCall(tool, { url: `${allowed.origin}/go?to=${encodeURIComponent(target)}` })
        assertBlocked(out, "port", target, true)
      }
      assert.strictEqual(allowed.received.length, targets.length)
      assert.strictEqual(victim.received.length, 0)
      assert.strictEqual(v6victim.received.length, 0)
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))
})

describe("HttpTool path parameters: never add, remove or climb a segment", () => {
  // The pieces attackers build traversals from: dots (ASCII, fullwidth, ideographic, halfwidth, leaders),
  // separators, percent-encoding (single and double, both cases), overlong UTF-8, query and fragment marks.
  const alphabet = [".", "..", "/", "\\", "%", "2e", "2E", "%2e", "%2f", "%5c", "%25", "．", "。", "｡", "‥", "\u2024", "%c0%ae", "?", "#", ";", " ", "a", "~"]
  const mustRefuse = [
    "", ".", "..", "%2e", "%2E", ".%2e", "%2e.", "%2e%2e", "%2E%2E", "%252e%252e", "%25252e%25252e", ".%252e",
    "．", "．．", "。。", "｡｡", "‥", "\u2024\u2024", "%EF%BC%8E%EF%BC%8E"
  ]
  const mustPass = ["a/b", "../x", "..%2f..", "a\\b", "..\\..", "%2f", "%5c", "..a", "a..", "...", "a%2e%2e", "?x#y", "x;y", "%00", "a b"]

  it.live("generated spellings: refused with a typed error (nothing sent), or sent as exactly one segment that decodes back", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, { ok: true }))
      const tool = HttpTool.make("profile", {
        description: "A user's profile",
        url: `${server.origin}/api/v1/users/{id}/profile`,
        hosts: [server.origin],
        allowAddresses: ["127.0.0.1/32"],
        parameters: Schema.Struct({ id: Schema.String })
      })
      const next = random(12)
      const generated = Array.from({ length: 250 }, () =>
        Array.from({ length: 1 + Math.floor(next() * 5) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join(""))
      const refused = new Set<string>()
      for (const id of [...mustRefuse, ...mustPass, ...generated]) {
        const before = server.received.length
        const out = yield* guardedCall(tool, { id })
        if (out.exit._tag === "Failure") {
          const cause = toolCause(out)
          assert.strictEqual(cause._tag, "HttpRequestFailed", id)
          assert.strictEqual(cause.reason, "argument", id)
          assert.strictEqual(out.audit[0]!.outcome, "failed", id)
          assert.strictEqual(server.received.length, before, id)
          refused.add(id)
          continue
        }
        const path = server.received[before]!.url.split("?")[0]!
        const segments = path.split("/")
        assert.strictEqual(segments.length, 6, `${JSON.stringify(id)} -> ${path}`)
        assert.deepStrictEqual([segments[1], segments[2], segments[3], segments[5]], ["api", "v1", "users", "profile"], path)
        assert.strictEqual(decodeURIComponent(segments[4]!), id, path)
      }
      for (const id of mustRefuse) assert.isTrue(refused.has(id), `${JSON.stringify(id)} should be refused`)
      for (const id of mustPass) assert.isFalse(refused.has(id), `${JSON.stringify(id)} should be sent, encoded`)
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))

  it.live("a segment built from several parameters and text is checked as a whole", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, { ok: true }))
      const tool = HttpTool.make("file", {
        description: "",
        url: `${server.origin}/files/{a}{b}/raw`,
        hosts: [server.origin],
        allowAddresses: ["127.0.0.1/32"],
        parameters: Schema.Struct({ a: Schema.String, b: Schema.String })
      })
      for (const [a, b] of [[".", "."], ["", "."], ["%2e", "."], ["", ""]] as const) {
        assert.strictEqual(toolCause(yield* guardedCall(tool, { a, b })).reason, "argument", `${a}|${b}`)
      }
      assert.strictEqual(server.received.length, 0)
      assert.strictEqual((yield* guardedCall(tool, { a: ".", b: "x" })).exit._tag, "Success")
      assert.strictEqual(server.received[0]!.url, "/files/.x/raw")
    }).pipe(Effect.scoped, Effect.provide(clientLayer)))
})
