/**
 * A planner that asks an HTTP service for the next decision, so that a team
 * can plan in another language.
 *
 * Each turn, the planner POSTs the run's state as JSON ({@link Request}) to a
 * URL and reads a decision back ({@link Response}, the encoded form of
 * `Planner.Decision`). Both are published Schemas; {@link requestJsonSchema}
 * and {@link responseJsonSchema} give them as JSON Schema documents, and
 * `docs/remote-planner.md` describes the protocol with examples.
 *
 * - {@link make}: the planner, for `Agent.make({ planner })`.
 * - {@link layer}: the same as the default `Planner` service.
 * - {@link layerConfig}: reads `GRAPHENT_PLANNER_URL`, `GRAPHENT_PLANNER_TOKEN`,
 *   `GRAPHENT_PLANNER_TIMEOUT` and `GRAPHENT_PLANNER_MAX_RETRIES`.
 *
 * Timeouts and retries are declared as for tools: a time limit per attempt and
 * a retry `Schedule`. Only HTTP 429, 5xx, network errors and timeouts are
 * retried (a server's `retry-after` is honoured); a 4xx or a response that is
 * not a decision fails at once. Every failure is a `PlannerFailed` whose reason
 * names the problem (the status and an excerpt of the body, or the decode error
 * with its path) and whose cause is a {@link RemotePlannerError}. Secret header
 * values are `Redacted` and never appear in errors.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as JsonSchema from "effect/JsonSchema"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as AiError from "effect/ai/AiError"
import * as AiTool from "effect/ai/Tool"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as Errors from "../services/Errors.js"
import * as ModelHttp from "../internal/modelHttp.js"
import {
  Answer,
  type Decision,
  Fail,
  Planner,
  PlannerFailed,
  type PlannerShape,
  type RunContext,
  type RunState,
  RunSteps,
  type StepOutcome
} from "../services/Planner.js"
import type * as Tool from "../services/Tool.js"

// =============================================================================
// Protocol
// =============================================================================

/**
 * The version of the protocol this client speaks, sent as `version` in every
 * request. A server that does not speak it should answer HTTP 400 (which is not
 * retried).
 *
 * @since 0.1.0
 * @category protocol
 */
export const protocolVersion = 1 as const

/**
 * A tool the agent may call, as the remote planner sees it: its JSON Schemas
 * are derived from the tool's Effect Schemas.
 *
 * @since 0.1.0
 * @category protocol
 */
export const ToolInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  /** JSON Schema (draft 2020-12) of the arguments (`args` of a step). */
  parameters: Schema.Unknown.annotate({ description: "JSON Schema (draft 2020-12) of the tool's arguments" }),
  /** JSON Schema (draft 2020-12) of the encoded output (`result` of a succeeded step). */
  success: Schema.Unknown.annotate({ description: "JSON Schema (draft 2020-12) of the tool's result" })
}).annotate({ description: "A tool the agent may call" })

/**
 * @since 0.1.0
 * @category protocol
 */
export type ToolInfo = typeof ToolInfo.Type

/**
 * What happened to one step, as it is journaled: a succeeded step's `result` is
 * its output encoded with the tool's success Schema (`null` when that encodes
 * to nothing).
 *
 * @since 0.1.0
 * @category protocol
 */
export const StepOutcomeInfo = Schema.Union([
  Schema.TaggedStruct("Succeeded", {
    id: Schema.String,
    tool: Schema.String,
    args: Schema.Unknown,
    result: Schema.Unknown.annotate({ description: "The output, encoded with the tool's success Schema" }),
    durationMs: Schema.Finite
  }).annotate({ description: "The step ran and returned a result" }),
  Schema.TaggedStruct("Failed", {
    id: Schema.String,
    tool: Schema.String,
    args: Schema.Unknown,
    error: Schema.Struct({ _tag: Schema.String, message: Schema.String }),
    durationMs: Schema.Finite
  }).annotate({ description: "The step failed (after its retries)" }),
  Schema.TaggedStruct("Skipped", {
    id: Schema.String,
    tool: Schema.String,
    args: Schema.Unknown,
    /** The dependency that did not succeed. */
    blockedBy: Schema.String.annotate({ description: "The dependency that did not succeed" })
  }).annotate({ description: "The step did not run: a step it depends on did not succeed" })
])

/**
 * @since 0.1.0
 * @category protocol
 */
export type StepOutcomeInfo = typeof StepOutcomeInfo.Type

