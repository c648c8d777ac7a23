/**
 * The server's edge: what every request meets before an endpoint sees it,
 * and what makes every error answer the documented JSON body
 * `{ "_tag", "message" }`.
 *
 * - Limits ({@link Limits}): the URL (`414 UriTooLong`), the headers' count
 *   and size (`431 HeadersTooLarge`), the body (`413 PayloadTooLarge`, from
 *   `content-length` before anything is read, and while a chunked body is
 *   read).
 * - The path and query: percent-encoding that does not decode to valid UTF-8,
 *   or that decodes to a control character (NUL included), is `400
 *   InvalidRequest` (`part`: `Path` / `Query`).
 * - A request to an endpoint that takes a body, or any request that carries
 *   one, must name a media type the endpoint accepts (`application/json`):
 *   else `415 UnsupportedMediaType`.
 * - No route: `404 RouteNotFound`; a route known for other methods: `405
 *   MethodNotAllowed` with `allow`; a failure of the server itself: `500
 *   InternalError`, or the 5xx its error declares (`503 ServiceUnavailable`
 *   for a store that is down; details in the log, not in the answer); any other error
 *   answer without a body gets one.
 * - What Node's HTTP parser refuses before a request exists (a request line or
 *   headers beyond its hard cap, malformed syntax) is answered in the same
 *   shape by {@link nodeServer}'s `clientError` handler, and the connection is
 *   closed only after the answer is sent.
 *
 * @since 0.1.0
 */
import { createServer, type Server, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as ByteSize from "effect/ByteSize"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerRespondable from "effect/http/HttpServerRespondable"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Errors from "../services/Errors.js"
import { Api } from "./Api.js"
import { type Wired, wires } from "../services/Wired.js"

// ---------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------

/**
 * Request limits. Each is a count of bytes except `maxHeaders`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  /** A request body (default 1 MiB): `413` beyond. */
  readonly maxBodyBytes: number
  /** The request target, path and query (default 8 KiB): `414` beyond. */
  readonly maxUrlBytes: number
  /** All header names and values (default 16 KiB): `431` beyond. */
  readonly maxHeaderBytes: number
  /** Header lines (default 100): `431` beyond. */
  readonly maxHeaders: number
}

/**
 * The limits the API applies when none are configured: 1 MiB bodies, 8 KiB URLs, 16 KiB and 100 lines of headers.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultLimits: Limits = {
  maxBodyBytes: 1024 * 1024,
  maxUrlBytes: 8 * 1024,
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 100
}

const limitConfig = (name: string, fallback: number) =>
  Config.Int(name).pipe(
    Config.withDefault(fallback),
    Config.mapEffect((value: number) =>
      value >= 1
        ? Effect.succeed(value)
        : Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: `${name} must be at least 1, got ${value}` })))
    )
  )

/**
 * The {@link Limits} from the environment: `GRAPHENT_API_MAX_BODY_BYTES`,
 * `GRAPHENT_API_MAX_URL_BYTES`, `GRAPHENT_API_MAX_HEADER_BYTES`,
 * `GRAPHENT_API_MAX_HEADERS` (each a positive integer; the defaults when unset).
 *
 * @since 0.1.0
 * @category config
 */
export const limitsConfig: Config.Config<Limits> = Config.all({
  maxBodyBytes: limitConfig("GRAPHENT_API_MAX_BODY_BYTES", defaultLimits.maxBodyBytes),
  maxUrlBytes: limitConfig("GRAPHENT_API_MAX_URL_BYTES", defaultLimits.maxUrlBytes),
  maxHeaderBytes: limitConfig("GRAPHENT_API_MAX_HEADER_BYTES", defaultLimits.maxHeaderBytes),
  maxHeaders: limitConfig("GRAPHENT_API_MAX_HEADERS", defaultLimits.maxHeaders)
})

// ---------------------------------------------------------------------------
// error answers
// ---------------------------------------------------------------------------

