/**
 * HTTP tools: declare a tool from a method, a URL template, headers, an
 * input Schema and a response Schema; it runs on Effect's `HttpClient`.
 *
 * Guards, on by default:
 *
 * - **allowlist** (`hosts`, required): the URL's scheme, host and port must
 *   be listed: `api.example.com` (http and https on their default ports),
 *   `https://api.example.com`, `127.0.0.1:8080`, `http://[::1]:9000`,
 *   `*.example.com` for subdomains, `*` for any host; a port of `*` allows
 *   every port;
 * - **no private networks**: every address the host resolves to is checked —
 *   loopback, private, link-local, cloud metadata, unspecified, multicast
 *   and reserved ranges are refused, whatever their spelling (`2130706433`,
 *   `0x7f000001`, `[::ffff:127.0.0.1]`, NAT64, 6to4), unless `allowAddresses`
 *   lists them (CIDR blocks) — which opens addresses, not ports: the port
 *   must still be allowed by a `hosts` entry;
 * - **redirects** are followed by the tool itself, each hop checked like the
 *   first (scheme, host, port and addresses); secret-bearing headers are dropped when a redirect leaves the origin;
 * - **timeout** for the whole call (default 30 s), **response size cap**
 *   (default 1 MiB, checked on `Content-Length` and while reading);
 * - **retries only for idempotent methods** (GET, HEAD, OPTIONS, PUT, DELETE,
 *   or `idempotent: true`), on transport errors and 429/502/503/504.
 *
 * URL templates: `{name}` inserts a parameter percent-encoded (it cannot add a
 * path segment, a query or another host; a value that would leave its path
 * segment empty, `.` or `..` — `%2e%2e`, double-encoded, `．．`, `‥` — is
 * refused with `HttpRequestFailed`, reason `argument`); `{+name}` inserts it as is (for a
 * parameter that is a whole URL or path — the host allowlist still applies).
 * Headers and query values may also use `{secret:NAME}`, a declared secret.
 *
 * The checks run before each request, on the addresses the tool resolved. An
 * `HttpClient` resolves the host again when it connects; {@link layerClient}
 * closes that gap (DNS rebinding) by checking the address it connects to.
 *
 * @since 0.1.0
 */
import * as dns from "node:dns"
import * as Undici from "@effect/platform-node/Undici"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as Headers from "effect/http/Headers"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as UrlParams from "effect/http/UrlParams"
import * as Redacted from "effect/Redacted"
import * as Errors from "../services/Errors.js"
import * as Allowlist from "../internal/allowlist.js"
import * as Ip from "../internal/ip.js"
import * as Tool from "../services/Tool.js"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A guard refused the request before it was sent.
 *
 * What to do: the URL's host is not in the tool's `hosts`, or it resolves to a private address: add the host
 * to `hosts`, or allow the address range with `HttpTool.layerClient({ allowAddresses })` if it is meant to be
 * reached.
 *
 * @since 0.1.0
 * @category errors
 */
export class RequestBlocked extends Schema.TaggedError<RequestBlocked>()("RequestBlocked", {
  tool: Schema.String,
  /** The URL without its query (query values may hold secrets). */
  url: Schema.String,
  reason: Schema.Literals(["scheme", "userinfo", "host", "port", "address"]),
  host: Schema.String,
  /** For `port`: the port the URL names (or its scheme's default). */
  port: Schema.optionalKey(Schema.Number),
  /** For `address`: the address the host resolved to, and its range. */
  address: Schema.optionalKey(Schema.String),
  category: Schema.optionalKey(Schema.String),
  /** Whether the request was a redirect's target. */
  redirect: Schema.Boolean
}) {
  override get message(): string {
    const via = this.redirect ? " (redirect target)" : ""
    switch (this.reason) {
      case "scheme":
        return `${this.tool}: ${this.url}${via}: only http and https URLs are allowed`
      case "userinfo":
        return `${this.tool}: ${this.url}${via}: URLs with credentials (user:password@) are not allowed`
      case "host":
        return `${this.tool}: ${this.url}${via}: host ${this.host} is not in the tool's allowlist`
      case "port":
        return `${this.tool}: ${this.url}${via}: host ${this.host} is in the tool's allowlist, but not with this scheme ` +
          `and port (${this.port}); an entry names them (\`https://${this.host}\`, \`${this.host}:${this.port}\`)`
      case "address":
        return `${this.tool}: ${this.url}${via}: host ${this.host} resolves to ${this.address} (${this.category}), ` +
          `which the tool may not reach`
    }
  }
  /** {@link Errors.denied}: exit 1, HTTP 403. */
  get outcome(): Errors.Outcome {
    return Errors.denied
  }
}

