/**
 * A step's error as the journal keeps it: its tag, its message and, for the
 * errors whose class can be rebuilt, its fields — so replay fails the step
 * with the same typed error.
 */
import * as Schema from "effect/Schema"
import { PlanInvalid } from "../services/Agent.js"
import type { ErrorInfo } from "../services/RunEvent.js"
import * as Tool from "../services/Tool.js"

/** Tool errors that can be rebuilt, with their own class, from their journaled data. */
export const StepError = Schema.Union([
  Tool.ToolNotFound,
  Tool.ToolArgumentsInvalid,
  Tool.ToolFailed,
  Tool.ToolTimeout,
  Tool.ToolResultInvalid,
  Tool.ToolDenied,
  PlanInvalid
])

const encode = Schema.encodeUnknownExit(StepError)

/** The journaled `data` of a step's error, rebuilt with its own class. */
export const decodeStepError = Schema.decodeUnknownExit(StepError)

/** Encodes a step's error for the journal, so replay can rebuild the same typed error. */
export const encodeStepError = (error: Tool.ToolError | PlanInvalid): ErrorInfo => {
  const data = encode(error)
  return data._tag === "Success"
    ? { _tag: error._tag, message: error.message, data: data.value }
    : { _tag: error._tag, message: error.message }
}
