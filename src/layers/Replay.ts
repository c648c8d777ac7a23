/**
 * Deterministic replay and crash-resume of runs, from their journal.
 *
 * A {@link Session} wraps the ports of one run (see `RunPorts`): it answers
 * from the recording everything the run cannot recompute — tool results,
 * model calls, journaled values, the clock readings of recorded events — and
 * hands the rest to the live ports. The run loop does not know it is wrapped.
 *
 * - `replay`: every request the new run makes (planner decision, tool call,
 *   model call, final answer) must equal the recorded one, or the run stops
 *   with a {@link ReplayDivergence} naming the event, both requests and their
 *   diff. Nothing runs live.
 * - `resume`: per call, never per run: a call whose result is recorded is
 *   answered from the recording, always; a tool call that started but did not
 *   finish runs again only if the tool is idempotent or the step is retried
 *   (otherwise {@link ResumeUnsafe}); only calls the recording has never seen
 *   run live. Events the journal holds are not journaled again.
 * - `update`: like `replay` until the first divergence, then live: the way to
 *   re-record a golden journal on purpose.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { CurrentRunObserver } from "../internal/telemetry.js"
import { diff, parsePattern } from "../internal/jsonDiff.js"
import { decodeStepError, encodeStepError as encodeStepErrorInternal } from "../internal/stepError.js"
import type { Agent, PlanInvalid } from "../services/Agent.js"
import { AgentRuntime, type RunError, type RunResult } from "../services/AgentRuntime.js"
import type { Decision } from "../services/Decision.js"
import type { ApprovalDecision, ApprovalRequired } from "../services/Policy.js"
import {
  type InFlightStep,
  type Mode,
  type Options,
  type Recording,
  ReplayDivergence,
  ReplayUnavailable,
  ResumeUnsafe
} from "../services/Replay.js"
import type { ErrorInfo, RunEvent } from "../services/RunEvent.js"
import type { ContextCompactedEvent, ModelCalledEvent, PortProvider, RunOutcome, RunPorts, ValueRecordedEvent } from "../services/RunPorts.js"
import * as Tool from "../services/Tool.js"
import * as SubAgent from "../internal/subAgent.js"
import type { Registry, ToolCall, ToolOutput, ToolsShape } from "../services/Tools.js"

/** @since 0.1.0 */
// Named, not `export *`: the declaration bundler turns a star re-export inside a namespace into values.
export { ReplayDivergence, ReplayUnavailable, ResumeUnsafe } from "../services/Replay.js"
export type { InFlightStep, Mode, Options, Recording } from "../services/Replay.js"

