/**
 * Replay and resume, as definitions: the errors, the recording a run is
 * re-run against, and the options of a session. The engine (sessions that
 * wrap a run's ports, `replay`, `resume`, `update`) is `src/layers/Replay.ts`,
 * which the package exports as `Replay` together with these.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import type { Decision } from "./Decision.js"
import type { ApprovalDecision, Principal } from "./Policy.js"
import type { ConversationItem, RunEvent } from "./RunEvent.js"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * The new run asked for something other than what was recorded.
 *
 * What to do: the agent's code, prompt or tools changed since the recording: if the change is intended, record
 * a new golden journal (`graphent run … --record`); if not, the message names the step, what was recorded and
 * what was asked. `--ignore <path>` skips fields that are expected to differ.
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
  diff: Schema.Array(Schema.String),
  /** Set when the difference is inside a child run (a sub-agent, a handoff): that run's id. */
  runId: Schema.optionalKey(Schema.String)
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
    const run = this.runId === undefined ? "" : ` in child run ${this.runId}`
    return `replay diverged${run} at event #${this.index} (${where}):\n  ${this.diff.join("\n  ")}`
  }
  /** {@link Errors.conflict}: exit 1, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.conflict
  }
  /** The same divergence, found inside the child run `runId` (kept when it already names a deeper one). */
  inChildRun(runId: string): ReplayDivergence {
    return this.runId !== undefined ? this : new ReplayDivergence({
      index: this.index,
      kind: this.kind,
      at: this.at,
      recorded: this.recorded,
      requested: this.requested,
      diff: this.diff,
      runId
    })
  }
}

/**
 * The journal cannot be replayed or resumed as asked (another agent, no run, a
 * run that is not finished...).
 *
 * What to do: check you replay the journal with the agent that recorded it, and name the run with `--run` when
 * the journal holds several.
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
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

/**
 * A fork cannot be made as asked: its fork point is not in the recording
 * (an unknown step, a turn past the end), or its edit does not fit (a result
 * its tool's Schema rejects, a model call the run never made, an edit away
 * from the fork point).
 *
 * What to do: pick a fork point the recording has: `graphent trace show <journal>` lists the steps and turns
 * (the message lists the step ids too); give `--set-result` JSON that the step's tool Schema accepts, and edit
 * the step or model call at the fork point.
 *
 * @since 0.2.0
 * @category errors
 */
export class ForkInvalid extends Schema.TaggedError<ForkInvalid>()("ForkInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot fork: ${this.reason}`
  }
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

/**
 * A tool call that started before a crash and has no recorded result.
 *
 * @since 0.1.0
 * @category models
 */
export const InFlightStep = Schema.Struct({
  stepId: Schema.String,
  tool: Schema.String,
  /** The call's arguments, as JSON. */
  args: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type InFlightStep = typeof InFlightStep.Type

/**
 * Resume found tool calls that started but never finished, and whose tools are
 * not declared idempotent: running them again might repeat a side effect.
 * `steps` names every such call of the journal, so that one resume with
 * `--retry` / `--assume-done` for each can go on; `stepId`, `tool` and `args`
 * are the first of them (the call the resumed run reached).
 *
 * What to do: a side effect may or may not have happened: check it, then resume with `graphent resume <run>
 * --retry <step>` (run it again) or `--assume-done <step>` (treat it as done). Mark tools `idempotent: true`
 * when running them twice is harmless, and resume decides alone.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResumeUnsafe extends Schema.TaggedError<ResumeUnsafe>()("ResumeUnsafe", {
  stepId: Schema.String,
  tool: Schema.String,
  args: Schema.String,
  steps: Schema.Array(InFlightStep)
}) {
  override get message(): string {
    const steps = this.steps
    if (steps.length <= 1) {
      return `cannot resume: step "${this.stepId}" (tool "${this.tool}", args ${this.args}) started before the crash ` +
        `but its result was not recorded, and "${this.tool}" is not idempotent. Check whether its effect happened, ` +
        `then resume with --assume-done ${this.stepId} (it did) or --retry ${this.stepId} (it did not).`
    }
    const listed = steps.map((step) => `step "${step.stepId}" (tool "${step.tool}", args ${step.args})`).join("; ")
    return `cannot resume: ${steps.length} steps started before the crash but their results were not recorded, and ` +
      `their tools are not idempotent: ${listed}. Check for each whether its effect happened, then resume once with ` +
      `--assume-done STEP (it did) or --retry STEP (it did not) for each of them, e.g. ` +
      steps.map((step) => `--retry ${step.stepId}`).join(" ") + "."
  }
  /** {@link Errors.conflict}: exit 1, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.conflict
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
  /** The conversation handed over with the run, as `RunStarted` recorded it. */
  readonly conversation?: ReadonlyArray<ConversationItem> | undefined
  /** Steps that waited for a human's approval (an `ApprovalRequested`): the tool did not run. */
  readonly approvalRequested: ReadonlySet<string>
  /** The humans' decisions on those steps (the last `ApprovalDecided` of each). */
  readonly approvals: ReadonlyMap<string, ApprovalDecision>
  /** Model calls by their number in the run. */
  readonly modelCalls: ReadonlyMap<number, { readonly index: number; readonly event: Extract<RunEvent, { readonly _tag: "ModelCalled" }> }>
  /** Journaled values by `turn:key`. */
  readonly values: ReadonlyMap<string, { readonly index: number; readonly event: Extract<RunEvent, { readonly _tag: "ValueRecorded" }> }>
  /** Compactions of the planner's conversation by the model call they prepared. */
  readonly compactions: ReadonlyMap<number, { readonly index: number; readonly event: Extract<RunEvent, { readonly _tag: "ContextCompacted" }> }>
}


// ---------------------------------------------------------------------------
// session options
// ---------------------------------------------------------------------------

/**
 * How a session treats what the recording does not answer. `fork` answers
 * like `resume` (a recorded call from the recording, anything else live) but
 * journals every event of the new run, as `replay` does: a fork is a new run.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "replay" | "resume" | "update" | "fork"

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
