/**
 * Runs managed by a server: started on request, run in the background with
 * bounded concurrency, tracked, followed live, cancelled.
 *
 * This is what the HTTP API (`src/api/Api.ts`) serves. Its schemas are the
 * published contract of the API's bodies; the default implementation runs on
 * local fibers (`src/layers/RunsLocal.ts`).
 *
 * Event indexes: the events of a run are numbered 0, 1, 2, ... in the order
 * they were journaled. {@link RunsShape.events} resumes after a given index,
 * so a client that reconnects with the last index it saw misses nothing and
 * sees nothing twice.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import * as Errors from "./Errors.js"
import type { ApprovalInvalid } from "./Approvals.js"
import type { JournalError, TreeFilter } from "./Journal.js"
import type { Principal } from "./Policy.js"
import type { ForkInvalid } from "./Replay.js"
import { ErrorInfo, ForkEdit, type RunEvent, Usage } from "./RunEvent.js"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * Where a run stands. `queued`: accepted, waiting for a free slot; `paused`:
 * a step waits for a human's approval (the journal stays resumable);
 * `needs-attention`: resuming it after a crash stopped at a step that started
 * but whose result was never recorded, and whose tool is not idempotent — a
 * human says whether it took effect (see `RunInfo.attention`); `unfinished`:
 * its journal has no end and no process here is running it (e.g. its process
 * died; `graphent resume` can continue it).
 *
 * @since 0.1.0
 * @category models
 */
export const RunStatus = Schema.Literals([
  "queued",
  "running",
  "completed",
  "failed",
  "interrupted",
  "paused",
  "needs-attention",
  "unfinished"
])

/**
 * @since 0.1.0
 * @category models
 */
export type RunStatus = typeof RunStatus.Type

/**
 * A step that started before a crash, whose result was never recorded, and
 * whose tool is not idempotent: only a human can tell whether it took effect.
 *
 * @since 0.1.0
 * @category models
 */
