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
import * as Approvals from "../services/Approvals.js"
import * as Journal from "../services/Journal.js"
import * as Policy from "./Policy.js"
import * as Replay from "./Replay.js"
import { type ErrorInfo, isEphemeral, type RunEvent } from "../services/RunEvent.js"
import {
  type AgentInfo,
  AgentNotFound,
  AgentSetupFailed,
  type IndexedEvent,
  type ListQuery,
  type RunInfo,
  RunNotFound,
  Runs,
  RunsOverloaded,
  type RunsShape,
  type StartRun,
  summarize
} from "../services/Runs.js"
import * as Tool from "../services/Tool.js"
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
}

interface Compiled {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly agent: Agent<any, any>
  readonly context: Context.Context<never>
  readonly metadata: Readonly<Record<string, string>> | undefined
}

const infoOfAgent = (agent: Agent<unknown>): AgentInfo => ({
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
    const slots = Semaphore.makeUnsafe(maxConcurrent)

    /** Forgets the oldest finished runs beyond `maxRuns`. */
    const evict = () => {
      if (records.size <= maxRuns) return
      for (const [id, record] of records) {
        if (records.size <= maxRuns) return
        if (record.live === undefined) records.delete(id)
      }
    }

    if (restore > 0) {
      const known = yield* journal.runs
      for (const runId of known.slice(-restore)) {
        const info = summarize(yield* journal.read(runId))
        if (info !== undefined) records.set(runId, { info, live: undefined, fiber: undefined })
      }
    }

    const infoOf = (record: Record_): RunInfo =>
      record.live === undefined ? record.info : { ...record.info, events: record.live.events.length }

    const publish = (record: Record_, live: Live, event: RunEvent) => {
      live.publish(event)
      if (event._tag === "RunStarted") {
        record.info = { ...record.info, startedAt: event.at, traceId: event.traceId }
      }
    }

    /** The run is over: settle its summary from its events (and from the journal, for what came after an interrupt). */
    const finish = (record: Record_, live: Live, exit: Exit.Exit<void>) =>
      Effect.gen(function*() {
        if (record.info.status === "running") running--
        else if (record.info.status === "queued") queued--
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
          // A step waits for a human: the run stopped without an end event, its journal resumable.
          const status = error === undefined ? "interrupted" : error._tag === "ApprovalRequired" ? "paused" : "failed"
          record.info = {
            ...record.info,
            ...(summary === undefined ? {} : { startedAt: summary.startedAt, traceId: summary.traceId }),
            status,
            finishedAt: clock.currentTimeMillisUnsafe(),
            ...(error === undefined ? {} : { error }),
            events: live.events.length
          }
        }
        record.info = { ...record.info, events: live.events.length }
        record.live = undefined
        record.fiber = undefined
        live.end()
        evict()
      })

    /** Runs `work` in a slot (waiting, queued, for one), then settles the run. */
    const execute = (record: Record_, live: Live, compiled: Compiled, work: Effect.Effect<void, unknown>): Effect.Effect<void> => {
      const started = slots.withPermit(Effect.suspend(() => {
        queued--
        running++
        record.info = { ...record.info, status: "running" }
        return work
      }))
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Effect.exit(restore(started)), (exit) => finish(record, live, exit as Exit.Exit<void>))
      ).pipe(Effect.provideContext(compiled.context))
    }

    const start: RunsShape["start"] = (request, startOptions) =>
      Effect.suspend((): Effect.Effect<RunInfo, AgentNotFound | RunsOverloaded> => {
        const compiled = agents.get(request.agent)
        if (compiled === undefined) return Effect.fail(new AgentNotFound({ agent: request.agent, available: names }))
        if (running + queued >= maxConcurrent + maxQueued) {
          return Effect.fail(new RunsOverloaded({ running, queued, retryAfterSeconds }))
        }
        const id = ids.runId()
        const principal = startOptions?.principal
        const metadata = { ...request.metadata, ...compiled.metadata }
        const budget = budgetFor(compiled.agent, request.budget)
        const runOptions: RunOptions = {
          runId: id,
          threadId: request.threadId,
          ...(Object.keys(metadata).length === 0 ? {} : { metadata }),
          ...(budget === undefined ? {} : { budget }),
          ...(principal === undefined ? {} : { principal })
        }
        const live = new Live()
        const record: Record_ = {
          info: {
            id,
            agent: request.agent,
            input: request.input,
            status: "queued",
            ...(request.threadId === undefined ? {} : { threadId: request.threadId }),
            ...(principal === undefined ? {} : { startedBy: principal.id }),
            createdAt: clock.currentTimeMillisUnsafe(),
            events: 0
          },
          live,
          fiber: undefined
        }
        records.set(id, record)
        const events = runtime.stream(compiled.agent, request.input, runOptions).pipe(
          Stream.runForEach((event) => Effect.sync(() => publish(record, live, event)))
        )
        return launch(record, live, compiled, events as Effect.Effect<void, unknown>)
      })

    /** Queues the run's work on a fiber of the layer's scope. */
    const launch = (record: Record_, live: Live, compiled: Compiled, work: Effect.Effect<void, unknown>) => {
      queued++
      return Effect.map(
        Effect.forkIn(execute(record, live, compiled, work), scope, { startImmediately: true }),
        (fiber) => {
          if (record.live !== undefined) record.fiber = fiber
          return infoOf(record)
        }
      )
    }

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
        if (running + queued >= maxConcurrent + maxQueued) {
          return yield* new RunsOverloaded({ running, queued, retryAfterSeconds })
        }

        // The resumed run journals through a tap that feeds its followers: their indexes stay the journal's.
        const live = new Live()
        for (const event of events) live.publish(event)
        const { awaiting: _, ...info } = summarize(events)!
        const record: Record_ = known ?? { info, live, fiber: undefined }
        record.info = { ...info, ...(known === undefined ? {} : { createdAt: known.info.createdAt }), status: "queued" }
        record.live = live
        records.delete(runId)
        records.set(runId, record)
        const tapped: Journal.JournalShape = {
          ...journal,
          append: (event) => Effect.tap(journal.append(event), () => Effect.sync(() => publish(record, live, event)))
        }
        const work = Effect.gen(function*() {
          const resumer = yield* Effect.provideService(LocalRuntime.make, Journal.Journal, tapped)
          yield* Approvals.decide(compiled.agent, events, decision).pipe(
            Effect.provideService(AgentRuntime, resumer),
            Effect.provideService(Journal.Journal, tapped),
            Effect.provideService(Policy.Policy, policy)
          )
        })
        return yield* launch(record, live, compiled, work as Effect.Effect<void, unknown>)
      })

    const fromJournal = (runId: string) =>
      Effect.flatMap(journal.read(runId), (events) => {
        const info = summarize(events)
        return info === undefined ? Effect.fail(new RunNotFound({ runId })) : Effect.succeed({ info, events })
      })

    const get: RunsShape["get"] = (runId) =>
      Effect.suspend(() => {
        const record = records.get(runId)
        return record === undefined ? Effect.map(fromJournal(runId), ({ info }) => info) : Effect.succeed(infoOf(record))
      })

    const list: RunsShape["list"] = (query: ListQuery) =>
      Effect.sync(() => {
        const limit = Math.max(1, Math.min(500, Math.floor(query.limit ?? 50)))
        const offset = Math.max(0, Math.floor(query.offset ?? 0))
        const matching: Array<Record_> = []
        for (const record of records.values()) {
          if (query.agent !== undefined && record.info.agent !== query.agent) continue
          if (query.status !== undefined && record.info.status !== query.status) continue
          matching.push(record)
        }
        matching.reverse()
        return { runs: matching.slice(offset, offset + limit).map(infoOf), total: matching.length, offset, limit }
      })

    const events: RunsShape["events"] = (runId, after = -1) =>
      Effect.suspend(() => {
        const from = Math.max(-1, Math.floor(after))
        const live = records.get(runId)?.live
        if (live !== undefined) return Effect.succeed(live.follow(from))
        return Effect.map(fromJournal(runId), ({ events }) =>
          Stream.fromIterable(events.slice(from + 1).map((event, i) => ({ index: from + 1 + i, event }))))
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
      cancel,
      load: Effect.sync(() => ({ running, queued }))
    })
  })

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
