/**
 * Human-in-the-loop approvals, on top of the journal and resume.
 *
 * When the {@link Policy} says `approve` for a step, the guarded executor
 * (`ToolGuard`) does not run the tool: the runtime journals an
 * `ApprovalRequested` event, lets the other steps of the plan finish, and ends
 * the run with `ApprovalRequired` — without `RunFailed`, so the journal stays
 * resumable. {@link decide} then:
 *
 * 1. checks that the step waits for a decision, and that the approver may
 *    approve it (`Policy.mayApprove`: an `allow` rule for `approval:<tool>`,
 *    and not the run's own principal unless the policy allows self-approval);
 * 2. appends an `ApprovalDecided` event to the journal;
 * 3. resumes the run: the recorded prefix is replayed, the approved step runs
 *    (a rejected one fails with `ToolDenied`, which the planner sees), and the
 *    run goes on live.
 *
 * `graphent approve` / `graphent reject` are this, on a journal file; the HTTP
 * API calls the same function.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import type { Agent } from "./Agent.js"
import type { AgentRuntime, RunError, RunResult } from "./AgentRuntime.js"
import { hashArgs } from "./Audit.js"
import { Journal, type JournalError } from "./Journal.js"
import { Policy, type Principal } from "./Policy.js"
import * as Replay from "../layers/Replay.js"
import type { RunEvent } from "./RunEvent.js"

/**
 * The decision cannot be taken: the step does not wait for one, it was
 * already decided, or the approver may not decide it.
 *
 * What to do: list what the run waits for with `graphent trace show <run> --db` (or `GET /v1/runs/<id>`) and
 * answer that step; a decision already taken cannot be taken again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalInvalid extends Schema.TaggedError<ApprovalInvalid>()("ApprovalInvalid", {
  runId: Schema.String,
  stepId: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot decide step "${this.stepId}" of run ${this.runId}: ${this.reason}`
  }
  /** {@link Errors.rejected}: exit 2, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.rejected
  }
}

/**
 * A step waiting for a decision.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pending {
  readonly runId: string
  readonly stepId: string
  readonly tool: string
  readonly capability: string
  readonly principal: string
  readonly args: unknown
  readonly at: number
}

/**
 * The steps of a recorded run that wait for a decision.
 *
 * @since 0.1.0
 * @category accessors
 */
export const pending = (recording: Replay.Recording): ReadonlyArray<Pending> => {
  const out = new Map<string, Pending>()
  for (const event of recording.events) {
    if (event._tag === "ApprovalRequested") {
      out.set(event.stepId, {
        runId: event.runId,
        stepId: event.stepId,
        tool: event.tool,
        capability: event.capability,
        principal: event.principal,
        args: recording.started.get(event.stepId)?.args,
        at: event.at
      })
    }
    // A decision, or the step's outcome after a resume, settles it.
    if (event._tag === "ApprovalDecided" || event._tag === "StepSucceeded" || event._tag === "StepFailed") {
      out.delete(event.stepId)
    }
  }
  return recording.end === undefined ? [...out.values()] : []
}

/**
 * A decision on a waiting step.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  readonly stepId: string
  readonly approved: boolean
  /** Who decides; their roles come from the policy's `principals` when it knows them, else from here. */
  readonly approver: Principal
  readonly reason?: string | undefined
  /** The run, when the journal holds several. */
  readonly runId?: string | undefined
}

/**
 * Checks a decision against the recording and the policy, and returns the
 * `ApprovalDecided` event to journal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const check = (
  recording: Replay.Recording,
  decision: Decision
): Effect.Effect<Extract<RunEvent, { readonly _tag: "ApprovalDecided" }>, ApprovalInvalid, Policy> =>
  Effect.gen(function*() {
    const { runId } = recording
    const invalid = (reason: string) => new ApprovalInvalid({ runId, stepId: decision.stepId, reason })
    if (recording.end !== undefined) return yield* invalid(`the run already finished (${recording.end.event._tag})`)
    const waiting = pending(recording).find((step) => step.stepId === decision.stepId)
    if (waiting === undefined) {
      const open = pending(recording).map((step) => step.stepId)
      return yield* invalid(
        recording.approvals.has(decision.stepId)
          ? "it was already decided"
          : `it does not wait for approval (waiting: ${open.length === 0 ? "none" : open.join(", ")})`
      )
    }
    const policy = yield* Policy
    const roles = policy.rolesOf(decision.approver.id) ?? decision.approver.roles
    const verdict = policy.mayApprove({ id: decision.approver.id, roles }, waiting.principal, waiting.tool)
    if (verdict.effect !== "allow") {
      return yield* invalid(`${decision.approver.id} may not decide it (${verdict.rule})`)
    }
    const at = yield* Clock.currentTimeMillis
    return {
      _tag: "ApprovalDecided" as const,
      runId,
      stepId: decision.stepId,
      approved: decision.approved,
      by: decision.approver.id,
      ...(decision.reason === undefined ? {} : { reason: decision.reason }),
      argsHash: hashArgs(waiting.args),
      at
    }
  })

/**
 * Decides a waiting step and resumes the run: the decision is appended to
 * the {@link Journal} in context (the one that holds the run), then the run
 * continues from `events` (its journal as read before).
 *
 * **Example** (Approving a paused run)
 *
 * ```ts
 * const { events } = yield* JournalFile.readFile("run.jsonl")
 * const result = yield* Approvals.decide(agent, events, {
 *   stepId: "deploy",
 *   approved: true,
 *   approver: { id: "bob", roles: ["lead"] }
 * }).pipe(Effect.provide(JournalFile.layer({ path: "run.jsonl" })))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const decide = <R, O>(
  agent: Agent<R, O>,
  events: ReadonlyArray<RunEvent>,
  decision: Decision,
  options?: Replay.Options
): Effect.Effect<
  RunResult<O>,
  RunError | Replay.ReplayUnavailable | ApprovalInvalid | JournalError,
  R | AgentRuntime | Journal | Policy
> =>
  Effect.gen(function*() {
    const recorded = yield* Replay.recording(events, decision.runId)
    // Checked before anything is written: a decision for another agent's run must not reach its journal.
    if (recorded.agent !== agent.name) {
      return yield* new Replay.ReplayUnavailable({
        reason: `the journal was recorded for agent "${recorded.agent}", not "${agent.name}"`
      })
    }
    const event = yield* check(recorded, decision)
    const journal = yield* Journal
    yield* journal.append(event)
    return yield* Replay.resume(agent, [...recorded.events, event], { ...options, runId: recorded.runId })
  })
