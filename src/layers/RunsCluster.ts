/**
 * The {@link Runs} of a server in front of a Graphent cluster (`graphent dev
 * --cluster`): `POST /v1/runs` submits the run to the cluster
 * (`ClusterRuntime.submit`) instead of running it in this process, and every
 * other endpoint addresses runs by id, wherever a runner holds them: a run's
 * summary and events come from the journal (on the cluster's database), its
 * live events follow the journal on the `RunEventsBus` notices (every
 * `fallback` without a bus), an approval completes the run's durable deferred
 * (`ClusterRuntime.approve`, after this server's policy checked the
 * approver) and a cancel interrupts its workflow (`ClusterRuntime.cancel`).
 *
 * A run stopped by a crash that cut a non-idempotent call short
 * (`ResumeUnsafe` on the runner) `needs-attention`: resolving each of its
 * steps (`ClusterRuntime.resolve`) makes it go on, on whichever runner. A
 * fork (`ClusterRuntime.fork`) is a new run on the cluster.
 *
 * The server executes no run: its `load` is zero (the runners report theirs
 * with the `RunSlots` metrics), it never answers 429, and a run waits for a
 * runner's slot as `queued` until it journals its start.
 *
 * @since 0.3.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { SqlClient } from "effect/sql/SqlClient"
import type { WorkflowEngine } from "effect/workflow"
import type { Agent } from "../services/Agent.js"
import { Ids } from "../services/AgentRuntime.js"
import * as Approvals from "../services/Approvals.js"
import { inTree, Journal, type JournalError } from "../services/Journal.js"
import { Policy, type Principal } from "../services/Policy.js"
import type { RunEvent } from "../services/RunEvent.js"
import * as RunEventsBus from "../services/RunEventsBus.js"
import {
  AgentNotFound,
  AgentSetupFailed,
  type IndexedEvent,
  ResolutionInvalid,
  type RunInfo,
  RunNotFound,
  Runs,
  type RunsShape,
  summarize
} from "../services/Runs.js"
import * as ClusterRuntime from "./ClusterRuntime.js"
import * as JournalPg from "./JournalPg.js"
import * as Replay from "./Replay.js"
import { type Entry, infoOfAgent, stepInFlight } from "./RunsLocal.js"

/**
 * The options of {@link layer}.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends ClusterRuntime.WorkflowOptions {
  /**
   * The agents the cluster's runners execute (each runner loads the same
   * files). Their layers are built here only for their `Policy`, which checks
   * approvals.
   */
  readonly agents: ReadonlyArray<Entry>
  /** An agent whose layer does not build is left out (default: the layer fails). */
  readonly onSetupFailure?: ((failure: AgentSetupFailed) => Effect.Effect<void>) | undefined
  /** The prefix of the journal's tables on the cluster's database (default `graphent_`), which `list` reads. */
  readonly tablePrefix?: string | undefined
}

/** Whether a step of the run started and has no outcome (nor waits for approval). */
const hasOpenStep = (events: ReadonlyArray<RunEvent>): boolean => {
  const open = new Set<string>()
  for (const event of events) {
    if (event._tag === "StepStarted") open.add(event.stepId)
    else if (event._tag === "StepSucceeded" || event._tag === "StepFailed" || event._tag === "StepSkipped") open.delete(event.stepId)
  }
  return open.size > 0
}

const isEnd = (event: RunEvent) =>
  event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunInterrupted"

/** A cluster run's summary: without an end, it is running on some runner (or paused, waiting for a human). */
const summaryOf = (events: ReadonlyArray<RunEvent>): RunInfo | undefined => {
  const info = summarize(events)
  return info?.status === "unfinished" ? { ...info, status: "running" } : info
}

/** A run of the journal's runs table as the API shows it (what {@link summaryOf} makes of its events). */
const infoOfDetails = (run: JournalPg.RunDetails): RunInfo => ({
  id: run.runId,
  agent: run.agent,
  input: run.input,
  status: run.status === "unfinished" ? "running" : run.status,
  ...(run.threadId === undefined ? {} : { threadId: run.threadId }),
  ...(run.startedBy === undefined ? {} : { startedBy: run.startedBy }),
  traceId: run.traceId,
  ...(run.parentRunId === undefined ? {} : { parentRunId: run.parentRunId }),
  ...(run.parentStepId === undefined ? {} : { parentStepId: run.parentStepId }),
  createdAt: run.startedAt,
  startedAt: run.startedAt,
  ...(run.finishedAt === undefined ? {} : { finishedAt: run.finishedAt, durationMs: run.finishedAt - run.startedAt }),
  ...(run.answer === undefined ? {} : { answer: run.answer }),
  ...(run.error === undefined ? {} : { error: run.error }),
  ...(run.usage === undefined ? {} : { usage: run.usage }),
  ...(run.awaiting === undefined ? {} : { awaiting: run.awaiting }),
  events: run.events
})