export const StepInFlight = Schema.Struct({
  stepId: Schema.String,
  tool: Schema.String,
  /** The call's arguments, as JSON. */
  args: Schema.String,
  message: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type StepInFlight = typeof StepInFlight.Type

/**
 * A run as the API shows it.
 *
 * @since 0.1.0
 * @category models
 */
export const RunInfo = Schema.Struct({
  id: Schema.String,
  agent: Schema.String,
  input: Schema.String,
  status: RunStatus,
  threadId: Schema.optionalKey(Schema.String),
  /** Who the run acts for (the id of its principal: the API key's, for the HTTP API), when known. */
  startedBy: Schema.optionalKey(Schema.String),
  traceId: Schema.optionalKey(Schema.String),
  /** A child run (a sub-agent's call, a handoff; id `<parentRunId>/<parentStepId>`): the run that started it. */
  parentRunId: Schema.optionalKey(Schema.String),
  /** A child run: the step of the parent run that started it. */
  parentStepId: Schema.optionalKey(Schema.String),
  /**
   * In a listing (`GET /v1/runs`): how many child runs this run started (sub-agents, handoffs; `?parent=ID`
   * lists them). Absent where it is not counted: a single run's `GET`, a cluster's listing.
   */
  children: Schema.optionalKey(Schema.Number),
  /** When the run was accepted, epoch milliseconds. */
  createdAt: Schema.Number,
  /** The `at` of its `RunStarted` event. */
  startedAt: Schema.optionalKey(Schema.Number),
  /** The `at` of the event that ended it. */
  finishedAt: Schema.optionalKey(Schema.Number),
  durationMs: Schema.optionalKey(Schema.Number),
  answer: Schema.optionalKey(Schema.String),
  error: Schema.optionalKey(ErrorInfo),
  usage: Schema.optionalKey(Usage),
  /** The steps of a paused run that wait for a human's decision. */
  awaiting: Schema.optionalKey(Schema.Array(Schema.Struct({
    stepId: Schema.String,
    tool: Schema.String,
    /** The capability the policy sends for approval. */
    capability: Schema.String,
    /** Who the run acts for. */
    principal: Schema.String
  }))),
  /**
   * Of a `needs-attention` run: the steps that were in flight when its
   * process died and still wait for a human's word. Resolve each with `POST
   * /v1/runs/:id/steps/:step/retry` (it did not take effect) or
   * `/assume-done` (it did); the run goes on once all are resolved.
   */
  attention: Schema.optionalKey(Schema.Array(StepInFlight)),
  /** Events journaled so far. */
  events: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type RunInfo = typeof RunInfo.Type

/**
 * One page of runs, newest first.
 *
 * @since 0.1.0
 * @category models
 */
export const RunPage = Schema.Struct({
  runs: Schema.Array(RunInfo),
  /** Runs matching the filter, on every page. */
  total: Schema.Number,
  offset: Schema.Number,
  limit: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type RunPage = typeof RunPage.Type

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))

const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Why a store could not keep `text`, if it could not. */
const textProblem = (text: string): string | undefined =>
  text.includes("\u0000")
    ? "must not contain a NUL character (U+0000)"
    : unpairedSurrogate.test(text)
    ? "must be valid Unicode (it holds an unpaired surrogate)"
    : undefined

/**
 * Text a store can keep: no NUL character (PostgreSQL rejects it in `text`
 * and `jsonb`) and no unpaired UTF-16 surrogate (not valid Unicode, so not
 * valid UTF-8 either).
 *
 * @since 0.1.0
 * @category models
 */
export const Text = Schema.String.check(Schema.makeFilter(textProblem))

/** The longest id: of a run, a step or a thread. */
export const maxIdLength = 128

/**
 * An id as the API accepts it in a path or a body (run, step, thread):
 * 1–128 characters among letters, digits and `.`, `_`, `:`, `-`, starting
 * with a letter or digit. Generated run ids (UUIDs) match.
 *
 * @since 0.1.0
 * @category models
 */
export const Id = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, {
    message: `must be 1-${maxIdLength} letters, digits, ".", "_", ":" or "-", starting with a letter or digit`
  }),
  Schema.isMaxLength(maxIdLength, { message: `must be at most ${maxIdLength} characters` })
)

/** How deep a tree of child runs the API reads: a run id holds at most this many `/`-separated ids. */
const maxRunIdDepth = 8

/** One {@link Id} in a pattern (its length bounded as the id's is). */
const idSegment = `[A-Za-z0-9][A-Za-z0-9._:-]{0,${maxIdLength - 1}}`

/**
 * A run id in a path: an {@link Id}, or a child run's id (a sub-agent's
 * call, a handoff): its parent's id, `/`, and the step's id (URL-encoded in
 * the path: `%2F`), up to 8 levels.
 *
 * @since 0.3.0
 * @category models
 */
export const RunId = Schema.String.check(
  Schema.isPattern(
    new RegExp(`^${idSegment}(/${idSegment}){0,${maxRunIdDepth - 1}}$`),
    {
      message: `must be an id (1-${maxIdLength} letters, digits, ".", "_", ":" or "-", starting with a letter or ` +
        `digit), or a child run's: up to ${maxRunIdDepth} such ids joined by "/"`
    }
  )
)

/**
 * Limits a request may set on its run. They can only tighten the agent's own
 * budget, never loosen it.
 *
 * @since 0.1.0
 * @category models
 */
export const BudgetRequest = Schema.Struct({
  maxSteps: Schema.optionalKey(PositiveInt),
  maxTurns: Schema.optionalKey(PositiveInt),
  maxWallTimeMs: Schema.optionalKey(PositiveInt)
})

/**
 * A request to start a run.
 *
 * @since 0.1.0
 * @category models
 */
export const StartRun = Schema.Struct({
  /** The agent's name, as listed by `GET /v1/agents`. */
  agent: Text.check(Schema.isNonEmpty()),
  input: Text,
  threadId: Schema.optionalKey(Id),
  budget: Schema.optionalKey(BudgetRequest),
  /** Free-form facts recorded in the run's `RunStarted` event. */
  metadata: Schema.optionalKey(
    Schema.Record(Schema.String, Text).check(Schema.makeFilter((metadata) =>
      Object.keys(metadata).flatMap((key) => {
        const problem = textProblem(key)
        return problem === undefined ? [] : [{ path: [key], issue: `the key ${problem}` }]
      })
    ))
  )
})

/**
 * @since 0.1.0
 * @category models
 */
export type StartRun = typeof StartRun.Type

/**
 * A decision on a step that waits for approval (`POST /v1/runs/:id/approvals/:step`).
 *
 * @since 0.1.0
 * @category models
 */
export const ApprovalRequest = Schema.Struct({
  approved: Schema.Boolean,
  /** Why; recorded in the journal. */
  reason: Schema.optionalKey(Text)
})

/**
 * How a human resolves a `needs-attention` step: `retry` (its effect did not
 * happen: run it again) or `assume-done` (it did: do not run it again; its
 * result is unknown, so the step fails and the planner sees that).
 *
 * @since 0.1.0
 * @category models
 */
export const Resolution = Schema.Literals(["retry", "assume-done"])

/**
 * @since 0.1.0
 * @category models
 */
export type Resolution = typeof Resolution.Type

/**
 * @since 0.1.0
 * @category models
 */
export type ApprovalRequest = typeof ApprovalRequest.Type

/**
 * `POST /v1/runs/:id/fork`: where to fork the run (a step id, or a turn
 * number; default: the point of the edit) and what to change there (see
 * `Replay.fork`).
 *
 * @since 0.2.0
 * @category models
 */
export const ForkRequest = Schema.Struct({
  at: Schema.optionalKey(Schema.Union([Id, Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))])),
  edit: Schema.optionalKey(ForkEdit)
})

