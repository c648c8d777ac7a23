/**
 * The Graphent HTTP API, as data: every endpoint with the Schemas of its
 * parameters, bodies and errors. The server (`src/programs/server.ts`), the
 * typed client (`HttpApiClient.make(Api)`) and the OpenAPI document served at
 * `/openapi.json` are all derived from these definitions.
 *
 * | endpoint | right |
 * |---|---|
 * | `POST /v1/runs` → `202` {@link RunInfo} | `run` |
 * | `GET /v1/runs?agent&status&limit&offset&all&parent` → {@link RunPage} | `read` |
 * | `GET /v1/runs/:id` → {@link RunInfo} | `read` |
 * | `GET /v1/runs/:id/events` → server-sent events, id = the event's index | `read` |
 * | `GET /v1/runs/:id/journal` → the run as a journal file (JSON Lines) | `read` |
 * | `POST /v1/runs/:id/cancel` → {@link RunInfo} | `run` |
 * | `POST /v1/runs/:id/approvals/:step` `{approved, reason?}` → `202` {@link RunInfo} | `run` (and the policy's say) |
 * | `POST /v1/runs/:id/steps/:step/retry` / `assume-done` → `202` {@link RunInfo} | `run` |
 * | `POST /v1/runs/:id/fork` `{at?, edit?}` → `202` {@link RunInfo} (a new run) | `run` |
 * | `GET /v1/agents` → {@link AgentInfo}[] | `read` |
 * | `GET /v1/evals` → {@link ExperimentSummary}[] (newest first) | `read` |
 * | `GET /v1/evals/:id` → the experiment's `Eval.Report` | `read` |
 * | `GET /metrics` → Prometheus text | `read` |
 * | `GET /healthz` | none |
 *
 * Requests carry an API key as a bearer token; the key's role grants rights:
 * `viewer` reads, `runner` also starts and cancels runs, `admin` may do
 * everything. Errors are JSON bodies with `_tag` and `message`: `400
 * InvalidRequest` (the Schema's message), `401 Unauthorized`, `403
 * Forbidden`, `404 AgentNotFound` / `RunNotFound`, `409 ApprovalInvalid` /
 * `ResolutionInvalid`, `429 RunsOverloaded` with `retry-after`; those of the
 * server's edge (limits, media types, unknown routes) are `src/api/Edge.ts`'s.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as HttpApi from "effect/http-api/HttpApi"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiMiddleware from "effect/http-api/HttpApiMiddleware"
import * as HttpApiSchema from "effect/http-api/HttpApiSchema"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Errors from "../services/Errors.js"
import { ApprovalInvalid } from "../services/Approvals.js"
import { Report } from "../services/Eval.js"
import { ExperimentNotFound, ExperimentSummary } from "../services/Experiments.js"
import { ForkInvalid } from "../services/Replay.js"
import { RunEvent } from "../services/RunEvent.js"
import {
  AgentInfo,
  AgentNotFound,
  ApprovalRequest,
  ForkRequest,
  Id,
  ResolutionInvalid,
  RunId,
  RunInfo,
  RunNotFound,
  RunPage,
  RunsOverloaded,
  RunStatus,
  StartRun,
  Text
} from "../services/Runs.js"
import { version } from "../version.js"

// ---------------------------------------------------------------------------
// principals, roles, rights
// ---------------------------------------------------------------------------

/**
 * A role an API key maps to.
 *
 * @since 0.1.0
 * @category auth
 */
export const Role = Schema.Literals(["viewer", "runner", "admin"])

/**
 * @since 0.1.0
 * @category auth
 */
export type Role = typeof Role.Type

/**
 * What an endpoint requires.
 *
 * @since 0.1.0
 * @category auth
 */
export type Right = "read" | "run" | "admin"

/**
 * The rights of each role.
 *
 * @since 0.1.0
 * @category auth
 */