/**
 * The body of a successful (2xx) response: a decision, in its encoded form
 * (`RunSteps`, `Answer` or `Fail`, told apart by `_tag`). Fields the Schema does
 * not name are ignored.
 *
 * @since 0.1.0
 * @category protocol
 */
export const Response = Schema.Union([RunSteps, Answer, Fail]).annotate({
  title: "RemotePlanner response",
  description: "The next decision: run steps, answer, or fail"
})

/**
 * @since 0.1.0
 * @category protocol
 */
export type Response = typeof Response.Type

/**
 * The body of every request: the run's state.
 *
 * @since 0.1.0
 * @category protocol
 */
export const Request = Schema.Struct({
  version: Schema.Literal(protocolVersion).annotate({ description: "The protocol version" }),
  runId: Schema.String,
  agent: Schema.Struct({
    name: Schema.String,
    description: Schema.String,
    /** The agent's instructions (for a model-driven planner), or `null`. */
    instructions: Schema.NullOr(Schema.String),
    tools: Schema.Array(ToolInfo)
  }),
  input: Schema.String.annotate({ description: "The input of the run" }),
  /** The conversation thread of the run, or `null`. */
  threadId: Schema.NullOr(Schema.String),
  /** 1 for the first decision of the run. */
  turn: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)).annotate({
    description: "1 for the first decision of the run"
  }),
  /** Every step finished so far, in the order they finished. */
  steps: Schema.Array(StepOutcomeInfo).annotate({
    description: "Every step finished so far, in the order they finished"
  }),
  /** The decisions of the earlier turns, in order: the request of turn `n` has `n - 1`. */
  decisions: Schema.Array(Response).annotate({ description: "The decisions of the earlier turns, in order" })
}).annotate({ title: "RemotePlanner request", description: "The state of a run, sent once per turn" })

/**
 * @since 0.1.0
 * @category protocol
 */
export type Request = typeof Request.Type

const jsonSchemaOf = (schema: Schema.Top): JsonSchema.JsonSchema => AiTool.getJsonSchemaFromSchema(schema)

/**
 * The JSON Schema (draft 2020-12) of {@link Request}.
 *
 * @since 0.1.0
 * @category protocol
 */
export const requestJsonSchema = (): JsonSchema.JsonSchema => jsonSchemaOf(Request)

/**
 * The JSON Schema (draft 2020-12) of {@link Response}.
 *
 * @since 0.1.0
 * @category protocol
 */
export const responseJsonSchema = (): JsonSchema.JsonSchema => jsonSchemaOf(Response)

/** Per tool list: the tools do not change during a run, their JSON Schemas are derived once. */
const toolInfoCache = new WeakMap<ReadonlyArray<Tool.Any>, ReadonlyArray<ToolInfo>>()

const toolInfos = (tools: ReadonlyArray<Tool.Any>): ReadonlyArray<ToolInfo> => {
  const cached = toolInfoCache.get(tools)
  if (cached !== undefined) return cached
  const infos = tools.map((tool): ToolInfo => ({
    name: tool.name,
    description: tool.description,
    parameters: jsonSchemaOf(tool.parameters),
    success: jsonSchemaOf(tool.success)
  }))
  toolInfoCache.set(tools, infos)
  return infos
}

const outcomeInfo = (outcome: StepOutcome): StepOutcomeInfo => {
  switch (outcome._tag) {
    case "Succeeded":
      return {
        _tag: "Succeeded",
        id: outcome.id,
        tool: outcome.tool,
        args: outcome.args,
        result: outcome.result === undefined ? null : outcome.result,
        durationMs: outcome.durationMs
      }
    case "Failed":
      return {
        _tag: "Failed",
        id: outcome.id,
        tool: outcome.tool,
        args: outcome.args,
        error: { _tag: outcome.error._tag, message: outcome.error.message },
        durationMs: outcome.durationMs
      }
    case "Skipped":
      return { _tag: "Skipped", id: outcome.id, tool: outcome.tool, args: outcome.args, blockedBy: outcome.blockedBy }
  }
}

/**
 * The request for a run state. Throws when a tool's Schema has no JSON Schema
 * form ({@link make} turns that into `PlannerFailed`).
 *
 * @since 0.1.0
 * @category protocol
 */
