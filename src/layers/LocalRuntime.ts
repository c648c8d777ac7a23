/**
 * The local {@link AgentRuntime}: runs agents on fibers of this process.
 *
 * This module wires a run: it builds the run's live ports from the services
 * in context (the `Journal`, the `Tools` executor, the `Clock`), lets
 * `RunOptions.replay` wrap them (see `Replay`), and starts the loop
 * (`./runtime/loop.ts`) under a span, as an effect or as a stream.
 *
 * @since 0.1.0
 */
import * as Channel from "effect/Channel"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { Agent, PlannerShape } from "../services/Agent.js"
import {
  AgentRuntime,
  type AgentRuntimeShape,
  Ids,
  type RunError,
  type RunOptions,
  type RunResult
} from "../services/AgentRuntime.js"
import { Journal, type JournalShape } from "../services/Journal.js"
import { Planner } from "../services/Planner.js"
import { Pricing } from "../services/Pricing.js"
import type { RunEvent, Usage } from "../services/RunEvent.js"
import * as RunPorts from "../services/RunPorts.js"
import { Tools, type ToolsShape } from "../services/Tools.js"
import * as Telemetry from "../internal/telemetry.js"
import * as JournalMemory from "./JournalMemory.js"
import { Mailbox } from "./runtime/mailbox.js"
import { Run } from "./runtime/loop.js"
import type { ChildRunner } from "./runtime/record.js"

/**
 * Chooses the ports of each run: the live ports of the runtime's journal and
 * the clock and tool executor in the run's context, wrapped by
 * `RunOptions.replay` when it is set. The live ports of the last context are
 * kept: runs of one program share them, and a run allocates none.
 */
class PortChooser {
  private clock: Clock.Clock | undefined = undefined
  private tools: ToolsShape | undefined = undefined
  private live: RunPorts.RunPorts | undefined = undefined

  constructor(private readonly journal: JournalShape) {}

  /**
   * Runs a child run (a sub-agent tool's call, a handoff) on this runtime: its
   * events go to the same journal, and the parent's session, if any, answers
   * for the child's section of the recording.
   */
  readonly children: ChildRunner = (agent, input, options, parentReplay, approval, onUsage) => {
    const start = (replay: RunPorts.PortProvider | undefined) =>
      runLoop(agent, input, replay === undefined ? options : { ...options, replay }, this, undefined, onUsage)
    return parentReplay?.child === undefined
      ? start(undefined)
      : Effect.flatMap(parentReplay.child(options.runId, this.journal.read, approval), start)
  }

  portsOf(context: Context.Context<never>, options: RunOptions | undefined): RunPorts.RunPorts {
    const clock = Context.get(context, Clock.Clock)
    const tools = Context.get(context, Tools)
    if (this.live === undefined || clock !== this.clock || tools !== this.tools) {
      this.clock = clock
      this.tools = tools
      const { journal } = this
      this.live = RunPorts.live({
        now: () => clock.currentTimeMillisUnsafe(),
        journal: (event) => journal.append(event),
        tools
      })
    }
    return options?.replay === undefined ? this.live : options.replay.provide(this.live)
  }
}

/** Sets a run up from what its context provides (read once, not per step). */
const makeRun = <R>(
  agent: Agent<R, unknown>,
  input: string,
  options: RunOptions | undefined,
  ports: PortChooser,
  onEvent: ((event: RunEvent) => void) | undefined,
  context: Context.Context<never>,
  runId: string,
  traceId: string
): Run<R> => {
  const planner: PlannerShape<R> | undefined = agent.planner ?? Context.getOrUndefined(context, Planner)
  return new Run({
    agent,
    input,
    options,
    ports: ports.portsOf(context, options),
    onEvent: Telemetry.observed(context, agent.name, onEvent),
    runId,
    traceId,
    prices: Context.get(context, Pricing),
    // A span per step costs more than the rest of the step: create them only when a tracer exports them.
    tracing: Telemetry.tracingOf(context),
    streaming: onEvent !== undefined,
    children: ports.children
  }, planner)
}

const runLoop = <R, O>(
  agent: Agent<R, O>,
  input: string,
  options: RunOptions | undefined,
  ports: PortChooser,
  onEvent: ((event: RunEvent) => void) | undefined,
  onUsage?: (usage: Usage) => void
): Effect.Effect<RunResult<O>, RunError, R> =>
  Effect.flatMap(Effect.orDie(Effect.currentSpan), (span) =>
    Effect.contextWith((context: Context.Context<never>) => {
      const runId = options?.runId ?? Context.get(context, Ids).runId()
      span.attribute("graphent.run_id", runId)
      span.attribute("graphent.agent", agent.name)
      const run = makeRun(agent, input, options, ports, onEvent, context, runId, span.traceId)
      const whole = onUsage === undefined ? run.main() : Effect.ensuring(run.main(), Effect.sync(() => onUsage(run.usage())))
      const main = run.tracing === undefined
        ? whole
        : Telemetry.traceRun(whole, span, { runId, agent: agent.name, input, threadId: run.threadId }, run.tracing)
      // One annotation for the whole run (a tool's logs also get its step, see executeStep).
      // The output was decoded with the agent's own output Schema.
      return Effect.annotateLogs(main, { agent: agent.name, runId, traceId: span.traceId }) as Effect.Effect<
        RunResult<O>,
        RunError,
        R
      >
    })).pipe(Effect.withSpan("graphent.run", undefined, { captureStackTrace: false }))

/**
 * Builds a local runtime over the {@link Journal} in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<AgentRuntimeShape, never, Journal> = Effect.gen(function*() {
  const ports = new PortChooser(yield* Journal)
  return AgentRuntime.of({
    run: (agent, input, options) => runLoop(agent, input, options, ports, undefined),
    stream: (agent, input, options) =>
      Stream.fromChannel(Channel.fromTransform((_, scope) =>
        Effect.suspend(() => {
          const mailbox = new Mailbox()
          const run = runLoop(agent, input, options, ports, (event) => mailbox.publish(event)).pipe(
            Effect.onExit((exit) => Effect.sync(() => mailbox.close(exit))),
            // As with Stream.callback, what the run adds to a Scope lasts as long as the stream.
            Scope.provide(scope)
          )
          // The run is a fiber of the stream's scope: a consumer that stops interrupts it.
          return Effect.as(Effect.forkIn(run, scope, { startImmediately: true }), mailbox.pull)
        })
      ))
  })
})

/**
 * The local runtime; needs a {@link Journal}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AgentRuntime, never, Journal> = Layer.effect(AgentRuntime, make)

/**
 * The local runtime with an in-memory journal: everything a run needs, with no
 * external service. The journal keeps runs in progress and the last 100
 * finished runs (`JournalMemory.defaults`); for other limits, provide
 * `JournalMemory.layer(options)` to {@link layer}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<AgentRuntime | Journal> = layer.pipe(
  Layer.provideMerge(JournalMemory.layer())
)