/**
 * @since 0.2.0
 * @category models
 */
export type ForkRequest = typeof ForkRequest.Type

/**
 * A filter and page of {@link RunsShape.list}.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListQuery {
  readonly agent?: string | undefined
  readonly status?: RunStatus | undefined
  /** Default 50, at most 500. */
  readonly limit?: number | undefined
  readonly offset?: number | undefined
  /** Which runs: top-level ones (default), `all` (child runs too), or the child runs of one run. */
  readonly tree?: TreeFilter | undefined
}

/**
 * A tool as `GET /v1/agents` lists it.
 *
 * @since 0.1.0
 * @category models
 */
export const ToolInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.String
})

/**
 * An agent a server can run.
 *
 * @since 0.1.0
 * @category models
 */
export const AgentInfo = Schema.Struct({
  name: Schema.String,
  description: Schema.String,
  tools: Schema.Array(ToolInfo)
})

/**
 * @since 0.1.0
 * @category models
 */
export type AgentInfo = typeof AgentInfo.Type

/**
 * An event with its index in the run's journal (0-based), the SSE event id.
 * Ephemeral events (streamed model text, never journaled) have no index.
 *
 * @since 0.1.0
 * @category models
 */
export interface IndexedEvent {
  readonly index: number | undefined
  readonly event: RunEvent
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * No agent of that name on this server.
 *
 * What to do: check the name against `GET /v1/agents` (or the agents `graphent dev` printed at start-up); a
 * server only knows the agents it was started with.
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentNotFound extends Schema.TaggedError<AgentNotFound>()("AgentNotFound", {
  agent: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `no agent named "${this.agent}"; this server runs: ${this.available.join(", ") || "(none)"}`
  }
  /** {@link Errors.notFound}: exit 2, HTTP 404. */
  get outcome(): Errors.Outcome {
    return Errors.notFound
  }
}

/**
 * No run with that id (never started here, or forgotten by the journal).
 *
 * What to do: check the id with `graphent trace list --db` or `GET /v1/runs`; in-memory stores forget finished
 * runs (JournalMemory keeps the last 100), use the embedded store or PostgreSQL to keep them.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>()("RunNotFound", {
  runId: Schema.String
}) {
  override get message(): string {
    return `no run with id "${this.runId}"`
  }
  /** {@link Errors.notFound}: exit 2, HTTP 404. */
  get outcome(): Errors.Outcome {
    return Errors.notFound
  }
}

