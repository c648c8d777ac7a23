/**
 * Run events across processes: a process that appends to a run's journal
 * announces it; every process following that run (an SSE client of its
 * HTTP API) reads the journal again at once, instead of polling it.
 *
 * The bus carries no events, only the news that a run's journal grew: the
 * journal stays the one record, so a follower never sees an event the
 * journal does not hold, in another order, or twice (it reads from the index
 * it has), and a lost notice costs latency, not events — followers also read
 * the journal again every {@link RunEventsBusShape.fallback} without one.
 *
 * - {@link announcing}: wraps the `Journal` in context so that every append
 *   announces its run (coalesced: one notice per run in flight at a time).
 * - `RunsLocal` follows a run of another process through
 *   {@link RunEventsBusShape.watch}; with a bus in context it follows any
 *   unfinished run (not only runs of a live process on this host), until
 *   the journal ends it.
 *
 * Backends: none (the default: followers poll every 200 ms), {@link layerMemory}
 * (one process), `RunEventsBusPg` (PostgreSQL `LISTEN`/`NOTIFY`, in
 * `graphent/postgres`).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { appendAll, Journal, type JournalShape } from "./Journal.js"
import type { RunEvent } from "./RunEvent.js"
import { type Wired, wires } from "./Wired.js"

/**
 * A follower's subscription to one run's notices.
 *
 * @since 0.3.0
 * @category models
 */
export interface Watch {
  /**
   * Waits for a notice that arrived since the last call (returns at once
   * when one already did), or for `max` to pass.
   */
  readonly next: (max: Duration.Input) => Effect.Effect<void>
}

/**
 * The bus.
 *
 * @since 0.3.0
 * @category models
 */
export interface RunEventsBusShape {
  /** `none`, `memory`, `postgres`. */
  readonly backend: string
  /** How long a follower waits without a notice before it reads the journal again. */
  readonly fallback: Duration.Duration
  /** Tells every process that the journal of `runId` grew. Never fails: a notice lost costs latency only. */
  readonly announce: (runId: string) => Effect.Effect<void>
  /** Subscribes to the notices of `runId` for the scope's lifetime. */
  readonly watch: (runId: string) => Effect.Effect<Watch, never, Scope.Scope>
}

/**
 * No bus: nothing is announced; a follower reads the journal again every
 * 200 ms.
 *
 * @since 0.3.0
 * @category constructors
 */
export const none: RunEventsBusShape = {
  backend: "none",
  fallback: Duration.millis(200),
  announce: () => Effect.void,
  watch: () => Effect.succeed({ next: (max) => Effect.sleep(max) })
}

/**
 * The bus of this process (default {@link none}).
 *
 * @since 0.3.0
 * @category services
 */
export const RunEventsBus = Context.Reference<RunEventsBusShape>("graphent/RunEventsBus", {
  defaultValue: () => none
})

/**
 * The metrics of the bus (exported with the other metrics by the `Telemetry` layers).
 *
 * @since 0.3.0
 * @category metrics
 */
export const metrics = {
  noticesSent: { name: "graphent_run_notices_sent_total", description: "Notices sent that a run's journal grew." },
  noticesReceived: {
    name: "graphent_run_notices_received_total",
    description: "Notices received that a run's journal grew."
  },
  noticesFailed: {
    name: "graphent_run_notices_failed_total",
    description: "Notices that could not be sent (followers catch up by polling)."
  }
} as const

const counter = (definition: { readonly name: string; readonly description: string }) =>
  Metric.counter(definition.name, { description: definition.description, incremental: true })

const sent = counter(metrics.noticesSent)
const received = counter(metrics.noticesReceived)
const failed = counter(metrics.noticesFailed)

/**
 * The followers of one process, by run: what a backend delivers notices to.
 *
 * @since 0.3.0
 * @category models
 */
export interface Hub {
  /** Wakes the followers of `runId`; `"*"`: of every run (after a gap in the notices). */
  readonly deliver: (runId: string) => void
  readonly watch: RunEventsBusShape["watch"]
}

/** The notice that wakes every follower. */
export const everyRun = "*"

