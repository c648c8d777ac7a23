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
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { CurrentRunObserver } from "../internal/telemetry.js"
import * as RunOwner from "../internal/runOwner.js"
import { keyOf } from "../internal/eventKey.js"
import { diff, parsePattern } from "../internal/jsonDiff.js"
import { decodeStepError, encodeStepError as encodeStepErrorInternal } from "../internal/stepError.js"
import type { Agent, PlanInvalid } from "../services/Agent.js"
import { AgentRuntime, Ids, type RunError, type RunOptions, type RunResult } from "../services/AgentRuntime.js"
import type { Decision } from "../services/Decision.js"
import type { ApprovalDecision, ApprovalRequired, Principal } from "../services/Policy.js"
import type { RateLimitUnavailable } from "../services/RateLimits.js"
import {
  ForkInvalid,
  type InFlightStep,
  type Mode,
  type Options,
  type Recording,
  ReplayDivergence,
  ReplayUnavailable,
  ResumeUnsafe
} from "../services/Replay.js"
import type { ErrorInfo, ForkedFrom, ForkEdit, RunEvent } from "../services/RunEvent.js"
import type { ContextCompactedEvent, ModelCalledEvent, PortProvider, RunOutcome, RunPorts, ValueRecordedEvent } from "../services/RunPorts.js"
import * as Tool from "../services/Tool.js"
import * as SubAgent from "../internal/subAgent.js"
import type { Registry, ToolCall, ToolOutput, ToolsShape } from "../services/Tools.js"

/** @since 0.1.0 */
// Named, not `export *`: the declaration bundler turns a star re-export inside a namespace into values.
export { ForkInvalid, ReplayDivergence, ReplayUnavailable, ResumeUnsafe } from "../services/Replay.js"
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
      ...(first.conversation === undefined ? {} : { conversation: first.conversation }),
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

/** `event` with the clock readings of its recorded copy. */
const withTiming = (event: RunEvent, recorded: RunEvent): RunEvent => {
  const timed = { ...event, at: recorded.at }
  if ("durationMs" in timed && "durationMs" in recorded) timed.durationMs = recorded.durationMs
  return timed as RunEvent
}