/**
 * Every slot is busy and the queue is full: try again later.
 *
 * What to do: retry after a moment (the HTTP API answers 429 with a `retry-after` header), or raise the
 * server's `maxConcurrent` / `maxQueued` if the machine has room.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunsOverloaded extends Schema.TaggedError<RunsOverloaded>()("RunsOverloaded", {
  running: Schema.Number,
  queued: Schema.Number,
  retryAfterSeconds: Schema.Number
}) {
  override get message(): string {
    return `too many runs (${this.running} running, ${this.queued} queued); retry in ${this.retryAfterSeconds} s`
  }
  /** {@link Errors.overloaded}: exit 1, HTTP 429. */
  get outcome(): Errors.Outcome {
    return Errors.overloaded
  }
}

/**
 * A resolution (`retry` / `assume-done`) for a run that does not wait for one
 * at that step.
 *
 * What to do: only a run stopped by `ResumeUnsafe` takes a resolution; `graphent trace show <run> --db` shows
 * what it waits for.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResolutionInvalid extends Schema.TaggedError<ResolutionInvalid>()("ResolutionInvalid", {
  runId: Schema.String,
  stepId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot resolve step "${this.stepId}" of run ${this.runId}: ${this.reason}`
  }
  /** {@link Errors.rejected}: exit 2, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.rejected
  }
}

/**
 * An agent's own layer failed to build when the server started.
 *
 * What to do: read the `cause`: usually a missing variable or an unreachable service the agent's layer needs
 * (a model key, a database URL). Fix it and restart the server; other agents keep serving.
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentSetupFailed extends Schema.TaggedError<AgentSetupFailed>()("AgentSetupFailed", {
  agent: Schema.String,
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `agent "${this.agent}" could not be set up: ${this.reason}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

// ---------------------------------------------------------------------------
// the service
// ---------------------------------------------------------------------------

/**
 * The runs interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunsShape {
  /** The agents this service runs. */
  readonly agents: ReadonlyArray<AgentInfo>
  /**
   * Accepts a run: records it (see `AcceptedRuns`), then it starts now, or
   * queues for a free slot; fails when the queue is full too, or when the
   * record cannot be written. The run acts for `principal` (see `Policy`).
   */
  readonly start: (
    request: StartRun,
    options?: { readonly principal?: Principal | undefined }
  ) => Effect.Effect<RunInfo, AgentNotFound | RunsOverloaded | JournalError>
  readonly get: (runId: string) => Effect.Effect<RunInfo, RunNotFound | JournalError>
  readonly list: (query: ListQuery) => Effect.Effect<RunPage>
  /**
   * The run's events after index `after` (all of them when absent), live
   * until the run ends; from the journal for a finished run.
   */
  readonly events: (
    runId: string,
    after?: number | undefined
  ) => Effect.Effect<Stream.Stream<IndexedEvent, JournalError>, RunNotFound | JournalError>
  /** The run's events so far, e.g. to write its journal file. */
  readonly read: (runId: string) => Effect.Effect<ReadonlyArray<RunEvent>, RunNotFound | JournalError>
  /**
   * Decides a step of a paused run (see `Approvals`): checked against the
   * policy, journaled, then the run resumes in the background (queued like a
   * new run) — follow it with {@link RunsShape.events}.
   */
  readonly decide: (
    runId: string,
    stepId: string,
    request: ApprovalRequest,
    approver: Principal
  ) => Effect.Effect<RunInfo, RunNotFound | AgentNotFound | ApprovalInvalid | RunsOverloaded | JournalError>
  /**
   * Resolves a step of a `needs-attention` run: `retry` runs it again,
   * `assume-done` takes it as done. Once every step in its `attention` is
   * resolved, the run goes on in the background, queued like a new run.
   */
  readonly resolve: (
    runId: string,
    stepId: string,
    resolution: Resolution
  ) => Effect.Effect<RunInfo, RunNotFound | AgentNotFound | ResolutionInvalid | RunsOverloaded | JournalError>
  /**
   * Forks a recorded run (see `Replay.fork`): checked now (a bad fork point
   * or edit fails with `ForkInvalid`), then the fork runs in the background
   * as a new run, queued like one, acting for `principal`. Absent on a
   * service that cannot fork.
   */
  readonly fork?: (
    runId: string,
    request: ForkRequest,
    options?: { readonly principal?: Principal | undefined }
  ) => Effect.Effect<RunInfo, RunNotFound | AgentNotFound | ForkInvalid | RunsOverloaded | JournalError>
  /** Interrupts the run (a queued run never starts); returns where it ended. A finished run is left as it is. */
  readonly cancel: (runId: string) => Effect.Effect<RunInfo, RunNotFound | JournalError>
  /** Runs in progress and waiting, now. */
  readonly load: Effect.Effect<{ readonly running: number; readonly queued: number }>
}