/**
 * Indexes the events of the run `runId` (default: the only run in `events`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const recording = (
  events: ReadonlyArray<RunEvent>,
  runId?: string
): Effect.Effect<Recording, ReplayUnavailable> =>
  Effect.suspend(() => {
    const runs = [...new Set(events.map((event) => event.runId))]
    // A journal of a run and its child runs (sub-agents, handoffs): the run is the one no other run started.
    const roots = runs.length <= 1 ? runs : events.flatMap((event) =>
      event._tag === "RunStarted" && event.parentRunId === undefined ? [event.runId] : []
    )
    const id = runId ?? (runs.length === 1 ? runs[0] : roots.length === 1 ? roots[0] : undefined)
    if (id === undefined) {
      return Effect.fail(
        new ReplayUnavailable({
          reason: runs.length === 0 ? "the journal holds no run" : `the journal holds ${runs.length} runs; name one (${runs.join(", ")})`
        })
      )
    }
    const own = events.filter((event) => event.runId === id)
    const first = own[0]
    if (first === undefined || first._tag !== "RunStarted") {
      return Effect.fail(new ReplayUnavailable({ reason: `run ${id} has no RunStarted event` }))
    }
    const decisions = new Map<number, { index: number; decision: Decision }>()
    const started = new Map<string, { index: number; tool: string; args: unknown }>()
    const outcomes = new Map<string, { index: number; event: RunEvent }>()
    const modelCalls = new Map<number, { index: number; event: ModelCalledEvent }>()
    const values = new Map<string, { index: number; event: ValueRecordedEvent }>()
    const compactions = new Map<number, { index: number; event: ContextCompactedEvent }>()
    let end: { index: number; event: RunEvent } | undefined
    const approvalRequested = new Set<string>()
    const approvals = new Map<string, ApprovalDecision>()
    own.forEach((event, index) => {
      switch (event._tag) {
        case "DecisionMade":
          decisions.set(event.turn, { index, decision: event.decision })
          break
        case "StepStarted":
          started.set(event.stepId, { index, tool: event.tool, args: event.args })
          break
        case "StepSucceeded":
        case "StepFailed":
        case "StepSkipped":
          outcomes.set(event.stepId, { index, event })
          break
        case "RunCompleted":
        case "RunFailed":
          end = { index, event }
          break
        case "ModelCalled":
          modelCalls.set(event.call, { index, event })
          break
        case "ValueRecorded":
          values.set(`${event.turn}:${event.key}`, { index, event })
          break
        case "ContextCompacted":
          compactions.set(event.call, { index, event })
          break
        case "ApprovalRequested":
          approvalRequested.add(event.stepId)
          break
        case "ApprovalDecided":
          approvals.set(event.stepId, {
            approved: event.approved,
            by: event.by,
            ...(event.reason === undefined ? {} : { reason: event.reason }),
            ...(event.argsHash === undefined ? {} : { argsHash: event.argsHash })
          })
          break
        case "RunInterrupted":
        case "RunStarted":
        case "RunResumed":
        case "TextDelta":
        case "ToolCallDelta":
          break
      }
    })
    return Effect.succeed({
      events: own,
      runId: id,
      agent: first.agent,
      input: first.input,
      threadId: first.threadId,
      metadata: first.metadata ?? {},
      startedAt: first.at,
      decisions,
      started,
      outcomes,
      end,
      modelCalls,
      values,
      compactions,
      principal: first.principal,
      approvalRequested,
      approvals
    })
  })

/** {@link recording}, under a name a session (whose own recording shadows it) can call. */
const recordingOf = (events: ReadonlyArray<RunEvent>, runId: string) => recording(events, runId)

// ---------------------------------------------------------------------------
// sessions
// ---------------------------------------------------------------------------

/**
 * A recording, wrapping the ports of the run that re-runs it: a
 * {@link PortProvider} for `RunOptions.replay`, with what the session found.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session extends PortProvider {
  readonly mode: Mode
  readonly recording: Recording
  /** How many events of the new run matched recorded ones so far. */
  readonly matched: () => number
  /** In update mode: the divergence from which the session re-records. */
  readonly divergence: () => ReplayDivergence | undefined
}

const json = (value: unknown): string => JSON.stringify(value) ?? "null"

const describeRequest = (kind: ReplayDivergence["kind"], at: string): string => {
  switch (kind) {
    case "step":
      return `step "${at}"`
    case "decision":
      return `a decision at turn ${at}`
    case "model":
      return `model call ${at}`
    case "value":
      return `the value ${at}`
    case "outcome":
      return "an outcome"
  }
}

/** The key of an event: a run journals at most one event per key. */
const keyOf = (event: RunEvent): string | undefined => {
  switch (event._tag) {
    case "RunStarted":
      return "start"
    case "DecisionMade":
      return `decision:${event.turn}`
    case "StepStarted":
      return `started:${event.stepId}`
    case "StepSucceeded":
    case "StepFailed":
    case "StepSkipped":
      return `outcome:${event.stepId}`
    case "RunCompleted":
    case "RunFailed":
      return "end"
    case "ModelCalled":
      return `model:${event.call}`
    case "ValueRecorded":
      return `value:${event.turn}:${event.key}`
    case "ContextCompacted":
      return `compaction:${event.call}`
    // A paused run resumed without a decision asks again: the journal already holds the request.
    case "ApprovalRequested":
      return `approval:${event.stepId}`
    default:
      return undefined
  }
}