export const encodeRequest = (state: RunState): Request => {
  const agent = state.agent
  return {
    version: protocolVersion,
    runId: state.runId,
    agent: {
      name: agent.name,
      description: agent.description,
      instructions: agent.instructions ?? null,
      tools: toolInfos(agent.tools)
    },
    input: state.input,
    threadId: state.threadId ?? null,
    turn: state.turn,
    steps: state.steps.map(outcomeInfo),
    // A handoff ends the run: a planner is never asked after one, and the protocol does not carry it.
    decisions: state.decisions.filter((decision): decision is Exclude<Decision, { readonly _tag: "Handoff" }> =>
      decision._tag !== "Handoff"
    )
  }
}

const decisionMembers = { RunSteps, Answer, Fail } as const
const decoders = {
  RunSteps: Schema.decodeUnknownEffect(RunSteps),
  Answer: Schema.decodeUnknownEffect(Answer),
  Fail: Schema.decodeUnknownEffect(Fail)
}

/**
 * Decodes a response body (parsed JSON). The `_tag` picks the member Schema
 * first, so that an error names the field at fault rather than listing the
 * whole union.
 */
const decodeResponse = (json: unknown): Effect.Effect<Decision, Schema.SchemaError> => {
  const tag = typeof json === "object" && json !== null && !Array.isArray(json)
    ? (json as Record<string, unknown>)._tag
    : undefined
  if (typeof tag === "string" && Object.hasOwn(decisionMembers, tag)) {
    return decoders[tag as keyof typeof decisionMembers](json)
  }
  return Schema.decodeUnknownEffect(Response)(json)
}

const describeTag = (json: unknown): string | undefined => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return `expected a JSON object with a "_tag", got ${Array.isArray(json) ? "an array" : json === null ? "null" : typeof json}`
  }
  const tag = (json as Record<string, unknown>)._tag
  if (typeof tag === "string" && Object.hasOwn(decisionMembers, tag)) return undefined
  return `"_tag" must be "RunSteps", "Answer" or "Fail", got ${tag === undefined ? "none" : JSON.stringify(tag)}`
}

// =============================================================================
// Errors
// =============================================================================

/**
 * Why a request to the remote planner failed: the `cause` of the
 * `PlannerFailed` the run fails with.
 *
 * - `Status`: the server answered with a status other than 2xx (`status`, `body`).
 * - `Network`: no answer: the connection failed or the time limit ran out.
 * - `InvalidResponse`: a 2xx whose body is not JSON or not a decision.
 *
 * What to do: check `GRAPHENT_PLANNER_URL` answers (and `GRAPHENT_PLANNER_TOKEN` is accepted); its responses
 * must match the protocol in docs/remote-planner.md.
 *
 * @since 0.1.0
 * @category errors
 */
export class RemotePlannerError extends Schema.TaggedError<RemotePlannerError>()("RemotePlannerError", {
  kind: Schema.Literals(["Status", "Network", "InvalidResponse"]),
  url: Schema.String,
  /** The HTTP status, for `Status`. */
  status: Schema.optionalKey(Schema.Number),
  /** An excerpt of the response body, for `Status`; secret header values are removed. */
  body: Schema.optionalKey(Schema.String),
  description: Schema.String,
  /** How many requests were sent (1 + retries). */
  attempts: Schema.Number
}) {
  override get message(): string {
    const tries = this.attempts > 1 ? ` (after ${this.attempts} attempts)` : ""
    return `remote planner ${this.url}${tries}: ${this.description}`
  }
  /** {@link Errors.upstreamFailed}: exit 1, HTTP 502. */
  get outcome(): Errors.Outcome {
    return Errors.upstreamFailed
  }
}

// =============================================================================
// Planner
// =============================================================================

/**
 * Where the remote planner is, and how long and how often to try it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Every decision is a POST of a {@link Request} to this URL. */
  readonly url: string
  /** Time limit per attempt, until the whole response is read. Default 30 seconds. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Retry policy after an HTTP 429, a 5xx, a network error or a timeout, as a
   * tool declares it. Default: up to 3 retries, exponential backoff from 200 ms
   * with jitter. A server's `retry-after` (up to 60 s) lengthens a shorter delay.
   * `Schedule.recurs(0)` disables retries.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: Redacted.Redacted<string> | undefined
  /** Extra request headers; `Redacted` values are sent as is and never appear in errors. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
  /** The client to send requests with. Default: `fetch`. */
  readonly httpClient?: HttpClient.HttpClient | undefined
}