/**
 * Makes a hub.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeHub = (): Hub => {
  const watchers = new Map<string, Set<{ notified: boolean; waiting: Deferred.Deferred<void> | undefined }>>()
  const wake = (watcher: { notified: boolean; waiting: Deferred.Deferred<void> | undefined }) => {
    watcher.notified = true
    if (watcher.waiting !== undefined) Deferred.doneUnsafe(watcher.waiting, Effect.void)
  }
  return {
    deliver: (runId) => {
      received.updateUnsafe(1, Context.empty())
      if (runId === everyRun) {
        for (const set of watchers.values()) for (const watcher of set) wake(watcher)
      } else {
        const set = watchers.get(runId)
        if (set !== undefined) for (const watcher of set) wake(watcher)
      }
    },
    watch: (runId) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const watcher = { notified: false, waiting: undefined as Deferred.Deferred<void> | undefined }
          let set = watchers.get(runId)
          if (set === undefined) watchers.set(runId, set = new Set())
          set.add(watcher)
          return watcher
        }),
        (watcher) =>
          Effect.sync(() => {
            const set = watchers.get(runId)
            set?.delete(watcher)
            if (set?.size === 0) watchers.delete(runId)
          })
      ).pipe(Effect.map((watcher): Watch => ({
        next: (max) =>
          Effect.suspend(() => {
            if (watcher.notified) {
              watcher.notified = false
              return Effect.void
            }
            const waiting = Deferred.makeUnsafe<void>()
            watcher.waiting = waiting
            return Effect.timeoutOrElse(Deferred.await(waiting), { duration: max, orElse: () => Effect.void }).pipe(
              Effect.ensuring(Effect.sync(() => {
                watcher.waiting = undefined
                watcher.notified = false
              }))
            )
          })
      })))
  }
}

/**
 * Coalesces announcements: at most one `send` per run in flight; a run
 * announced again while its notice is being sent is sent once more after.
 * `send` runs on a fiber of the scope; its failures are counted and logged.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeAnnouncer = (
  send: (runId: string) => Effect.Effect<void, unknown>
): Effect.Effect<(runId: string) => Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pending = new Set<string>()
    let signal = Deferred.makeUnsafe<void>()
    const flush = Effect.gen(function*() {
      yield* Deferred.await(signal)
      signal = Deferred.makeUnsafe<void>()
      const runs = [...pending]
      pending.clear()
      yield* Effect.forEach(runs, (runId) =>
        send(runId).pipe(
          Effect.andThen(Metric.update(sent, 1)),
          Effect.catchCause((cause) =>
            Effect.andThen(Metric.update(failed, 1), Effect.logDebug("graphent: a run notice was not sent", cause))
          )
        ), { concurrency: 4, discard: true })
    })
    yield* Effect.forkScoped(Effect.forever(flush))
    return (runId: string) =>
      Effect.sync(() => {
        pending.add(runId)
        Deferred.doneUnsafe(signal, Effect.void)
      })
  })

/**
 * A bus within one process: announcements wake this process's followers.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Wired<"RunEventsBus">> = Layer.sync(RunEventsBus, () => {
  const hub = makeHub()
  return {
    backend: "memory",
    fallback: Duration.seconds(5),
    announce: (runId) => Effect.sync(() => hub.deliver(runId)),
    watch: hub.watch
  }
}).pipe(wires("RunEventsBus"))

/**
 * Wraps a journal so that every append announces its run on `bus`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const announce = (journal: JournalShape, bus: RunEventsBusShape): JournalShape =>
  bus === none ? journal : {
    ...journal,
    append: (event) => Effect.tap(journal.append(event), () => bus.announce(event.runId)),
    appendAll: (events) =>
      Effect.tap(appendAll(journal, events), () =>
        Effect.forEach(new Set(events.map((event) => event.runId)), bus.announce, { discard: true }))
  }

/**
 * Replaces the `Journal` in context with one that announces every append on
 * the {@link RunEventsBus} in context (unchanged when there is none).
 *
 * @since 0.3.0
 * @category layers
 */
export const announcing: Layer.Layer<Journal, never, Journal> = Layer.effect(
  Journal,
  Effect.gen(function*() {
    const journal = yield* Journal
    const bus = yield* RunEventsBus
    return announce(journal, bus)
  })
)

/**
 * Follows a run's journal from index `after + 1`: each read's new events,
 * with their indexes, then a wait for a notice of `bus` (at most `wait`)
 * while nothing is new, until `over` says the run is over (its journal's
 * end, or its process gone). What a server streams for a run another
 * process executes.
 *
 * @since 0.3.0
 * @category constructors
 */
export const follow = <E>(
  bus: RunEventsBusShape,
  runId: string,
  after: number,
  options: {
    readonly read: Effect.Effect<ReadonlyArray<RunEvent>, E>
    readonly over: (events: ReadonlyArray<RunEvent>) => boolean
    readonly wait: Duration.Input
  }
): Stream.Stream<{ readonly index: number; readonly event: RunEvent }, E> =>
  Stream.unwrap(Effect.map(bus.watch(runId), (watch) =>
    Stream.paginate(after + 1, (next: number) =>
      Effect.gen(function*() {
        const events = yield* options.read
        const over = options.over(events)
        const fresh = events.slice(next).map((event, i) => ({ index: next + i, event }))
        if (fresh.length === 0 && !over) yield* watch.next(options.wait)
        return [fresh, over ? Option.none<number>() : Option.some(next + fresh.length)] as const
      }))))