/** `event` with the clock readings of its recorded copy. */
const withTiming = (event: RunEvent, recorded: RunEvent): RunEvent => {
  const timed = { ...event, at: recorded.at }
  if ("durationMs" in timed && "durationMs" in recorded) timed.durationMs = recorded.durationMs
  return timed as RunEvent
}

/** What a tool call can fail with under a session. */
type ToolsError = Tool.ToolError | ReplayDivergence | ResumeUnsafe | ApprovalRequired

/**
 * Encodes a step's error for the journal, so replay can rebuild the same typed error.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeStepError: (error: Tool.ToolError | PlanInvalid) => ErrorInfo = encodeStepErrorInternal

/**
 * Builds a session over a recording.
 *
 * Every request is answered on its own key (a step id, a turn, a model call
 * number, a value key), never through a flag for the whole run: a request the
 * recording answers is answered from it, also after other requests of the run
 * went live; a tool call that started and has no result runs again only if its
 * tool is idempotent or the step is in `options.retry`; only requests the
 * recording has never seen run live. The one exception is `update`, whose
 * purpose is to re-record: from its first divergence on, it runs live.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSession = (
  recording: Recording,
  mode: Mode,
  options?: Options,
  /** The whole journal the recording comes from: it holds the sections of the run's child runs. */
  tree?: ReadonlyArray<RunEvent>,
  /** A child run: the human's decision on its parent's step, taken for the step the child waits on. */
  forwarded?: ApprovalDecision,
  /** The count of matched events, shared by the sessions of a tree (a replay reports the whole tree's). */
  count: { matched: number } = { matched: 0 }
): Session => {
  const ignore = (options?.ignore ?? []).map(parsePattern)
  const assumeDone = new Set(options?.assumeDone)
  const retry = new Set(options?.retry)
  const byKey = new Map<string, RunEvent>()
  for (const event of recording.events) {
    const key = keyOf(event)
    if (key !== undefined) byKey.set(key, event)
  }
  /** Update mode only: the recording stopped answering at its first divergence. */
  let rerecording = false
  let firstDivergence: ReplayDivergence | undefined

  /** In update mode the first divergence starts the re-recording; otherwise it is an error. */
  const diverge = (error: ReplayDivergence): Effect.Effect<void, ReplayDivergence> => {
    if (mode !== "update") return Effect.fail(error)
    rerecording = true
    firstDivergence ??= error
    return Effect.void
  }
  /** Nothing recorded for this request: an error for a strict replay; otherwise the request runs live. */
  const unrecorded = (
    kind: ReplayDivergence["kind"],
    at: string,
    requested: unknown
  ): Effect.Effect<void, ReplayDivergence> => {
    if (mode === "replay") {
      return Effect.fail(
        new ReplayDivergence({
          index: recording.events.length,
          kind,
          at,
          recorded: "null",
          requested: json(requested),
          diff: [`the new run asks for ${describeRequest(kind, at)}, which the recording does not have`]
        })
      )
    }
    // An update that asks for more than the recording holds re-records from here.
    if (mode === "update") rerecording = true
    return Effect.void
  }

  const compare = (
    kind: ReplayDivergence["kind"],
    at: string,
    index: number,
    recorded: unknown,
    requested: unknown
  ): Effect.Effect<void, ReplayDivergence> => {
    const requestedJson = json(requested)
    // Almost always identical: compare the serialized forms before walking both.
    if (requestedJson === json(recorded)) return Effect.void
    const normalized: unknown = JSON.parse(requestedJson)
    const lines = diff(recorded, normalized, ignore)
    return lines.length === 0
      ? Effect.void
      : diverge(new ReplayDivergence({ index, kind, at, recorded: json(recorded), requested: json(normalized), diff: lines }))
  }

  /** A recorded result, decoded again with the tool's success Schema (update re-records a result that no longer decodes). */
  const answerSucceeded = (
    registry: Registry,
    call: ToolCall,
    outcome: { readonly index: number; readonly event: Extract<RunEvent, { readonly _tag: "StepSucceeded" }> },
    live: Effect.Effect<ToolOutput, ToolsError, unknown>
  ): Effect.Effect<ToolOutput, ToolsError, unknown> => {
    const entry = registry.entries.get(call.tool)
    const decoded = entry === undefined ? undefined : entry.decodeResult(outcome.event.result)
    if (decoded?._tag === "Success") return Effect.succeed({ value: decoded.value, result: outcome.event.result })
    return Effect.flatMap(
      diverge(
        new ReplayDivergence({
          index: outcome.index,
          kind: "step",
          at: call.stepId,
          recorded: json(outcome.event.result),
          requested: "null",
          diff: [`the recorded result no longer decodes with the success schema of tool "${call.tool}"`]
        })
      ),
      () => live
    )
  }

  /** A recorded failure, rebuilt with its own class where the journal kept its data. */
  const answerFailed = (call: ToolCall, error: ErrorInfo): Effect.Effect<never, Tool.ToolError> => {
    const rebuilt = error.data === undefined ? undefined : decodeStepError(error.data)
    if (rebuilt?._tag === "Success" && rebuilt.value._tag !== "PlanInvalid") return Effect.fail(rebuilt.value)
    return Effect.fail(
      new Tool.ToolFailed({ tool: call.tool, stepId: call.stepId, reason: error.message, defect: false, cause: error })
    )
  }

  /** The call started and the recording has no result for it: the crash happened during the call. */
  const inFlight = (
    registry: Registry,
    call: ToolCall,
    startedAt: number,
    live: Effect.Effect<ToolOutput, ToolsError, unknown>
  ): Effect.Effect<ToolOutput, ToolsError, unknown> => {
    // Waited for approval: the tool did not run, so it is asked again (the executor checks the decision).
    if (recording.approvalRequested.has(call.stepId) && mode !== "replay") return live
    if (mode === "replay") {
      return Effect.fail(
        new ReplayDivergence({
          index: startedAt,
          kind: "step",
          at: call.stepId,
          recorded: "null",
          requested: json({ tool: call.tool, args: call.args }),
          diff: [`step "${call.stepId}" started but its result was not recorded`]
        })
      )
    }
    if (assumeDone.has(call.stepId)) {
      return Effect.fail(
        new Tool.ToolFailed({
          tool: call.tool,
          stepId: call.stepId,
          reason: "interrupted by a crash; assumed done, its result is unknown",
          defect: false,
          cause: null
        })
      )
    }
    if (registry.entries.get(call.tool)?.tool.idempotent === true || retry.has(call.stepId)) return live
    const first = { stepId: call.stepId, tool: call.tool, args: json(call.args) }
    return Effect.fail(new ResumeUnsafe({ ...first, steps: [first, ...unsafeBesides(registry, call.stepId)] }))
  }

  /** The other calls of the recording a resume cannot run again on its own: all named in one error, fixed in one go. */
  const unsafeBesides = (registry: Registry, stepId: string): ReadonlyArray<InFlightStep> =>
    Array.from(recording.started, ([id, started]) => ({ id, started })).filter(({ id, started }) =>
      id !== stepId && !recording.outcomes.has(id) && !recording.approvalRequested.has(id) && !assumeDone.has(id) &&
      !retry.has(id) && registry.entries.get(started.tool)?.tool.idempotent !== true
    ).map(({ id, started }) => ({ stepId: id, tool: started.tool, args: json(started.args) }))

  /** The tool port: recorded calls answered, the others handed to `execute` with the recorded human decision. */
  const tools = (execute: ToolsShape["execute"]): ToolsShape => ({
    execute: (registry, call, context, defaults) => {
      const approval = recording.approvals.get(call.stepId) ??
        (forwarded !== undefined && recording.approvalRequested.has(call.stepId) ? forwarded : undefined)
      const withApproval = approval === undefined ? context : { ...context, approval }
      if (rerecording) return execute(registry, call, withApproval, defaults)
      const live = Effect.suspend(() => execute(registry, call, withApproval, defaults))
      const started = recording.started.get(call.stepId)
      const outcome = recording.outcomes.get(call.stepId)
      const answer = (): Effect.Effect<ToolOutput, ToolsError, unknown> => {
        if (rerecording) return live
        // A sub-agent's call replays its child run against the child's own recording (nothing runs live there).
        if (mode === "replay" && SubAgent.specOf(registry.entries.get(call.tool)?.tool) !== undefined) return live
        // A result in the recording answers the call, whatever else has gone live.
        if (outcome?.event._tag === "StepSucceeded") {
          return answerSucceeded(registry, call, outcome as Parameters<typeof answerSucceeded>[2], live)
        }
        if (outcome?.event._tag === "StepFailed") return answerFailed(call, outcome.event.error)
        return started === undefined ? live : inFlight(registry, call, started.index, live)
      }
      if (started !== undefined) {
        return Effect.flatMap(
          compare("step", call.stepId, started.index, { tool: started.tool, args: started.args }, {
            tool: call.tool,
            args: call.args
          }),
          answer
        )
      }
      // A result whose start was lost (the tail of a journal written concurrently) still answers the call.
      if (outcome !== undefined && outcome.event._tag !== "StepSkipped") return answer()
      return Effect.flatMap(unrecorded("step", call.stepId, { tool: call.tool, args: call.args }), answer)
    }
  })

  /** The recorded answer to the request under `key`, if the recording has one and still answers. */
  const answered = <A extends RunEvent>(
    kind: ReplayDivergence["kind"],
    at: string,
    recorded: { readonly index: number; readonly event: A } | undefined,
    requested: unknown,
    /** What of the recorded event must equal the request; nothing for a value, whose key is its request. */
    recordedRequest?: (event: A) => unknown
  ): Effect.Effect<A | undefined, ReplayDivergence> => {
    if (rerecording) return Effect.succeed(undefined)
    if (recorded === undefined) return Effect.as(unrecorded(kind, at, requested), undefined)
    if (recordedRequest === undefined) return Effect.succeed(recorded.event)
    return Effect.map(
      compare(kind, at, recorded.index, recordedRequest(recorded.event), requested),
      () => rerecording ? undefined : recorded.event
    )
  }

  /** The journal port: an event the recording holds carries its recorded times; resume does not journal it again. */
  const journal = (append: RunPorts["journal"]): RunPorts["journal"] => (event) => {
    if (rerecording) return append(event)
    const key = keyOf(event)
    const recorded = key === undefined ? undefined : byKey.get(key)
    if (recorded === undefined) return append(event)
    count.matched++
    const timed = withTiming(event, recorded)
    return mode === "resume" ? Effect.succeed(timed) : Effect.as(append(timed), timed)
  }

  const outcome = (outcome: RunOutcome): Effect.Effect<void, ReplayDivergence> => {
    if (rerecording) return Effect.void
    const end = recording.end
    const recorded = end === undefined
      ? undefined
      : end.event._tag === "RunCompleted"
      ? { answer: end.event.answer }
      : end.event._tag === "RunFailed"
      ? { error: { _tag: end.event.error._tag, message: end.event.error.message } }
      : undefined
    if (recorded === undefined) return mode === "replay" ? unrecorded("outcome", "end", outcome) : Effect.void
    const requested = "error" in outcome ? { error: { _tag: outcome.error._tag, message: outcome.error.message } } : outcome
    return compare("outcome", "end", end!.index, recorded, requested)
  }

  /** The session of a child run: its section of the tree, or of the journal; none (live) when it never started. */
  const child: NonNullable<PortProvider["child"]> = (runId, read, approval) =>
    Effect.gen(function*() {
      if (rerecording) return undefined
      let events: ReadonlyArray<RunEvent> = (tree ?? []).filter((event) => event.runId === runId)
      if (events.length === 0 && mode !== "replay") events = yield* read(runId)
      const started = events.length === 0 ? undefined : yield* Effect.option(recordingOf(events, runId))
      if (started === undefined || started._tag === "None") {
        if (mode !== "replay") return undefined as PortProvider | undefined
        return yield* new ReplayDivergence({
          index: recording.events.length,
          kind: "step",
          at: runId,
          recorded: "null",
          requested: json({ runId }),
          diff: [`the new run starts child run ${runId}, which the recording does not have`],
          runId
        })
      }
      const session: PortProvider = makeSession(started.value, mode, options, tree, approval, count)
      // A child that finished before the crash is re-run from its recording alone: nothing to journal again.
      return mode === "resume" && started.value.end !== undefined
        ? { provide: (live: RunPorts): RunPorts => ({ ...session.provide(live), opening: () => [] }), child: session.child! }
        : session
    })

  return {
    mode,
    recording,
    matched: () => count.matched,
    divergence: () => firstDivergence,
    child,
    provide: (live) => ({
      now: live.now,
      journal: journal(live.journal),
      opening: mode === "resume" ? (runId, at) => [{ _tag: "RunResumed", runId, at }] : live.opening,
      tools: tools(live.tools.execute),
      decision: (turn, decision) => {
        if (rerecording) return live.decision(turn, decision)
        const recorded = recording.decisions.get(turn)
        return recorded === undefined
          ? Effect.andThen(unrecorded("decision", String(turn), decision), live.decision(turn, decision))
          : compare("decision", String(turn), recorded.index, recorded.decision, decision)
      },
      model: (call, request, made) =>
        Effect.flatMap(
          answered("model", String(call), recording.modelCalls.get(call), request, (event) => event.request),
          (recorded) => recorded === undefined ? live.model(call, request, made) : Effect.succeed(recorded)
        ),
      value: (turn, key, read) =>
        Effect.flatMap(
          answered("value", `${turn}:${key}`, recording.values.get(`${turn}:${key}`), { key }),
          (recorded) => recorded === undefined ? live.value(turn, key, read) : Effect.succeed(recorded)
        ),
      outcome: (ended) => Effect.andThen(outcome(ended), live.outcome(ended)),
      compaction: (call, made) =>
        Effect.flatMap(
          answered("value", `compaction before model call ${call}`, recording.compactions.get(call), { call }),
          (recorded) => recorded === undefined ? live.compaction(call, made) : Effect.succeed(recorded)
        )
    })
  }
}