export const rights: Readonly<Record<Role, ReadonlyArray<Right>>> = {
  viewer: ["read"],
  runner: ["read", "run"],
  admin: ["read", "run", "admin"]
}

/**
 * Who made the request: the principal of its API key.
 *
 * @since 0.1.0
 * @category auth
 */
export class Principal extends Context.Service<Principal, {
  readonly name: string
  readonly role: Role
}>()("graphent/api/Principal") {}

/**
 * The right an endpoint requires (an endpoint annotation; `read` when absent).
 *
 * @since 0.1.0
 * @category auth
 */
export const RequiredRight = Context.Reference<Right>("graphent/api/RequiredRight", { defaultValue: () => "read" })

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * No API key, or one the server does not know.
 *
 * What to do: send `Authorization: Bearer <key>` with a key listed in `GRAPHENT_API_KEYS`; without any keys
 * configured the server is open on loopback only.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  message: Schema.String
}, { httpApiStatus: Errors.unauthenticated.httpStatus }) {
  /** {@link Errors.unauthenticated}: exit 2, HTTP 401. */
  get outcome(): Errors.Outcome {
    return Errors.unauthenticated
  }
}

/**
 * The key's role lacks the right the endpoint requires.
 *
 * What to do: use a key whose role has the right (`admin` > `runner` > `viewer`; docs/http-api.md lists which
 * endpoint needs which), or change the key's role in `GRAPHENT_API_KEYS`.
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", {
  message: Schema.String,
  role: Schema.String,
  right: Schema.String
}, { httpApiStatus: Errors.forbidden.httpStatus }) {
  /** {@link Errors.forbidden}: exit 2, HTTP 403. */
  get outcome(): Errors.Outcome {
    return Errors.forbidden
  }
}

