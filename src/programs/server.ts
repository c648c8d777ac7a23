/**
 * The HTTP server: the {@link Api} over the {@link Runs} service, its OpenAPI
 * document at `/openapi.json`, and the web trace viewer at `/`.
 *
 * **Example** (Serving two agents)
 *
 * ```ts
 * const server = Server.layer({ port: 8080 }).pipe(
 *   Layer.provide(RunsLocal.layer({ agents: [echo, todo] })),
 *   Layer.provide(Auth.layerConfig),
 *   Layer.provide(LocalRuntime.layerMemory)
 * )
 * Layer.launch(server).pipe(NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Stream from "effect/Stream"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServer from "effect/http/HttpServer"
import type { ServeError } from "effect/http/HttpServerError"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import { Api, type Authorization, InvalidRequest, Principal, RequestValidation } from "../api/Api.js"
import * as Edge from "../api/Edge.js"
import * as JournalFile from "../layers/JournalFile.js"
import * as Telemetry from "../layers/Telemetry.js"
import { ExperimentNotFound, Experiments, ExperimentsError } from "../services/Experiments.js"
import { JournalError } from "../services/Journal.js"
import { ForkInvalid } from "../services/Replay.js"
import { Runs } from "../services/Runs.js"
import { type Wired, wires } from "../services/Wired.js"
import { version } from "../version.js"

// ---------------------------------------------------------------------------
// metrics of the server itself; the runs' own come from `Telemetry.layerMetrics` when it is provided
// ---------------------------------------------------------------------------

const runsRunning = Metric.gauge("graphent_server_runs_running", { description: "Runs executing now" })
const runsQueued = Metric.gauge("graphent_server_runs_queued", { description: "Runs waiting for a slot" })
const runsRejected = Metric.counter("graphent_server_runs_rejected", {
  description: "POST /v1/runs answered 429: slots and queue were full",
  incremental: true
})

// ---------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------

/** Errors of class `Class` become defects: a store that fails is the server's failure (its outcome: 500/503), not the client's. */
const dieOn = <X extends Error>(Class: abstract new(...args: any) => X) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, X>, R> =>
  Effect.catchIf(effect, (error): error is E & X => error instanceof Class, Effect.die) as Effect.Effect<A, Exclude<E, X>, R>

/** A journal that fails is the server's failure (its outcome: 503), not the client's. */
const orDieJournal = dieOn(JournalError)

/** `Last-Event-ID` (or `?after=`): the index of the last event the client has. */
const resumeAfter = (header: string | undefined, query: number | undefined) => {
  if (header === undefined || header.trim() === "") return Effect.succeed(query ?? -1)
  const index = Number(header.trim())
  return Number.isInteger(index) && index >= -1
    ? Effect.succeed(index)
    : Effect.fail(new InvalidRequest({ part: "Headers", message: `Last-Event-ID must be an event index, got ${JSON.stringify(header)}` }))
}

const RunsHandlers = HttpApiBuilder.group(Api, "runs", (handlers) =>
  Effect.gen(function*() {
    const runs = yield* Runs
    return handlers.handleAll({
      start: ({ payload }) =>
        Effect.gen(function*() {
          const principal = yield* Principal
          // The run acts for the key's principal: its name, with the key's role (for the Policy's rules).
          return yield* orDieJournal(runs.start(payload, { principal: { id: principal.name, roles: [principal.role] } }))
        }).pipe(
          Effect.tapError((error) => error._tag === "RunsOverloaded" ? Metric.update(runsRejected, 1) : Effect.void)
        ),
      list: ({ query: { all, parent, ...query } }) =>
        runs.list({ ...query, tree: parent !== undefined ? { parentRunId: parent } : all === "true" ? "all" : "top" }),
      get: ({ params }) => orDieJournal(runs.get(params.id)),
      events: ({ headers, params, query }) =>
        Effect.flatMap(resumeAfter(headers["last-event-id"], query.after), (after) =>
          orDieJournal(runs.events(params.id, after))).pipe(Effect.map(Stream.orDie)),
      journal: ({ params }) =>
        orDieJournal(runs.read(params.id)).pipe(Effect.map((events) =>
          HttpApiSchema.withHeaders({
            body: JournalFile.render(events),
            headers: { "content-disposition": `attachment; filename="run-${params.id.replace(/[^\w.-]/g, "_")}.jsonl"` }
          })
        )),
      cancel: ({ params }) => orDieJournal(runs.cancel(params.id)),
      decide: ({ params, payload }) =>
        Effect.gen(function*() {
          const principal = yield* Principal
          return yield* orDieJournal(
            runs.decide(params.id, params.step, payload, { id: principal.name, roles: [principal.role] })
          )
        }),
      retry: ({ params }) => orDieJournal(runs.resolve(params.id, params.step, "retry")),
      assumeDone: ({ params }) => orDieJournal(runs.resolve(params.id, params.step, "assume-done")),
      fork: ({ params, payload }) =>
        Effect.gen(function*() {
          const principal = yield* Principal
          if (runs.fork === undefined) return yield* new ForkInvalid({ reason: "this server's runs cannot be forked" })
          return yield* orDieJournal(runs.fork(params.id, payload, { principal: { id: principal.name, roles: [principal.role] } }))
        })
    })
  }))

const AgentsHandlers = HttpApiBuilder.group(Api, "agents", (handlers) =>
  Effect.map(Runs, (runs) => handlers.handle("list", () => Effect.succeed(runs.agents))))

/**
 * The kept experiments, when the server was given a store of them (`graphent dev` is); else none. A store that
 * fails is the server's failure (500).
 */