// ---------------------------------------------------------------------------
// running
// ---------------------------------------------------------------------------

/**
 * The outcome of a replay that matched the recording.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  readonly runId: string
  /** How many events the new run produced, each matching a recorded one. */
  readonly identical: number
  /** The answer, or the error both runs failed with. */
  readonly outcome: { readonly answer: string } | { readonly error: ErrorInfo }
}

const checkAgent = (agent: Agent<unknown>, recorded: Recording) =>
  agent.name === recorded.agent
    ? Effect.void
    : Effect.fail(
      new ReplayUnavailable({
        reason: `the journal was recorded for agent "${recorded.agent}", not "${agent.name}"`
      })
    )

/**
 * Re-runs a recorded run under a session.
 *
 * @since 0.1.0
 * @category running
 */
export const rerun = <R, O>(
  agent: Agent<R, O>,
  session: Session
): Effect.Effect<RunResult<O>, RunError, R | AgentRuntime> =>
  AgentRuntime.use((runtime) =>
    runtime.run(agent, session.recording.input, {
      runId: session.recording.runId,
      threadId: session.recording.threadId,
      metadata: session.recording.metadata,
      replay: session,
      principal: session.recording.principal
    })
  )

/**
 * Replays a recorded run against `agent`: no tool runs, every request must
 * match. Succeeds with the number of identical events (also when the recorded
 * run failed and the replay fails the same way); fails with
 * {@link ReplayDivergence} at the first difference.
 *
 * **Example** (A golden test)
 *
 * ```ts
 * it.effect("echo replays", () =>
 *   Effect.gen(function*() {
 *     const { events } = yield* JournalFile.readFile("test/fixtures/echo.jsonl")
 *     const report = yield* Replay.replay(echoAgent, events)
 *     assert.isAbove(report.identical, 0)
 *   }).pipe(Effect.provide(Testing.layer)))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const replay = <R, O>(
  agent: Agent<R, O>,
  events: ReadonlyArray<RunEvent>,
  options?: Options & { readonly runId?: string | undefined }
): Effect.Effect<Report, RunError | ReplayUnavailable, R | AgentRuntime> =>
  Effect.gen(function*() {
    const recorded = yield* recording(events, options?.runId)
    yield* checkAgent(agent as Agent<unknown>, recorded)
    if (recorded.end === undefined) {
      return yield* new ReplayUnavailable({
        reason: `run ${recorded.runId} did not finish (no RunCompleted or RunFailed): resume it instead`
      })
    }
    const session = makeSession(recorded, "replay", options, events)
    // A replay checks a recording; it is not a run of the agent, so no run observer (metrics) sees it.
    return yield* rerun(agent, session).pipe(
      Effect.provideService(CurrentRunObserver, undefined),
      Effect.map((result): Report => ({ runId: recorded.runId, identical: session.matched(), outcome: { answer: result.answer } })),
      // The runtime has already checked a failure against the recording: the same failure is a faithful replay.
      Effect.catch((error) =>
        error._tag === "ReplayDivergence" || recorded.end?.event._tag !== "RunFailed"
          ? Effect.fail(error)
          : Effect.succeed<Report>({
            runId: recorded.runId,
            identical: session.matched(),
            outcome: { error: { _tag: error._tag, message: error.message } }
          })
      )
    )
  })

/**
 * Continues a run that did not finish (the process crashed or was
 * interrupted): the recorded prefix is replayed, then the run goes on live.
 * Completed tool calls are never executed again.
 *
 * @since 0.1.0
 * @category running
 */