/**
 * The response is larger than the tool's cap; reading stopped there.
 *
 * What to do: raise the tool's `maxResponseBytes` if the whole response is needed, or ask the API for less
 * (pagination, filters).
 *
 * @since 0.1.0
 * @category errors
 */
export class ResponseTooLarge extends Schema.TaggedError<ResponseTooLarge>()("ResponseTooLarge", {
  tool: Schema.String,
  url: Schema.String,
  limitBytes: Schema.Number,
  /** What the server announced (`Content-Length`) or what was read before stopping. */
  bytes: Schema.Number
}) {
  override get message(): string {
    return `${this.tool}: ${this.url}: response of at least ${this.bytes} bytes exceeds the limit of ${this.limitBytes}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * The server answered with a status outside 2xx.
 *
 * What to do: read the status and body excerpt in the message: 401/403 usually means a missing or wrong secret
 * (`secrets`), 404 a wrong URL template, 429/5xx a remote problem that the tool's retry policy can absorb.
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpStatusFailed extends Schema.TaggedError<HttpStatusFailed>()("HttpStatusFailed", {
  tool: Schema.String,
  url: Schema.String,
  status: Schema.Number,
  /** The start of the response body (at most 1 KiB). */
  body: Schema.String
}) {
  override get message(): string {
    return `${this.tool}: ${this.url}: HTTP ${this.status}${this.body === "" ? "" : `: ${this.body.slice(0, 200)}`}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * The request could not be made or its response not read.
 *
 * What to do: check that the host is reachable from here and answers in time (the tool's `timeout`); transient
 * failures are retried by the tool's retry policy when it has one.
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpRequestFailed extends Schema.TaggedError<HttpRequestFailed>()("HttpRequestFailed", {
  tool: Schema.String,
  url: Schema.String,
  reason: Schema.Literals(["argument", "invalid-url", "dns", "transport", "decode", "too-many-redirects"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.tool}: ${this.url}: ${this.reason}: ${this.detail}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

/**
 * Every way an HTTP tool's handler fails.
 *
 * @since 0.1.0
 * @category errors
 */
export type HttpToolError = RequestBlocked | ResponseTooLarge | HttpStatusFailed | HttpRequestFailed

// ---------------------------------------------------------------------------
// resolution and address checks
// ---------------------------------------------------------------------------

/**
 * Resolves a host name to its addresses (all of them).
 *
 * @since 0.1.0
 * @category models
 */
export type ResolverShape = (host: string) => Effect.Effect<ReadonlyArray<string>, string>

/**
 * The resolver the tools use: the system's (`dns.lookup`, all addresses) by
 * default; tests replace it.
 *
 * @since 0.1.0
 * @category services
 */
export const Resolver = Context.Reference<ResolverShape>("graphent/HttpTool/Resolver", {
  defaultValue: () => (host) =>
    Effect.tryPromise({
      try: () => dns.promises.lookup(host, { all: true, verbatim: true }),
      catch: (error) => (error as Error).message
    }).pipe(Effect.map((found) => found.map((entry) => entry.address)))
})

/**
 * Why the address must not be reached, or `undefined` when it may:
 * `loopback`, `private`, `link-local`, `metadata`, `unspecified`,
 * `multicast` or `reserved` — unless an allowed CIDR block contains it.
 * `undefined` also for a text that is not an address.
 *
 * @since 0.1.0
 * @category guards
 */
export const blockedCategory = (address: string, allow: ReadonlyArray<string> = []): string | undefined => {
  const bytes = Ip.parse(address)
  if (bytes === undefined) return undefined
  const category = Ip.classify(bytes)
  if (category === undefined) return undefined
  const cidrs = allow.map(Ip.parseCidr).filter((cidr): cidr is Ip.Cidr => cidr !== undefined)
  return Ip.inAny(bytes, cidrs) ? undefined : category
}

const parseAllow = (tool: string, allow: ReadonlyArray<string>): ReadonlyArray<Ip.Cidr> =>
  allow.map((text) => {
    const cidr = Ip.parseCidr(text)
    if (cidr === undefined) throw new Error(`graphent: tool "${tool}": allowAddresses: not a CIDR block: ${JSON.stringify(text)}`)
    return cidr
  })

const parseHosts = (tool: string, hosts: ReadonlyArray<string>): ReadonlyArray<Allowlist.Entry> =>
  hosts.map((text) => {
    const entry = Allowlist.parseEntry(text)
    if (typeof entry === "string") throw new Error(`graphent: tool "${tool}": hosts: ${JSON.stringify(text)}: ${entry}`)
    return entry
  })

// ---------------------------------------------------------------------------
// templates
// ---------------------------------------------------------------------------

const placeholder = /\{(\+?)(secret:)?([A-Za-z_][A-Za-z0-9_]*)\}/g

interface Expansion {
  readonly params: Readonly<Record<string, unknown>>
  readonly secrets: Readonly<Record<string, Redacted.Redacted<string>>>
}

class TemplateError {
  constructor(readonly detail: string) {}
}

const scalar = (name: string, value: unknown): string => {
  if (typeof value === "string") return value
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  throw new TemplateError(`parameter ${name} is ${value === undefined ? "missing" : "not a string, number or boolean"}`)
}

/** Expands a template; `{name}` is percent-encoded unless `raw`, `{+name}` never is. */
const expand = (template: string, values: Expansion, encode: (text: string) => string): string =>
  template.replace(placeholder, (_, plus: string, secret: string | undefined, name: string) => {
    if (secret !== undefined) {
      const value = values.secrets[name]
      if (value === undefined) throw new TemplateError(`secret ${name} is not declared`)
      return Redacted.value(value)
    }
    const text = scalar(name, values.params[name])
    if (/[\u0000-\u001f\u007f]/.test(text)) throw new TemplateError(`parameter ${name} contains control characters`)
    return plus === "+" ? text : encode(text)
  })

/** Dots as URL parsers and Unicode normalization may read them (fullwidth, ideographic, halfwidth). */
const dotLookalikes = /[\u3002\uff0e\uff61]/g

/** Whether a path segment is, or may be read by a server as, `.` or `..` (percent-decoded any number of times, NFKC). */
const isDotSegment = (segment: string): boolean => {
  let text = segment
  // Each decoding shortens the text, so this ends.
  for (;;) {
    const normalized = text.normalize("NFKC").replace(dotLookalikes, ".")
    if (normalized === "." || normalized === "..") return true
    let decoded: string
    try {
      decoded = decodeURIComponent(text)
    } catch {
      return false
    }
    if (decoded === text) return false
    text = decoded
  }
}

const encodedPlaceholder = /\{(?!\+)(?!secret:)[A-Za-z_][A-Za-z0-9_]*\}/

/**
 * Expands a URL template. A `{name}` in the path is encoded inside its
 * segment, and a segment it would make empty, `.` or `..` (in any spelling a
 * server may decode) is refused: a parameter can never add, remove or climb
 * a segment.
 */
const expandUrl = (template: string, values: Expansion): string => {
  const cut = template.search(/[?#]/)
  const path = cut < 0 ? template : template.slice(0, cut)
  const tail = cut < 0 ? "" : template.slice(cut)
  const authorityEnd = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*/.exec(path)?.[0].length ?? 0
  const segments = path.slice(authorityEnd).split("/").map((segment) => {
    const expanded = expand(segment, values, encodeURIComponent)
    if (encodedPlaceholder.test(segment) && (expanded === "" || isDotSegment(expanded))) {
      const names = [...segment.matchAll(placeholder)].map((match) => match[3]).join(", ")
      throw new TemplateError(
        `parameter ${names} would make the path segment ${JSON.stringify(expanded)}: a parameter may not add, remove or climb a segment`
      )
    }
    return expanded
  })
  return expand(path.slice(0, authorityEnd), values, encodeURIComponent) + segments.join("/") +
    expand(tail, values, encodeURIComponent)
}

const usesSecret = (template: string): boolean => /\{secret:[A-Za-z_][A-Za-z0-9_]*\}/.test(template)

const secretNamesIn = (template: string): ReadonlyArray<string> =>
  [...template.matchAll(placeholder)].filter((match) => match[2] !== undefined).map((match) => match[3]!)

// ---------------------------------------------------------------------------
// the tool
// ---------------------------------------------------------------------------

/**
 * An HTTP method.
 *
 * @since 0.1.0
 * @category models
 */
export type Method = "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" | "PATCH" | "DELETE"

const idempotentMethods: ReadonlySet<Method> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Params extends Schema.Top, Success extends Schema.Top> {
  readonly description: string
  /** Default `GET`. */
  readonly method?: Method | undefined
  /** The URL template, e.g. `https://api.github.com/repos/{owner}/{repo}/issues`. */
  readonly url: string
  readonly parameters: Params
  /** The Schema of the response body (JSON); default: any JSON. */
  readonly success?: Success | undefined
  /** Read the body as JSON (default) or as text (then `success` must accept a string). */
  readonly response?: "json" | "text" | undefined
  /** Header templates (`{param}`, `{secret:NAME}`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Query parameter templates, appended to the URL. */
  readonly query?: Readonly<Record<string, string>> | undefined
  /** The JSON body; default: the parameters for POST, PUT and PATCH, none otherwise. */
  readonly body?: ((params: Params["Type"]) => unknown) | undefined
  /**
   * What the tool may reach, entries `[scheme://]host[:port]`: `api.example.com` (http and https on
   * their default ports only), `https://api.example.com`, `127.0.0.1:8080`, `http://[::1]:9000`,
   * `*.example.com` (subdomains), `*` (any host), a port of `*` (any port).
   */
  readonly hosts: ReadonlyArray<string>
  /** CIDR blocks the tool may reach although they are private (e.g. `10.1.0.0/16` for an internal API). */
  readonly allowAddresses?: ReadonlyArray<string> | undefined
  /** Secrets used in header or query templates. */
  readonly secrets?: ReadonlyArray<string> | undefined
  /** Time limit of the whole call, redirects and retries included (default 30 seconds). */
  readonly timeout?: Duration.Input | undefined
  /** Largest response body read (default 1 MiB). */
  readonly maxResponseBytes?: number | undefined
  /** Redirects followed at most (default 5; 0 to fail on any redirect). */
  readonly maxRedirects?: number | undefined
  /** Whether repeating the request is harmless; default: by method. Retries happen only then. */
  readonly idempotent?: boolean | undefined
  /** Retry policy for transient failures of idempotent requests (default: 2 retries, 100 ms then 200 ms). */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Capabilities beyond the `net:<host>` ones derived from `hosts`. */
  readonly capabilities?: ReadonlyArray<string> | undefined
}

const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.max([
  Schedule.exponential("100 millis"),
  Schedule.recurs(2)
])

const redirectStatuses = new Set([301, 302, 303, 307, 308])
const transientStatuses = new Set([429, 502, 503, 504])

const isTransient = (error: HttpToolError): boolean =>
  (error._tag === "HttpRequestFailed" && (error.reason === "transport" || error.reason === "dns")) ||
  (error._tag === "HttpStatusFailed" && transientStatuses.has(error.status))

/** What went wrong on the wire: the client's error and the causes under it (fetch hides them one level down). */
const transportDetail = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = HttpClientError.isHttpClientError(error) ? error.reason : error
  if (HttpClientError.isHttpClientError(error)) parts.push(error.reason._tag)
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const cause = (current as { readonly cause?: unknown }).cause
    if (cause instanceof Error) parts.push(cause.message)
    current = cause
  }
  return parts.join(": ")
}

/** A URL as errors show it: no query, no fragment, no credentials. */
const display = (url: URL): string => `${url.protocol}//${url.host}${url.pathname}`

/** Reads at most `limit` bytes of the body; more is an error (or, with `truncate`, the first `limit` bytes). */
const readBody = (
  tool: string,
  url: URL,
  response: HttpClientResponse.HttpClientResponse,
  limit: number,
  truncate: boolean
): Effect.Effect<string, ResponseTooLarge | HttpRequestFailed> => {
  const announced = Number(response.headers["content-length"])
  if (!truncate && Number.isFinite(announced) && announced > limit) {
    return Effect.fail(new ResponseTooLarge({ tool, url: display(url), limitBytes: limit, bytes: announced }))
  }
  const chunks: Array<Uint8Array> = []
  let size = 0
  let overflow = false
  return response.stream.pipe(
    Stream.runForEachWhile((chunk) =>
      Effect.sync(() => {
        const room = limit - size
        if (chunk.length > room) {
          if (room > 0) chunks.push(chunk.subarray(0, room))
          size += chunk.length
          overflow = true
          return false
        }
        chunks.push(chunk)
        size += chunk.length
        return true
      })
    ),
    Effect.mapError((error) =>
      new HttpRequestFailed({ tool, url: display(url), reason: "transport", detail: error.message })
    ),
    Effect.flatMap(() =>
      overflow && !truncate
        ? Effect.fail(new ResponseTooLarge({ tool, url: display(url), limitBytes: limit, bytes: size }))
        : Effect.succeed(Buffer.concat(chunks).toString("utf8"))
    )
  )
}

/**
 * Declares an HTTP tool.
 *
 * **Example** (Issues of a GitHub repository)
 *
 * ```ts
 * const issues = HttpTool.make("list_issues", {
 *   description: "Lists the open issues of a repository",
 *   url: "https://api.github.com/repos/{owner}/{repo}/issues",
 *   query: { state: "open", per_page: "{limit}" },
 *   headers: { Authorization: "Bearer {secret:GITHUB_TOKEN}", "X-GitHub-Api-Version": "2022-11-28" },
 *   secrets: ["GITHUB_TOKEN"],
 *   hosts: ["api.github.com"],
 *   parameters: Schema.Struct({ owner: Schema.String, repo: Schema.String, limit: Schema.Int }),
 *   success: Schema.Array(Schema.Struct({ number: Schema.Number, title: Schema.String }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string, Params extends Schema.Top, Success extends Schema.Top = typeof Schema.Unknown>(
  name: Name,
  options: Options<Params, Success>
): Tool.Tool<Name, Params, Success, HttpToolError, HttpClient.HttpClient | Success["DecodingServices"]> => {
  const method = options.method ?? "GET"
  const success = (options.success ?? Schema.Unknown) as Success
  if (options.hosts.length === 0) throw new Error(`graphent: tool "${name}": hosts must list at least one host`)
  const allowlist = parseHosts(name, options.hosts)
  const allow = parseAllow(name, options.allowAddresses ?? [])
  const declaredSecrets = new Set(options.secrets ?? [])
  const headerTemplates = Object.entries(options.headers ?? {})
  const queryTemplates = Object.entries(options.query ?? {})
  if (usesSecret(options.url)) {
    throw new Error(`graphent: tool "${name}": secrets may not appear in the URL; use a header or query template`)
  }
  for (const [, template] of [...headerTemplates, ...queryTemplates]) {
    for (const secret of secretNamesIn(template)) {
      if (!declaredSecrets.has(secret)) {
        throw new Error(`graphent: tool "${name}": {secret:${secret}} is used but not declared in secrets`)
      }
    }
  }
  const secretHeaders = headerTemplates.filter(([, template]) => usesSecret(template)).map(([header]) => header.toLowerCase())
  const secretQuery = queryTemplates.filter(([, template]) => usesSecret(template)).map(([param]) => param)
  const idempotent = options.idempotent ?? idempotentMethods.has(method)
  const maxBytes = options.maxResponseBytes ?? 1024 * 1024
  const maxRedirects = options.maxRedirects ?? 5
  const decode = Schema.decodeUnknownEffect(success as unknown as Schema.Codec<Success["Type"], unknown, Success["DecodingServices"]>)
  const hasBody = method === "POST" || method === "PUT" || method === "PATCH"

  /** The guards on one URL: scheme, credentials, host allowlist, every resolved address. */
  const check = (url: URL, redirect: boolean) =>
    Effect.gen(function*() {
      const host = Allowlist.normalizeHost(url.hostname)
      const blocked = (reason: RequestBlocked["reason"], extra: { port?: number; address?: string; category?: string } = {}) =>
        new RequestBlocked({ tool: name, url: display(url), reason, host, redirect, ...extra })
      if (url.protocol !== "http:" && url.protocol !== "https:") return yield* blocked("scheme")
      if (url.username !== "" || url.password !== "") return yield* blocked("userinfo")
      const verdict = Allowlist.check(allowlist, url)
      if (verdict === "host") return yield* blocked("host")
      if (verdict === "port") {
        return yield* blocked("port", { port: url.port === "" ? Allowlist.defaultPort(url.protocol) : Number(url.port) })
      }
      const literal = Ip.parse(host)
      const addresses = literal !== undefined
        ? [Ip.format(literal)]
        : yield* Effect.flatMap(Resolver, (resolve) => resolve(host)).pipe(
          Effect.mapError((detail) => new HttpRequestFailed({ tool: name, url: display(url), reason: "dns", detail }))
        )
      if (addresses.length === 0) {
        return yield* new HttpRequestFailed({ tool: name, url: display(url), reason: "dns", detail: `${host} has no address` })
      }
      for (const address of addresses) {
        const bytes = Ip.parse(address)
        if (bytes === undefined) {
          return yield* new HttpRequestFailed({ tool: name, url: display(url), reason: "dns", detail: `unusable address ${address}` })
        }
        const category = Ip.classify(bytes)
        if (category !== undefined && !Ip.inAny(bytes, allow)) {
          return yield* blocked("address", { address: Ip.format(bytes), category })
        }
      }
    })

  const send = (request: HttpClientRequest.HttpClientRequest, url: URL) =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      // fetch follows redirects itself unless told not to: the tool must see (and check) every hop.
      const init = yield* Effect.serviceOption(FetchHttpClient.RequestInit)
      const redactedHeaders = yield* Headers.CurrentRedactedNames
      const redactedParams = yield* UrlParams.CurrentRedactedNames
      return yield* client.execute(request).pipe(
        Effect.scoped,
        Effect.provideService(FetchHttpClient.RequestInit, { ...Option.getOrElse(init, () => ({})), redirect: "manual" }),
        Effect.provideService(Headers.CurrentRedactedNames, [...redactedHeaders, ...secretHeaders]),
        Effect.provideService(UrlParams.CurrentRedactedNames, [...redactedParams, ...secretQuery]),
        Effect.mapError((error) =>
          new HttpRequestFailed({
            tool: name,
            url: display(url),
            reason: "transport",
            detail: transportDetail(error)
          })
        )
      )
    })

  const attempt = (params: Params["Type"], context: Tool.ToolContext) =>
    Effect.gen(function*() {
      const values: Expansion = { params: params as Record<string, unknown>, secrets: context.secrets ?? {} }
      let url: URL
      let headers: Record<string, string>
      try {
        url = new URL(expandUrl(options.url, values))
        for (const [param, template] of queryTemplates) {
          url.searchParams.append(param, expand(template, values, (text) => text))
        }
        headers = { accept: options.response === "text" ? "text/plain, */*" : "application/json" }
        for (const [header, template] of headerTemplates) headers[header.toLowerCase()] = expand(template, values, (text) => text)
      } catch (error) {
        if (error instanceof TemplateError) {
          return yield* new HttpRequestFailed({ tool: name, url: options.url, reason: "argument", detail: error.detail })
        }
        return yield* new HttpRequestFailed({
          tool: name,
          url: options.url,
          reason: "invalid-url",
          detail: (error as Error).message.replace(/: .*$/, "")
        })
      }
      let currentMethod: Method = method
      let body: unknown = hasBody ? (options.body === undefined ? params : options.body(params)) : undefined
      const origin = url.origin
      for (let hop = 0;; hop++) {
        yield* check(url, hop > 0)
        let request = HttpClientRequest.make(currentMethod)(url, { headers })
        if (body !== undefined) request = HttpClientRequest.bodyJsonUnsafe(request, body)
        const response = yield* send(request, url)
        const location = response.headers["location"]
        if (redirectStatuses.has(response.status) && location !== undefined) {
          if (hop >= maxRedirects) {
            return yield* new HttpRequestFailed({
              tool: name,
              url: display(url),
              reason: "too-many-redirects",
              detail: `more than ${maxRedirects} redirects`
            })
          }
          let next: URL
          try {
            next = new URL(location, url)
          } catch {
            return yield* new HttpRequestFailed({ tool: name, url: display(url), reason: "invalid-url", detail: "bad Location header" })
          }
          // 303, and 301/302 after a POST, turn into a GET without a body (as browsers do).
          if (response.status === 303 || ((response.status === 301 || response.status === 302) && currentMethod === "POST")) {
            currentMethod = "GET"
            body = undefined
          }
          // Credentials go to the origin they were meant for, never to where a redirect points.
          if (next.origin !== origin) {
            headers = Object.fromEntries(
              Object.entries(headers).filter(([header]) =>
                !secretHeaders.includes(header) && header !== "authorization" && header !== "cookie"
              )
            )
            for (const param of secretQuery) next.searchParams.delete(param)
          }
          url = next
          continue
        }
        if (response.status < 200 || response.status >= 300) {
          const text = yield* readBody(name, url, response, 1024, true)
          return yield* new HttpStatusFailed({ tool: name, url: display(url), status: response.status, body: text })
        }
        if (currentMethod === "HEAD" || response.status === 204) return yield* decodeBody(url, null)
        const text = yield* readBody(name, url, response, maxBytes, false)
        if (options.response === "text") return yield* decodeBody(url, text)
        let json: unknown
        try {
          json = text === "" ? null : JSON.parse(text)
        } catch (error) {
          return yield* new HttpRequestFailed({
            tool: name,
            url: display(url),
            reason: "decode",
            detail: `the response is not JSON: ${(error as Error).message}`
          })
        }
        return yield* decodeBody(url, json)
      }
    })

  const decodeBody = (url: URL, value: unknown) =>
    decode(value).pipe(
      Effect.mapError((error) =>
        new HttpRequestFailed({ tool: name, url: display(url), reason: "decode", detail: error.message })
      )
    )

  const retry = options.retry ?? defaultRetry
  return Tool.make(name, {
    description: options.description,
    parameters: options.parameters,
    success,
    timeout: options.timeout ?? Duration.seconds(30),
    idempotent,
    capabilities: [...new Set([...allowlist.map((entry) => `net:${entry.capability}`), ...(options.capabilities ?? [])])],
    secrets: [...declaredSecrets],
    handler: (params, context) =>
      idempotent
        ? Effect.retry(attempt(params, context), { schedule: retry, while: isTransient })
        : attempt(params, context)
  }) as Tool.Tool<Name, Params, Success, HttpToolError, HttpClient.HttpClient | Success["DecodingServices"]>
}

// ---------------------------------------------------------------------------
// a client that checks where it connects
// ---------------------------------------------------------------------------

/**
 * Options of {@link layerClient}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** CIDR blocks this client may connect to although they are private. */
  readonly allowAddresses?: ReadonlyArray<string> | undefined
  /** The resolver used at connect time (default `dns.lookup`); for tests. */
  readonly lookup?: typeof dns.lookup | undefined
}

/**
 * A `dns.lookup` replacement that refuses blocked addresses.
 *
 * @since 0.1.0
 * @category guards
 */
export const guardedLookup = (options?: ClientOptions) => {
  const allow = (options?.allowAddresses ?? []).map((text) => {
    const cidr = Ip.parseCidr(text)
    if (cidr === undefined) throw new Error(`graphent: allowAddresses: not a CIDR block: ${JSON.stringify(text)}`)
    return cidr
  })
  const lookup = options?.lookup ?? dns.lookup
  return (
    hostname: string,
    lookupOptions: dns.LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | Array<dns.LookupAddress>, family?: number) => void
  ): void => {
    lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error !== null) return callback(error, [])
      const found = addresses as unknown as Array<dns.LookupAddress>
      for (const { address } of found) {
        const bytes = Ip.parse(address)
        const category = bytes === undefined ? "unparsable" : Ip.classify(bytes)
        if (category !== undefined && (bytes === undefined || !Ip.inAny(bytes, allow))) {
          const refused: NodeJS.ErrnoException = new Error(
            `graphent: refused to connect to ${hostname}: it resolves to ${address} (${category})`
          )
          refused.code = "EGRAPHENTBLOCKED"
          return callback(refused, [])
        }
      }
      if (lookupOptions.all === true) return callback(null, found)
      const first = found[0]
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), [])
      callback(null, first.address, first.family)
    })
  }
}

/**
 * Effect's undici-based `HttpClient`, checking at connect time that no
 * connection goes to a blocked address (what the host resolves to when the
 * socket opens, so DNS rebinding between the tool's check and the connection
 * is caught), and refusing IP-literal URLs in blocked ranges. Use it in
 * production for HTTP tools; `allowAddresses` must then also list the
 * private blocks any tool is allowed to reach.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (options?: ClientOptions): Layer.Layer<HttpClient.HttpClient> => {
  const lookup = guardedLookup(options)
  const allow = options?.allowAddresses ?? []
  const connector = Undici.buildConnector({ lookup: lookup as never })
  const connect: Undici.buildConnector.connector = (connectOptions, callback) => {
    const host = connectOptions.hostname.replace(/^\[|\]$/g, "")
    const category = blockedCategory(host, allow)
    if (category !== undefined) {
      return callback(new Error(`graphent: refused to connect to ${host} (${category})`), null)
    }
    return connector(connectOptions, callback)
  }
  return NodeHttpClient.layerUndiciNoDispatcher.pipe(
    Layer.provide(Layer.effect(NodeHttpClient.Dispatcher, NodeHttpClient.makeDispatcherOptions({ connect })))
  )
}
