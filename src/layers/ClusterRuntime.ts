/**
 * The cluster {@link AgentRuntime}: durable runs sharded over runner processes
 * with Effect's `effect/cluster` + `effect/workflow`, stored in PostgreSQL.
 *
 * A run is the workflow {@link GraphentRun}, keyed by its run id. Its body is
 * the same run loop as `LocalRuntime` (`./runtime/loop.ts`), journaling to
 * the `Journal` in context (`JournalPg` on the same database). The journal is
 * the record of what the run did: a runner that dies mid-run loses its
 * shards, and another runner replays the body from the top as a resume of
 * the journal (what `graphent resume` does): every journaled model call, value,
 * decision and step result answers from it, and the run goes on live. A
 * non-idempotent tool call is marked begun in `<prefix>cluster_calls` before
 * it goes out, so one a crash cut short stops the run with `ResumeUnsafe`
 * instead of running twice. The workflow storage holds where each run is:
 * its start, its owner, its result, its durable deferreds (approvals) and
 * interrupts (cancel). See docs/scaling.md for which store is the source of
 * truth for what.
 *
 * `graphent trace` and `graphent replay` work on a cluster run as on any.
 * A replayed body journals nothing twice (events are matched by key).
 *
 * Layers: {@link layerRunner} (a runner process: executes runs; what
 * `graphent worker` starts), {@link layerClient} (submits and addresses runs,
 * executes none), {@link layerSingle} (one process that is both, for
 * development and tests), each over {@link layer} (the `AgentRuntime`).
 *
 * @since 0.3.0
 */
import { NodeClusterSocket, NodeCrypto } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { ClusterWorkflowEngine, SingleRunner } from "effect/cluster"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import { SqlClient } from "effect/sql/SqlClient"
import { Activity, DurableDeferred, Workflow, WorkflowEngine } from "effect/workflow"
import { decodeStepError, encodeStepError, StepError } from "../internal/stepError.js"
import { type Agent, BudgetExceeded, decodeOutput, PlannerFailed, type StepOutcome } from "../services/Agent.js"
import {
  AgentRuntime,
  type AgentRuntimeShape,
  Ids,
  OutputInvalid,
  type RunError,
  type RunOptions,
  type RunResult
} from "../services/AgentRuntime.js"
import { appendAll, Journal, JournalError, type JournalShape } from "../services/Journal.js"
import { ApprovalRequired, Principal } from "../services/Policy.js"
import { ForkInvalid, type InFlightStep, ReplayDivergence, type ReplayUnavailable, ResumeUnsafe } from "../services/Replay.js"
import * as RateLimits from "../services/RateLimits.js"
import * as RunSlots from "../services/RunSlots.js"
import { type Resolution, ResolutionInvalid } from "../services/Runs.js"
import { ForkEdit, RunEvent, type Usage } from "../services/RunEvent.js"
import type { ModelCalledEvent, PortProvider, RunPorts, ValueRecordedEvent } from "../services/RunPorts.js"
import * as Tool from "../services/Tool.js"
import type { Registry, ToolCall, ToolOutput } from "../services/Tools.js"
import * as LocalRuntime from "./LocalRuntime.js"
import * as Replay from "./Replay.js"

// ---------------------------------------------------------------------------
// the workflow
// ---------------------------------------------------------------------------

/**
 * Every way a cluster run can fail, as the workflow storage keeps it: the
 * classes of {@link RunError}, so a client in another process gets the same
 * typed error.
 *
 * @since 0.3.0
 * @category schemas
 */
export const RunFailure = Schema.Union([
  ...StepError.members,
  BudgetExceeded,
  PlannerFailed,
  JournalError,
  ReplayDivergence,
  ResumeUnsafe,
  OutputInvalid,
  ApprovalRequired
])

/**
 * What a cluster run is started with: everything of `RunOptions` that can
 * cross a process (a `replay` session cannot: such runs stay local).
 *
 * @since 0.3.0
 * @category schemas
 */
export const RunPayload = {
  runId: Schema.String,
  /** The agent's name: every runner has the agent under that name (`graphent worker` loads the files). */
  agent: Schema.String,
  input: Schema.String,
  threadId: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Record(Schema.String, Schema.String)),
  principal: Schema.optional(Principal),
  /** Budget overrides (numbers only; a wall-time budget is the agent's own). */
  maxSteps: Schema.optional(Schema.Number),
  maxTurns: Schema.optional(Schema.Number),
  maxTokens: Schema.optional(Schema.Number),
  maxCost: Schema.optional(Schema.Number),
  /**
   * The execution of the run (0, the default: its first). A run that stopped
   * with `ResumeUnsafe` goes on in a new execution once every step it names
   * is resolved (see {@link resolve}), from its journal.
   */
  attempt: Schema.optional(Schema.Number),
  /** Steps a crash cut short that this attempt runs again (resolved `retry`). */
  retry: Schema.optional(Schema.Array(Schema.String)),
  /** Steps a crash cut short that this attempt takes as done (resolved `assume-done`: the step fails, result unknown). */
  assumeDone: Schema.optional(Schema.Array(Schema.String)),
  /** A fork (see {@link fork}): the parent run, the fork point and the edit; the run replays the parent up to it. */
  fork: Schema.optional(Schema.Struct({
    runId: Schema.String,
    at: Schema.optional(Schema.Union([Schema.String, Schema.Number])),
    edit: Schema.optional(ForkEdit)
  }))
}

/** The idempotency key of an attempt of a run: the run id (its first), then one per attempt. */
const attemptKey = (runId: string, attempt: number | undefined): string =>
  attempt === undefined || attempt === 0 ? runId : `${runId}/attempt-${attempt}`

/**
 * The durable workflow of one run, keyed by its run id (and attempt):
 * executing it twice with one run id joins the first execution.
 *
 * @since 0.3.0
 * @category workflows
 */
export const GraphentRun = Workflow.make("GraphentRun", {
  payload: RunPayload,
  success: Schema.Struct({ answer: Schema.String }),
  error: RunFailure,
  idempotencyKey: ({ attempt, runId }) => attemptKey(runId, attempt)
})

