/**
 * Deterministic replay and crash-resume of runs, from their journal.
 *
 * A {@link Session} stands in for everything a run cannot recompute: tool
 * results (answered from the recording, never executed), the run's id and its
 * clock readings. The same agent code then re-runs with no side effects:
 *
 * - `replay`: every request the new run makes (planner decision, tool call,
 *   final answer) must equal the recorded one, or the run stops with a
 *   {@link ReplayDivergence} naming the event, both requests and their diff.
 * - `resume`: the recorded prefix is replayed, then the run continues live from
 *   the first request without a recorded result. A tool call that started
 *   but did not finish runs again only if the tool is idempotent.
 * - `update`: like `replay` until the first divergence, then live: the way to
 *   re-record a golden journal on purpose.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { diff, parsePattern } from "../internal/jsonDiff.js"
import type { Agent } from "./Agent.js"
import { AgentRuntime, type RunError, type RunResult } from "./AgentRuntime.js"
import { type Decision, PlanInvalid } from "./Planner.js"
import type { ErrorInfo, ModelRequest, RunEvent } from "./RunEvent.js"
import * as Tool from "./Tool.js"
import { executeLocal, Tools, type ToolsShape } from "./Tools.js"
import type { ApprovalDecision, Principal } from "./Policy.js"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * The new run asked for something other than what was recorded.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplayDivergence extends Schema.TaggedError<ReplayDivergence>()("ReplayDivergence", {
  /** Index (0-based) of the recorded event where the runs part; the event count when the new run asks for more. */
  index: Schema.Number,
  /** What diverged: a planner decision, a tool call, a model call, a journaled value, the outcome of the run. */
  kind: Schema.Literals(["decision", "step", "model", "value", "outcome"]),
  /** The turn (decisions), step id (tool calls), call number (model calls) or `turn:key` (values). */
  at: Schema.String,
  /** The recorded request, as JSON (`null` when nothing was recorded). */
  recorded: Schema.String,
  /** The new run's request, as JSON. */
  requested: Schema.String,
  /** One line per difference: `path: recorded → requested`. */
  diff: Schema.Array(Schema.String)
}) {
  override get message(): string {
    const where = this.kind === "decision"
      ? `turn ${this.at}`
      : this.kind === "step"
      ? `step "${this.at}"`
      : this.kind === "model"
      ? `model call ${this.at}`
      : this.kind === "value"
      ? `value ${this.at}`
      : "the outcome"
    return `replay diverged at event #${this.index} (${where}):\n  ${this.diff.join("\n  ")}`
  }
}

/**
 * The journal cannot be replayed or resumed as asked (another agent, no run, a
 * run that is not finished...).
 *
 * @since 0.1.0
 * @category errors
 */