/** What a tool call can fail with under a session. */
type ToolsError = Tool.ToolError | ReplayDivergence | ResumeUnsafe | ApprovalRequired | RateLimitUnavailable

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
  /** Shared by the sessions of a tree: matched events and the first divergence (a replay reports the whole tree's). */
  count: { matched: number; divergence?: ReplayDivergence; root?: string } = { matched: 0 }
): Session => {
  count.root ??= recording.runId
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

  /** In update mode the first divergence starts the re-recording; otherwise it is an error. */
  const diverge = (error: ReplayDivergence): Effect.Effect<void, ReplayDivergence> => {
    if (mode !== "update") return Effect.fail(error)
    rerecording = true
    // Inside a child run, the divergence names it.
    count.divergence ??= count.root === recording.runId ? error : error.inChildRun(recording.runId)
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

  /**
   * A sub-agent's call answered from the recording (a resume): the child does not run again, but what it used
   * counts in its parent's usage and budgets as on the first run: the step's `childUsage`, or in a journal written
   * before steps carried it, the usage the child's own end event recorded.
   */
  const countChild = (
    stepId: string,
    event: Extract<RunEvent, { readonly _tag: "StepSucceeded" | "StepFailed" }>
  ): Effect.Effect<void> =>
    Effect.map(Effect.service(SubAgent.CurrentParent), (parent) => {
      const childRunId = SubAgent.childRunId(recording.runId, stepId)
      const usage = event.childUsage ??
        tree?.findLast((recorded): recorded is Extract<RunEvent, { readonly _tag: "RunCompleted" | "RunFailed" }> =>
          recorded.runId === childRunId && (recorded._tag === "RunCompleted" || recorded._tag === "RunFailed")
        )?.usage
      if (parent !== undefined && usage !== undefined) parent.answered(usage)
    })

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
        // A sub-agent's call replays its child run against the child's own recording (nothing runs live there);
        // an update re-records the child's section with it. A resume answers from the parent's record.
        const subAgent = SubAgent.specOf(registry.entries.get(call.tool)?.tool) !== undefined
        if (mode !== "resume" && subAgent) return live
        // A result in the recording answers the call, whatever else has gone live.
        if (outcome?.event._tag === "StepSucceeded") {
          const answered = answerSucceeded(registry, call, outcome as Parameters<typeof answerSucceeded>[2], live)
          return subAgent ? Effect.andThen(countChild(call.stepId, outcome.event), answered) : answered
        }
        if (outcome?.event._tag === "StepFailed") {
          const answered = answerFailed(call, outcome.event.error)
          return subAgent ? Effect.andThen(countChild(call.stepId, outcome.event), answered) : answered
        }
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
    divergence: () => count.divergence,
    child,
    provide: (live) => ({
      now: live.now,
      journal: journal(live.journal),
      // The resuming process is the run's owner from here on: a store tells a resume still going from one that died.
      opening: mode === "resume" ? (runId, at) => [{ _tag: "RunResumed", runId, metadata: RunOwner.metadata(), at }] : live.opening,
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
  session: Session,
  /** The session's ports, wrapped (a resumed fork applies its edit); default: the session's own. */
  ports: PortProvider = session
): Effect.Effect<RunResult<O>, RunError, R | AgentRuntime> =>
  AgentRuntime.use((runtime) =>
    runtime.run(agent, session.recording.input, {
      runId: session.recording.runId,
      threadId: session.recording.threadId,
      metadata: session.recording.metadata,
      replay: ports === session ? withRecordedEdit(session.recording, session) : ports,
      principal: session.recording.principal,
      conversation: session.recording.conversation
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
    const session = makeSession(recorded, "resume", options, events)
    // A fork that crashed before its edited step ran still answers that step (or model call) with its edit.
    const first = recorded.events[0]
    const forkedFrom = first?._tag === "RunStarted" ? first.forkedFrom : undefined
    return yield* rerun(agent, session, forkedFrom === undefined ? session : forkPorts(session, forkedFrom, recorded.runId))
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

// ---------------------------------------------------------------------------
// fork
// ---------------------------------------------------------------------------

/** @since 0.2.0 */
export type { ForkedFrom, ForkEdit } from "../services/RunEvent.js"

/**
 * The edit of a fork: step `stepId` (the fork point) answers with `result`
 * (as its tool's success Schema encodes it) instead of running.
 *
 * @since 0.2.0
 * @category edits
 */
export const setResult = (stepId: string, result: unknown): ForkEdit => ({ _tag: "SetResult", stepId, result })

/**
 * The edit of a fork: the run's input becomes `input` (the planner sees it
 * from turn 1, so the fork point is usually turn 1).
 *
 * @since 0.2.0
 * @category edits
 */
export const setInput = (input: string): ForkEdit => ({ _tag: "SetInput", input })

/**
 * The edit of a fork: the message model call `call` answers (1 is the run's
 * first model call) says `text` — the last message of its prompt: the user's
 * input at the first call, the tool results of the previous turn later. The
 * model is called live (or scripted) with the edited prompt, and the
 * conversation keeps the edited message from there on.
 *
 * @since 0.3.0
 * @category edits
 */
export const editMessage = (call: number, text: string): ForkEdit => ({ _tag: "EditMessage", call, text })

/**
 * The edit of a fork: the model's reply to call `call` (1 is the run's first
 * model call) is the message `text`, with no tool calls, and no model is
 * called for it; the run goes on from there (for an LLM planner, that message
 * is its answer at that turn).
 *
 * @since 0.3.0
 * @category edits
 */
export const setReply = (call: number, text: string): ForkEdit => ({ _tag: "SetReply", call, text })

/**
 * Options of {@link fork}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ForkOptions extends Options {
  /**
   * The fork point: a step id, or a turn number. Everything the recorded run
   * did before it is answered from the recording; from it on, the run is
   * live. Default: the point of the edit (its step; turn 1 for an input; the
   * turn of the edited model call).
   */
  readonly at?: string | number | undefined
  /** What to change at the fork point ({@link setResult}, {@link setInput}, {@link editMessage}, {@link setReply}). */
  readonly edit?: ForkEdit | undefined
  /** The run of `events` to fork, when they hold several. */
  readonly runId?: string | undefined
  /** The forked run's id (default: a new one, from `Ids`). */
  readonly forkRunId?: string | undefined
  /** Added to the recorded run's metadata in the fork's `RunStarted`. */
  readonly metadata?: Readonly<Record<string, string>> | undefined
  /** Who the fork acts for (default: the recorded run's principal). */
  readonly principal?: Principal | undefined
}

/**
 * A finished fork.
 *
 * @since 0.2.0
 * @category models
 */
export interface Forked<O> {
  /** The forked run: a new run, journaled whole (the replayed prefix, the edit, the live rest). */
  readonly result: RunResult<O>
  /** What its `RunStarted` records of its parent. */
  readonly forkedFrom: ForkedFrom
  /** How many of its events were answered from the parent's recording (the replayed prefix). */
  readonly replayed: number
}

/** A fork point, found in the recording. */
interface Point {
  /** `step:<id>` or `turn:<n>`, as `forkedFrom.at` records it. */
  readonly label: string
  /** The index of its first event: what comes before it is replayed. */
  readonly index: number
  readonly step?: string | undefined
  readonly turn?: number | undefined
}

const turnOf = (event: RunEvent): number | undefined =>
  event._tag === "DecisionMade" || event._tag === "ModelCalled" || event._tag === "ValueRecorded" ? event.turn : undefined

const lastTurn = (recorded: Recording): number =>
  recorded.events.reduce((max, event) => Math.max(max, turnOf(event) ?? 0), 0)

const stepIdsOf = (recorded: Recording): ReadonlyArray<string> =>
  [...new Set([...recorded.started.keys(), ...recorded.outcomes.keys()])]

/** The default fork point of an edit. */
const pointOfEdit = (recorded: Recording, edit: ForkEdit | undefined): string | number | undefined => {
  switch (edit?._tag) {
    case undefined:
      return undefined
    case "SetResult":
      return edit.stepId
    case "SetInput":
      return 1
    case "EditMessage":
    case "SetReply":
      return recorded.modelCalls.get(edit.call)?.event.turn
  }
}

const findPoint = (recorded: Recording, at: string | number): Effect.Effect<Point, ForkInvalid> => {
  if (typeof at === "number") {
    const last = lastTurn(recorded)
    if (!Number.isInteger(at) || at < 1) {
      return Effect.fail(new ForkInvalid({ reason: `turn ${at} is not a turn number (1 to ${last})` }))
    }
    const index = recorded.events.findIndex((event) => turnOf(event) === at)
    return index === -1
      ? Effect.fail(
        new ForkInvalid({ reason: `turn ${at} is past the end of run ${recorded.runId}: it has ${last} turn${last === 1 ? "" : "s"}` })
      )
      : Effect.succeed({ label: `turn:${at}`, index, turn: at })
  }
  const index = recorded.started.get(at)?.index ?? recorded.outcomes.get(at)?.index
  if (index === undefined) {
    const steps = stepIdsOf(recorded)
    return Effect.fail(
      new ForkInvalid({
        reason: `run ${recorded.runId} has no step "${at}"` +
          (steps.length === 0 ? " (it ran no steps)" : ` (its steps: ${steps.join(", ")})`)
      })
    )
  }
  return Effect.succeed({ label: `step:${at}`, index, step: at })
}

/** Checks that the edit fits the recording, the agent and the fork point. */
const checkEdit = (
  agent: Agent<unknown>,
  recorded: Recording,
  point: Point,
  edit: ForkEdit | undefined
): Effect.Effect<void, ForkInvalid> => {
  switch (edit?._tag) {
    case undefined:
    case "SetInput":
      return Effect.void
    case "SetResult": {
      if (point.step !== edit.stepId) {
        return Effect.fail(
          new ForkInvalid({
            reason: `the edit sets the result of step "${edit.stepId}", so the fork starts there, not at ${point.label}`
          })
        )
      }
      const outcome = recorded.outcomes.get(edit.stepId)?.event
      const name = recorded.started.get(edit.stepId)?.tool ?? (outcome !== undefined && "tool" in outcome ? outcome.tool : undefined)
      const entry = name === undefined ? undefined : agent.registry.entries.get(name)
      if (entry === undefined) {
        return Effect.fail(new ForkInvalid({ reason: `step "${edit.stepId}" calls tool "${name}", which agent "${agent.name}" does not have` }))
      }
      const decoded = entry.decodeResult(edit.result)
      if (decoded._tag === "Success") return Effect.void
      const issue = Cause.squash(decoded.cause)
      return Effect.fail(
        new ForkInvalid({
          reason: `the result for step "${edit.stepId}" does not match the success schema of tool "${name}": ` +
            (issue instanceof Error ? issue.message : String(issue))
        })
      )
    }
    case "EditMessage":
    case "SetReply": {
      const called = recorded.modelCalls.get(edit.call)
      if (called === undefined) {
        return Effect.fail(
          new ForkInvalid({
            reason: `run ${recorded.runId} made no model call ${edit.call} (it made ${recorded.modelCalls.size})`
          })
        )
      }
      return point.turn === called.event.turn ? Effect.void : Effect.fail(
        new ForkInvalid({
          reason: `model call ${edit.call} was made at turn ${called.event.turn}: fork at that turn, not at ${point.label}`
        })
      )
    }
  }
}

/**
 * The recorded run up to the fork point: every event before it, and the
 * outcomes of the steps that started before it (wherever they were
 * journaled: steps run concurrently). Its `RunStarted` is left out of the
 * events to answer from, so the fork starts at its own time.
 */
const prefixOf = (recorded: Recording, point: Point): Effect.Effect<Recording, ReplayUnavailable> => {
  const before = new Set<string>()
  const kept = recorded.events.filter((event, index) => {
    if (index < point.index) {
      if (event._tag === "StepStarted") before.add(event.stepId)
      return true
    }
    return (event._tag === "StepSucceeded" || event._tag === "StepFailed" || event._tag === "ApprovalDecided") &&
      before.has(event.stepId)
  })
  return Effect.map(recording(kept, recorded.runId), (prefix) => ({
    ...prefix,
    events: prefix.events.filter((event) => event._tag !== "RunStarted")
  }))
}

/** A fork's edit of the message a model call answers, as the ports give it to the planner. */
const messageEditOf = (edit: Extract<ForkEdit, { readonly _tag: "EditMessage" }>) => (call: number) =>
  call === edit.call ? edit.text : undefined

/**
 * A recorded fork's ports for replay and update: its prompt was edited where the fork edited it, so the
 * planner edits it again there (every other edit is in the recording: a result, an input, a reply).
 */
const withRecordedEdit = (recording: Recording, ports: PortProvider): PortProvider => {
  const first = recording.events[0]
  const edit = first?._tag === "RunStarted" ? first.forkedFrom?.edit : undefined
  if (edit?._tag !== "EditMessage") return ports
  const messageEdit = messageEditOf(edit)
  return { ...ports, provide: (live) => ({ ...ports.provide(live), messageEdit }) }
}

/**
 * The ports of a fork: the prefix answered by `session`, the edit applied,
 * `forkedFrom` in `RunStarted`. A fork resumed from its own journal (a
 * takeover on the cluster) wraps its resume session in them, so an edited
 * step that had not run yet is still answered with its edit.
 *
 * @since 0.3.0
 * @category constructors
 */
export const forkPorts = (session: Session, forkedFrom: ForkedFrom, runId: string): PortProvider => ({
  provide: (live) => {
    const ports = session.provide(live)
    const edit = forkedFrom.edit
    return {
      ...ports,
      journal: (event) => {
        // Model calls and values answered from the recording carry the parent's run id: the fork journals its own.
        const own: RunEvent = event._tag === "RunStarted"
          ? { ...event, forkedFrom }
          : event.runId === runId
          ? event
          : { ...event, runId }
        return own === event ? ports.journal(event) : Effect.map(ports.journal(own), (journaled) => journaled ?? own)
      },
      tools: edit?._tag !== "SetResult" ? ports.tools : {
        execute: (registry, call, context, defaults) => {
          if (call.stepId !== edit.stepId) return ports.tools.execute(registry, call, context, defaults)
          const decoded = registry.entries.get(call.tool)?.decodeResult(edit.result)
          return decoded?._tag === "Success"
            ? Effect.succeed({ value: decoded.value, result: edit.result })
            : Effect.fail(
              new Tool.ToolFailed({
                tool: call.tool,
                stepId: call.stepId,
                reason: `the fork's result for this step does not decode with the success schema of tool "${call.tool}"`,
                defect: false,
                cause: null
              })
            )
        }
      },
      messageEdit: edit?._tag === "EditMessage" ? messageEditOf(edit) : ports.messageEdit,
      model: edit?._tag !== "SetReply" ? ports.model : (call, request, made) => {
        if (call !== edit.call) return ports.model(call, request, made)
        const recorded = session.recording.modelCalls.get(call)?.event
        const edited: ModelCalledEvent = {
          _tag: "ModelCalled",
          runId,
          turn: recorded?.turn ?? 0,
          call,
          model: recorded?.model ?? "model",
          request,
          response: { text: edit.text, toolCalls: [], finishReason: "stop", usage: { inputTokens: 0, outputTokens: 0 } },
          durationMs: 0,
          at: live.now()
        }
        return Effect.succeed(edited)
      }
    }
  }
})

/**
 * A fork, checked and ready to run: what {@link planFork} found, and the
 * options of the forked run. A server that runs forks its own way (in the
 * background, as a stream) starts them with these options.
 *
 * @since 0.2.0
 * @category models
 */
export interface ForkPlan {
  /** The parent run, as recorded. */
  readonly parent: Recording
  /** What the fork's `RunStarted` records of its parent. */
  readonly forkedFrom: ForkedFrom
  /** The fork's input (the parent's, unless the edit sets another). */
  readonly input: string
  /**
   * The options of the forked run `runId` (its id, thread, metadata,
   * principal, and the ports that replay the prefix and apply the edit).
   * Called once per run: `replayed` counts the events of that run answered
   * from the recording.
   */
  readonly start: (runId: string) => { readonly options: RunOptions; readonly replayed: () => number }
}

/**
 * Checks a fork against its recording and agent — the fork point exists, the
 * edit fits it — and plans it; {@link fork} runs the plan.
 *
 * @since 0.2.0
 * @category running
 */
export const planFork = (
  agent: Agent<any, any>,
  events: ReadonlyArray<RunEvent>,
  options: ForkOptions
): Effect.Effect<ForkPlan, ReplayUnavailable | ForkInvalid> =>
  Effect.gen(function*() {
    const recorded = yield* recording(events, options.runId)
    yield* checkAgent(agent as Agent<unknown>, recorded)
    const at = options.at ?? pointOfEdit(recorded, options.edit)
    if (at === undefined) {
      return yield* new ForkInvalid({
        reason: options.edit?._tag === "EditMessage" || options.edit?._tag === "SetReply"
          ? `run ${recorded.runId} made no model call ${options.edit.call} (it made ${recorded.modelCalls.size})`
          : "no fork point: give a step id or a turn number"
      })
    }
    const point = yield* findPoint(recorded, at)
    yield* checkEdit(agent as Agent<unknown>, recorded, point, options.edit)
    const forkedFrom: ForkedFrom = options.edit === undefined
      ? { runId: recorded.runId, at: point.label }
      : { runId: recorded.runId, at: point.label, edit: options.edit }
    const prefix = yield* prefixOf(recorded, point)
    return {
      parent: recorded,
      forkedFrom,
      input: options.edit?._tag === "SetInput" ? options.edit.input : recorded.input,
      start: (runId) => {
        const session = makeSession(prefix, "fork", options)
        return {
          options: {
            runId,
            threadId: recorded.threadId,
            metadata: { ...recorded.metadata, ...options.metadata },
            replay: forkPorts(session, forkedFrom, runId),
            principal: options.principal ?? recorded.principal
          },
          replayed: session.matched
        }
      }
    }
  })

/**
 * Forks a recorded run: time travel with an edit. The recorded run is
 * replayed up to the fork point `at` (a step id or a turn number) — no tool
 * runs again, no model is called, and every request must match the
 * recording, as in {@link replay} — then `edit` is applied there, and the run
 * goes on live from it: tools and models are called for real, under the
 * policy in context (provide a scripted model to fork offline).
 *
 * The fork is a new run (a new id, `forkedFrom` in its `RunStarted`),
 * journaled whole by the `Journal` in context; it replays like any run.
 *
 * **Example** (What if step "words" had counted 3?)
 *
 * ```ts
 * const { events } = yield* JournalFile.readFile("run.jsonl")
 * const forked = yield* Replay.fork(wordstats, events, { at: "words", edit: Replay.setResult("words", 3) })
 * forked.result.answer // "3 words (…"
 * ```
 *
 * @since 0.2.0
 * @category running
 */
export const fork = <R, O>(
  agent: Agent<R, O>,
  events: ReadonlyArray<RunEvent>,
  options: ForkOptions
): Effect.Effect<Forked<O>, RunError | ReplayUnavailable | ForkInvalid, R | AgentRuntime> =>
  Effect.gen(function*() {
    const plan = yield* planFork(agent, events, options)
    const started = plan.start(options.forkRunId ?? (yield* Ids).runId())
    const result = yield* AgentRuntime.use((runtime) => runtime.run(agent, plan.input, started.options))
    return { result, forkedFrom: plan.forkedFrom, replayed: started.replayed() }
  })