/**
 * A human's decision on a step that waits for approval, as the run's durable
 * deferred carries it from the API to the runner that holds the run.
 *
 * @since 0.3.0
 * @category schemas
 */
export const ApprovalAnswer = Schema.Struct({
  approved: Schema.Boolean,
  by: Schema.String,
  reason: Schema.optional(Schema.String)
})

/** The durable deferred a run waiting for approval of `stepId` suspends on. */
const approvalOf = (stepId: string) => DurableDeferred.make(`approval:${stepId}`, { success: ApprovalAnswer })

// ---------------------------------------------------------------------------
// the agents a runner executes
// ---------------------------------------------------------------------------

/**
 * An agent a runner executes, with what its tools need (the services of its
 * module's `layer`).
 *
 * @since 0.3.0
 * @category models
 */
export interface RegisteredAgent {
  readonly agent: Agent<any, unknown>
  readonly context: Context.Context<never>
}

/**
 * The agents of a runner, by name. A run names its agent; a runner without it
 * fails the run with `PlannerFailed`.
 *
 * @since 0.3.0
 * @category services
 */
export class ClusterAgents extends Context.Service<ClusterAgents, ReadonlyMap<string, RegisteredAgent>>()(
  "graphent/ClusterAgents"
) {}

/**
 * {@link ClusterAgents} from agents whose requirements are met already.
 *
 * @since 0.3.0
 * @category layers
 */
export const agents = (list: ReadonlyArray<Agent<never, unknown>>): Layer.Layer<ClusterAgents> =>
  Layer.succeed(ClusterAgents, new Map(list.map((agent) => [agent.name, { agent, context: Context.empty() }])))

// ---------------------------------------------------------------------------
// the ports of a run on a runner
// ---------------------------------------------------------------------------

const json = (value: unknown): string => JSON.stringify(value) ?? "null"

/**
 * A durable run outlives a PostgreSQL hiccup: journal reads and appends are
 * retried for about 30 s before the run fails with the `JournalError`.
 */
const journalRetry = { schedule: Schedule.spaced("500 millis"), times: 60 }

/** Markers of tool calls that began on some runner: a second beginning is a call a crash cut short. */
export interface CallMarkers {
  /** Marks the call begun; `false` when it had begun before. */
  readonly begin: (runId: string, stepId: string) => Effect.Effect<boolean>
  /** Forgets the call: it was interrupted cleanly (a handover), so it did not happen. */
  readonly forget: (runId: string, stepId: string) => Effect.Effect<void>
  /** Whether {@link cancel} was asked for the run. */
  readonly cancelled: (runId: string) => Effect.Effect<boolean>
  /** The end the journal already holds for the run (`RunCompleted`, `RunFailed` or, cancelled, `RunInterrupted`), if any. */
  readonly ended: (runId: string) => Effect.Effect<RunEvent | undefined, JournalError>
}

/** The mark {@link cancel} leaves among the calls of a run. */
const cancelMark = "!cancel"

/** An activity that does nothing: the workflow engine applies a pending interrupt there. */
const cancelCheckpoint = Activity.make({ name: "graphent/cancelled", execute: Effect.void })