/**
 * The request's body, path, query or headers do not match the endpoint's
 * Schema; `message` is the Schema's own, naming the offending path.
 *
 * What to do: compare the request with the endpoint in the OpenAPI document (`GET /openapi.json`); the message
 * names the field that did not decode.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  /** Which part of the request: `Payload`, `Params`, `Query` or `Headers`. */
  part: Schema.String,
  message: Schema.String
}, { httpApiStatus: Errors.invalidInput.httpStatus }) {
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

/**
 * An error class served as a JSON body with its fields plus its `message`,
 * with the HTTP status its outcome declares.
 */
const withMessage = <Self extends { readonly message: string } & Errors.HasOutcome>(
  self: Schema.Codec<Self, unknown> & {
    readonly fields: Schema.Struct.Fields
    readonly prototype: Errors.HasOutcome
    new(fields: never): Self
  }
): Schema.Codec<Self, unknown> => {
  const make = self as unknown as new(fields: object) => Self
  // `outcome` is a getter of the class that reads no field: the prototype answers it.
  const status = self.prototype.outcome.httpStatus
  return Schema.Struct({ ...self.fields, message: Schema.String }).pipe(
    Schema.decodeTo(
      Schema.declare((u): u is Self => u instanceof make),
      SchemaTransformation.transform({
        decode: (body) => {
          const { message: _, ...fields } = body as { readonly message: string }
          return new make(fields)
        },
        encode: (error) => ({ ...(error as object), message: error.message }) as never
      })
    )
  ).annotate({ httpApiStatus: status }) as unknown as Schema.Codec<Self, unknown>
}

/**
 * `404`: no such agent.
 *
 * @since 0.1.0
 * @category errors
 */
export const AgentNotFoundError = withMessage(AgentNotFound)

/**
 * `409`: the step does not wait for a decision, was already decided, or the
 * caller may not decide it (the policy's `approval:<tool>` rules).
 *
 * @since 0.1.0
 * @category errors
 */
export const ApprovalInvalidError = withMessage(ApprovalInvalid)

/**
 * `409`: the run does not need attention at that step.
 *
 * @since 0.1.0
 * @category errors
 */
export const ResolutionInvalidError = withMessage(ResolutionInvalid)

/**
 * `400`: the fork point is not in the run, or the edit does not fit it.
 *
 * @since 0.2.0
 * @category errors
 */
export const ForkInvalidError = withMessage(ForkInvalid)

/**
 * `404`: no such run.
 *
 * @since 0.1.0
 * @category errors
 */
export const RunNotFoundError = withMessage(RunNotFound)

/**
 * `404`: no experiment with that id is kept here.
 *
 * @since 0.3.0
 * @category errors
 */
export const ExperimentNotFoundError = withMessage(ExperimentNotFound)

const OverloadedBody = Schema.Struct({
  _tag: Schema.tag("RunsOverloaded"),
  running: Schema.Number,
  queued: Schema.Number,
  retryAfterSeconds: Schema.Number,
  message: Schema.String
}).pipe(HttpApiSchema.status(RunsOverloaded.prototype.outcome.httpStatus))

/**
 * `429` with a `retry-after` header (seconds): the server's run slots and
 * queue are full.
 *
 * @since 0.1.0
 * @category errors
 */
export const RunsOverloadedError = RunsOverloaded.pipe(
  HttpApiSchema.encodeToWithHeaders({ body: OverloadedBody, headers: { "retry-after": Schema.String } }, {
    decode: ({ body }) =>
      new RunsOverloaded({ running: body.running, queued: body.queued, retryAfterSeconds: body.retryAfterSeconds }),
    encode: (error) => ({
      body: {
        _tag: "RunsOverloaded" as const,
        running: error.running,
        queued: error.queued,
        retryAfterSeconds: error.retryAfterSeconds,
        message: error.message
      },
      headers: { "retry-after": String(Math.max(1, Math.ceil(error.retryAfterSeconds))) }
    })
  })
)

// ---------------------------------------------------------------------------
// middleware
// ---------------------------------------------------------------------------

/**
 * API keys as bearer tokens; provides the {@link Principal}. Its server side
 * is `src/api/Auth.ts`.
 *
 * @since 0.1.0
 * @category middleware
 */
export class Authorization extends HttpApiMiddleware.Service<Authorization, { provides: Principal }>()(
  "graphent/api/Authorization",
  { security: { bearer: HttpApiSecurity.bearer }, error: [Unauthorized, Forbidden] }
) {}

/**
 * Turns a request that does not match its Schema into `400 InvalidRequest`
 * with the Schema's message (instead of an empty `400`).
 *
 * @since 0.1.0
 * @category middleware
 */
export class RequestValidation
  extends HttpApiMiddleware.Service<RequestValidation>()("graphent/api/RequestValidation", { error: InvalidRequest })
{}

// ---------------------------------------------------------------------------
// events as server-sent events
// ---------------------------------------------------------------------------

/**
 * One server-sent event: `id` is the event's index in the run's journal
 * (0-based), `data` the event as JSON. A client that reconnects sends the
 * last id it saw as `Last-Event-ID` and receives what followed. Ephemeral
 * events (a streaming model's text, never journaled) come without an id.
 *
 * @since 0.1.0
 * @category events
 */
export const RunEventSse = Schema.Struct({
  id: Schema.optional(Schema.String),
  event: Schema.optional(Schema.String),
  data: Schema.fromJsonString(RunEvent)
}).pipe(
  Schema.decodeTo(
    Schema.Struct({ index: Schema.UndefinedOr(Schema.Number), event: Schema.toType(RunEvent) }),
    SchemaTransformation.transform({
      decode: ({ data, id }) => ({ index: id === undefined ? undefined : Number(id), event: data }),
      encode: ({ event, index }) => ({ id: index === undefined ? undefined : String(index), event: "message", data: event })
    })
  )
)

// ---------------------------------------------------------------------------
// endpoints
// ---------------------------------------------------------------------------

const runId = { id: RunId }
const runStep = { id: RunId, step: Id }

/**
 * The `/v1/runs` endpoints: start, list and read runs, stream their events, download journals, cancel runs,
 * decide approvals, retry or assume done a step in flight.
 *
 * `/v1/runs`.
 *
 * @since 0.1.0
 * @category groups
 */
export class RunsGroup extends HttpApiGroup.make("runs").add(
  HttpApiEndpoint.post("start", "/", {
    payload: StartRun,
    success: RunInfo.pipe(HttpApiSchema.status(202)),
    error: [AgentNotFoundError, RunsOverloadedError]
  }).annotate(RequiredRight, "run").annotateMerge(OpenApi.annotations({
    summary: "Start a run",
    description: "Accepts the run and answers at once; follow it with GET /v1/runs/{id}/events."
  })),
  HttpApiEndpoint.get("list", "/", {
    query: {
      agent: Schema.optional(Text),
      status: Schema.optional(RunStatus),
      limit: Schema.optional(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 500 }))),
      offset: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
      /** `true`: child runs (sub-agents, handoffs) too; by default only the runs no other run started. */
      all: Schema.optional(Schema.Literals(["true", "false"])),
      /** Only the child runs of this run. */
      parent: Schema.optional(Text)
    },
    success: RunPage
  }).annotateMerge(OpenApi.annotations({ summary: "List runs, newest first" })),
  HttpApiEndpoint.get("get", "/:id", { params: runId, success: RunInfo, error: RunNotFoundError })
    .annotateMerge(OpenApi.annotations({ summary: "A run's status and result" })),
  HttpApiEndpoint.get("events", "/:id/events", {
    params: runId,
    headers: { "last-event-id": Schema.optional(Schema.String) },
    query: { after: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(-1))) },
    success: HttpApiSchema.StreamSse({ events: RunEventSse }),
    error: RunNotFoundError
  }).annotateMerge(OpenApi.annotations({
    summary: "The run's events as server-sent events",
    description: "Live while the run goes on, from the journal once it has ended. Each event's id is its index in " +
      "the run; resume after an index with the Last-Event-ID header (or ?after=)."
  })),
  HttpApiEndpoint.get("journal", "/:id/journal", {
    params: runId,
    success: HttpApiSchema.WithHeaders(
      Schema.String.pipe(HttpApiSchema.asText({ contentType: "application/x-ndjson" })),
      { "content-disposition": Schema.String }
    ),
    error: RunNotFoundError
  }).annotateMerge(OpenApi.annotations({
    summary: "The run as a journal file (JSON Lines) for graphent replay / trace show"
  })),
  HttpApiEndpoint.post("cancel", "/:id/cancel", { params: runId, success: RunInfo, error: RunNotFoundError })
    .annotate(RequiredRight, "run")
    .annotateMerge(OpenApi.annotations({ summary: "Interrupt a run (a queued run never starts)" })),
  HttpApiEndpoint.post("decide", "/:id/approvals/:step", {
    params: runStep,
    payload: ApprovalRequest,
    success: RunInfo.pipe(HttpApiSchema.status(202)),
    error: [RunNotFoundError, AgentNotFoundError, ApprovalInvalidError, RunsOverloadedError]
  }).annotate(RequiredRight, "run").annotateMerge(OpenApi.annotations({
    summary: "Approve or reject a step that waits for approval",
    description: "The policy decides who may; the decision is journaled and the run resumes (follow its events)."
  })),
  HttpApiEndpoint.post("retry", "/:id/steps/:step/retry", {
    params: runStep,
    success: RunInfo.pipe(HttpApiSchema.status(202)),
    error: [RunNotFoundError, AgentNotFoundError, ResolutionInvalidError, RunsOverloadedError]
  }).annotate(RequiredRight, "run").annotateMerge(OpenApi.annotations({
    summary: "Resume a needs-attention run, running its step again",
    description: "For a step whose effect did not happen: the tool is called again and the run goes on."
  })),
  HttpApiEndpoint.post("fork", "/:id/fork", {
    params: runId,
    payload: ForkRequest,
    success: RunInfo.pipe(HttpApiSchema.status(202)),
    error: [RunNotFoundError, AgentNotFoundError, ForkInvalidError, RunsOverloadedError]
  }).annotate(RequiredRight, "run").annotateMerge(OpenApi.annotations({
    summary: "Fork a run at a step or turn, with an edit",
    description: "The recorded run is replayed up to the fork point (nothing runs again), the edit is applied " +
      "there, and the fork goes on live as a new run (follow its events); 400 ForkInvalid for a bad point or edit."
  })),
  HttpApiEndpoint.post("assumeDone", "/:id/steps/:step/assume-done", {
    params: runStep,
    success: RunInfo.pipe(HttpApiSchema.status(202)),
    error: [RunNotFoundError, AgentNotFoundError, ResolutionInvalidError, RunsOverloadedError]
  }).annotate(RequiredRight, "run").annotateMerge(OpenApi.annotations({
    summary: "Resume a needs-attention run, taking its step as done",
    description: "For a step whose effect did happen: it is not run again; its result being unknown, the step " +
      "fails and the planner sees that."
  }))
).middleware(RequestValidation).middleware(Authorization).prefix("/v1/runs") {}