const EvalsHandlers = HttpApiBuilder.group(Api, "evals", (handlers) =>
  Effect.map(Effect.serviceOption(Experiments), (found) => {
    const orDie = dieOn(ExperimentsError)
    return handlers
      .handle("list", () => found._tag === "Some" ? orDie(found.value.list) : Effect.succeed([]))
      .handle("get", ({ params }) =>
        found._tag === "Some" ? orDie(found.value.get(params.id)) : Effect.fail(new ExperimentNotFound({ id: params.id })))
  }))

const SystemHandlers = HttpApiBuilder.group(Api, "system", (handlers) =>
  Effect.map(Runs, (runs) =>
    handlers
      .handle("health", () => Effect.map(runs.load, (load) => ({ status: "ok" as const, version, ...load })))
      .handle("metrics", () =>
        Effect.gen(function*() {
          const { queued, running } = yield* runs.load
          yield* Metric.update(runsRunning, running)
          yield* Metric.update(runsQueued, queued)
          return yield* Telemetry.prometheusText
        }))))

/** A request that does not match its Schema: `400` with the Schema's message. */
const RequestValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(RequestValidation, (error) =>
  error.kind === "Body" || error.kind === "ResponseHeaders"
    ? Effect.fail(error)
    : Effect.fail(new InvalidRequest({ part: error.kind, message: error.cause.message })))

/**
 * The API's routes (with `/openapi.json`); needs the {@link Runs} and the
 * {@link Authorization} implementation (`src/api/Auth.ts`).
 *
 * @since 0.1.0
 * @category layers
 */
export const apiRoutes = HttpApiBuilder.layer(Api, {
  openapiPath: "/openapi.json"
}).pipe(
  Layer.provide([RunsHandlers, AgentsHandlers, EvalsHandlers, SystemHandlers]),
  Layer.provide(RequestValidationLive),
  wires("ApiRoutes")
)

// ---------------------------------------------------------------------------
// the viewer: plain files shipped with the package
// ---------------------------------------------------------------------------

const viewerFiles = {
  "/": ["index.html", "text/html; charset=utf-8"],
  "/viewer.js": ["viewer.js", "text/javascript; charset=utf-8"],
  "/viewer.css": ["viewer.css", "text/css; charset=utf-8"]
} as const

/** The viewer's folder: next to this module in a checkout, under `programs/` in the bundled `dist/`. */
const viewerDir = (): string => {
  for (const candidate of ["./viewer/", "./programs/viewer/", "../programs/viewer/"]) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url))
    if (fs.existsSync(`${dir}index.html`)) return dir
  }
  throw new Error(`graphent: the trace viewer's files are missing (looked next to ${import.meta.url})`)
}

/**
 * The trace viewer at `/` (`index.html`, `viewer.js`, `viewer.css`), read once.
 *
 * @since 0.1.0
 * @category layers
 */
export const viewerRoutes: Layer.Layer<Wired<"ViewerRoutes">, never, HttpRouter.HttpRouter> = Layer.unwrap(Effect.sync(() => {
  const dir = viewerDir()
  return HttpRouter.addAll(Object.entries(viewerFiles).map(([path, [file, contentType]]) => {
    const body = fs.readFileSync(`${dir}${file}`, "utf8")
    return HttpRouter.route(
      "GET",
      path as HttpRouter.PathInput,
      HttpServerResponse.text(body, { contentType, headers: { "cache-control": "no-cache" } })
    )
  }))
})).pipe(wires("ViewerRoutes"))

// ---------------------------------------------------------------------------
// serving
// ---------------------------------------------------------------------------

/**
 * Where the server listens, whether it serves the viewer and logs requests, and its request limits.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default 0 (any free port; read it from `HttpServer.address`). */
  readonly port?: number | undefined
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /** Serve the trace viewer at `/` (default true). */
  readonly viewer?: boolean | undefined
  /** Log every request (default false). */
  readonly logRequests?: boolean | undefined
  /** Request limits (default `Edge.defaultLimits`; `Edge.limitsConfig` reads them from the environment). */
  readonly limits?: Partial<Edge.Limits> | undefined
  /**
   * More routes on the server's router, beside the API (e.g. `graphent dev`'s MCP endpoint at `/mcp`); they may
   * use the API's {@link Authorization} (`ApiAuth.routeMiddleware`).
   */
  readonly routes?: Layer.Layer<any, never, HttpRouter.HttpRouter | Runs | Authorization> | undefined
}

/**
 * The HTTP server over Node's `http`, serving until its scope closes; needs
 * the {@link Runs} and the {@link Authorization} implementation.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<HttpServer.HttpServer, ServeError, Runs | Authorization> => {
  const limits: Edge.Limits = { ...Edge.defaultLimits, ...options.limits }
  const viewer = options.viewer !== false
  const documents = ["/openapi.json", ...(viewer ? Object.keys(viewerFiles) : [])]
  const routes = Layer.mergeAll(
    viewer ? Layer.merge(apiRoutes, viewerRoutes) : apiRoutes,
    Edge.layer(limits, { documents }),
    options.routes ?? Layer.empty
  )
  return HttpRouter.serve(routes, {
    disableLogger: options.logRequests !== true,
    disableListenLog: true,
    // Ids are held to their own length by the Schemas (400); the router must not turn a long one into a 404.
    routerConfig: { maxParamLength: limits.maxUrlBytes }
  }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(Edge.nodeServer(limits), {
        port: options.port ?? 0,
        host: options.host ?? "127.0.0.1",
        gracefulShutdownTimeout: "1 second"
      })
    )
  )
}
