/**
 * The local {@link Runs}: each run is a fiber of the layer's scope, on the
 * {@link AgentRuntime} and {@link Journal} in context.
 *
 * - At most `maxConcurrent` runs execute at once (a semaphore); up to
 *   `maxQueued` more wait for a slot, in order; beyond that `start` fails
 *   with {@link RunsOverloaded} (the API answers `429` with `retry-after`).
 * - A live run's events are kept in memory while it runs and published to
 *   every follower; once it ends they are dropped here and served from the
 *   journal, so memory stays bounded by the journal backend's own policy.
 * - A summary of every run is remembered (at most `maxRuns`, the oldest
 *   finished ones forgotten first); runs already in the journal when the
 *   layer starts are read back (the last `restore` of them), so a server
 *   over a persistent journal lists the runs of earlier processes.
 * - Runs of other processes on the same journal (`graphent run` beside
 *   `graphent dev` in one project) are listed as they appear, their statuses
 *   kept up to date (a paused run approved from the CLI, an interrupted one
 *   resumed), and a run still going in its process is `running` and followed
 *   live: its events are read from the journal as they are appended.
 * - Closing the layer's scope interrupts the runs still going (each journals
 *   `RunInterrupted`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type { Agent, Budget } from "../services/Agent.js"
import { AgentRuntime, Ids, type RunOptions } from "../services/AgentRuntime.js"
import * as AcceptedRunsService from "../services/AcceptedRuns.js"
import * as Approvals from "../services/Approvals.js"
import * as Journal from "../services/Journal.js"
import type { Principal } from "../services/Policy.js"
import * as Policy from "./Policy.js"
import * as Replay from "./Replay.js"
import { type ErrorInfo, isEphemeral, type RunEvent } from "../services/RunEvent.js"
import {
  type AgentInfo,
  AgentNotFound,
  AgentSetupFailed,
  type IndexedEvent,
  type ListQuery,
  type Resolution,
  ResolutionInvalid,
  type RunInfo,
  RunNotFound,
  Runs,
  RunsOverloaded,
  type RunsShape,
  type StartRun,
  type StepInFlight,
  summarize
} from "../services/Runs.js"
import * as Tool from "../services/Tool.js"
import * as RunOwner from "../internal/runOwner.js"
import * as RunEventsBusService from "../services/RunEventsBus.js"
import { RunEventsBus } from "../services/RunEventsBus.js"
import * as RunSlots from "../services/RunSlots.js"
import * as AcceptedRunsMemory from "./AcceptedRunsMemory.js"
import * as LocalRuntime from "./LocalRuntime.js"

/**
 * An agent with what it needs beyond the context of the layer: its own layer
 * (built once, when the layer starts, on top of that context) and metadata
 * recorded in each of its runs' `RunStarted` (e.g. `agentFile`, so that a
 * downloaded journal replays with `graphent replay`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- an agent's requirements are provided at run time
  readonly agent: Agent<any, any>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- what a module's layer provides and needs is not known statically
  readonly layer?: Layer.Layer<any, unknown, any> | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/**
 * The agents a server runs, how many runs it runs and queues at once, and how many it keeps listed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R> {
  /** The agents, by name (names must be unique). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any output type
  readonly agents: ReadonlyArray<Agent<R, any> | Entry>
  /** Runs executing at once (default 64). */
  readonly maxConcurrent?: number | undefined
  /** Runs waiting for a slot before `start` fails with `RunsOverloaded` (default 1,024). */
  readonly maxQueued?: number | undefined
  /** The `retryAfterSeconds` of `RunsOverloaded` (default 1). */
  readonly retryAfterSeconds?: number | undefined
  /** Run summaries remembered (default 10,000). */
  readonly maxRuns?: number | undefined
  /** Runs read back from the journal at start (default 100). */
  readonly restore?: number | undefined
  /**
   * Called when an agent's layer fails to build; the agent is then left out.
   * Without it, the failure fails the layer.
   */
  readonly onSetupFailure?: ((failure: AgentSetupFailed) => Effect.Effect<void>) | undefined
}

const positive = (name: string, value: number, min = 1) => {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`graphent: RunsLocal ${name} must be an integer >= ${min}, got ${value}`)
  }
  return value
}

/**
 * What followers of a live run share: its events so far, whether it ended,
 * who waits for more. `events` are the journaled events (index = position);
 * `items` are all that were published, including ephemeral ones (streamed
 * model text, never journaled), which carry no index.
 */
class Live {
  readonly events: Array<RunEvent> = []
  readonly items: Array<IndexedEvent> = []
  /** The position in `items` of each journaled event. */
  private readonly positions: Array<number> = []
  done = false
  private waiters: Array<(effect: Effect.Effect<void>) => void> = []

  publish(event: RunEvent): void {
    if (isEphemeral(event)) {
      this.items.push({ index: undefined, event })
    } else {
      this.positions.push(this.items.length)
      this.items.push({ index: this.events.length, event })
      this.events.push(event)
    }
    this.wake()
  }