/** The `_tag` of an edge error answer, by status. */
const tagOfStatus: Readonly<Record<number, string>> = {
  400: "InvalidRequest",
  404: "RouteNotFound",
  405: "MethodNotAllowed",
  408: "RequestTimeout",
  413: "PayloadTooLarge",
  414: "UriTooLong",
  415: "UnsupportedMediaType",
  431: "HeadersTooLarge",
  500: "InternalError",
  502: "BadGateway",
  503: "ServiceUnavailable",
  504: "GatewayTimeout"
}

/** The documented error body for `status`. */
const errorBody = (status: number, message: string, fields: Readonly<Record<string, unknown>> = {}): string =>
  JSON.stringify({ _tag: tagOfStatus[status] ?? "HttpError", message, ...fields })

const errorResponse = (
  status: number,
  message: string,
  options: { readonly fields?: Readonly<Record<string, unknown>>; readonly headers?: Readonly<Record<string, string>> } = {}
) =>
  HttpServerResponse.text(errorBody(status, message, options.fields), {
    status,
    contentType: "application/json",
    ...(options.headers === undefined ? {} : { headers: options.headers })
  })

// ---------------------------------------------------------------------------
// routes, for 404 / 405 and media types
// ---------------------------------------------------------------------------

interface KnownRoute {
  readonly method: string
  readonly pattern: RegExp
  /** Media types of its body, when it takes one. */
  readonly mediaTypes: ReadonlyArray<string>
}

const patternOf = (path: string) =>
  new RegExp(`^${path.replace(/\/$/, "").replace(/:[^/]+/g, "[^/]+").replace(/\./g, "\\.")}/?$`)

/** The API's endpoints, plus the documents served beside them (`GET` only). */
const routesOf = (documents: ReadonlyArray<string>): ReadonlyArray<KnownRoute> => [
  ...Object.values(Api.groups).flatMap((group) =>
    Object.values(group.endpoints).map((endpoint): KnownRoute => ({
      method: endpoint.method,
      pattern: patternOf(endpoint.path),
      mediaTypes: [...endpoint.payload.keys()]
    }))
  ),
  ...documents.map((path) => ({ method: "GET", pattern: patternOf(path), mediaTypes: [] }))
]

const routeOf = (routes: ReadonlyArray<KnownRoute>, method: string, path: string) =>
  routes.find((route) => route.method === method && route.pattern.test(path))

/** The methods a path is served with (`HEAD` with `GET`). */
const methodsOf = (routes: ReadonlyArray<KnownRoute>, path: string): ReadonlyArray<string> => {
  const methods = new Set(routes.filter((route) => route.pattern.test(path)).map((route) => route.method))
  if (methods.has("GET")) methods.add("HEAD")
  return [...methods]
}

// ---------------------------------------------------------------------------
// checks before routing
// ---------------------------------------------------------------------------

const controlCharacter = /[\u0000-\u001f\u007f]/

/** Decodes each `/`-separated segment (or `&`/`=` component); the first that fails, if any. */
const badEncoding = (raw: string, separators: RegExp): string | undefined => {
  for (const component of raw.split(separators)) {
    let decoded: string
    try {
      decoded = decodeURIComponent(component.replace(/\+/g, " "))
    } catch {
      return `${JSON.stringify(component.slice(0, 64))} is not valid percent-encoded UTF-8`
    }
    if (controlCharacter.test(decoded)) {
      return `${JSON.stringify(component.slice(0, 64))} decodes to a control character (such as NUL), which no id or text may hold`
    }
  }
  return undefined
}

const mediaTypeOf = (contentType: string | undefined) => contentType?.split(";")[0]?.trim().toLowerCase() ?? ""

