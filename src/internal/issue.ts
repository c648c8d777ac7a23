import * as Cause from "effect/Cause"
import type * as Exit from "effect/Exit"
import type * as Schema from "effect/Schema"

/** The readable message of a failed Schema decode/encode. */
export const issueOf = (exit: Exit.Failure<unknown, Schema.SchemaError>): string => {
  const error = Cause.findErrorOption(exit.cause)
  return error._tag === "Some" ? error.value.message : Cause.pretty(exit.cause)
}