  end(): void {
    this.done = true
    this.wake()
  }

  private wake(): void {
    const waiters = this.waiters
    if (waiters.length === 0) return
    this.waiters = []
    for (const resume of waiters) resume(Effect.void)
  }

  /** Waits for the next event or the end; a follower interrupted while waiting leaves no trace. */
  readonly changed: Effect.Effect<void> = Effect.callback<void>((resume) => {
    this.waiters.push(resume)
    return Effect.sync(() => {
      this.waiters = this.waiters.filter((waiter) => waiter !== resume)
    })
  })

  /** The events after the journaled event of index `after` (all when -1), until the run ends. */
  follow(after: number): Stream.Stream<IndexedEvent> {
    const pull = (from: number): Effect.Effect<readonly [ReadonlyArray<IndexedEvent>, Option.Option<number>]> =>
      Effect.suspend(() => {
        const { items } = this
        if (from < items.length) return Effect.succeed([items.slice(from), Option.some(items.length)] as const)
        if (this.done) return Effect.succeed([[], Option.none()] as const)
        return Effect.andThen(this.changed, pull(from))
      })
    return Stream.suspend(() => {
      // A follower ahead of the run (an index not journaled yet) starts with the next event to come.
      const position = after < 0 ? 0 : after < this.positions.length ? this.positions[after]! + 1 : this.items.length
      return Stream.paginate(position, pull)
    })
  }
}

/** What this layer remembers of one run. */
interface Record_ {
  info: RunInfo
  /** Present while the run is queued or running. */
  live: Live | undefined
  fiber: Fiber.Fiber<void> | undefined
  /** Set when the API cancels it: a run cancelled before it began is settled as such. */
  cancelled: boolean
  /** Of a `needs-attention` run: the resolutions given so far, by step. */
  resolutions: Map<string, Resolution>
}

interface Compiled {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly agent: Agent<any, any>
  readonly context: Context.Context<never>
  readonly metadata: Readonly<Record<string, string>> | undefined
}

/**
 * What `GET /v1/agents` says of an agent: its name, description and tools.
 *
 * @since 0.3.0
 * @category helpers
 */
export const infoOfAgent = (agent: Agent<unknown>): AgentInfo => ({
  name: agent.name,
  description: agent.description,
  tools: agent.tools.map((tool) => ({ name: tool.name, description: tool.description }))
})

const isEntry = (value: Agent<unknown> | Entry): value is Entry => "agent" in value && !("registry" in value)

type MutableBudget = { -readonly [K in keyof Budget]?: Budget[K] }

/** The request's limits, each no looser than the agent's own. */
const budgetFor = (agent: Agent<unknown>, request: StartRun["budget"]): Partial<Budget> | undefined => {
  if (request === undefined) return undefined
  const budget: MutableBudget = {}
  if (request.maxSteps !== undefined) budget.maxSteps = Math.min(request.maxSteps, agent.budget.maxSteps)
  if (request.maxTurns !== undefined) budget.maxTurns = Math.min(request.maxTurns, agent.budget.maxTurns)
  if (request.maxWallTimeMs !== undefined) {
    const own = agent.budget.maxWallTime
    budget.maxWallTime = own === undefined
      ? request.maxWallTimeMs
      : Math.min(request.maxWallTimeMs, Duration.toMillis(Duration.fromInputUnsafe(own)))
  }
  return budget
}

const errorOf = (cause: Cause.Cause<unknown>): ErrorInfo => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value as { readonly _tag?: unknown; readonly message?: unknown }
    return {
      _tag: typeof error._tag === "string" ? error._tag : "Error",
      message: typeof error.message === "string" ? error.message : String(error)
    }
  }
  return { _tag: "Defect", message: Tool.describeFailure(Cause.squash(cause)) }
}

/**
 * The steps of a journal that started and have no result, whose tool is not
 * idempotent (and that did not wait for approval, where the tool never ran):
 * in flight when the process died, so running them again might repeat an effect.
 */
const inFlight = (agent: Agent<unknown>, events: ReadonlyArray<RunEvent>) => {
  const idempotent = new Set(agent.tools.filter((tool) => tool.idempotent).map((tool) => tool.name))
  const steps: Array<{ readonly stepId: string; readonly tool: string; readonly args: string }> = []
  const results = new Set<string>()
  for (const event of events) {
    if (event._tag === "StepSucceeded" || event._tag === "StepFailed" || event._tag === "StepSkipped") results.add(event.stepId)
    if (event._tag === "ApprovalRequested") results.add(event.stepId)
  }
  for (const event of events) {
    if (event._tag !== "StepStarted" || results.has(event.stepId) || idempotent.has(event.tool)) continue
    if (steps.some((step) => step.stepId === event.stepId)) continue
    steps.push({ stepId: event.stepId, tool: event.tool, args: JSON.stringify(event.args) ?? "null" })
  }
  return steps
}

/**
 * How the API shows a step in flight, with what to do about it.
 *
 * @since 0.3.0
 * @category models
 */