/** Why the request is refused before routing, as an answer; `undefined` when it may go on. */
const refusal = (request: HttpServerRequest.HttpServerRequest, limits: Limits, routes: ReadonlyArray<KnownRoute>) => {
  const url = request.url
  const urlBytes = Buffer.byteLength(url)
  if (urlBytes > limits.maxUrlBytes) {
    return errorResponse(414, `the request target is ${urlBytes} bytes; at most ${limits.maxUrlBytes} are accepted`, {
      fields: { limit: limits.maxUrlBytes }
    })
  }
  const raw = NodeHttpServerRequest.toIncomingMessage(request).rawHeaders
  const count = raw.length / 2
  if (count > limits.maxHeaders) {
    return errorResponse(431, `the request has more than ${limits.maxHeaders} header lines`, { fields: { limit: limits.maxHeaders } })
  }
  let headerBytes = 0
  for (const item of raw) headerBytes += Buffer.byteLength(item) + 2
  if (headerBytes > limits.maxHeaderBytes) {
    return errorResponse(431, `the request's headers are ${headerBytes} bytes; at most ${limits.maxHeaderBytes} are accepted`, {
      fields: { limit: limits.maxHeaderBytes }
    })
  }
  const queryAt = url.indexOf("?")
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  const pathProblem = badEncoding(path, /\//)
  if (pathProblem !== undefined) return errorResponse(400, `path: ${pathProblem}`, { fields: { part: "Path" } })
  if (queryAt !== -1) {
    const queryProblem = badEncoding(url.slice(queryAt + 1), /[&=]/)
    if (queryProblem !== undefined) return errorResponse(400, `query: ${queryProblem}`, { fields: { part: "Query" } })
  }
  const length = request.headers["content-length"]
  const declared = length === undefined ? undefined : Number(length)
  if (declared !== undefined && declared > limits.maxBodyBytes) {
    return errorResponse(413, `the body is ${declared} bytes; at most ${limits.maxBodyBytes} are accepted`, {
      fields: { limit: limits.maxBodyBytes }
    })
  }
  const hasBody = (declared !== undefined && declared > 0) || request.headers["transfer-encoding"] !== undefined
  const route = routeOf(routes, request.method, path)
  const accepted = route === undefined || route.mediaTypes.length === 0 ? ["application/json"] : route.mediaTypes
  if ((hasBody || (route !== undefined && route.mediaTypes.length > 0)) && !accepted.includes(mediaTypeOf(request.headers["content-type"]))) {
    const given = request.headers["content-type"]
    return errorResponse(
      415,
      `${given === undefined ? "no content-type" : `content-type ${JSON.stringify(given)}`}: send the body as ${accepted.join(" or ")}`,
      { fields: { accepted } }
    )
  }
  return undefined
}

// ---------------------------------------------------------------------------
// after routing
// ---------------------------------------------------------------------------

const isEmptyBody = (response: HttpServerResponse.HttpServerResponse) => response.body._tag === "Empty"

/** An error answer without a body gets the documented one. */
const withErrorBody = (response: HttpServerResponse.HttpServerResponse) =>
  response.status < 400 || !isEmptyBody(response)
    ? response
    : HttpServerResponse.text(errorBody(response.status, STATUS_CODES[response.status] ?? "error"), {
      status: response.status,
      contentType: "application/json",
      headers: response.headers
    })

const notFound = (request: HttpServerRequest.HttpServerRequest, routes: ReadonlyArray<KnownRoute>) => {
  const path = request.url.split("?")[0] ?? request.url
  const allowed = methodsOf(routes, path)
  return allowed.length === 0
    ? errorResponse(404, `no route for ${request.method} ${path.slice(0, 200)}`)
    : errorResponse(405, `${request.method} is not allowed on ${path.slice(0, 200)}; allowed: ${allowed.join(", ")}`, {
      headers: { allow: allowed.join(", ") },
      fields: { allowed }
    })
}

/**
 * A failure of the app: its own answer when it has one (e.g. a body too large: 413), else the 5xx status
 * its outcome declares (`Errors.httpStatusOf`), else `500`.
 */
const answerFailure = (
  request: HttpServerRequest.HttpServerRequest,
  cause: Cause.Cause<unknown>,
  routes: ReadonlyArray<KnownRoute>
) => {
  const failure = Cause.squash(cause)
  if ((failure as { readonly reason?: { readonly _tag?: unknown } })?.reason?._tag === "RouteNotFound") {
    return Effect.succeed(notFound(request, routes))
  }
  if (HttpServerRespondable.isRespondable(failure)) {
    return Effect.map(HttpServerRespondable.toResponse(failure), (response) =>
      response.status >= 500 ? errorResponse(500, "internal error; see the server's log") : response)
  }
  // A server-side failure answers the 5xx its outcome declares (a store that is down: 503), else 500.
  const status = Errors.httpStatusOf(failure)
  return Effect.as(
    Effect.logError(`${request.method} ${request.url.slice(0, 200)} failed`, cause),
    errorResponse(status >= 500 ? status : 500, "internal error; see the server's log")
  )
}

/**
 * The edge as global router middleware: limits and checks before routing,
 * documented error bodies after.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  limits: Limits = defaultLimits,
  options: {
    /** Paths served with `GET` beside the API (the OpenAPI document, the viewer's files), for 404 versus 405. */
    readonly documents?: ReadonlyArray<string> | undefined
  } = {}
): Layer.Layer<Wired<"ApiEdge">, never, HttpRouter.HttpRouter> => {
  const routes = routesOf(options.documents ?? [])
  return HttpRouter.middleware((app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const refused = refusal(request, limits, routes)
      if (refused !== undefined) return Effect.succeed(refused)
      return app.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limits.maxBodyBytes)),
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : answerFailure(request, cause, routes)
        ),
        Effect.map(withErrorBody)
      )
    }), { global: true }).pipe(wires("ApiEdge"))
}

