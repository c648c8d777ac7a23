/**
 * What the runtime needs of telemetry, kept free of any exporter: the two
 * context references that turn payloads and run observation on, and the span
 * helpers the local runtime calls when a tracer that exports spans is
 * installed. `src/layers/Telemetry.ts` is the public face (layers, metrics,
 * exporters); this module is what `LocalRuntime` imports, so a run with
 * telemetry off loads and does nothing more than before.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import type { Decision, PlanStep } from "../services/Planner.js"
import type { RunEvent } from "../services/RunEvent.js"
import type { ToolOutput } from "../services/Tools.js"

/**
 * Whether spans carry payloads: the run's input and answer, each decision,
 * each tool call's arguments and result, and (through the layers of
 * `Telemetry`) the prompts and completions of model calls. Off by default:
 * payloads may hold personal data or secrets a tool echoes back.
 */
export const Payloads = Context.Reference<boolean>("graphent/Telemetry/Payloads", { defaultValue: () => false })

/**
 * Watches one run: called once when the run starts (with the run's context
 * and its agent's name), it returns the function that then sees every event
 * the run publishes, synchronously and in order, or `undefined` to skip the
 * run. Metrics are made this way.
 */
export type RunObserver = (
  context: Context.Context<never>,
  agent: string
) => ((event: RunEvent) => void) | undefined

/** The observer of runs; none by default (a run then pays nothing). */
export const CurrentRunObserver = Context.Reference<RunObserver | undefined>("graphent/Telemetry/RunObserver", {
  defaultValue: () => undefined
})

/**
 * `onEvent` plus the observer in `context`, if there is one. (`Replay.replay`
 * removes the observer: a replay checks a recording, it is not a run of the
 * agent.)
 */
export const observed = (
  context: Context.Context<never>,
  agent: string,
  onEvent: ((event: RunEvent) => void) | undefined
): ((event: RunEvent) => void) | undefined => {
  const observer = Context.get(context, CurrentRunObserver)
  if (observer === undefined) return onEvent
  const observe = observer(context, agent)
  if (observe === undefined) return onEvent
  if (onEvent === undefined) return observe
  return (event) => {
    onEvent(event)
    observe(event)
  }
}

// ---------------------------------------------------------------------------
// spans
// ---------------------------------------------------------------------------

/** How a run is traced; `undefined` when it is not (the native tracer exports nothing). */
export interface Tracing {
  readonly payloads: boolean
}

const withPayloads: Tracing = { payloads: true }
const withoutPayloads: Tracing = { payloads: false }

/** Spans cost more than the rest of a step: a run gets them only when a tracer exports them. */
export const tracingOf = (context: Context.Context<never>): Tracing | undefined =>
  Context.get(context, Tracer.Tracer) === Tracer.nativeTracer
    ? undefined
    : Context.get(context, Payloads)
    ? withPayloads
    : withoutPayloads

/** Longest payload attribute, in characters; longer ones are cut (and say so). */
export const maxPayloadLength = 16_384

/** A payload as a span attribute: JSON (a string stays as it is), cut at {@link maxPayloadLength}. */
export const payloadText = (value: unknown): string => {
  let text: string
  if (typeof value === "string") text = value
  else {
    try {
      text = JSON.stringify(value) ?? "null"
    } catch {
      text = String(value)
    }
  }
  return text.length > maxPayloadLength
    ? `${text.slice(0, maxPayloadLength)}... (${text.length - maxPayloadLength} more characters)`
    : text
}

/** The attributes of the run span, set when the run starts; every span under it gets the run id. */
export const traceRun = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  span: Tracer.Span,
  run: {
    readonly runId: string
    readonly agent: string
    readonly input: string
    readonly threadId: string | undefined
  },
  tracing: Tracing
): Effect.Effect<A, E, R> => {
  span.attribute("gen_ai.operation.name", "invoke_agent")
  span.attribute("gen_ai.agent.name", run.agent)
  if (run.threadId !== undefined) span.attribute("gen_ai.conversation.id", run.threadId)
  if (tracing.payloads) span.attribute("graphent.input", payloadText(run.input))
  const annotated = Effect.annotateSpans(effect, "graphent.run_id", run.runId)
  return tracing.payloads
    ? Effect.tap(annotated, (result) =>
      Effect.sync(() => {
        const answer = (result as { readonly answer?: unknown }).answer
        if (answer !== undefined) span.attribute("graphent.answer", payloadText(answer))
      }))
    : annotated
}

/** One planner decision as a span: its turn, what was decided (and, with payloads, the decision itself). */
export const traceDecision = <E, R>(
  decide: Effect.Effect<Decision, E, R>,
  turn: number,
  tracing: Tracing
): Effect.Effect<Decision, E, R> =>
  Effect.withSpan(
    Effect.tap(decide, (decision) => {
      const attributes: Record<string, unknown> = { "graphent.decision": decision._tag }
      if (decision._tag === "RunSteps") attributes["graphent.steps"] = decision.steps.length
      if (tracing.payloads) attributes["graphent.decision.payload"] = payloadText(decision)
      return Effect.annotateCurrentSpan(attributes)
    }),
    "graphent.decide",
    { attributes: { "graphent.turn": turn }, captureStackTrace: false }
  )

/** One step as a span: journaling its start, the tool call, journaling its outcome. */
export const traceStep = <A, E, R>(attempt: Effect.Effect<A, E, R>, step: PlanStep): Effect.Effect<A, E, R> =>
  Effect.withSpan(attempt, "graphent.step", {
    attributes: { "graphent.step_id": step.id, "graphent.tool": step.tool },
    captureStackTrace: false
  })

const annotateError = (error: { readonly _tag: string }) => Effect.annotateCurrentSpan("error.type", error._tag)

/**
 * One tool call as a span named and annotated after the OpenTelemetry GenAI
 * conventions (`execute_tool <name>`); with payloads, its arguments and result.
 */
export const traceTool = <E extends { readonly _tag: string }, R>(
  execution: Effect.Effect<ToolOutput, E, R>,
  step: PlanStep,
  args: unknown,
  tracing: Tracing
): Effect.Effect<ToolOutput, E, R> => {
  const attributes: Record<string, unknown> = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": step.tool,
    "gen_ai.tool.call.id": step.id
  }
  let traced = Effect.tapError(execution, annotateError)
  if (tracing.payloads) {
    attributes["gen_ai.tool.call.arguments"] = payloadText(args)
    traced = Effect.tap(traced, (output) => Effect.annotateCurrentSpan("gen_ai.tool.call.result", payloadText(output.result)))
  }
  return Effect.withSpan(traced, `execute_tool ${step.tool}`, { attributes, captureStackTrace: false })
}