const createMarkers = (sql: SqlClient, table: string) =>
  Effect.orDie(
    // Runners that start together race on CREATE TABLE IF NOT EXISTS (a unique violation in pg_type): again.
    Effect.retry(
      sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (run_id TEXT NOT NULL, step_id TEXT NOT NULL, PRIMARY KEY (run_id, step_id))`,
      { times: 3 }
    )
  )

/**
 * Markers in a PostgreSQL table `<prefix>cluster_calls`. A mark commits
 * synchronously (it must be durable before the call goes out), and its WAL
 * flush makes every journal append before it durable too.
 */
const sqlMarkers = (prefix: string, journal: JournalShape): Effect.Effect<CallMarkers, never, SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const table = sql(`${prefix}cluster_calls`)
    yield* createMarkers(sql, `${prefix}cluster_calls`)
    return {
      ended: (runId) =>
        Effect.map(journal.read(runId), (events) =>
          events.find((event) =>
            event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunInterrupted"
          )),
      cancelled: (runId) =>
        Effect.map(
          Effect.retry(sql`SELECT 1 AS one FROM ${table} WHERE run_id = ${runId} AND step_id = ${cancelMark}`, journalRetry),
          (rows) => rows.length > 0
        ).pipe(Effect.orElseSucceed(() => true)),
      begin: (runId, stepId) =>
        Effect.orDie(
          Effect.map(
            Effect.retry(
              sql`INSERT INTO ${table} (run_id, step_id) VALUES (${runId}, ${stepId}) ON CONFLICT DO NOTHING RETURNING 1 AS one`,
              journalRetry
            ),
            (rows) => rows.length === 1
          )
        ),
      forget: (runId, stepId) =>
        Effect.orDie(Effect.asVoid(sql`DELETE FROM ${table} WHERE run_id = ${runId} AND step_id = ${stepId}`))
    }
  })

/**
 * Wraps the live ports of a run on a runner. The journal is the record of
 * what the run did (a taken-over body resumes from it, as `graphent resume`
 * does), so the ports add only what a journal alone cannot decide across
 * processes:
 *
 * - a non-idempotent tool call is marked begun (`CallMarkers.begin`) before
 *   it goes out: a second beginning is a call a crash cut short, which stops
 *   the run with `ResumeUnsafe` rather than run twice; a call interrupted
 *   cleanly (a handover, a cancel) is forgotten and may begin again;
 * - the run's end is journaled once, and nothing after it (a shard that
 *   moves while its run ends, a cancelled body replayed to apply the interrupt);
 * - `RunInterrupted` only for a cancel: the body is interrupted whenever the
 *   workflow suspends or its shard moves, which is not the run being interrupted.
 *
 * Model calls, values and tool results are not workflow activities: an
 * activity would record each a second time (two synchronous commits and the
 * entity mailbox's work per call) for no guarantee the journal lacks. A call
 * whose result a crash kept from the journal is cut short either way.
 */
const clusterPorts = (runId: string, markers: CallMarkers, journal: JournalShape) => (live: RunPorts): RunPorts => {
  // A decision waits for the run's next event (its first step's start, a model call, the end) and is written
  // with it, in order, in one round trip. Lost with the runner, it is made again from what the journal holds;
  // no step acts on it before it is written.
  let pending: Array<RunEvent> = []
  const writes = Semaphore.makeUnsafe(1)
  const written = (event: RunEvent) =>
    writes.withPermit(Effect.suspend(() => {
      const batch = [...pending, event]
      pending = []
      return Effect.retry(appendAll(journal, batch), journalRetry)
    }))
  const later = (event: RunEvent) => writes.withPermit(Effect.sync(() => void pending.push(event)))
  const unlessEnded = (event: RunEvent) =>
    Effect.flatMap(Effect.retry(markers.ended(runId), journalRetry), (ended) =>
      ended === undefined ? written(event) : Effect.succeed(ended))
  return {
    ...live,
    journal: (event) =>
      event._tag === "DecisionMade"
        ? later(event)
        : event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunResumed"
        ? unlessEnded(event)
        : event._tag !== "RunInterrupted"
        ? written(event)
        : Effect.flatMap(markers.cancelled(runId), (cancelled) => cancelled ? unlessEnded(event) : Effect.void),
    tools: {
      execute: (registry, call, context, defaults) => {
        if (registry.entries.get(call.tool)?.tool.idempotent === true) {
          return live.tools.execute(registry, call, context, defaults)
        }
        const mark = context.approval !== undefined ? `step:${call.stepId}:approved` : `step:${call.stepId}`
        return Effect.flatMap(markers.begin(runId, mark), (first) => {
          if (!first) {
            const step = { stepId: call.stepId, tool: call.tool, args: json(call.args) }
            return Effect.fail(new ResumeUnsafe({ ...step, steps: [step] }))
          }
          return live.tools.execute(registry, call, context, defaults).pipe(
            // Interrupted cleanly (a handover or a cancel): the call did not finish and may begin again.
            Effect.onInterrupt(() => markers.forget(runId, mark))
          )
        })
      }
    }
  }
}

/** Every step id that started in `events` and has no outcome: calls a crash cut short (the marks decide which may run again). */
const inFlight = (events: ReadonlyArray<RunEvent>): ReadonlyArray<string> => {
  const started = new Set<string>()
  for (const event of events) {
    if (event._tag === "StepStarted") started.add(event.stepId)
    else if (event._tag === "StepSucceeded" || event._tag === "StepFailed" || event._tag === "StepSkipped") {
      started.delete(event.stepId)
    }
  }
  return [...started]
}

// ---------------------------------------------------------------------------
// the body of a run (on a runner)
// ---------------------------------------------------------------------------

/** The options of {@link layerWorkflow}. */
export interface WorkflowOptions {
  /** The prefix of Graphent's own cluster table (`<prefix>cluster_calls`); default `graphent_`. */
  readonly tablePrefix?: string | undefined
  /**
   * Runs this runner executes at once (default: no limit). A run over the
   * limit waits in this runner for a slot; it keeps its shard, so it does not
   * move to a less busy runner.
   */
  readonly maxConcurrentRuns?: number | undefined
  /**
   * How long a call waits for a shared rate-limit store that is down (tried
   * again every second, logged and counted) before its step fails with
   * `RateLimitUnavailable`; default 5 minutes. The limits are the
   * `RateLimits` in context (see `FlowConfig.layerConfig`).
   */
  readonly rateLimitStoreWait?: Duration.Input | undefined
}

/**
 * Counts a runner's runs for the `RunSlots` metrics: waiting for a slot
 * (`graphent_runs_queued`) and executing (`graphent_runs_running`).
 */
const slotted = (slots: Semaphore.Semaphore | undefined) => {
  let running = 0
  let waiting = 0
  return <A, E, R>(run: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let started = false
      waiting++
      RunSlots.observe(running, waiting)
      const inSlot = Effect.suspend(() => {
        started = true
        waiting--
        running++
        RunSlots.observe(running, waiting)
        return run
      })
      return (slots === undefined ? inSlot : slots.withPermit(inSlot)).pipe(
        Effect.ensuring(Effect.sync(() => {
          if (started) running--
          else waiting--
          RunSlots.observe(running, waiting)
        }))
      )
    })
}

const budgetOf = (payload: typeof GraphentRun.payloadSchema.Type): RunOptions["budget"] => {
  const budget: Record<string, number> = {}
  if (payload.maxSteps !== undefined) budget["maxSteps"] = payload.maxSteps
  if (payload.maxTurns !== undefined) budget["maxTurns"] = payload.maxTurns
  if (payload.maxTokens !== undefined) budget["maxTokens"] = payload.maxTokens
  if (payload.maxCost !== undefined) budget["maxCost"] = payload.maxCost
  return Object.keys(budget).length === 0 ? undefined : budget
}

/**
 * Registers {@link GraphentRun} on this runner: its body runs the agent the
 * payload names from {@link ClusterAgents}, journaling to the `Journal` in
 * context. A step waiting for approval suspends the workflow on a durable
 * deferred (see {@link approve}): it holds no process until the decision.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerWorkflow = (
  options: WorkflowOptions = {}
): Layer.Layer<never, never, WorkflowEngine.WorkflowEngine | Journal | ClusterAgents | SqlClient> =>
  Layer.unwrap(Effect.gen(function*() {
    const journal = yield* Journal
    const registered = yield* ClusterAgents
    const markers = yield* sqlMarkers(options.tablePrefix ?? "graphent_", journal)
    const local = yield* LocalRuntime.make.pipe(Effect.provideService(Journal, journal))
    const slots = options.maxConcurrentRuns === undefined ? undefined : Semaphore.makeUnsafe(options.maxConcurrentRuns)
    const inSlot = slotted(slots)
    // Shared limits (Redis) outlive a store restart: a call waits for the store rather than fail its step.
    const limits = RateLimits.waitingForStore(yield* RateLimits.RateLimits, {
      every: "1 second",
      within: options.rateLimitStoreWait ?? "5 minutes"
    })
    const attempts = attemptsStore(options).pipe(Effect.provideService(SqlClient, yield* SqlClient))
    /**
     * How a pass of the body runs: fresh; resumed from its journal (the resolutions of this attempt given, a
     * fork's edit applied again); or, a fork that journaled nothing yet, planned from its parent's journal.
     */
    const startOf = (
      agent: Agent<any, unknown>,
      payload: typeof GraphentRun.payloadSchema.Type,
      events: ReadonlyArray<RunEvent>
    ): Effect.Effect<{ readonly input: string; readonly options: RunOptions }, PlannerFailed> =>
      Effect.gen(function*() {
        const ports = clusterPorts(payload.runId, markers, journal)
        const own: RunOptions = {
          runId: payload.runId,
          threadId: payload.threadId,
          metadata: payload.metadata,
          principal: payload.principal,
          replay: { provide: ports }
        }
        if (events.length > 0) {
          const recording = yield* Effect.orDie(Replay.recording(events, payload.runId))
          const session = Replay.makeSession(recording, "resume", {
            retry: [...inFlight(events), ...(payload.retry ?? [])],
            assumeDone: payload.assumeDone
          })
          const first = recording.events[0]
          const forkedFrom = first?._tag === "RunStarted" ? first.forkedFrom : undefined
          const resumed = forkedFrom === undefined ? session : Replay.forkPorts(session, forkedFrom, payload.runId)
          return { input: payload.input, options: { ...own, replay: { provide: (live) => resumed.provide(ports(live)) } } }
        }
        const fork = payload.fork
        if (fork === undefined) return { input: payload.input, options: own }
        const parent = yield* Effect.orDie(Effect.retry(journal.read(fork.runId), journalRetry))
        const plan = yield* Replay.planFork(agent, parent, { ...fork, metadata: payload.metadata, principal: payload.principal }).pipe(
          Effect.mapError((error) => new PlannerFailed({ reason: `cannot fork run ${fork.runId}: ${error.message}` }))
        )
        const started = plan.start(payload.runId).options
        const forked = started.replay!
        return { input: plan.input, options: { ...started, replay: { provide: (live) => forked.provide(ports(live)) } } }
      })
    const body = (payload: typeof GraphentRun.payloadSchema.Type) =>
      Effect.gen(function*() {
        const entry = registered.get(payload.agent)
        if (entry === undefined) {
          return yield* new PlannerFailed({ reason: `no runner of this cluster has the agent "${payload.agent}"` })
        }
        const attempt = payload.attempt ?? 0
        if (attempt > 0) {
          yield* (yield* attempts).record(payload)
          // The steps resolved `retry` begin again: their marks are forgotten, once per attempt (a takeover of
          // this attempt finds the mark of the call it began again, and stops at it).
          for (const stepId of payload.retry ?? []) {
            if (yield* markers.begin(payload.runId, `!retry:${attempt}:${stepId}`)) {
              yield* markers.forget(payload.runId, `step:${stepId}`)
              yield* markers.forget(payload.runId, `step:${stepId}:approved`)
            }
          }
        }
        // Each pass: the journal so far answers what it holds; the rest runs live. A pass that stops
        // at a step waiting for approval suspends on its deferred, and the next pass runs with the decision.
        while (true) {
          // A cancelled run's body is replayed once more, to end the workflow: effect/workflow applies a
          // pending interrupt at the body's next activity, and the run's calls are not activities.
          if (yield* markers.cancelled(payload.runId)) yield* cancelCheckpoint
          const events = yield* Effect.retry(journal.read(payload.runId), journalRetry)
          const { input, options } = yield* startOf(entry.agent, payload, events)
          const budget = budgetOf(payload)
          const exit = yield* Effect.exit(
            local.run(entry.agent, input, { ...options, ...(budget === undefined ? {} : { budget }) }).pipe(
              Effect.provideContext(entry.context),
              Effect.provideService(RateLimits.RateLimits, limits)
            )
          )
          if (Exit.isSuccess(exit)) return { answer: exit.value.answer }
          const failure = Cause.findErrorOption(exit.cause)
          // Stopped at a call a crash cut short: kept for `resolve`, which goes on in a new attempt.
          if (failure._tag === "Some" && failure.value._tag === "ResumeUnsafe") yield* (yield* attempts).record(payload)
          if (failure._tag === "None" || failure.value._tag !== "ApprovalRequired") return yield* exit
          const waiting = failure.value
          const answer = yield* DurableDeferred.await(approvalOf(waiting.stepId))
          const decided = (yield* Effect.retry(journal.read(payload.runId), journalRetry)).some((event) =>
            event._tag === "ApprovalDecided" && event.stepId === waiting.stepId
          )
          if (!decided) {
            yield* Effect.retry(journal.append({
              _tag: "ApprovalDecided",
              runId: payload.runId,
              stepId: waiting.stepId,
              approved: answer.approved,
              by: answer.by,
              ...(answer.reason === undefined ? {} : { reason: answer.reason }),
              at: Date.now()
            }), journalRetry)
          }
        }
      })
    return GraphentRun.toLayer((payload) => {
      return inSlot(body(payload) as Effect.Effect<{ answer: string }, typeof RunFailure.Type>)
    })
  }))

// ---------------------------------------------------------------------------
// the runtime (any process)
// ---------------------------------------------------------------------------

/** The options of {@link layer}. */
export interface Options {
  /**
   * The events of a run as they are journaled, for `stream`. Default: the
   * journal, read every `pollInterval`. A pub/sub fan-out (PostgreSQL
   * LISTEN/NOTIFY, Redis) plugs in here.
   */
  readonly events?: ((runId: string) => Stream.Stream<RunEvent, JournalError>) | undefined
  /** How often the default `events` reads the journal (default 100 ms). */
  readonly pollInterval?: number | undefined
}

const isEnd = (event: RunEvent): boolean =>
  event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunInterrupted"

/** The steps of a run, from its journal (the values decoded with the tools' schemas). */
const stepsOf = (agent: Agent<unknown, unknown>, events: ReadonlyArray<RunEvent>): Array<StepOutcome> => {
  const args = new Map<string, unknown>()
  const steps: Array<StepOutcome> = []
  for (const event of events) {
    switch (event._tag) {
      case "StepStarted":
        args.set(event.stepId, event.args)
        break
      case "StepSucceeded": {
        const decoded = agent.registry.entries.get(event.tool)?.decodeResult(event.result)
        steps.push({
          _tag: "Succeeded",
          id: event.stepId,
          tool: event.tool,
          args: args.get(event.stepId),
          value: decoded?._tag === "Success" ? decoded.value : event.result,
          result: event.result,
          durationMs: event.durationMs
        })
        break
      }
      case "StepFailed":
        steps.push({
          _tag: "Failed",
          id: event.stepId,
          tool: event.tool,
          args: args.get(event.stepId),
          error: event.error,
          durationMs: event.durationMs
        })
        break
      case "StepSkipped":
        steps.push({ _tag: "Skipped", id: event.stepId, tool: event.tool, args: args.get(event.stepId), blockedBy: event.blockedBy })
        break
    }
  }
  return steps
}

const usageOf = (events: ReadonlyArray<RunEvent>): Usage => {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!
    if (event._tag === "RunCompleted" || event._tag === "RunFailed") return event.usage
  }
  return { turns: 0, steps: 0 }
}

/**
 * The result of a finished cluster run, rebuilt from its journal.
 *
 * @since 0.3.0
 * @category results
 */
export const resultOf = <O>(
  agent: Agent<unknown, O>,
  events: ReadonlyArray<RunEvent>,
  answer: string
): Effect.Effect<RunResult<O>, OutputInvalid> => {
  const first = events[0]
  const last = events[events.length - 1]
  const output = decodeOutput(agent as Agent<unknown, unknown>, answer)
  if (output._tag === "Failure") return Effect.fail(new OutputInvalid({ issue: output.issue, answer: answer.slice(0, 200) }))
  const started = first?._tag === "RunStarted" ? first : undefined
  return Effect.succeed({
    runId: started?.runId ?? "",
    traceId: started?.traceId ?? "",
    agent: agent.name,
    input: started?.input ?? "",
    answer,
    output: output.value as O,
    steps: stepsOf(agent as Agent<unknown, unknown>, events),
    usage: usageOf(events),
    events,
    startedAt: first?.at ?? 0,
    finishedAt: last?.at ?? 0,
    durationMs: (last?.at ?? 0) - (first?.at ?? 0)
  })
}

const payloadOf = (agent: Agent<unknown, unknown>, input: string, runId: string, options: RunOptions | undefined) => ({
  runId,
  agent: agent.name,
  input,
  ...(options?.threadId === undefined ? {} : { threadId: options.threadId }),
  ...(options?.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
  ...(options?.principal === undefined ? {} : { principal: options.principal }),
  ...(options?.budget?.maxSteps === undefined ? {} : { maxSteps: options.budget.maxSteps }),
  ...(options?.budget?.maxTurns === undefined ? {} : { maxTurns: options.budget.maxTurns }),
  ...(options?.budget?.maxTokens === undefined ? {} : { maxTokens: options.budget.maxTokens }),
  ...(options?.budget?.maxCost === undefined ? {} : { maxCost: options.budget.maxCost })
})

/** The events of a run, read from the journal every `interval` ms until it ends. */
const pollEvents = (journal: JournalShape, interval: number) => (runId: string): Stream.Stream<RunEvent, JournalError> =>
  Stream.paginate(0, (seen: number) => {
    const read: Effect.Effect<readonly [ReadonlyArray<RunEvent>, Option.Option<number>], JournalError> = Effect.flatMap(
      journal.read(runId),
      (all) => {
        if (all.length === seen) return Effect.andThen(Effect.sleep(interval), read)
        const fresh = all.slice(seen)
        return Effect.succeed([fresh, fresh.some(isEnd) ? Option.none() : Option.some(all.length)] as const)
      }
    )
    return read
  })

/**
 * Builds the cluster runtime over the `WorkflowEngine` (a cluster) and the
 * `Journal` in context. `run` executes {@link GraphentRun} (joined when the run
 * id already runs) and rebuilds the result from the journal; a run with a
 * `replay` session runs in this process (replay is offline by nature).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<AgentRuntimeShape, never, WorkflowEngine.WorkflowEngine | Journal> =>
  Effect.gen(function*() {
    const engine = yield* WorkflowEngine.WorkflowEngine
    const journal = yield* Journal
    const local = yield* LocalRuntime.make
    const events = options.events ?? pollEvents(journal, options.pollInterval ?? 100)
    const submit = <R, O>(agent: Agent<R, O>, input: string, runId: string, runOptions: RunOptions | undefined) =>
      Effect.provideService(
        GraphentRun.execute(payloadOf(agent as Agent<unknown, unknown>, input, runId, runOptions)),
        WorkflowEngine.WorkflowEngine,
        engine
      )
    return AgentRuntime.of({
      run: (agent, input, runOptions) =>
        runOptions?.replay !== undefined ? local.run(agent, input, runOptions) : Effect.gen(function*() {
          const runId = runOptions?.runId ?? (yield* Ids).runId()
          const { answer } = yield* submit(agent, input, runId, runOptions) as Effect.Effect<{ answer: string }, RunError>
          return yield* resultOf(agent as Agent<unknown, never>, yield* journal.read(runId), answer)
        }),
      stream: (agent, input, runOptions) =>
        runOptions?.replay !== undefined ? local.stream(agent, input, runOptions) : Stream.unwrap(Effect.gen(function*() {
          const runId = runOptions?.runId ?? (yield* Ids).runId()
          const submitted = yield* Effect.forkScoped(
            Effect.exit(submit(agent, input, runId, runOptions) as Effect.Effect<unknown, RunError>)
          )
          return events(runId).pipe(
            Stream.concat(Stream.fromEffect(Effect.flatMap(Fiber.await(submitted), (exit) =>
              Exit.isSuccess(exit) ? (exit.value as Exit.Exit<unknown, RunError>) : Effect.failCause(exit.cause)
            )).pipe(Stream.drain))
          ) as Stream.Stream<RunEvent, RunError>
        }))
    })
  })

/**
 * The cluster runtime: needs the `WorkflowEngine` of a cluster and the `Journal`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<AgentRuntime, never, WorkflowEngine.WorkflowEngine | Journal> => Layer.effect(AgentRuntime, make(options))

// ---------------------------------------------------------------------------
// runs addressed by id (from any process)
// ---------------------------------------------------------------------------

/**
 * Where a cluster run is: running (or waiting), completed, failed, or unknown.
 *
 * @since 0.3.0
 * @category models
 */
export type RunStatus =
  | { readonly _tag: "Unknown" }
  | { readonly _tag: "Running"; readonly waitingFor: ReadonlyArray<string> }
  | { readonly _tag: "Completed"; readonly answer: string }
  | { readonly _tag: "Failed"; readonly error: typeof RunFailure.Type }

const executionIdOf = (runId: string, attempt: number) =>
  GraphentRun.executionId({ runId, agent: "", input: "", attempt })

/**
 * Graphent's record of the attempts of runs that a crash stopped
 * (`<prefix>cluster_attempts`: an attempt's payload, written when it stops
 * with `ResumeUnsafe` and when a resolution starts the next one) and of the
 * resolutions given for the next attempt (`<prefix>cluster_resolutions`).
 * A run with no row is in its first attempt.
 */
const attemptsStore = (options: WorkflowOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const prefix = options.tablePrefix ?? "graphent_"
    const attempts = sql(`${prefix}cluster_attempts`)
    const resolutions = sql(`${prefix}cluster_resolutions`)
    const create = Effect.orDie(Effect.retry(
      Effect.andThen(
        sql`CREATE TABLE IF NOT EXISTS ${attempts} (run_id TEXT NOT NULL, attempt INT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (run_id, attempt))`,
        sql`CREATE TABLE IF NOT EXISTS ${resolutions} (run_id TEXT NOT NULL, attempt INT NOT NULL, step_id TEXT NOT NULL, resolution TEXT NOT NULL, PRIMARY KEY (run_id, attempt, step_id))`
      ),
      // Processes that start together race on CREATE TABLE IF NOT EXISTS (a unique violation in pg_type): again.
      { times: 3 }
    ))
    /** A query, once more after creating the tables if it failed (they did not exist yet: no run stopped). */
    const query = <A, E>(statement: Effect.Effect<A, E>): Effect.Effect<A> =>
      Effect.orDie(Effect.catch(statement, () => Effect.andThen(create, statement)))
    const decodePayload = Schema.decodeUnknownEffect(Schema.fromJsonString(GraphentRun.payloadSchema))
    /** The resolutions given for `attempt`, by step. */
    const given = (runId: string, attempt: number) =>
      Effect.map(
        query(sql<{ step_id: string; resolution: Resolution }>`SELECT step_id, resolution FROM ${resolutions}
          WHERE run_id = ${runId} AND attempt = ${attempt}`),
        (rows): ReadonlyMap<string, Resolution> => new Map(rows.map((row) => [row.step_id, row.resolution]))
      )
    return {
      given,
      /** The run's latest attempt (0: its first). */
      latest: (runId: string) =>
        Effect.map(
          query(sql<{ attempt: number | null }>`SELECT max(attempt) AS attempt FROM ${attempts} WHERE run_id = ${runId}`),
          (rows) => rows[0]?.attempt ?? 0
        ),
      /** Records an attempt with its payload (the first write wins). */
      record: (payload: typeof GraphentRun.payloadSchema.Type) =>
        query(sql`INSERT INTO ${attempts} (run_id, attempt, payload) VALUES (${payload.runId}, ${payload.attempt ?? 0}, ${
          json(Schema.encodeSync(GraphentRun.payloadSchema)(payload))
        }) ON CONFLICT DO NOTHING`),
      payload: (runId: string, attempt: number) =>
        Effect.flatMap(
          query(sql<{ payload: string }>`SELECT payload FROM ${attempts} WHERE run_id = ${runId} AND attempt = ${attempt}`),
          (rows) => rows.length === 0 ? Effect.succeed(undefined) : Effect.orDie(decodePayload(rows[0]!.payload))
        ),
      /** Gives `resolution` for `stepId` in `attempt` (the first given wins); every resolution given for that attempt. */
      resolve: (runId: string, attempt: number, stepId: string, resolution: Resolution) =>
        Effect.andThen(
          query(sql`INSERT INTO ${resolutions} (run_id, attempt, step_id, resolution)
            VALUES (${runId}, ${attempt}, ${stepId}, ${resolution}) ON CONFLICT DO NOTHING`),
          given(runId, attempt)
        )
    }
  })

/** The execution id of the run's latest attempt (the one status, cancel and approve address). */
const latestExecution = (runId: string, options: WorkflowOptions) =>
  Effect.flatMap(attemptsStore(options), (store) =>
    Effect.flatMap(store.latest(runId), (attempt) => executionIdOf(runId, attempt)))

/**
 * The status of the run `runId`, from the workflow storage (and, for a run
 * waiting for approval, the steps it waits on, from the journal).
 *
 * @since 0.3.0
 * @category runs
 */
export const status = (
  runId: string,
  options: WorkflowOptions = {}
): Effect.Effect<RunStatus, JournalError, WorkflowEngine.WorkflowEngine | Journal | SqlClient> =>
  Effect.gen(function*() {
    const executionId = yield* latestExecution(runId, options)
    const result = yield* GraphentRun.poll(executionId)
    if (Option.isSome(result) && result.value._tag === "Complete") {
      const exit = result.value.exit
      if (Exit.isSuccess(exit)) return { _tag: "Completed", answer: exit.value.answer } as const
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some") return { _tag: "Failed", error: error.value } as const
      return { _tag: "Failed", error: new PlannerFailed({ reason: Cause.pretty(exit.cause) }) } as const
    }
    const events = yield* (yield* Journal).read(runId)
    if (Option.isNone(result) && events.length === 0) return { _tag: "Unknown" } as const
    const decided = new Set(events.flatMap((event) => event._tag === "ApprovalDecided" ? [event.stepId] : []))
    const waitingFor = events.flatMap((event) =>
      event._tag === "ApprovalRequested" && !decided.has(event.stepId) ? [event.stepId] : []
    )
    return { _tag: "Running", waitingFor } as const
  })

/**
 * The journaled events of the run `runId` so far.
 *
 * @since 0.3.0
 * @category runs
 */
export const events = (runId: string): Effect.Effect<ReadonlyArray<RunEvent>, JournalError, Journal> =>
  Journal.use((journal) => journal.read(runId))

/**
 * Cancels the run `runId` wherever it runs: the workflow is interrupted
 * durably (a runner that holds it later still sees the interrupt) and the run
 * journals `RunInterrupted`. The runner holding the run is told at once and
 * interrupts its body, a tool or model call in flight included
 * (`WorkflowEngine.interruptUnsafe`: effect/workflow's plain interrupt would
 * wait for the run's next activity); the body's replay then applies the
 * durable interrupt without starting any new call. A run {@link stopped} at
 * a step a crash cut short runs nowhere: it is left as it is (as a local
 * server leaves a `needs-attention` run), to be resolved.
 *
 * @since 0.3.0
 * @category runs
 */
export const cancel = (
  runId: string,
  options: WorkflowOptions = {}
): Effect.Effect<void, never, WorkflowEngine.WorkflowEngine | SqlClient> =>
  Effect.gen(function*() {
    // A cancel mark left on a stopped run would read, after its resolution, as a cancel of the next attempt.
    if ((yield* stopped(runId, options)) !== undefined) return
    const sql = yield* SqlClient
    const table = `${options.tablePrefix ?? "graphent_"}cluster_calls`
    yield* createMarkers(sql, table)
    yield* Effect.orDie(
      sql`INSERT INTO ${sql(table)} (run_id, step_id) VALUES (${runId}, ${cancelMark}) ON CONFLICT DO NOTHING`
    )
    const engine = yield* WorkflowEngine.WorkflowEngine
    yield* engine.interruptUnsafe(GraphentRun, yield* latestExecution(runId, options))
  })

/**
 * Starts the run `runId` of `agent` on the cluster and returns once the
 * start is stored (it does not wait for the run): a runner picks it up, and
 * {@link status}, {@link events}, {@link cancel} and {@link approve} address
 * it from any process. Submitting a run id again joins the first run.
 *
 * @since 0.3.0
 * @category runs
 */
export const submit = (
  agent: Agent<any, unknown>,
  input: string,
  runId: string,
  options?: RunOptions | undefined
): Effect.Effect<void, never, WorkflowEngine.WorkflowEngine> =>
  Effect.asVoid(GraphentRun.execute(payloadOf(agent, input, runId, options), { discard: true }))

/**
 * Answers the approval that step `stepId` of run `runId` waits for: the
 * durable deferred completes, and the runner that picks the run up (any of
 * them, also after every runner restarted) goes on with the decision.
 *
 * @since 0.3.0
 * @category runs
 */
export const approve = (
  runId: string,
  stepId: string,
  answer: typeof ApprovalAnswer.Type,
  options: WorkflowOptions = {}
): Effect.Effect<void, never, WorkflowEngine.WorkflowEngine | SqlClient> =>
  Effect.gen(function*() {
    const executionId = yield* latestExecution(runId, options)
    const token = DurableDeferred.tokenFromExecutionId(approvalOf(stepId), { workflow: GraphentRun, executionId })
    yield* DurableDeferred.succeed(approvalOf(stepId), { token, value: answer })
  })

/**
 * A run whose latest attempt stopped with `ResumeUnsafe` (a crash cut short
 * a call of a non-idempotent tool): the steps that need a resolution, and the
 * resolutions given so far for the attempt that goes on.
 *
 * @since 0.3.0
 * @category models
 */
export interface Stopped {
  readonly attempt: number
  readonly steps: ReadonlyArray<InFlightStep>
  readonly resolved: ReadonlyMap<string, Resolution>
}

/**
 * Where the run `runId` waits for a human to resolve the steps a crash cut
 * short ({@link resolve}), if it does.
 *
 * @since 0.3.0
 * @category runs
 */
export const stopped = (
  runId: string,
  options: WorkflowOptions = {}
): Effect.Effect<Stopped | undefined, never, WorkflowEngine.WorkflowEngine | SqlClient> =>
  Effect.gen(function*() {
    const store = yield* attemptsStore(options)
    const attempt = yield* store.latest(runId)
    const result = yield* GraphentRun.poll(yield* executionIdOf(runId, attempt))
    if (Option.isNone(result) || result.value._tag !== "Complete" || Exit.isSuccess(result.value.exit)) return undefined
    const error = Cause.findErrorOption(result.value.exit.cause)
    if (error._tag === "None" || error.value._tag !== "ResumeUnsafe") return undefined
    const unsafe = error.value
    const steps = unsafe.steps.length > 0 ? unsafe.steps : [{ stepId: unsafe.stepId, tool: unsafe.tool, args: unsafe.args }]
    return { attempt, steps, resolved: yield* store.given(runId, attempt + 1) }
  })

/**
 * Resolves step `stepId` of the run `runId`, stopped by a crash that cut the
 * step's call short ({@link stopped}): `retry` runs it again, `assume-done`
 * takes it as done (the step fails, its result unknown, as `graphent resume
 * --assume-done` does). The resolution is stored before this returns; once
 * every step the run stopped at is resolved, the run goes on in a new attempt
 * (a new execution of {@link GraphentRun}) on whichever runner, from its
 * journal: no call the journal holds runs again. Returns the steps still
 * waiting for a resolution (none: the run goes on).
 *
 * @since 0.3.0
 * @category runs
 */
export const resolve = (
  runId: string,
  stepId: string,
  resolution: Resolution,
  options: WorkflowOptions = {}
): Effect.Effect<ReadonlyArray<InFlightStep>, ResolutionInvalid, WorkflowEngine.WorkflowEngine | SqlClient> =>
  Effect.gen(function*() {
    const invalid = (reason: string) => new ResolutionInvalid({ runId, stepId, reason })
    const state = yield* stopped(runId, options)
    if (state === undefined) return yield* invalid("the run is not stopped at a step a crash cut short")
    if (!state.steps.some((step) => step.stepId === stepId)) {
      return yield* invalid(`the steps that need attention are: ${state.steps.map((step) => step.stepId).join(", ")}`)
    }
    const store = yield* attemptsStore(options)
    const next = state.attempt + 1
    const given = yield* store.resolve(runId, next, stepId, resolution)
    const first = given.get(stepId)
    if (first !== resolution) return yield* invalid(`it was resolved "${first}" already`)
    const waiting = state.steps.filter((step) => !given.has(step.stepId))
    if (waiting.length > 0) return waiting
    const stoppedWith = yield* store.payload(runId, state.attempt)
    if (stoppedWith === undefined) return yield* invalid("the cluster kept no record of the run's payload")
    const pick = (wanted: Resolution) => [...given].filter(([, chosen]) => chosen === wanted).map(([id]) => id)
    const payload = { ...stoppedWith, attempt: next, retry: pick("retry"), assumeDone: pick("assume-done") }
    // Submitted (joined, when a resolution is given again after a crash here), then the latest attempt.
    yield* GraphentRun.execute(payload, { discard: true })
    yield* store.record(payload)
    return []
  })

/**
 * Forks the journaled run `runId` on the cluster (see `Replay.fork`): the
 * fork point and the edit are checked now against the run's journal, then the
 * fork is submitted as the new run `forkRunId` of `agent`; a runner replays
 * the parent up to the fork point, applies the edit and goes on live. Returns
 * the fork's input.
 *
 * @since 0.3.0
 * @category runs
 */
export const fork = (
  agent: Agent<any, unknown>,
  runId: string,
  forkRunId: string,
  request: { readonly at?: string | number | undefined; readonly edit?: ForkEdit | undefined },
  options: { readonly principal?: Principal | undefined; readonly metadata?: Readonly<Record<string, string>> } = {}
): Effect.Effect<string, ReplayUnavailable | ForkInvalid | JournalError, WorkflowEngine.WorkflowEngine | Journal> =>
  Effect.gen(function*() {
    const parent = yield* Journal.use((journal) => journal.read(runId))
    const plan = yield* Replay.planFork(agent, parent, { runId, ...request, ...options })
    const { options: started } = plan.start(forkRunId)
    yield* GraphentRun.execute({
      runId: forkRunId,
      agent: agent.name,
      input: plan.input,
      ...(started.threadId === undefined ? {} : { threadId: started.threadId }),
      ...(options.metadata === undefined ? {} : { metadata: { ...options.metadata } }),
      ...(options.principal === undefined ? {} : { principal: options.principal }),
      fork: {
        runId,
        ...(request.at === undefined ? {} : { at: request.at }),
        ...(request.edit === undefined ? {} : { edit: request.edit })
      }
    }, { discard: true })
    return plan.input
  })

// ---------------------------------------------------------------------------
// wiring
// ---------------------------------------------------------------------------

/**
 * How runners and clients reach the cluster's PostgreSQL and each other.
 *
 * @since 0.3.0
 * @category models
 */
export interface ClusterOptions extends Options, WorkflowOptions {
  /** The PostgreSQL database holding the workflow storage (and, usually, the journal). */
  readonly pg: PgClient.PgPoolConfig
  /** Sharding settings (defaults: Effect's, with 300 shards). */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/**
 * Sharding settings for a failover after `seconds`: a runner that stops
 * answering (killed, partitioned) loses its shards' locks after that time and
 * the other runners take its runs over. Shorter is a faster failover and more
 * lock refreshes (one PostgreSQL write per runner every `seconds / 4`).
 * Effect's default is 35 s.
 *
 * @since 0.3.0
 * @category constructors
 */
export const failover = (seconds: number): Partial<ShardingConfig.ShardingConfig["Service"]> => ({
  shardLockExpiration: Duration.seconds(seconds),
  shardLockRefreshInterval: Duration.millis(Math.max(500, (seconds * 1000) / 4)),
  runnerHealthCheckInterval: Duration.seconds(seconds),
  refreshAssignmentsInterval: Duration.millis(Math.min(3000, Math.max(500, (seconds * 1000) / 4)))
})

const pgLayer = (pg: PgClient.PgPoolConfig) =>
  PgClient.layer({ applicationName: "graphent-cluster", ...pg }).pipe(Layer.orDie)

/** The runtime over a cluster's engine layer and the PostgreSQL pool; with the workflow registered when `executes`. */
const wire = (
  options: ClusterOptions,
  sharding: Layer.Layer<any, any, any>,
  executes: boolean
): Layer.Layer<AgentRuntime | WorkflowEngine.WorkflowEngine | SqlClient, never, any> => {
  const engine = ClusterWorkflowEngine.layer.pipe(Layer.provideMerge(Layer.orDie(sharding)))
  const runtime = executes ? layer(options).pipe(Layer.provideMerge(layerWorkflow(options))) : layer(options)
  return runtime.pipe(Layer.provideMerge(engine), Layer.provideMerge(pgLayer(options.pg))) as never
}

/**
 * One process that is the whole cluster: a single runner over PostgreSQL
 * storage, executing the runs it submits. For development and tests; the
 * workflow storage is the same as a multi-runner cluster's.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerSingle = (
  options: ClusterOptions
): Layer.Layer<AgentRuntime | WorkflowEngine.WorkflowEngine | SqlClient, never, Journal | ClusterAgents> =>
  wire(
    options,
    SingleRunner.layer({ runnerStorage: "sql", shardingConfig: options.sharding }).pipe(
      Layer.provide(NodeCrypto.layerDigest)
    ),
    true
  )

/**
 * A runner process: joins the cluster on `host:port` (the address other
 * runners reach it at), takes its share of the shards, executes the runs of
 * those shards and gives them back when its scope closes (SIGTERM: the
 * shards are released, another runner replays their runs from the storage).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerRunner = (
  options: ClusterOptions & { readonly host: string; readonly port: number }
): Layer.Layer<AgentRuntime | WorkflowEngine.WorkflowEngine | SqlClient, never, Journal | ClusterAgents> =>
  wire(
    options,
    NodeClusterSocket.layer({
      storage: "sql",
      shardingConfig: { ...options.sharding, runnerAddress: Option.some(RunnerAddress.make(options.host, options.port)) }
    }),
    true
  )

/**
 * A client of the cluster: submits runs and addresses them by id, executes
 * none (no shards). What an HTTP server or a CLI in front of the runners uses.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerClient = (
  options: ClusterOptions
): Layer.Layer<AgentRuntime | WorkflowEngine.WorkflowEngine | SqlClient, never, Journal> =>
  wire(options, NodeClusterSocket.layer({ storage: "sql", clientOnly: true, shardingConfig: options.sharding }), false)