/**
 * The default retry policy: up to 3 retries, exponential backoff from 200 ms,
 * jittered.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("200 millis").pipe(
  Schedule.jittered,
  Schedule.upTo({ times: 3 })
)

const maxRetryAfter = 60_000

const isRetryable = (error: AiError.AiError): boolean => {
  const reason = error.reason
  return reason._tag === "RateLimitError" || reason._tag === "InternalProviderError" ||
    (reason._tag === "NetworkError" && reason.reason === "TransportError")
}

/** The user's schedule, with a server's `retry-after` as a lower bound on the delay. */
const honourRetryAfter = (schedule: Schedule.Schedule<unknown, unknown>) =>
  Schedule.modifyDelay(schedule, ({ duration, input }) => {
    const reason = (input as AiError.AiError | undefined)?.reason
    if (reason?._tag !== "RateLimitError" || reason.retryAfter === undefined) return Effect.succeed(duration)
    const wanted = Math.min(Duration.toMillis(reason.retryAfter), maxRetryAfter)
    return Effect.succeed(Duration.millis(Math.max(Duration.toMillis(duration), wanted)))
  })

/** What an error response's JSON body says, if it follows a common shape (`{"error": "..."}` and the like). */
const errorMessage = (body: any): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const error = body.error
  if (typeof error === "string") return error
  if (typeof error === "object" && error !== null && typeof error.message === "string") return error.message
  return typeof body.message === "string" ? body.message : undefined
}

/**
 * A planner that asks the service at `options.url` for every decision.
 *
 * **Example** (An agent planned by a Python service)
 *
 * ```ts
 * import { Redacted } from "effect"
 * import { Agent, RemotePlanner } from "graphent"
 *
 * const agent = Agent.make({
 *   name: "calculator",
 *   tools: [add, multiply],
 *   planner: RemotePlanner.make({
 *     url: "http://127.0.0.1:8765/decide",
 *     timeout: "10 seconds",
 *     token: Redacted.make(process.env.PLANNER_TOKEN ?? "")
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): PlannerShape => {
  const url = options.url
  try {
    new URL(url)
  } catch {
    throw new Error(`graphent: RemotePlanner: invalid url ${JSON.stringify(url)}`)
  }
  const timeout = options.timeout ?? "30 seconds"
  const retry = honourRetryAfter(options.retry ?? defaultRetry)

  const secrets: Array<string> = []
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (Redacted.isRedacted(value)) {
      const revealed = Redacted.value(value)
      headers[name] = revealed
      if (revealed.length > 0) secrets.push(revealed)
    } else {
      headers[name] = value
    }
  }
  if (options.token !== undefined && Redacted.value(options.token).length > 0) {
    const token = Redacted.value(options.token)
    headers.authorization = `Bearer ${token}`
    secrets.push(token)
  }
  // Anything a server echoes back may contain a secret; keep them out of every error.
  const scrub = (text: string): string => secrets.reduce((acc, secret) => acc.split(secret).join("<redacted>"), text)

  const build = ModelHttp.make({
    module: "RemotePlanner",
    url,
    // One attempt per call: retries follow `retry` below.
    options: { timeout, maxRetries: 0, headers },
    authHeaders: () => ({}),
    errorDetails: (body, responseHeaders) => ({
      message: errorMessage(body),
      errorType: null,
      requestId: responseHeaders["x-request-id"] ?? null,
      metadata: {}
    })
  }).pipe(
    options.httpClient === undefined
      ? Effect.provide(FetchHttpClient.layer)
      : Effect.provideService(HttpClient.HttpClient, options.httpClient)
  )
  let transport: Effect.Success<typeof build> | undefined
  const getTransport = Effect.suspend(() =>
    transport === undefined ? Effect.tap(build, (built) => Effect.sync(() => (transport = built))) : Effect.succeed(transport)
  )

  const toPlannerFailed = (error: AiError.AiError, attempts: number, json: { value: unknown }): PlannerFailed => {
    const reason = error.reason
    let cause: RemotePlannerError
    if ("http" in reason && reason.http?.response !== undefined && reason._tag !== "InvalidResponseError") {
      const status = reason.http.response.status
      const body = scrub(ModelHttp.truncate(reason.http.body ?? "", 500))
      cause = new RemotePlannerError({
        kind: "Status",
        url,
        status,
        body,
        description: `HTTP ${status}${body === "" ? "" : `: ${body}`}`,
        attempts
      })
    } else if (reason._tag === "InvalidResponseError") {
      const tagProblem = json.value === undefined ? undefined : describeTag(json.value)
      const description = json.value === undefined
        ? reason.description ?? "invalid response"
        : `the response is not a decision: ${tagProblem ?? reason.description ?? "invalid"}`
      // A Schema issue spans lines ("Missing key\n  at [...]"): one line reads better in a log.
      const oneLine = description.replace(/\s*\n\s*/g, " ")
      cause = new RemotePlannerError({ kind: "InvalidResponse", url, description: scrub(oneLine), attempts })
    } else {
      const description = "description" in reason && typeof reason.description === "string"
        ? reason.description
        : reason.message
      cause = new RemotePlannerError({ kind: "Network", url, description: scrub(description), attempts })
    }
    return new PlannerFailed({ reason: cause.message, cause })
  }

  const ask = (state: RunState): Effect.Effect<Decision, PlannerFailed> =>
    Effect.suspend(() => {
      let body: Request
      try {
        body = encodeRequest(state)
      } catch (error) {
        return Effect.fail(
          new PlannerFailed({
            reason: `the request for the remote planner cannot be built: ${
              error instanceof Error ? error.message : String(error)
            }`,
            cause: error
          })
        )
      }
      let attempts = 0
      // The parsed body of the last 2xx response, to explain a decode failure.
      const json: { value: unknown } = { value: undefined }
      const decode = (value: unknown) => {
        json.value = value
        return decodeResponse(value)
      }
      return getTransport.pipe(
        Effect.flatMap((http) =>
          Effect.suspend(() => {
            attempts++
            json.value = undefined
            return http.request("decide", body, decode)
          }).pipe(Effect.retry({ schedule: retry, while: isRetryable }))
        ),
        Effect.mapError((error) => toPlannerFailed(error, attempts, json)),
        Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan("graphent.planner.attempts", attempts))),
        Effect.withSpan("RemotePlanner.decide", {
          attributes: { "graphent.planner.url": url, "graphent.run_id": state.runId, "graphent.turn": state.turn }
        })
      )
    })

  return {
    decide: (state) => {
      // Journaled through the run where the runtime offers it: replay and resume answer from the recording.
      const context: RunContext | undefined = state.context
      return context === undefined ? ask(state) : context.journaled("RemotePlanner.decide", ask(state))
    }
  }
}