export class ReplayUnavailable extends Schema.TaggedError<ReplayUnavailable>()("ReplayUnavailable", {
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot replay: ${this.reason}`
  }
}

/**
 * Resume found a tool call that started but never finished, and the tool is
 * not declared idempotent: running it again might repeat a side effect.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResumeUnsafe extends Schema.TaggedError<ResumeUnsafe>()("ResumeUnsafe", {
  stepId: Schema.String,
  tool: Schema.String,
  args: Schema.String
}) {
  override get message(): string {
    return `cannot resume: step "${this.stepId}" (tool "${this.tool}", args ${this.args}) started before the crash ` +
      `but its result was not recorded, and "${this.tool}" is not idempotent. Check whether its effect happened, ` +
      `then resume with --assume-done ${this.stepId} (it did) or --retry ${this.stepId} (it did not).`
  }
}

// ---------------------------------------------------------------------------
// recordings
// ---------------------------------------------------------------------------

/**
 * The recorded events of one run, indexed for matching.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recording {
  readonly events: ReadonlyArray<RunEvent>
  readonly runId: string
  readonly agent: string
  readonly input: string
  readonly threadId: string | undefined
  readonly metadata: Readonly<Record<string, string>>
  readonly startedAt: number
  readonly decisions: ReadonlyMap<number, { readonly index: number; readonly decision: Decision }>
  readonly started: ReadonlyMap<string, { readonly index: number; readonly tool: string; readonly args: unknown }>
  readonly outcomes: ReadonlyMap<string, { readonly index: number; readonly event: RunEvent }>
  /** The terminal event, if the run finished. */
  readonly end: { readonly index: number; readonly event: RunEvent } | undefined
  /** Who the run acts for, as `RunStarted` recorded it. */
  readonly principal: Principal | undefined
  /** Steps that waited for a human's approval (an `ApprovalRequested`): the tool did not run. */
  readonly approvalRequested: ReadonlySet<string>
  /** The humans' decisions on those steps (the last `ApprovalDecided` of each). */
  readonly approvals: ReadonlyMap<string, ApprovalDecision>
  /** Model calls by their number in the run. */
  readonly modelCalls: ReadonlyMap<number, { readonly index: number; readonly event: ModelCalledEvent }>
  /** Journaled values by `turn:key`. */
  readonly values: ReadonlyMap<string, { readonly index: number; readonly event: ValueRecordedEvent }>
}

type ModelCalledEvent = Extract<RunEvent, { readonly _tag: "ModelCalled" }>
type ValueRecordedEvent = Extract<RunEvent, { readonly _tag: "ValueRecorded" }>

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
    const id = runId ?? (runs.length === 1 ? runs[0] : undefined)
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
      principal: first.principal,
      approvalRequested,
      approvals
    })
  })

// ---------------------------------------------------------------------------
// sessions
// ---------------------------------------------------------------------------

/**
 * How a session treats what the recording does not answer.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "replay" | "resume" | "update"

/**
 * Options of a replay session.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Request fields that may differ without a divergence, as exact dot paths
   * from the root of the compared request, `*` for any one key or index and
   * `**` for any number of them: `"args.timestamp"` is that argument of a tool
   * call (`{ tool, args }`) only; the decision that planned it is
   * `"steps.*.args.timestamp"`; `"**.timestamp"` is every such field.
   * Everything else must match exactly.
   */
  readonly ignore?: ReadonlyArray<string> | undefined
  /** Resume: steps that started but did not finish, known to have taken effect (their result is not available: they fail). */
  readonly assumeDone?: ReadonlyArray<string> | undefined
  /** Resume: steps that started but did not finish, to run again although the tool is not idempotent. */
  readonly retry?: ReadonlyArray<string> | undefined
}

/**
 * What the runtime consults while it re-runs a recorded run.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  readonly mode: Mode
  readonly recording: Recording
  /** Answers tool calls from the recording; runs them live where the session is live. */
  readonly tools: ToolsShape
  /** Checks a planner decision against the recording. */
  readonly decision: (turn: number, decision: Decision) => Effect.Effect<void, ReplayDivergence>
  /**
   * The recorded model call number `call`, after checking its request against
   * the new one; `undefined` where the session is live (the call is made).
   */
  readonly model: (call: number, request: ModelRequest) => Effect.Effect<ModelCalledEvent | undefined, ReplayDivergence>
  /** The recorded value of `key` at `turn`; `undefined` where the session is live. */
  readonly value: (turn: number, key: string) => Effect.Effect<ValueRecordedEvent | undefined, ReplayDivergence>
  /** Checks the run's outcome (answer or failure) against the recording. */
  readonly outcome: (outcome: { readonly answer: string } | { readonly error: ErrorInfo }) => Effect.Effect<void, ReplayDivergence>
  /** The recorded copy of an event the new run emits, if the recording has it (then it is not journaled again on resume). */
  readonly recorded: (event: RunEvent) => RunEvent | undefined
  /** Whether the session has left the recording (update after a divergence, resume past the prefix). */
  readonly isLive: () => boolean
  /** How many events of the new run matched recorded ones so far. */
  readonly matched: () => number
  /** In update mode: the divergence that switched the session to live. */
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
    default:
      return undefined
  }
}

/** Tool errors that can be rebuilt, with their own class, from their journaled data. */
const StepError = Schema.Union([
  Tool.ToolNotFound,
  Tool.ToolArgumentsInvalid,
  Tool.ToolFailed,
  Tool.ToolTimeout,
  Tool.ToolResultInvalid,
  Tool.ToolDenied,
  PlanInvalid
])
const decodeStepError = Schema.decodeUnknownExit(StepError)

/**
 * Encodes a step's error for the journal, so replay can rebuild the same typed error.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeStepError = (error: Tool.ToolError | PlanInvalid): ErrorInfo => {
  const data = Schema.encodeUnknownExit(StepError)(error)
  return data._tag === "Success"
    ? { _tag: error._tag, message: error.message, data: data.value }
    : { _tag: error._tag, message: error.message }
}

/**
 * Builds a session over a recording.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSession = (
  recording: Recording,
  mode: Mode,
  options?: Options,
  /** Runs the calls the recording does not answer (default: the local executor; the runtime passes its own). */
  execute: ToolsShape["execute"] = executeLocal
): Session => {
  const ignore = (options?.ignore ?? []).map(parsePattern)
  const assumeDone = new Set(options?.assumeDone)
  const retry = new Set(options?.retry)
  const byKey = new Map<string, RunEvent>()
  for (const event of recording.events) {
    const key = keyOf(event)
    if (key !== undefined) byKey.set(key, event)
  }
  let live = false
  let matched = 0
  let firstDivergence: ReplayDivergence | undefined

  /** In update mode the first divergence switches the session to live; otherwise it is an error. */
  const diverge = (error: ReplayDivergence): Effect.Effect<void, ReplayDivergence> => {
    if (mode !== "update") return Effect.fail(error)
    live = true
    firstDivergence = error
    return Effect.void
  }
  /** Nothing recorded for this request: an error for a strict replay, the point where resume goes live. */
  const unrecorded = (kind: ReplayDivergence["kind"], at: string, requested: unknown) =>
    mode === "replay"
      ? Effect.fail(
        new ReplayDivergence({
          index: recording.events.length,
          kind,
          at,
          recorded: "null",
          requested: json(requested),
          diff: [`the new run asks for ${describeRequest(kind, at)}, which the recording does not have`]
        })
      )
      : Effect.sync(() => {
        live = true
      })

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

  const tools: ToolsShape = {
    execute: (registry, call, context, defaults) => {
      if (live) return execute(registry, call, context, defaults)
      const started = recording.started.get(call.stepId)
      if (started === undefined) {
        return Effect.flatMap(unrecorded("step", call.stepId, { tool: call.tool, args: call.args }), () =>
          execute(registry, call, context, defaults))
      }
      return compare("step", call.stepId, started.index, { tool: started.tool, args: started.args }, {
        tool: call.tool,
        args: call.args
      }).pipe(
        Effect.flatMap(() => {
          if (live) return execute(registry, call, context, defaults)
          const outcome = recording.outcomes.get(call.stepId)?.event
          if (outcome?._tag === "StepSucceeded") {
            const entry = registry.entries.get(call.tool)
            const decoded = entry === undefined ? undefined : entry.decodeResult(outcome.result)
            if (decoded?._tag === "Success") return Effect.succeed({ value: decoded.value, result: outcome.result })
            // Update mode re-records from here: run the step live.
            return diverge(
              new ReplayDivergence({
                index: recording.outcomes.get(call.stepId)!.index,
                kind: "step",
                at: call.stepId,
                recorded: json(outcome.result),
                requested: "null",
                diff: [`the recorded result no longer decodes with the success schema of tool "${call.tool}"`]
              })
            ).pipe(Effect.flatMap(() => execute(registry, call, context, defaults)))
          }
          if (outcome?._tag === "StepFailed") {
            const rebuilt = outcome.error.data === undefined ? undefined : decodeStepError(outcome.error.data)
            if (rebuilt?._tag === "Success" && rebuilt.value._tag !== "PlanInvalid") return Effect.fail(rebuilt.value)
            return Effect.fail(
              new Tool.ToolFailed({
                tool: call.tool,
                stepId: call.stepId,
                reason: outcome.error.message,
                defect: false,
                cause: outcome.error
              })
            )
          }
          // Waited for approval: the tool did not run, so it is asked again (the executor checks the decision).
          if (recording.approvalRequested.has(call.stepId) && mode !== "replay") {
            live = true
            return execute(registry, call, context, defaults)
          }
          // Started, never finished: the crash happened during this call.
          if (mode === "replay") {
            return Effect.fail(
              new ReplayDivergence({
                index: started.index,
                kind: "step",
                at: call.stepId,
                recorded: "null",
                requested: json({ tool: call.tool, args: call.args }),
                diff: [`step "${call.stepId}" started but its result was not recorded`]
              })
            )
          }
          live = true
          const entry = registry.entries.get(call.tool)
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
          if (entry?.tool.idempotent === true || retry.has(call.stepId)) {
            return execute(registry, call, context, defaults)
          }
          return Effect.fail(new ResumeUnsafe({ stepId: call.stepId, tool: call.tool, args: json(call.args) }))
        })
      )
    }
  }

  return {
    mode,
    recording,
    tools,
    model: (call, request) => {
      if (live) return Effect.succeed(undefined)
      const recorded = recording.modelCalls.get(call)
      if (recorded === undefined) return Effect.as(unrecorded("model", String(call), request), undefined)
      return compare("model", String(call), recorded.index, recorded.event.request, request).pipe(
        Effect.map(() => live ? undefined : recorded.event)
      )
    },
    value: (turn, key) => {
      if (live) return Effect.succeed(undefined)
      const recorded = recording.values.get(`${turn}:${key}`)
      if (recorded === undefined) return Effect.as(unrecorded("value", `${turn}:${key}`, { key }), undefined)
      return Effect.succeed(recorded.event)
    },
    decision: (turn, decision) => {
      if (live) return Effect.void
      const recorded = recording.decisions.get(turn)
      return recorded === undefined
        ? unrecorded("decision", String(turn), decision)
        : compare("decision", String(turn), recorded.index, recorded.decision, decision)
    },
    outcome: (outcome) => {
      if (live) return Effect.void
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
    },
    recorded: (event) => {
      if (live) return undefined
      const key = keyOf(event)
      const found = key === undefined ? undefined : byKey.get(key)
      if (found !== undefined) matched++
      return found
    },
    isLive: () => live,
    matched: () => matched,
    divergence: () => firstDivergence
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
    const session = makeSession(recorded, "replay", options, (yield* Tools).execute)
    return yield* rerun(agent, session).pipe(
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
    return yield* rerun(agent, makeSession(recorded, "resume", options, (yield* Tools).execute))
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
    const session = makeSession(recorded, "update", options, (yield* Tools).execute)
    const result = yield* rerun(agent, session)
    return { result, divergence: session.divergence() }
  })