/**
 * Builds the service over the cluster's `WorkflowEngine` (a client's),
 * `SqlClient` and `Journal` in context.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<RunsShape, AgentSetupFailed, WorkflowEngine.WorkflowEngine | SqlClient | Journal | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<WorkflowEngine.WorkflowEngine | SqlClient | Journal>()
    const base = context as Context.Context<never>
    const journal = yield* Journal
    const bus = yield* RunEventsBus.RunEventsBus
    const ids = yield* Ids
    const clock = yield* Clock.Clock
    const tables = { tablePrefix: options.tablePrefix }

    const agents = new Map<string, { readonly entry: Entry; readonly policy: Context.Context<never> }>()
    for (const entry of options.agents) {
      const built = entry.layer === undefined
        ? Option.some(base)
        : yield* Layer.build(entry.layer as unknown as Layer.Layer<never, unknown>).pipe(
          Effect.provideContext(base),
          // The server's own policy (GRAPHENT_POLICY) unless the agent's module brings one.
          Effect.map((own) => Option.some(Context.merge(base, own))),
          Effect.mapError((error) =>
            new AgentSetupFailed({
              agent: entry.agent.name,
              reason: error instanceof Error ? error.message : String(error),
              cause: error
            })
          ),
          Effect.catch((failure) =>
            options.onSetupFailure === undefined
              ? Effect.fail(failure)
              : Effect.as(options.onSetupFailure(failure), Option.none<Context.Context<never>>())
          )
        )
      if (Option.isSome(built)) agents.set(entry.agent.name, { entry, policy: built.value })
    }
    const names = [...agents.keys()]

    /** Runs this server submitted that have not journaled their start yet (they wait for a runner). */
    const submitted = new Map<string, RunInfo>()

    /**
     * A running run whose journal has a step with no outcome may have stopped at it (`ResumeUnsafe`): it needs
     * attention until each of the steps is resolved.
     */
    /** A running run that a crash stopped at a non-idempotent call: `needs-attention`, with the steps to resolve. */
    const attentionOf = (info: RunInfo): Effect.Effect<RunInfo> => {
      if (info.status !== "running") return Effect.succeed(info)
      return Effect.map(ClusterRuntime.stopped(info.id, options).pipe(Effect.provideContext(context)), (stopped) => {
        const waiting = stopped?.steps.filter((step) => !stopped.resolved.has(step.stepId)) ?? []
        return waiting.length === 0
          ? info
          : { ...info, status: "needs-attention", attention: waiting.map((step) => stepInFlight(info.id, step)) }
      })
    }
    const withAttention = (info: RunInfo, events: ReadonlyArray<RunEvent>): Effect.Effect<RunInfo> =>
      hasOpenStep(events) ? attentionOf(info) : Effect.succeed(info)

    const fromJournal = (runId: string) =>
      Effect.flatMap(journal.read(runId), (events) => {
        const info = summaryOf(events)
        if (info !== undefined) {
          submitted.delete(runId)
          return Effect.map(withAttention(info, events), (info) => ({ events, info }))
        }
        const queued = submitted.get(runId)
        return queued === undefined ? Effect.fail(new RunNotFound({ runId })) : Effect.succeed({ events, info: queued })
      })

    const get: RunsShape["get"] = (runId) => Effect.map(fromJournal(runId), ({ info }) => info)

    /** A run just submitted: `queued` until a runner journals its start. */
    const queue = (
      runId: string,
      agent: string,
      input: string,
      threadId: string | undefined,
      principal: Principal | undefined
    ): RunInfo => {
      const info: RunInfo = {
        id: runId,
        agent,
        input,
        status: "queued",
        ...(threadId === undefined ? {} : { threadId }),
        ...(principal === undefined ? {} : { startedBy: principal.id }),
        createdAt: clock.currentTimeMillisUnsafe(),
        events: 0
      }
      submitted.set(runId, info)
      return info
    }

    const start: RunsShape["start"] = (request, startOptions) =>
      Effect.gen(function*() {
        const known = agents.get(request.agent)
        if (known === undefined) return yield* new AgentNotFound({ agent: request.agent, available: names })
        const agent = known.entry.agent
        const runId = ids.runId()
        const principal = startOptions?.principal
        const metadata = { ...request.metadata, ...known.entry.metadata }
        const budget = request.budget
        yield* ClusterRuntime.submit(agent, request.input, runId, {
          ...(request.threadId === undefined ? {} : { threadId: request.threadId }),
          ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
          ...(principal === undefined ? {} : { principal: { id: principal.id, roles: [...principal.roles] } }),
          // A request tightens the agent's budget, never loosens it (wall time: the agent's own on the runner).
          budget: {
            ...(budget?.maxSteps === undefined ? {} : { maxSteps: Math.min(budget.maxSteps, agent.budget.maxSteps) }),
            ...(budget?.maxTurns === undefined ? {} : { maxTurns: Math.min(budget.maxTurns, agent.budget.maxTurns) })
          }
        }).pipe(Effect.provideContext(context))
        return queue(runId, agent.name, request.input, request.threadId, principal)
      })

    /**
     * A page of runs, newest first: this server's runs that wait for a runner (`queued`), then the journal's
     * runs table (one indexed query, `JournalPg.pageRuns`).
     */
    const list: RunsShape["list"] = (query) =>
      Effect.gen(function*() {
        const limit = Math.max(1, Math.min(500, Math.floor(query.limit ?? 50)))
        const offset = Math.max(0, Math.floor(query.offset ?? 0))
        // `list` does not fail: a journal it cannot read lists what this server knows (as the journal's runs, none).
        const orNone = <A>(effect: Effect.Effect<A, JournalError, SqlClient>, none: A) =>
          Effect.catch(effect, (error) => Effect.as(Effect.logWarning(`graphent: runs not listed: ${error.message}`), none))
        // Submitted runs that journaled their start since are listed from the journal.
        const started = yield* orNone(JournalPg.startedRuns([...submitted.keys()], tables), new Set<string>())
        for (const runId of started) submitted.delete(runId)
        const queued = [...submitted.values()].reverse().filter((info) =>
          (query.agent === undefined || info.agent === query.agent) &&
          (query.status === undefined || query.status === "queued") && inTree(query.tree, undefined)
        )
        const fromQueue = queued.slice(offset, offset + limit)
        const status = query.status
        const page = (options: { readonly status: JournalPg.RunStatus | undefined; readonly limit: number; readonly offset: number }) =>
          Effect.flatMap(
            orNone(JournalPg.pageRuns({ ...tables, agent: query.agent, tree: query.tree, ...options }), { runs: [], total: 0 }),
            ({ runs, total }) =>
              Effect.map(Effect.forEach(runs, (run) => attentionOf(infoOfDetails(run)), { concurrency: 8 }), (infos) => ({ infos, total }))
          )
        if (status === "needs-attention") {
          // Stopped runs are `running` in the runs table: the running ones are checked (at most 500).
          const { infos } = yield* page({ status: "running", limit: 500, offset: 0 })
          const stopped = infos.filter((info) => info.status === "needs-attention")
          return { runs: stopped.slice(offset, offset + limit), total: stopped.length, offset, limit }
        }
        const journaled = status === "queued"
          ? { infos: [], total: 0 }
          : yield* page({ status, limit: limit - fromQueue.length, offset: Math.max(0, offset - queued.length) })
        return {
          runs: [...fromQueue, ...journaled.infos.filter((info) => status === undefined || info.status === status)],
          total: queued.length + journaled.total,
          offset,
          limit
        }
      }).pipe(Effect.provideContext(context))

    /** The journal of a run from index `after + 1`, read again on each bus notice (or `bus.fallback`) until it ends. */
    const follow = (runId: string, after: number): Stream.Stream<IndexedEvent, JournalError> =>
      RunEventsBus.follow(bus, runId, after, {
        read: journal.read(runId),
        over: (events) => events.length > 0 && isEnd(events[events.length - 1]!),
        wait: bus.fallback
      })

    const events: RunsShape["events"] = (runId, after = -1) =>
      Effect.map(fromJournal(runId), () => follow(runId, Math.max(-1, Math.floor(after))))

    const read: RunsShape["read"] = (runId) => Effect.map(fromJournal(runId), ({ events }) => events)

    const decide: RunsShape["decide"] = (runId, stepId, request, approver) =>
      Effect.gen(function*() {
        const invalid = (reason: string) => new Approvals.ApprovalInvalid({ runId, stepId, reason })
        const { events, info } = yield* fromJournal(runId)
        if (info.status !== "paused") return yield* invalid(`the run is ${info.status}, not paused`)
        const recorded = yield* Effect.mapError(Replay.recording(events, runId), (error) => invalid(error.reason))
        const known = agents.get(recorded.agent)
        if (known === undefined) return yield* new AgentNotFound({ agent: recorded.agent, available: names })
        const policy = Context.getOrUndefined(known.policy, Policy)
        if (policy === undefined) return yield* invalid("this server has no policy: its runs never wait for approval")
        const decision: Approvals.Decision = {
          stepId,
          approved: request.approved,
          approver,
          ...(request.reason === undefined ? {} : { reason: request.reason }),
          runId
        }
        // Checked here (the runner takes the answer as given): the caller hears why a decision is refused.
        yield* Effect.provideService(Approvals.check(recorded, decision), Policy, policy)
        yield* ClusterRuntime.approve(runId, stepId, {
          approved: request.approved,
          by: approver.id,
          ...(request.reason === undefined ? {} : { reason: request.reason })
        }, options).pipe(Effect.provideContext(context))
        const { awaiting: _, ...rest } = info
        return { ...rest, status: "running" } as RunInfo
      })

    const resolve: RunsShape["resolve"] = (runId, stepId, resolution) =>
      Effect.gen(function*() {
        const { info } = yield* fromJournal(runId)
        if (info.status !== "needs-attention") {
          return yield* new ResolutionInvalid({ runId, stepId, reason: `the run is ${info.status}, not needs-attention` })
        }
        const waiting = yield* ClusterRuntime.resolve(runId, stepId, resolution, options).pipe(Effect.provideContext(context))
        if (waiting.length === 0) {
          const { attention: _, ...rest } = info
          return { ...rest, status: "running" } as RunInfo
        }
        return { ...info, attention: waiting.map((step) => stepInFlight(runId, step)) }
      })

    const fork: NonNullable<RunsShape["fork"]> = (runId, request, forkOptions) =>
      Effect.gen(function*() {
        const events = yield* journal.read(runId)
        const first = events[0]
        if (first?._tag !== "RunStarted") return yield* new RunNotFound({ runId })
        const known = agents.get(first.agent)
        if (known === undefined) return yield* new AgentNotFound({ agent: first.agent, available: names })
        const principal = forkOptions?.principal
        const forkRunId = ids.runId()
        const metadata = known.entry.metadata
        const input = yield* ClusterRuntime.fork(known.entry.agent, runId, forkRunId, request, {
          ...(principal === undefined ? {} : { principal: { id: principal.id, roles: [...principal.roles] } }),
          ...(metadata === undefined || Object.keys(metadata).length === 0 ? {} : { metadata })
        }).pipe(
          Effect.mapError((error) => error._tag === "ReplayUnavailable" ? new Replay.ForkInvalid({ reason: error.reason }) : error),
          Effect.provideContext(context)
        )
        return queue(forkRunId, first.agent, input, first.threadId, principal)
      })

    const cancel: RunsShape["cancel"] = (runId) =>
      Effect.gen(function*() {
        const { info } = yield* fromJournal(runId)
        if (
          info.status === "completed" || info.status === "failed" || info.status === "interrupted" ||
          info.status === "needs-attention"
        ) return info
        yield* ClusterRuntime.cancel(runId, options).pipe(Effect.provideContext(context))
        return info
      })

    return Runs.of({
      agents: [...agents.values()].map(({ entry }) => infoOfAgent(entry.agent as Agent<unknown>)),
      start,
      get,
      list,
      events,
      read,
      decide,
      resolve,
      fork,
      cancel,
      // This server executes no run: the runners report their load (RunSlots metrics).
      load: Effect.succeed({ running: 0, queued: 0 })
    })
  })

/**
 * The runs service of a server in front of a cluster: needs a cluster
 * client's `WorkflowEngine` and `SqlClient` (`ClusterRuntime.layerClient`)
 * and the cluster's `Journal`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<Runs, AgentSetupFailed, WorkflowEngine.WorkflowEngine | SqlClient | Journal> => Layer.effect(Runs, make(options))
