/**
 * `graphent run --stream`: prints a run as it happens — the model's text as
 * it arrives on standard output, tool calls and their outcomes on standard
 * error — and the answer when nothing was streamed (e.g. a rule-based planner).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { RunError } from "../services/AgentRuntime.js"
import type { RunEvent } from "../services/RunEvent.js"

const out = (text: string) => void process.stdout.write(text)
const note = (text: string) => void process.stderr.write(`${text}\n`)

const brief = (value: unknown): string => {
  const json = JSON.stringify(value) ?? "undefined"
  return json.length > 120 ? `${json.slice(0, 117)}...` : json
}

/**
 * Consumes a run's event stream, printing it for a person.
 *
 * @since 0.1.0
 * @category printing
 */
export const printStream = <R>(events: Stream.Stream<RunEvent, RunError, R>): Effect.Effect<void, RunError, R> =>
  Effect.suspend(() => {
    /** Whether the current turn's text has been printed (so the answer is not printed twice). */
    let streamedThisTurn = false
    /** Whether the cursor is in the middle of a line of streamed text. */
    let midLine = false
    const endLine = () => {
      if (midLine) out("\n")
      midLine = false
    }
    return Stream.runForEach(events, (event) =>
      Effect.sync(() => {
        switch (event._tag) {
          case "ModelCalled":
            break
          case "DecisionMade":
            if (event.decision._tag === "RunSteps") endLine()
            if (event.decision._tag !== "Answer") streamedThisTurn = false
            break
          case "TextDelta":
            out(event.text)
            midLine = !event.text.endsWith("\n")
            streamedThisTurn = true
            break
          case "StepStarted":
            endLine()
            note(`  → ${event.tool}(${brief(event.args)})`)
            break
          case "StepFailed":
            note(`  ✗ ${event.tool}: ${event.error.message}`)
            break
          case "RunCompleted":
            if (!streamedThisTurn) out(event.answer)
            midLine = true
            endLine()
            break
        }
      }))
  })
