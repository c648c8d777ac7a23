/**
 * The {@link RunEventsBus} on PostgreSQL `LISTEN`/`NOTIFY`: every process
 * with this layer on one database hears which runs' journals grew.
 *
 * A notice's payload is the run id (at most 7,900 bytes; a longer id is sent
 * as `*`, which wakes the followers of every run: `NOTIFY` payloads stop at
 * 8,000 bytes). The listener holds one connection of its own; when it is
 * lost, the layer listens again (every second until it can) and then wakes every
 * follower, which reads its journal again: notices lost in the gap cost
 * latency, never events. Sending goes through the layer's own small pool.
 *
 * **Example** (Two servers over one database)
 *
 * ```ts
 * import { RunEventsBusPg } from "graphent/postgres"
 *
 * const bus = RunEventsBusPg.layer({ pg: { url: Redacted.make("postgres://127.0.0.1/app") } })
 * // beside RunsLocal and the runtime, with RunEventsBus.announcing over the journal
 * ```
 *
 * @since 0.3.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Errors from "../services/Errors.js"
import {
  everyRun,
  makeAnnouncer,
  makeHub,
  RunEventsBus,
  type RunEventsBusShape
} from "../services/RunEventsBus.js"
import { type Wired, wires } from "../services/Wired.js"
import * as SqlStore from "../internal/sqlStore.js"

/**
 * Where the bus is.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The connection (the pool is the layer's own: 2 connections plus the listener's). */
  readonly pg: PgClient.PgPoolConfig
  /** The channel (default `graphent_run_events`); processes that share one see each other's runs. */
  readonly channel?: string | undefined
  /** How long followers wait without a notice before they read the journal again (default 5 s). */
  readonly fallback?: Duration.Input | undefined
}

/**
 * The bus could not start listening.
 *
 * What to do: check that `GRAPHENT_RUN_EVENTS_URL` (for `graphent worker` and `graphent dev --cluster` without it:
 * `GRAPHENT_DATABASE_URL`) names a PostgreSQL server this process can reach (`pg_isready`); without a bus, set
 * `GRAPHENT_RUN_EVENTS_URL=off` (or leave it unset outside a cluster) and each server follows only the runs it
 * executes.
 *
 * @since 0.3.0
 * @category errors
 */
export class RunEventsBusUnavailable extends Schema.TaggedError<RunEventsBusUnavailable>()("RunEventsBusUnavailable", {
  backend: Schema.String,
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {
  override get message(): string {
    return `run events bus (${this.backend}) unavailable: ${this.reason}`
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

/** The largest run id sent as it is (a `NOTIFY` payload must stay under 8,000 bytes). */
const maxPayloadBytes = 7_900

const channelPattern = /^[a-z_][a-z0-9_]{0,62}$/

/**
 * The bus over `options.pg`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Wired<"RunEventsBus">, RunEventsBusUnavailable> =>
  Layer.effect(
    RunEventsBus,
    Effect.gen(function*() {
      const channel = options.channel ?? "graphent_run_events"
      if (!channelPattern.test(channel)) {
        return yield* new RunEventsBusUnavailable({
          backend: "postgres",
          reason: `the channel must be a lower-case identifier, got ${JSON.stringify(channel)}`
        })
      }
      const client = yield* SqlStore.makePgClient({ maxConnections: 2, ...options.pg }).pipe(
        Effect.mapError((error) => new RunEventsBusUnavailable({ backend: "postgres", reason: error.message, cause: error }))
      )
      const hub = makeHub()
      // The first LISTEN fails the layer; later ones are retried, and each new one wakes every follower.
      const listen = client.listen(channel)
      const first = yield* listen.pipe(
        Effect.mapError((error) => new RunEventsBusUnavailable({ backend: "postgres", reason: error.message, cause: error }))
      )
      const consume = (notices: Queue.Dequeue<{ readonly payload: string }, unknown>) =>
        Effect.forever(Effect.map(Queue.take(notices), (notice) => hub.deliver(notice.payload)))
      const relisten = Effect.scoped(Effect.gen(function*() {
        const notices = yield* listen
        hub.deliver(everyRun)
        return yield* consume(notices)
      })).pipe(
        Effect.retry(Schedule.spaced("1 second")),
        Effect.forever
      )
      yield* Effect.forkScoped(Effect.andThen(Effect.ignore(consume(first)), relisten))
      const send = yield* makeAnnouncer((runId) =>
        client.notify(channel, Buffer.byteLength(runId) > maxPayloadBytes ? everyRun : runId)
      )
      return {
        backend: "postgres",
        fallback: Duration.fromInputUnsafe(options.fallback ?? "5 seconds"),
        announce: send,
        watch: hub.watch
      } satisfies RunEventsBusShape
    })
  ).pipe(Layer.provide(Reactivity.layer), wires("RunEventsBus"))

/**
 * The bus at `url` (a `postgres://` URL, e.g. `GRAPHENT_RUN_EVENTS_URL`);
 * unset or empty: no bus (followers poll the journal).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerUrl = (
  url: string | Redacted.Redacted<string> | undefined
): Layer.Layer<Wired<"RunEventsBus">, RunEventsBusUnavailable> => {
  const text = url === undefined ? "" : Redacted.isRedacted(url) ? Redacted.value(url) : url
  return text.trim() === ""
    ? Layer.succeed(RunEventsBus, RunEventsBus.defaultValue()).pipe(wires("RunEventsBus"))
    : layer({ pg: { url: Redacted.isRedacted(url) ? url : Redacted.make(text) } })
}