export const stepInFlight = (
  runId: string,
  step: { readonly stepId: string; readonly tool: string; readonly args: string }
): StepInFlight => ({
  ...step,
  message: `step "${step.stepId}" (tool "${step.tool}", args ${step.args}) started before its process stopped, and its ` +
    `result was not recorded; "${step.tool}" is not idempotent. If its effect happened, POST ` +
    `/v1/runs/${runId}/steps/${step.stepId}/assume-done; if it did not, POST /v1/runs/${runId}/steps/${step.stepId}/retry.`
})

/** The step a resume stopped at: in flight at a crash, and not safe to run again. */
const resumeUnsafeOf = (cause: Cause.Cause<unknown>): Replay.ResumeUnsafe | undefined => {
  const failure = Cause.findErrorOption(cause)
  return failure._tag === "Some" && failure.value instanceof Replay.ResumeUnsafe ? failure.value : undefined
}

/**
 * Builds the service; the runs are fibers of the current scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(
  options: Options<R>
): Effect.Effect<RunsShape, AgentSetupFailed | Journal.JournalError, AgentRuntime | Journal.Journal | R | Scope.Scope> =>
  Effect.gen(function*() {
    const maxConcurrent = positive("maxConcurrent", options.maxConcurrent ?? 64)
    const maxQueued = positive("maxQueued", options.maxQueued ?? 1_024, 0)
    const maxRuns = positive("maxRuns", options.maxRuns ?? 10_000)
    const restore = positive("restore", options.restore ?? 100, 0)
    const retryAfterSeconds = options.retryAfterSeconds ?? 1
    const runtime = yield* AgentRuntime
    const journal = yield* Journal.Journal
    // The store's own when it has one (see Storage); else kept in memory, for this process only.
    const accepted = Option.getOrElse(yield* Effect.serviceOption(AcceptedRunsService.AcceptedRuns), AcceptedRunsMemory.make)
    const scope = yield* Effect.scope
    const base = (yield* Effect.context<never>()).pipe(Context.omit(Scope.Scope)) as Context.Context<never>
    const clock = Context.get(base, Clock.Clock)
    const ids = Context.get(base, Ids)

    // -- the agents -----------------------------------------------------------
    const agents = new Map<string, Compiled>()
    for (const item of options.agents) {
      const entry: Entry = isEntry(item as Agent<unknown> | Entry) ? item as Entry : { agent: item as Agent<unknown> }
      const name = entry.agent.name
      if (agents.has(name)) return yield* new AgentSetupFailed({ agent: name, reason: "two agents have this name" })
      let context = base
      if (entry.layer !== undefined) {
        const own = Layer.buildWithScope(entry.layer, scope).pipe(
          Effect.provideContext(base),
          Effect.mapError((error) =>
            new AgentSetupFailed({
              agent: name,
              reason: error instanceof Error ? error.message : String(error),
              cause: error
            })
          )
        ) as unknown as Effect.Effect<Context.Context<never>, AgentSetupFailed>
        const onSetupFailure = options.onSetupFailure
        if (onSetupFailure === undefined) {
          context = Context.merge(base, yield* own)
        } else {
          const built = yield* Effect.result(own)
          if (built._tag === "Failure") {
            yield* onSetupFailure(built.failure)
            continue
          }
          context = Context.merge(base, built.success)
        }
      }
      agents.set(name, { agent: entry.agent, context, metadata: entry.metadata })
    }
    const agentInfos = [...agents.values()].map((compiled) => infoOfAgent(compiled.agent))
    const names = [...agents.keys()]

    // -- the runs -------------------------------------------------------------
    const records = new Map<string, Record_>()
    let running = 0
    let queued = 0
    /** Starts whose record is being written: they hold a place in the queue. */
    let accepting = 0
    const slots = Semaphore.makeUnsafe(maxConcurrent)
    const isFull = () => running + queued + accepting >= maxConcurrent + maxQueued

    /** Forgets the oldest finished runs beyond `maxRuns`. */
    const evict = () => {
      if (records.size <= maxRuns) return
      for (const [id, record] of records) {
        if (records.size <= maxRuns) return
        if (record.live === undefined) records.delete(id)
      }
    }

    /** Tells this process when another one appended to a run's journal (none: followers poll). */
    const bus = yield* RunEventsBus
    const followsAnyProcess = bus.backend !== "none"

    /** The journal's runs looked at so far: one that appears later is a run of another process. */
    const seen = new Set<string>()
    const known = yield* journal.runs
    for (const runId of known) seen.add(runId)
    for (const runId of restore > 0 ? known.slice(-restore) : []) {
      const info = summaryOf(yield* journal.read(runId))
      if (info !== undefined) records.set(runId, { info, live: undefined, fiber: undefined, cancelled: false, resolutions: new Map() })
    }

    const infoOf = (record: Record_): RunInfo =>
      record.live === undefined ? record.info : { ...record.info, events: record.live.events.length }

    const publish = (record: Record_, live: Live, event: RunEvent) => {
      live.publish(event)
      if (event._tag === "RunStarted") {
        record.info = { ...record.info, startedAt: event.at, traceId: event.traceId }
      }
    }

    /** Marks the accepted run settled; a store that fails here only means it is looked at again at the next start. */
    const settle = (runId: string, settlement: AcceptedRunsService.Settlement) =>
      accepted.settle(runId, settlement).pipe(
        Effect.catch((error) => Effect.logWarning(`run ${runId} stays pending in the accepted runs: ${error.message}`))
      )

    /** The run is over: settle its summary from its events (and from the journal, for what came after an interrupt). */
    const finish = (record: Record_, live: Live, exit: Exit.Exit<void>) =>
      Effect.gen(function*() {
        if (record.info.status === "running") running--
        else if (record.info.status === "queued") queued--
        RunSlots.observe(running, queued)
        const last = live.events[live.events.length - 1]
        if (live.events.length > 0 && (last === undefined || !isEnd(last))) {
          // Interrupted: the runtime journaled RunInterrupted after this fiber stopped listening.
          const journaled = yield* Effect.orElseSucceed(journal.read(record.info.id), () => live.events)
          for (const event of journaled.slice(live.events.length)) live.publish(event)
        }
        const summary = summarize(live.events)
        if (summary !== undefined && summary.status !== "unfinished") {
          record.info = { ...summary, createdAt: record.info.createdAt, ...startedByOf(record.info) }
        } else {
          const error = Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? errorOf(exit.cause) : undefined
          const unsafe = Exit.isFailure(exit) ? resumeUnsafeOf(exit.cause) : undefined
          // A step waits for a human: the run stopped without an end event, its journal resumable.
          const status = error === undefined
            ? "interrupted"
            : error._tag === "ApprovalRequired"
            ? "paused"
            : unsafe !== undefined
            ? "needs-attention"
            : "failed"
          const { attention: _, error: __, ...rest } = record.info
          record.info = {
            ...rest,
            ...(summary === undefined ? {} : { startedAt: summary.startedAt, traceId: summary.traceId }),
            status,
            finishedAt: clock.currentTimeMillisUnsafe(),
            ...(error === undefined || unsafe !== undefined ? {} : { error }),
            ...(unsafe === undefined ? {} : {
              attention: unsafe.steps.map((step) => stepInFlight(rest.id, step))
            }),
            events: live.events.length
          }
        }
        record.info = { ...record.info, events: live.events.length }
        record.live = undefined
        record.fiber = undefined
        live.end()
        evict()
        // Settled: the journal ended it, or it was cancelled before it began. A run the server's stop
        // interrupted while queued stays pending, and starts again with the server.
        if (summary !== undefined && summary.status !== "unfinished" && summary.status !== "paused") {
          yield* settle(record.info.id, "ended")
        } else if (live.events.length === 0 && record.cancelled) {
          yield* settle(record.info.id, "cancelled")
        }
      })

    /** Runs `work` in a slot (waiting, queued, for one), then settles the run. */
    const execute = (record: Record_, live: Live, compiled: Compiled, work: Effect.Effect<void, unknown>): Effect.Effect<void> => {
      const started = slots.withPermit(Effect.suspend(() => {
        queued--
        running++
        RunSlots.observe(running, queued)
        record.info = { ...record.info, status: "running" }
        return work
      }))
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Effect.exit(restore(started)), (exit) => finish(record, live, exit as Exit.Exit<void>))
      ).pipe(Effect.provideContext(compiled.context))
    }

    /** Queues the run's work on a fiber of the layer's scope. */
    const launch = (record: Record_, live: Live, compiled: Compiled, work: Effect.Effect<void, unknown>) => {
      queued++
      RunSlots.observe(running, queued)
      return Effect.map(
        Effect.forkIn(execute(record, live, compiled, work), scope, { startImmediately: true }),
        (fiber) => {
          if (record.live !== undefined) record.fiber = fiber
          return infoOf(record)
        }
      )
    }

    /** A new run of an accepted request, from its first event (a fork brings its own run options). */
    const runFresh = (run: AcceptedRunsService.AcceptedRun, compiled: Compiled, forked?: RunOptions) => {
      const live = new Live()
      const record: Record_ = {
        info: {
          id: run.runId,
          agent: run.agent,
          input: run.input,
          status: "queued",
          ...(run.threadId === undefined ? {} : { threadId: run.threadId }),
          ...(run.principal === undefined ? {} : { startedBy: run.principal.id }),
          createdAt: run.acceptedAt,
          events: 0
        },
        live,
        fiber: undefined,
        cancelled: false,
        resolutions: new Map()
      }
      records.set(run.runId, record)
      seen.add(run.runId)
      const budget = budgetFor(compiled.agent, run.budget)
      const runOptions: RunOptions = forked ?? {
        runId: run.runId,
        threadId: run.threadId,
        ...(run.metadata === undefined || Object.keys(run.metadata).length === 0 ? {} : { metadata: run.metadata }),
        ...(budget === undefined ? {} : { budget }),
        ...(run.principal === undefined ? {} : { principal: run.principal })
      }
      const events = runtime.stream(compiled.agent, run.input, runOptions).pipe(
        Stream.runForEach((event) => Effect.sync(() => publish(record, live, event)))
      )
      return launch(record, live, compiled, events as Effect.Effect<void, unknown>)
    }

    /**
     * A journaled run that goes on (resumed after a crash, an approval or a
     * resolution): followers get its recorded events, then the new ones,
     * which it journals through a tap so that their indexes stay the journal's.
     */
    const reopen = (
      events: ReadonlyArray<RunEvent>,
      compiled: Compiled,
      goOn: Effect.Effect<unknown, unknown, AgentRuntime | Journal.Journal>
    ) => {
      const { attention: _, awaiting: __, ...info } = summarize(events)!
      const known = records.get(info.id)
      const live = new Live()
      for (const event of events) live.publish(event)
      const record: Record_ = known ?? { info, live, fiber: undefined, cancelled: false, resolutions: new Map() }
      record.info = { ...info, ...(known === undefined ? {} : { createdAt: known.info.createdAt }), status: "queued" }
      record.live = live
      record.cancelled = false
      records.delete(info.id)
      records.set(info.id, record)
      const tapped: Journal.JournalShape = {
        ...journal,
        // The run's own events: its child runs (sub-agents, handoffs) are journaled under their own ids.
        append: (event) =>
          Effect.tap(journal.append(event), () => Effect.sync(() => event.runId === info.id && publish(record, live, event))),
        // Each event published as it is appended.
        appendAll: undefined
      }
      const work = Effect.gen(function*() {
        const resumer = yield* Effect.provideService(LocalRuntime.make, Journal.Journal, tapped)
        yield* goOn.pipe(Effect.provideService(AgentRuntime, resumer), Effect.provideService(Journal.Journal, tapped))
      })
      return launch(record, live, compiled, work as Effect.Effect<void, unknown>)
    }

    const start: RunsShape["start"] = (request, startOptions) =>
      Effect.suspend((): Effect.Effect<RunInfo, AgentNotFound | RunsOverloaded | Journal.JournalError> => {
        const compiled = agents.get(request.agent)
        if (compiled === undefined) return Effect.fail(new AgentNotFound({ agent: request.agent, available: names }))
        if (isFull()) return Effect.fail(new RunsOverloaded({ running, queued, retryAfterSeconds }))
        const principal = startOptions?.principal
        const metadata = { ...request.metadata, ...compiled.metadata }
        const run: AcceptedRunsService.AcceptedRun = {
          runId: ids.runId(),
          agent: request.agent,
          input: request.input,
          ...(request.threadId === undefined ? {} : { threadId: request.threadId }),
          ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
          ...(request.budget === undefined ? {} : { budget: request.budget }),
          ...(principal === undefined ? {} : { principal: { id: principal.id, roles: [...principal.roles] } }),
          acceptedAt: clock.currentTimeMillisUnsafe()
        }
        // Recorded before the answer, so an accepted run outlives this process; once recorded it is launched,
        // even if the caller goes away meanwhile.
        accepting++
        return Effect.uninterruptible(
          accepted.accept(run).pipe(
            Effect.ensuring(Effect.sync(() => accepting--)),
            Effect.andThen(Effect.suspend(() => runFresh(run, compiled)))
          )
        )
      })

    /** Plans the fork `spec` of the journaled run `events` (the fork point exists, the edit fits it). */
    const planForkOf = (
      compiled: Compiled,
      events: ReadonlyArray<RunEvent>,
      spec: NonNullable<AcceptedRunsService.AcceptedRun["fork"]>,
      principal: Principal | undefined
    ) =>
      Replay.planFork(compiled.agent, events, {
        runId: spec.runId,
        at: spec.at,
        edit: spec.edit,
        principal,
        metadata: compiled.metadata
      }).pipe(Effect.mapError((error) => error._tag === "ForkInvalid" ? error : new Replay.ForkInvalid({ reason: error.reason })))

    /**
     * A fork of a journaled run: checked now, then accepted (recorded before
     * the answer, as `start` does, with the fork's request) and run in the
     * background. A server that stops before the fork ends takes it up when
     * it starts again: from its own journal once it has begun (its
     * `forkedFrom` keeps the edit), else planned again from the parent.
     */
    const fork: RunsShape["fork"] = (runId, request, forkOptions) =>
      Effect.gen(function*() {
        const events = yield* journal.read(runId)
        const first = events[0]
        if (first?._tag !== "RunStarted") return yield* new RunNotFound({ runId })
        const compiled = agents.get(first.agent)
        if (compiled === undefined) return yield* new AgentNotFound({ agent: first.agent, available: names })
        const principal = forkOptions?.principal
        const spec = {
          runId,
          ...(request.at === undefined ? {} : { at: request.at }),
          ...(request.edit === undefined ? {} : { edit: request.edit })
        }
        const plan = yield* planForkOf(compiled, events, spec, principal)
        if (isFull()) return yield* new RunsOverloaded({ running, queued, retryAfterSeconds })
        const started = plan.start(ids.runId())
        const run: AcceptedRunsService.AcceptedRun = {
          runId: started.options.runId!,
          agent: first.agent,
          input: plan.input,
          ...(first.threadId === undefined ? {} : { threadId: first.threadId }),
          ...(principal === undefined ? {} : { principal: { id: principal.id, roles: [...principal.roles] } }),
          acceptedAt: clock.currentTimeMillisUnsafe(),
          fork: spec
        }
        accepting++
        return yield* Effect.uninterruptible(
          accepted.accept(run).pipe(
            Effect.ensuring(Effect.sync(() => accepting--)),
            Effect.andThen(Effect.suspend(() => runFresh(run, compiled, started.options)))
          )
        )
      })

    /** An accepted fork that had not begun: planned again from its parent's journal (gone or changed: it is dropped). */
    const refork = (run: AcceptedRunsService.AcceptedRun, spec: NonNullable<AcceptedRunsService.AcceptedRun["fork"]>, compiled: Compiled) =>
      Effect.gen(function*() {
        const parent = yield* journal.read(spec.runId)
        const planned = yield* Effect.result(planForkOf(compiled, parent, spec, run.principal))
        if (planned._tag === "Failure") {
          yield* Effect.logWarning(`accepted fork ${run.runId} of run ${spec.runId} is dropped: ${planned.failure.message}`)
          return yield* settle(run.runId, "cancelled")
        }
        yield* runFresh(run, compiled, planned.success.start(run.runId).options)
      })

    const decide: RunsShape["decide"] = (runId, stepId, request, approver) =>
      Effect.gen(function*() {
        const invalid = (reason: string) => new Approvals.ApprovalInvalid({ runId, stepId, reason })
        const known = records.get(runId)
        if (known?.live !== undefined) return yield* invalid(`the run is ${known.info.status}, not paused`)
        const events = yield* journal.read(runId)
        if (events.length === 0) return yield* new RunNotFound({ runId })
        const recorded = yield* Effect.mapError(Replay.recording(events, runId), (error) => invalid(error.reason))
        const compiled = agents.get(recorded.agent)
        if (compiled === undefined) return yield* new AgentNotFound({ agent: recorded.agent, available: names })
        const policy = Context.getOrUndefined(compiled.context, Policy.Policy)
        if (policy === undefined) return yield* invalid("this server has no policy: its runs never wait for approval")
        const decision: Approvals.Decision = {
          stepId,
          approved: request.approved,
          approver,
          ...(request.reason === undefined ? {} : { reason: request.reason }),
          runId
        }
        // Checked now, so that the caller hears why a decision is refused; journaled by the resumed run below.
        yield* Effect.provideService(Approvals.check(recorded, decision), Policy.Policy, policy)
        if (isFull()) return yield* new RunsOverloaded({ running, queued, retryAfterSeconds })
        return yield* reopen(
          events,
          compiled,
          Effect.provideService(Approvals.decide(compiled.agent, events, decision), Policy.Policy, policy)
        )
      })

    /**
     * Resumes a journaled run, unless steps were in flight when its process
     * died that only a human can settle: then it needs attention, and nothing
     * runs until each of them is resolved (so no step runs while another
     * stops the run).
     */
    const resume = (events: ReadonlyArray<RunEvent>, compiled: Compiled, record: Record_ | undefined) => {
      const runId = events[0]!.runId
      const resolutions = record?.resolutions ?? new Map<string, Resolution>()
      const waiting = inFlight(compiled.agent, events).filter((step) => !resolutions.has(step.stepId))
      if (waiting.length > 0) {
        const { awaiting: _, ...info } = summarize(events)!
        const held: Record_ = record ?? { info, live: undefined, fiber: undefined, cancelled: false, resolutions }
        held.info = {
          ...info,
          ...(record === undefined ? {} : { createdAt: record.info.createdAt }),
          status: "needs-attention",
          attention: waiting.map((step) => stepInFlight(runId, step))
        }
        records.set(runId, held)
        return Effect.succeed(infoOf(held))
      }
      const pick = (resolution: Resolution) =>
        [...resolutions].filter(([, given]) => given === resolution).map(([stepId]) => stepId)
      const options = { runId, retry: pick("retry"), assumeDone: pick("assume-done") }
      // Given once: if this resume stops again, its steps are asked about again.
      resolutions.clear()
      return reopen(events, compiled, Replay.resume(compiled.agent, events, options))
    }

    const resolve: RunsShape["resolve"] = (runId, stepId, resolution) =>
      Effect.gen(function*() {
        const invalid = (reason: string) => new ResolutionInvalid({ runId, stepId, reason })
        const known = records.get(runId)
        if (known === undefined) {
          yield* get(runId)
          return yield* invalid("the run does not need attention")
        }
        if (known.info.status !== "needs-attention") return yield* invalid(`the run is ${known.info.status}, not needs-attention`)
        const waiting = known.info.attention ?? []
        if (!waiting.some((step) => step.stepId === stepId)) {
          return yield* invalid(`the steps that need attention are: ${waiting.map((step) => step.stepId).join(", ")}`)
        }
        const compiled = agents.get(known.info.agent)
        if (compiled === undefined) return yield* new AgentNotFound({ agent: known.info.agent, available: names })
        if (isFull()) return yield* new RunsOverloaded({ running, queued, retryAfterSeconds })
        known.resolutions.set(stepId, resolution)
        return yield* resume(yield* journal.read(runId), compiled, known)
      })

    /**
     * Takes up what an earlier process accepted and did not settle: a run
     * that never began starts; one that began resumes from its journal (with
     * `graphent resume`'s rules: a tool call in flight at the crash is run
     * again only if its tool is idempotent, else the run needs attention); a
     * run that waits for approval stays paused; an ended one is settled.
     */
    const recover = Effect.gen(function*() {
      const pending = yield* accepted.pending
      const journals = yield* Effect.forEach(pending, (run) => journal.read(run.runId), { concurrency: 8 })
      for (const [i, run] of pending.entries()) {
        const events = journals[i]!
        const compiled = agents.get(run.agent)
        const summary = summarize(events)
        if (summary !== undefined && summary.status !== "unfinished") {
          records.set(run.runId, {
            info: { ...summary, createdAt: run.acceptedAt },
            live: undefined,
            fiber: undefined,
            cancelled: false,
            resolutions: new Map()
          })
          if (summary.status !== "paused") yield* settle(run.runId, "ended")
        } else if (compiled === undefined) {
          yield* Effect.logWarning(`accepted run ${run.runId} waits: this server does not run agent "${run.agent}"`)
        } else if (summary === undefined) {
          yield* (run.fork === undefined ? runFresh(run, compiled) : refork(run, run.fork, compiled))
        } else {
          yield* resume(events, compiled, undefined)
        }
      }
    })
    yield* recover

    /** An accepted run this process has no record of and the journal no event of: waiting, or cancelled. */
    const fromAccepted = (runId: string) =>
      Effect.flatMap(accepted.get(runId), (entry): Effect.Effect<RunInfo, RunNotFound> => {
        if (entry === undefined) return Effect.fail(new RunNotFound({ runId }))
        const { run } = entry
        return Effect.succeed({
          id: run.runId,
          agent: run.agent,
          input: run.input,
          status: entry.settled === "cancelled" ? "interrupted" : "queued",
          ...(run.threadId === undefined ? {} : { threadId: run.threadId }),
          ...(run.principal === undefined ? {} : { startedBy: run.principal.id }),
          createdAt: run.acceptedAt,
          events: 0
        })
      })

    const fromJournal = (runId: string) =>
      Effect.flatMap(journal.read(runId), (events) => {
        const info = summaryOf(events)
        return info === undefined
          ? Effect.map(fromAccepted(runId), (info) => ({ info, events }))
          : Effect.succeed({ info, events })
      })

    // -- runs of other processes ------------------------------------------------

    /** A record this process does not run, whose journal may still change (another process runs, resumes or approves it). */
    const isOpenElsewhere = (record: Record_) =>
      record.live === undefined && record.info.status !== "completed" && record.info.status !== "failed"

    /** Reads the run's journal again; its summary replaces the record's when the journal grew or its process stopped. */
    const reread = (runId: string) =>
      Effect.gen(function*() {
        const events = yield* journal.read(runId)
        const info = summaryOf(events)
        if (info === undefined) return
        const record = records.get(runId)
        if (record === undefined) {
          records.set(runId, { info, live: undefined, fiber: undefined, cancelled: false, resolutions: new Map() })
          evict()
        } else if (record.live === undefined && (info.events !== record.info.events || record.info.status === "running")) {
          record.info = { ...info, createdAt: record.info.createdAt, ...startedByOf(record.info) }
        }
      }).pipe(
        // A journal being written may not read back whole (a line half written): it is read again next time.
        Effect.catch(() => Effect.void)
      )

    let refreshedAt = Number.NEGATIVE_INFINITY
    const refreshing = Semaphore.makeUnsafe(1)
    /**
     * Picks up the runs of other processes: new runs in the journal, and the ones whose journal may have
     * changed. At most every {@link refreshInterval}; concurrent callers share one refresh.
     */
    const refresh = refreshing.withPermit(Effect.gen(function*() {
      const now = clock.currentTimeMillisUnsafe()
      if (now - refreshedAt < refreshInterval) return
      refreshedAt = now
      const ids = yield* Effect.orElseSucceed(journal.runs, (): ReadonlyArray<string> => [])
      const fresh = ids.filter((runId) => !seen.has(runId))
      for (const runId of fresh) seen.add(runId)
      const open = [...records].filter(([, record]) => isOpenElsewhere(record)).map(([runId]) => runId)
      yield* Effect.forEach([...fresh, ...open], reread, { concurrency: 8, discard: true })
    }))

    /**
     * The events of a run another process is running, read from the journal as they are appended, until
     * it ends there (or its process stops). With a bus, the journal is read again when the bus says it
     * grew (and every `bus.fallback` without a notice), and a run of any host is followed until its
     * journal ends it (a runner that dies hands its runs over; only a process of this host known to be
     * gone ends the follow); without one, it is polled every 200 ms while its process on this host lives.
     */
    const tail = (runId: string, after: number): Stream.Stream<IndexedEvent> =>
      RunEventsBusService.follow(bus, runId, after, {
        read: Effect.orElseSucceed(journal.read(runId), (): ReadonlyArray<RunEvent> => []),
        over: (events) => {
          const last = events[events.length - 1]
          const owner = RunOwner.state(events)
          return (last !== undefined && isEnd(last)) || (followsAnyProcess ? owner === "gone" : owner !== "alive")
        },
        wait: followsAnyProcess ? bus.fallback : pollInterval
      })

    const get: RunsShape["get"] = (runId) =>
      Effect.suspend(() => {
        const record = records.get(runId)
        if (record === undefined) return Effect.map(fromJournal(runId), ({ info }) => info)
        if (!isOpenElsewhere(record)) return Effect.succeed(infoOf(record))
        return Effect.map(reread(runId), () => infoOf(records.get(runId) ?? record))
      })

    const list: RunsShape["list"] = (query: ListQuery) =>
      Effect.map(refresh, () => {
        const limit = Math.max(1, Math.min(500, Math.floor(query.limit ?? 50)))
        const offset = Math.max(0, Math.floor(query.offset ?? 0))
        const matching: Array<Record_> = []
        // Each run's child runs (direct ones: a grandchild counts for its own parent), counted in the same pass.
        const children = new Map<string, number>()
        for (const record of records.values()) {
          const parent = record.info.parentRunId
          if (parent !== undefined) children.set(parent, (children.get(parent) ?? 0) + 1)
          if (query.agent !== undefined && record.info.agent !== query.agent) continue
          if (query.status !== undefined && record.info.status !== query.status) continue
          if (!Journal.inTree(query.tree, parent)) continue
          matching.push(record)
        }
        matching.reverse()
        return {
          runs: matching.slice(offset, offset + limit).map((record) => ({
            ...infoOf(record),
            children: children.get(record.info.id) ?? 0
          })),
          total: matching.length,
          offset,
          limit
        }
      })

    const events: RunsShape["events"] = (runId, after = -1) =>
      Effect.suspend(() => {
        const from = Math.max(-1, Math.floor(after))
        const live = records.get(runId)?.live
        if (live !== undefined) return Effect.succeed(live.follow(from))
        return Effect.map(fromJournal(runId), ({ events, info }) =>
          info.status === "running" || (followsAnyProcess && info.status === "unfinished")
            ? tail(runId, from)
            : Stream.fromIterable(events.slice(from + 1).map((event, i) => ({ index: from + 1 + i, event }))))
      })

    const read: RunsShape["read"] = (runId) =>
      Effect.suspend(() => {
        const live = records.get(runId)?.live
        if (live !== undefined) return Effect.succeed(live.events.slice())
        return Effect.map(fromJournal(runId), ({ events }) => events)
      })

    const cancel: RunsShape["cancel"] = (runId) =>
      Effect.suspend(() => {
        const record = records.get(runId)
        if (record === undefined) return get(runId)
        const fiber = record.fiber
        if (fiber === undefined) return Effect.succeed(infoOf(record))
        record.cancelled = true
        return Effect.map(Fiber.interrupt(fiber), () => infoOf(record))
      })

    return Runs.of({
      agents: agentInfos,
      start,
      get,
      list,
      events,
      read,
      decide,
      resolve,
      cancel,
      fork,
      load: Effect.sync(() => ({ running, queued }))
    })
  })

/** How often the runs of other processes are looked for (at most), in milliseconds. */
const refreshInterval = 1_000

/** How often a run another process is running is read again while it is followed. */
const pollInterval = Duration.millis(200)

/** What a journal says of a run (see `summarize`): `running` while the process that started it is alive. */
const summaryOf = (events: ReadonlyArray<RunEvent>): RunInfo | undefined => {
  const info = summarize(events)
  return info?.status === "unfinished" && RunOwner.state(events) === "alive" ? { ...info, status: "running" } : info
}

const isEnd = (event: RunEvent) =>
  event._tag === "RunCompleted" || event._tag === "RunFailed" || event._tag === "RunInterrupted"

const startedByOf = (info: RunInfo) => info.startedBy === undefined ? {} : { startedBy: info.startedBy }

/**
 * The local runs service over the {@link AgentRuntime} and {@link Journal} in
 * context (plus what the agents need).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<Runs, AgentSetupFailed | Journal.JournalError, AgentRuntime | Journal.Journal | R> =>
  Layer.effect(Runs, make(options))
