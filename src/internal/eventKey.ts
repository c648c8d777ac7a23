/**
 * The identity of a run's journal events (shared by the replay and the
 * workflow-backed journal).
 */
import type { RunEvent } from "../services/RunEvent.js"

/**
 * The identity of a journaled event within its run: the start, a decision's
 * turn, a step's start or outcome, a model call, a value, a compaction, an
 * approval request, the end. A replay answers a request from the event under
 * its key and journals nothing twice; a workflow-backed journal (cluster
 * runs, `JournalPg`'s `cluster`) appends at most one event per key.
 * Events that may recur (a resume, an interrupt, an approval decision) have none.
 */
export const keyOf = (event: RunEvent): string | undefined => {
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
