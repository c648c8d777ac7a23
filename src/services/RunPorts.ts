/**
 * The ports of a run: everything nondeterministic a run touches.
 *
 * The run loop (`src/layers/runtime/loop.ts`) reads the clock, journals its
 * events, checks its decisions, calls tools, models and the outside world
 * only through a {@link RunPorts} value. A runtime builds the live ports from
 * its services (`Journal`, `Tools`, `Clock`); a {@link PortProvider} wraps
 * them for one run, the way `ToolGuard` wraps the tool executor: replay,
 * resume and update (see `Replay`) answer from a recording what it holds and
 * hand the rest to the live ports. The loop does not know which wrapping it
 * runs under, so another runtime (a cluster runner, a sub-agent, a fork) can
 * reuse the loop by bringing its own ports.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type { Decision } from "./Decision.js"
import type { JournalError } from "./Journal.js"
import type { ReplayDivergence } from "./Replay.js"
import type { ErrorInfo, ModelRequest, RunEvent } from "./RunEvent.js"
import type { ToolsShape } from "./Tools.js"

/**
 * The `ModelCalled` event.
 *
 * @since 0.2.0
 * @category models
 */
export type ModelCalledEvent = Extract<RunEvent, { readonly _tag: "ModelCalled" }>

/**
 * The `ContextCompacted` event.
 *
 * @since 0.2.0
 * @category models
 */
export type ContextCompactedEvent = Extract<RunEvent, { readonly _tag: "ContextCompacted" }>

/**
 * The `ValueRecorded` event.
 *
 * @since 0.2.0
 * @category models
 */
export type ValueRecordedEvent = Extract<RunEvent, { readonly _tag: "ValueRecorded" }>

/**
 * How a run ended, as a recording can check it.
 *
 * @since 0.2.0
 * @category models
 */
export type RunOutcome = { readonly answer: string } | { readonly error: ErrorInfo }

/**
 * The ports of one run. Each request is answered on its own key (an event, a
 * step id, a turn, a model call number, a value key), so a wrapper can answer
 * one request from a recording and let the next one through.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunPorts {
  /** The clock, in milliseconds, for the events' times. */
  readonly now: () => number
  /**
   * Journals one event. Succeeds with the journal's own copy of the event
   * (with its recorded times) when the journal already holds it, which the
   * run then publishes instead; with nothing when the event was appended as
   * it is (so a live journal's `append` is the port itself).
   */
  readonly journal: (event: RunEvent) => Effect.Effect<RunEvent | void, JournalError>
  /** Events that follow `RunStarted` (a resumed run: `RunResumed`); usually none. */
  readonly opening: (runId: string, at: number) => ReadonlyArray<RunEvent>
  /** Runs tool calls. */
  readonly tools: ToolsShape
  /** Checks a planner's decision before it is journaled (a recording compares it with its own). */
  readonly decision: (turn: number, decision: Decision) => Effect.Effect<void, ReplayDivergence>
  /**
   * The model call number `call` of the run: `live` makes it and returns its
   * event; a recording may answer with its own event instead.
   */
  readonly model: <E, R>(
    call: number,
    request: ModelRequest,
    live: Effect.Effect<ModelCalledEvent, E, R>
  ) => Effect.Effect<ModelCalledEvent, E | ReplayDivergence, R>
  /** The value journaled under `key` at `turn`: `live` reads it; a recording may answer instead. */
  readonly value: <E, R>(
    turn: number,
    key: string,
    live: Effect.Effect<ValueRecordedEvent, E, R>
  ) => Effect.Effect<ValueRecordedEvent, E | ReplayDivergence, R>
  /** Checks how the run ended (a recording compares it with its own end). */
  readonly outcome: (outcome: RunOutcome) => Effect.Effect<void, ReplayDivergence>
  /** A compaction of the planner's conversation before model call `call`: replay and resume answer it from the recording. */
  readonly compaction: <E, R>(
    call: number,
    live: Effect.Effect<ContextCompactedEvent, E, R>
  ) => Effect.Effect<ContextCompactedEvent, E | ReplayDivergence, R>
  /**
   * The text that replaces the last message of model call `call`'s prompt (a fork's
   * `EditMessage`, applied by the planner before the call); usually absent.
   */
  readonly messageEdit?: ((call: number) => string | undefined) | undefined
}

/**
 * Wraps the live ports of one run. Called once, when the run starts; the
 * wrapper may keep state for that run (what it matched, where it diverged).
 *
 * **Example** (Counting the tool calls of a run)
 *
 * ```ts
 * let calls = 0
 * const counting: RunPorts.PortProvider = {
 *   provide: (live) => ({
 *     ...live,
 *     tools: { execute: (registry, call, context, defaults) => {
 *       calls++
 *       return live.tools.execute(registry, call, context, defaults)
 *     } }
 *   })
 * }
 * yield* AgentRuntime.run(agent, "go", { replay: counting })
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export interface PortProvider {
  readonly provide: (live: RunPorts) => RunPorts
  /**
   * The provider of the child run `runId` (a sub-agent, a handoff) of the
   * run this provider wraps: a recording answers for the child's section of
   * the journal (`read` reads a run's events from the runtime's journal when
   * the recording does not hold them). Absent, or `undefined`: the child runs
   * live. `approval` is the human's decision on the parent's step, which a
   * child waiting for approval takes as its own.
   */
  readonly child?: (
    runId: string,
    read: (runId: string) => Effect.Effect<ReadonlyArray<RunEvent>, JournalError>,
    approval: { readonly approved: boolean; readonly by: string; readonly reason?: string | undefined } | undefined
  ) => Effect.Effect<PortProvider | undefined, ReplayDivergence | JournalError>
}

/** No events after `RunStarted`. */
const noEvents: ReadonlyArray<RunEvent> = []

// The pass-through ports, shared by every live run (a run allocates no closure for them).
const noOpening = () => noEvents
const accept = () => Effect.void
const make = <A, E, R>(_call: unknown, _request: unknown, live: Effect.Effect<A, E, R>) => live
const passThrough = <A, E, R>(_call: unknown, live: Effect.Effect<A, E, R>) => live

/**
 * Live ports from a runtime's clock, journal and tool executor: every other
 * request passes through (decisions and outcomes are accepted, model calls
 * and values are made).
 *
 * @since 0.2.0
 * @category constructors
 */
export const live = (services: Pick<RunPorts, "now" | "journal" | "tools">): RunPorts => ({
  now: services.now,
  journal: services.journal,
  opening: noOpening,
  tools: services.tools,
  decision: accept,
  model: make,
  value: make,
  outcome: accept,
  compaction: passThrough
})