/**
 * Provides a remote planner as the default `Planner` (for agents without a
 * planner of their own).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Planner> => Layer.sync(Planner, () => make(options))

const configError = (message: string) =>
  Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message })))

/**
 * Like {@link layer}, configured from the environment:
 *
 * - `GRAPHENT_PLANNER_URL` (required): the planner's URL.
 * - `GRAPHENT_PLANNER_TOKEN` (optional): sent as `Authorization: Bearer`.
 * - `GRAPHENT_PLANNER_TIMEOUT` (optional): per attempt, e.g. `10 seconds`.
 * - `GRAPHENT_PLANNER_MAX_RETRIES` (optional): retries with the default backoff.
 *
 * `options` fills in what the environment does not set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options?: Omit<Options, "url" | "token"> | undefined
): Layer.Layer<Planner, Config.ConfigError> =>
  Layer.unwrap(Effect.gen(function*() {
    const configured = yield* Config.option(Config.String("GRAPHENT_PLANNER_URL"))
    if (Option.isNone(configured)) {
      return yield* configError("GRAPHENT_PLANNER_URL is not set: it is the URL of the remote planner")
    }
    const url = configured.value
    try {
      const parsed = new URL(url)
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("not http(s)")
    } catch {
      return yield* configError(`GRAPHENT_PLANNER_URL: expected an http(s) URL, got ${JSON.stringify(url)}`)
    }
    const token = yield* Config.option(Config.Redacted("GRAPHENT_PLANNER_TOKEN"))
    const timeout = yield* Config.option(Config.Duration("GRAPHENT_PLANNER_TIMEOUT"))
    const maxRetries = yield* Config.option(Config.Int("GRAPHENT_PLANNER_MAX_RETRIES"))
    if (Option.isSome(maxRetries) && maxRetries.value < 0) {
      return yield* configError(`GRAPHENT_PLANNER_MAX_RETRIES: expected 0 or more, got ${maxRetries.value}`)
    }
    return layer({
      ...options,
      url,
      token: Option.getOrUndefined(token),
      timeout: Option.getOrElse(timeout, () => options?.timeout),
      retry: Option.isSome(maxRetries)
        ? Schedule.exponential("200 millis").pipe(Schedule.jittered, Schedule.upTo({ times: maxRetries.value }))
        : options?.retry
    })
  }))