// ---------------------------------------------------------------------------
// Node's side
// ---------------------------------------------------------------------------

/** Sockets already answered: Node reports each further chunk a failed parser sees as another error. */
const answered = new WeakSet<Duplex>()

/** Answers on a raw socket, then closes it once the client has it (reading what it still sends meanwhile). */
const answerOnSocket = (socket: Duplex, status: number, message: string) => {
  if (answered.has(socket)) return
  answered.add(socket)
  if (!socket.writable) return socket.destroy()
  const body = errorBody(status, message)
  socket.on("error", () => socket.destroy())
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  )
  // Closing with unread input would reset the connection before the client reads the answer.
  socket.resume()
  setTimeout(() => socket.destroy(), 5_000).unref()
}

/**
 * A Node HTTP server for `NodeHttpServer.layer` under these limits. Node's
 * parser keeps a hard cap on the request line and headers (four times the
 * limits, at least Node's default 16 KiB), so that the edge can answer the
 * limits precisely; what exceeds the cap, or does not parse, is answered
 * here in the documented shape.
 *
 * @since 0.1.0
 * @category constructors
 */
export const nodeServer = (limits: Limits = defaultLimits) => (): Server => {
  const server = createServer({ maxHeaderSize: Math.max(16 * 1024, 4 * (limits.maxUrlBytes + limits.maxHeaderBytes)) })
  // Counted by the edge (Node would refuse or drop those beyond its own count); the byte cap bounds them.
  server.maxHeadersCount = 0
  server.on("clientError", (error: Error & { readonly code?: string; readonly rawPacket?: Buffer }, socket: Duplex) => {
    switch (error.code) {
      case "ECONNRESET":
      case "EPIPE":
        return socket.destroy()
      case "HPE_HEADER_OVERFLOW": {
        // The cap was reached before the request line ended: the target is what is too long.
        const packet = error.rawPacket
        return packet !== undefined && !packet.includes("\r\n")
          ? answerOnSocket(socket, 414, "the request target is too long")
          : answerOnSocket(socket, 431, "the request's headers are too large")
      }
      case "ERR_HTTP_REQUEST_TIMEOUT":
        return answerOnSocket(socket, 408, "the request took too long to arrive")
      default:
        return answerOnSocket(socket, 400, `the request is not valid HTTP (${error.code ?? error.message})`)
    }
  })
  return server
}