export const resume = <R, O>(
  agent: Agent<R, O>,
  events: ReadonlyArray<RunEvent>,
  options?: Options & { readonly runId?: string | undefined }
): Effect.Effect<RunResult<O>, RunError | ReplayUnavailable, R | AgentRuntime> =>
  Effect.gen(function*() {
    const recorded = yield* recording(events, options?.runId)
    yield* checkAgent(agent as Agent<unknown>, recorded)
    if (recorded.end !== undefined) {
      return yield* new ReplayUnavailable({
        reason: `run ${recorded.runId} already finished (${recorded.end.event._tag}); nothing to resume`
      })
    }
    return yield* rerun(agent, makeSession(recorded, "resume", options, events))
  })

/**
 * Replays until the first divergence, then runs live; the new run's journal is
 * the re-recording. Succeeds with the new run's result and the divergence
 * found, if any (when none, the recording was already up to date).
 *
 * @since 0.1.0
 * @category running
 */
export const update = <R, O>(
  agent: Agent<R, O>,
  events: ReadonlyArray<RunEvent>,
  options?: Options & { readonly runId?: string | undefined }
): Effect.Effect<
  { readonly result: RunResult<O>; readonly divergence: ReplayDivergence | undefined },
  RunError | ReplayUnavailable,
  R | AgentRuntime
> =>
  Effect.gen(function*() {
    const recorded = yield* recording(events, options?.runId)
    yield* checkAgent(agent as Agent<unknown>, recorded)
    const session = makeSession(recorded, "update", options, events)
    const result = yield* rerun(agent, session)
    return { result, divergence: session.divergence() }
  })
