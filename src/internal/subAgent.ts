/**
 * The seam between a sub-agent tool (`Agent.asTool`, `Agent.handoff`) and the
 * run that calls it. A sub-agent tool is marked here; the run loop gives the
 * call of a marked tool its {@link ParentRun} (fiber-local, through
 * {@link CurrentParent}), and the tool's handler starts its agent as a child
 * run of that step through it. Nothing here imports the services: the agent
 * is typed structurally, so `Agent.ts` can use this module without a cycle.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type { ConversationItem, Usage } from "../services/RunEvent.js"

/** What a sub-agent tool runs: the agent, and whether it takes the run over (handoff). */
export interface SubAgentSpec {
  /** The agent (an `Agent.Agent`), typed loosely here. */
  readonly agent: { readonly name: string }
  /** A handoff tool (`transfer_to_<agent>`): the parent's answer is the child's. */
  readonly handoff: boolean
  /** A handoff: trims the conversation handed over (see `Agent.handoff`). */
  readonly inputFilter?: ((conversation: ReadonlyArray<ConversationItem>) => ReadonlyArray<ConversationItem>) | undefined
}

/** What a child run returns to the tool that started it. */
export interface ChildResult {
  readonly runId: string
  readonly answer: string
  readonly output: unknown
}

/** A human's decision forwarded from the parent's step to the step its child waits on. */
export interface ForwardedApproval {
  readonly approved: boolean
  readonly by: string
  readonly reason?: string | undefined
}

/** The run that calls a sub-agent tool, as that tool's handler sees it. */
export interface ParentRun {
  readonly runId: string
  readonly stepId: string
  /**
   * Runs `agent` on `input` as the child run of this step (id `<runId>/<stepId>`):
   * the parent's principal and policy, the budget it has left, its journal, and
   * its replay/resume session for the child's own section of the journal.
   * A child that pauses for approval, diverges from its recording or spends
   * the parent's budget ends the parent too (the loop reads that from the
   * parent, not from the tool's error).
   */
  readonly spawn: (
    agent: { readonly name: string },
    input: string,
    approval: ForwardedApproval | undefined
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ) => Effect.Effect<ChildResult, unknown, any>
  /**
   * The call was answered from the recording (a resume) without running the
   * child: what the child used, as recorded, counts in this run's usage and
   * budgets as it did on the first run.
   */
  readonly answered: (usage: Usage) => void
}

const specs = new WeakMap<object, SubAgentSpec>()

/** Marks `tool` as running `spec.agent`. */
export const mark = <T extends object>(tool: T, spec: SubAgentSpec): T => {
  specs.set(tool, spec)
  return tool
}

/** The agent a tool runs, when it is a sub-agent tool. */
export const specOf = (tool: object | undefined): SubAgentSpec | undefined =>
  tool === undefined ? undefined : specs.get(tool)

/** The run whose step is calling the current tool; set by the run loop for sub-agent tools only. */
export const CurrentParent = Context.Reference<ParentRun | undefined>("graphent/internal/CurrentParent", {
  defaultValue: () => undefined
})

/** The id of the child run that step `stepId` of run `runId` starts (deterministic: resume finds it again). */
export const childRunId = (runId: string, stepId: string): string => `${runId}/${stepId}`

/** The name of the tool that hands a run over to `agent`. */
export const handoffToolName = (agent: string): string => `transfer_to_${agent.replace(/[^A-Za-z0-9_-]/g, "_")}`