/**
 * The `/v1/agents` endpoint: the agents this server runs.
 *
 * `/v1/agents`.
 *
 * @since 0.1.0
 * @category groups
 */
export class AgentsGroup extends HttpApiGroup.make("agents").add(
  HttpApiEndpoint.get("list", "/", { success: Schema.Array(AgentInfo) })
    .annotateMerge(OpenApi.annotations({ summary: "The agents this server runs" }))
).middleware(RequestValidation).middleware(Authorization).prefix("/v1/agents") {}

/**
 * The `/v1/evals` endpoints: the experiments `graphent eval run` kept (their reports), for the viewer and
 * other clients.
 *
 * `/v1/evals`.
 *
 * @since 0.3.0
 * @category groups
 */
export class EvalsGroup extends HttpApiGroup.make("evals").add(
  HttpApiEndpoint.get("list", "/", { success: Schema.Array(ExperimentSummary) })
    .annotateMerge(OpenApi.annotations({ summary: "The kept experiments, newest first: what each ran, its totals" })),
  HttpApiEndpoint.get("get", "/:id", { params: { id: Id }, success: Report, error: ExperimentNotFoundError })
    .annotateMerge(OpenApi.annotations({
      summary: "An experiment's report",
      description: "Totals, each case (pass, scores, cost, latency, its run's id: GET /v1/runs/{id}) and the " +
        "comparison with its baseline, when it had one."
    }))
).middleware(RequestValidation).middleware(Authorization).prefix("/v1/evals") {}

/**
 * The answer of `GET /healthz`.
 *
 * @since 0.1.0
 * @category models
 */
export const Health = Schema.Struct({
  status: Schema.Literal("ok"),
  version: Schema.String,
  running: Schema.Number,
  queued: Schema.Number
})

/**
 * `/healthz` (no key needed) and `/metrics`.
 *
 * @since 0.1.0
 * @category groups
 */
export class SystemGroup extends HttpApiGroup.make("system", { topLevel: true }).add(
  HttpApiEndpoint.get("health", "/healthz", { success: Health })
    .annotateMerge(OpenApi.annotations({ summary: "Liveness, and how busy the server is" })),
  HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4; charset=utf-8" }))
  }).middleware(Authorization).annotateMerge(OpenApi.annotations({ summary: "Metrics, Prometheus text format" }))
) {}

/**
 * The whole API.
 *
 * @since 0.1.0
 * @category api
 */
export class Api extends HttpApi.make("graphent")
  .add(RunsGroup)
  .add(AgentsGroup)
  .add(EvalsGroup)
  .add(SystemGroup)
  .annotateMerge(OpenApi.annotations({
    title: "Graphent",
    version,
    description: "Start agent runs, follow their events, read their results and journals."
  }))
{}