/**
 * The runs a server starts, lists, streams, cancels and decides on: what the HTTP API serves.
 *
 * @since 0.1.0
 * @category services
 */
export class Runs extends Context.Service<Runs, RunsShape>()("graphent/Runs") {}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/**
 * What a run's events say about it: a {@link RunInfo} for a run read back from
 * a journal (`undefined` when the events hold no `RunStarted`). A run without
 * an ending event is `unfinished` unless `live` says it is still running.
 *
 * @since 0.1.0
 * @category helpers
 */
export const summarize = (
  events: ReadonlyArray<RunEvent>,
  live: "running" | undefined = undefined
): RunInfo | undefined => {
  const started = events.find((event) => event._tag === "RunStarted")
  if (started === undefined || started._tag !== "RunStarted") return undefined
  const last = events[events.length - 1]!
  const base = {
    id: started.runId,
    agent: started.agent,
    input: started.input,
    ...(started.threadId === undefined ? {} : { threadId: started.threadId }),
    ...(started.principal === undefined ? {} : { startedBy: started.principal.id }),
    traceId: started.traceId,
    ...(started.parentRunId === undefined ? {} : { parentRunId: started.parentRunId }),
    ...(started.parentStepId === undefined ? {} : { parentStepId: started.parentStepId }),
    createdAt: started.at,
    startedAt: started.at,
    events: events.length
  }
  switch (last._tag) {
    case "RunCompleted":
      return { ...base, ...ended(started.at, last), status: "completed", answer: last.answer }
    case "RunFailed":
      return { ...base, ...ended(started.at, last), status: "failed", error: last.error }
    case "RunInterrupted":
      return { ...base, ...ended(started.at, last), status: "interrupted" }
    default: {
      const awaiting = awaitingOf(events)
      if (live !== undefined || awaiting.length === 0) return { ...base, status: live ?? "unfinished" }
      return { ...base, status: "paused", awaiting }
    }
  }
}

/** The steps that asked for approval and have no decision (nor outcome) yet. */
const awaitingOf = (events: ReadonlyArray<RunEvent>) => {
  const waiting = new Map<string, { stepId: string; tool: string; capability: string; principal: string }>()
  for (const event of events) {
    if (event._tag === "ApprovalRequested") {
      waiting.set(event.stepId, { stepId: event.stepId, tool: event.tool, capability: event.capability, principal: event.principal })
    } else if (event._tag === "ApprovalDecided" || event._tag === "StepSucceeded" || event._tag === "StepFailed") {
      waiting.delete(event.stepId)
    }
  }
  return [...waiting.values()]
}

/** From start to end, pauses (a step waiting for approval) and resumes included. */
const ended = (startedAt: number, last: { readonly at: number; readonly usage: Usage }) => ({
  finishedAt: last.at,
  durationMs: last.at - startedAt,
  usage: last.usage
})
