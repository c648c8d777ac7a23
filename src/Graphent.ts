/**
 * Graphent for code that is not written in Effect: one object per
 * application, built once, whose methods return Promises.
 *
 * ```js
 * import { Graphent } from "graphent"
 *
 * const graphent = Graphent.create({ agents: [agent] })
 * const result = await graphent.run(agent, "hello")
 * for await (const event of graphent.stream(agent, "hello")) console.log(event._tag)
 * await graphent.close()
 * ```
 *
 * Every method runs on one `ManagedRuntime` made by {@link create} (its
 * layers — store, memory, model, your own — are built on first use, once),
 * and every run is the same run as `AgentRuntime.run` in Effect: same engine,
 * same journal, same events. A failed run rejects with the same typed error
 * an Effect program sees (`ToolFailed`, `BudgetExceeded`, …): test it with
 * `instanceof`; the classes are re-exported here.
 *
 * Backends are Layers you pass (`store: JournalPg.layerPglite()`,
 * `model: OpenAiProvider.layer(…)`), so this module loads none of them.
 *
 * @since 0.2.0
 */
import * as path from "node:path"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Project from "./internal/project.js"
import * as JournalFolder from "./layers/JournalFolder.js"
import * as JournalMemory from "./layers/JournalMemory.js"
import * as LocalRuntime from "./layers/LocalRuntime.js"
import * as MemoryInMemory from "./layers/MemoryInMemory.js"
import * as Replay from "./layers/Replay.js"
import type { Agent } from "./services/Agent.js"
import {
  AgentRuntime,
  type AgentRuntimeShape,
  type RunOptions as EngineRunOptions,
  type RunResult as EngineRunResult
} from "./services/AgentRuntime.js"
import * as Approvals from "./services/Approvals.js"
import * as Errors from "./services/Errors.js"
import { Journal } from "./services/Journal.js"
import type { Memory } from "./services/Memory.js"
import { Policy, type Principal } from "./services/Policy.js"
import type { RunEvent as EngineRunEvent } from "./services/RunEvent.js"
import * as Tool from "./services/Tool.js"
import { AgentNotFound, AgentSetupFailed, RunNotFound } from "./services/Runs.js"

/** @since 0.2.0 */
export { BudgetExceeded, PlanInvalid, PlannerFailed } from "./services/Agent.js"
/** @since 0.2.0 */
export { OutputInvalid } from "./services/AgentRuntime.js"
/** @since 0.2.0 */
export { ApprovalInvalid } from "./services/Approvals.js"
/** @since 0.2.0 */
export { JournalError } from "./services/Journal.js"
/** @since 0.2.0 */
export { ApprovalRequired } from "./services/Policy.js"
/** @since 0.2.0 */
export { ReplayDivergence, ReplayUnavailable, ResumeUnsafe } from "./services/Replay.js"
/** @since 0.2.0 */
export { AgentNotFound, AgentSetupFailed, RunNotFound } from "./services/Runs.js"
/** @since 0.2.0 */
export {
  ToolArgumentsInvalid,
  ToolDenied,
  ToolFailed,
  ToolNotFound,
  ToolResultInvalid,
  ToolTimeout
} from "./services/Tool.js"
// Types as aliases, not `export type { … } from`: the declaration bundler turns those into values inside a namespace.
/** What {@link Graphent.replay} resolves with. @since 0.2.0 */
export type ReplayReport = Replay.Report
/** What {@link Graphent.run} resolves with. @since 0.2.0 */
export type RunResult<O = string> = EngineRunResult<O>
/** An event of a run, as {@link Graphent.stream} yields it. @since 0.2.0 */
export type RunEvent = EngineRunEvent

/**
 * Effect's `Schema` module, for a {@link tool}'s `parameters` and `success`
 * without importing `effect`: `Graphent.Schema.Struct({ city: Graphent.Schema.String })`.
 *
 * @since 0.2.0
 */
export { Schema }

/**
 * Declares a tool whose handler is a plain (async) function: it gets the
 * decoded arguments, the call's context and an `AbortSignal` (aborted when
 * the call is interrupted: a timeout, the run's end); what it returns (or
 * resolves with) is the result, what it throws (or rejects with) fails the
 * step with `ToolFailed`. `success` defaults to any JSON value. The result is
 * an ordinary `Tool` (see `Tool.make` for the other options).
 *
 * @since 0.2.0
 * @category constructors
 */
export const tool = <const Name extends string, Params extends Schema.Top, Success extends Schema.Top = typeof Schema.Unknown>(
  name: Name,
  options: {
    readonly description: string
    readonly parameters: Params
    readonly success?: Success | undefined
    readonly handler: (
      args: Params["Type"],
      context: Tool.ToolContext,
      signal: AbortSignal
    ) => Success["Type"] | PromiseLike<Success["Type"]>
    readonly timeout?: Duration.Input | undefined
    readonly idempotent?: boolean | undefined
    readonly recoverable?: boolean | undefined
    readonly capabilities?: ReadonlyArray<string> | undefined
    readonly secrets?: ReadonlyArray<string> | undefined
  }
): Tool.Tool<Name, Params, Success, unknown, never> => {
  const { handler, success, ...rest } = options
  return Tool.make(name, {
    ...rest,
    success: (success ?? Schema.Unknown) as Success,
    handler: (args, context) =>
      Effect.tryPromise({
        try: async (signal) => await handler(args, context, signal),
        // The thrown value itself: ToolFailed carries it and its message.
        catch: (error) => error
      })
  })
}

/**
 * A method was called after {@link Graphent.close}.
 *
 * What to do: call `close()` once, when the application stops; create a new instance with `Graphent.create` if
 * you need one afterwards.
 *
 * @since 0.2.0
 * @category errors
 */
export class GraphentClosed extends Schema.TaggedError<GraphentClosed>()("GraphentClosed", {
  method: Schema.String
}) {
  override get message(): string {
    return `graphent.${this.method}() was called after graphent.close(): create another with Graphent.create`
  }
  /** {@link Errors.rejected}: exit 2, HTTP 409 (the call cannot apply once closed). */
  get outcome(): Errors.Outcome {
    return Errors.rejected
  }
}

/**
 * What the services of {@link create} always provide: the runtime, the
 * journal (the store) and memory.
 *
 * @since 0.2.0
 * @category models
 */
export type Provided = AgentRuntime | Journal | Memory

/**
 * Where runs are journaled:
 *
 * - `"memory"` (the default): in this process, bounded (the last 1,000
 *   finished runs; see `JournalMemory`); nothing survives the process.
 * - `"files"`: one JSON Lines file per run in the project's `.graphent/runs/`
 *   (the CLI's default store: `graphent trace list` shows the runs, `graphent
 *   resume <id>` continues one).
 * - `{ folder }`: one JSON Lines file per run in that folder.
 * - a Layer providing `Journal` (and optionally `Memory`), e.g.
 *   `JournalPg.layerPglite({ dataDir })`, `JournalPg.layerPg({ pg: { url } })`
 *   or `Storage.layer(…)`: imported by you, so the backends you do not use
 *   are never loaded.
 *
 * @since 0.2.0
 * @category models
 */
export type Store =
  | "memory"
  | "files"
  | { readonly folder: string }
  | Layer.Layer<Journal, unknown>
  | Layer.Layer<Journal | Memory, unknown>

/**
 * What {@link create} builds a Graphent from: the agents, the store, the model and any other layer they need.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options<M = never, L = never> {
  /**
   * The agents that {@link Graphent.resume}, {@link Graphent.approve} and
   * {@link Graphent.replay} look up by the name a journal records (agents
   * given to `run` and `stream` are added as they are first seen).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- agents of any requirements and output
  readonly agents?: ReadonlyArray<Agent<any, any>> | undefined
  /** Where runs are journaled (default `"memory"`). */
  readonly store?: Store | undefined
  /** Memory for tools that use it (default: `MemoryInMemory`, unless the store provides `Memory`). */
  readonly memory?: Layer.Layer<Memory, unknown> | undefined
  /** The `LanguageModel` of `LlmPlanner` agents: a provider's layer, or `ScriptedModel.layer(…)` offline. */
  readonly model?: Layer.Layer<M, unknown> | undefined
  /**
   * Anything else the agents need, built once on top of the store and
   * memory: their tools' services, `ToolGuard.layer()` with a `Policy` (for
   * approvals), `Pricing`, telemetry.
   */
  readonly layer?: Layer.Layer<L, unknown, Provided> | undefined
}

/**
 * Options of one run.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunOptions extends Omit<EngineRunOptions, "replay"> {
  /** Aborting it interrupts the run (it journals `RunInterrupted`; `resume` continues it). */
  readonly signal?: AbortSignal | undefined
}

/**
 * Options of {@link Graphent.resume}: what to do with steps that were in
 * flight when the run stopped and whose tools are not idempotent.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResumeOptions {
  /** Steps that did not take effect: run them again. */
  readonly retry?: ReadonlyArray<string> | undefined
  /** Steps that did take effect: do not run them again (each fails, and the planner sees it). */
  readonly assumeDone?: ReadonlyArray<string> | undefined
  readonly signal?: AbortSignal | undefined
}

/**
 * A decision on a step a paused run waits for.
 *
 * @since 0.2.0
 * @category models
 */
export interface DecisionOptions {
  /** Who decides; the policy must let them (see `Policy.mayApprove`). A string is a principal with no roles. */
  readonly by: Principal | string
  /** Why; recorded in the journal. */
  readonly reason?: string | undefined
  readonly signal?: AbortSignal | undefined
}

/**
 * What {@link Graphent.replay} checks: a run's events, a `RunResult`, or the
 * id of a run in the store.
 *
 * @since 0.2.0
 * @category models
 */
export type Recording = ReadonlyArray<RunEvent> | { readonly events: ReadonlyArray<RunEvent> } | string

/**
 * Options of {@link Graphent.replay}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ReplayOptions extends Replay.Options {
  /** The run, when the events hold several. */
  readonly runId?: string | undefined
}

/**
 * The application's Graphent: see {@link create}.
 *
 * @since 0.2.0
 * @category models
 */
export interface Graphent<P = never> {
  /** Runs `agent` (or the registered agent of that name) on `input` to its end. */
  readonly run: <O, R extends P | Provided>(
    agent: Agent<R, O> | string,
    input: string,
    options?: RunOptions
  ) => Promise<RunResult<O>>
  /**
   * The same run, as its events while they happen (model text deltas
   * included). Leaving the loop early (`break`) interrupts the run; a failed
   * run throws its error from the loop after its last event.
   */
  readonly stream: <R extends P | Provided>(
    agent: Agent<R, unknown> | string,
    input: string,
    options?: RunOptions
  ) => AsyncIterable<RunEvent>
  /**
   * Re-runs a recorded run with no side effects: resolves with the report
   * when every request matches the recording, rejects with
   * `ReplayDivergence` at the first that does not.
   */
  readonly replay: (recording: Recording, options?: ReplayOptions) => Promise<Replay.Report>
  /**
   * Continues a run of the store that did not finish (its process died, or
   * it was interrupted): recorded calls are answered from the journal, never
   * run again; the run goes on live.
   */
  readonly resume: (runId: string, options?: ResumeOptions) => Promise<RunResult<unknown>>
  /** Approves a step a paused run waits for (`ApprovalRequired`), then resumes the run: the step runs. */
  readonly approve: (runId: string, stepId: string, options: DecisionOptions) => Promise<RunResult<unknown>>
  /** Rejects a step a paused run waits for, then resumes the run: the step fails with `ToolDenied`. */
  readonly reject: (runId: string, stepId: string, options: DecisionOptions) => Promise<RunResult<unknown>>
  /** The events the store holds of a run (rejects with `RunNotFound` when it holds none). */
  readonly events: (runId: string) => Promise<ReadonlyArray<RunEvent>>
  /**
   * Interrupts the runs still going (each journals `RunInterrupted`) and
   * closes the store and every layer: afterwards nothing of Graphent keeps
   * the process alive. Calling it again waits for the same close.
   */
  readonly close: () => Promise<void>
  /** The runtime underneath, for Effect code: `graphent.runtime.runPromise(effect)`. */
  readonly runtime: ManagedRuntime.ManagedRuntime<P | Provided, unknown>
}

/** The journal layer a {@link Store} names. */
const journalOf = (store: Store): Layer.Layer<Journal, unknown> | Layer.Layer<Journal | Memory, unknown> => {
  if (store === "memory") return JournalMemory.layer()
  if (store === "files") return JournalFolder.layer({ dir: path.join(Project.projectHome(), "runs") })
  if ("folder" in store) return JournalFolder.layer({ dir: path.resolve(store.folder) })
  return store
}

/** A principal named by a string has no roles (the policy's `principals` may give it some). */
const principalOf = (by: Principal | string): Principal => typeof by === "string" ? { id: by, roles: [] } : by

/**
 * Makes the application's Graphent. Nothing is built until the first call;
 * then the store, memory, model and your layer are built once and shared by
 * every run until {@link Graphent.close}. A layer that fails to build
 * rejects every call with its error. Two different agents of one name throw
 * `AgentSetupFailed`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const create = <M = never, L = never>(options: Options<M, L> = {}): Graphent<M | L> => {
  const stores = Layer.merge(options.memory ?? MemoryInMemory.layer, journalOf(options.store ?? "memory")) as Layer.Layer<
    Journal | Memory,
    unknown
  >
  const extra = Layer.mergeAll(options.model ?? Layer.empty, options.layer ?? Layer.empty) as Layer.Layer<M | L, unknown, Provided>
  const layer = Layer.mergeAll(LocalRuntime.layer, extra).pipe(Layer.provideMerge(stores)) as Layer.Layer<
    M | L | Provided,
    unknown
  >
  const runtime = ManagedRuntime.make(layer)

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- agents of any requirements and output
  const agents = new Map<string, Agent<any, any>>()
  for (const agent of options.agents ?? []) {
    if (agents.has(agent.name) && agents.get(agent.name) !== agent) {
      throw new AgentSetupFailed({ agent: agent.name, reason: "two agents have this name" })
    }
    agents.set(agent.name, agent)
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- agents of any requirements and output
  const agentOf = <R, O>(agent: Agent<R, O> | string): Agent<any, any> => {
    if (typeof agent !== "string") {
      if (!agents.has(agent.name)) agents.set(agent.name, agent)
      return agent
    }
    const found = agents.get(agent)
    if (found === undefined) throw new AgentNotFound({ agent, available: [...agents.keys()] })
    return found
  }
  const recordedAgent = (name: string) =>
    Effect.suspend(() => {
      const agent = agents.get(name)
      return agent === undefined ? Effect.fail(new AgentNotFound({ agent: name, available: [...agents.keys()] })) : Effect.succeed(agent)
    })

  /** The runtime's `AgentRuntime`, read once the layers are built (inside a run, or after one). */
  let built: AgentRuntimeShape | undefined
  const engine = (): AgentRuntimeShape => (built ??= Context.get(runtime.cachedContext!, AgentRuntime))

  let closing: Promise<void> | undefined
  const closed = (method: string) => closing === undefined ? undefined : new GraphentClosed({ method })

  /** Runs `effect` on the runtime; `signal` interrupts it. */
  const promise = <A>(method: string, effect: Effect.Effect<A, unknown, Provided | M | L>, signal: AbortSignal | undefined) => {
    const refused = closed(method)
    if (refused !== undefined) return Promise.reject(refused)
    return runtime.runPromise(effect, signal === undefined ? undefined : { signal })
  }

  const readRun = (runId: string) =>
    Effect.gen(function*() {
      const events = yield* (yield* Journal).read(runId)
      if (events.length === 0) return yield* new RunNotFound({ runId })
      return events
    })

  const decide = (approved: boolean) => (runId: string, stepId: string, decision: DecisionOptions) =>
    promise(
      approved ? "approve" : "reject",
      Effect.gen(function*() {
        const events = yield* readRun(runId)
        const recorded = yield* Effect.mapError(
          Replay.recording(events, runId),
          (error) => new Approvals.ApprovalInvalid({ runId, stepId, reason: error.reason })
        )
        const agent = yield* recordedAgent(recorded.agent)
        const policy = yield* Effect.serviceOption(Policy)
        if (Option.isNone(policy)) {
          return yield* new Approvals.ApprovalInvalid({
            runId,
            stepId,
            reason: "no Policy in this Graphent's layer: its runs never wait for approval"
          })
        }
        return yield* Approvals.decide(agent, events, {
          stepId,
          approved,
          approver: principalOf(decision.by),
          reason: decision.reason,
          runId
        })
      }),
      decision.signal
    )

  return {
    runtime: runtime as ManagedRuntime.ManagedRuntime<M | L | Provided, unknown>,
    run: (agent, input, runOptions) => {
      const refused = closed("run")
      if (refused !== undefined) return Promise.reject(refused)
      let chosen
      try {
        chosen = agentOf(agent)
      } catch (error) {
        return Promise.reject(error)
      }
      return promise("run", Effect.suspend(() => engine().run(chosen, input, runOptions)), runOptions?.signal)
    },
    stream: (agent, input, runOptions) => ({
      [Symbol.asyncIterator]: () => {
        const refused = closed("stream")
        if (refused !== undefined) throw refused
        const chosen = agentOf(agent)
        return iterate(
          runtime,
          // Once built, the runtime's stream itself: an unwrapped stream costs a run another channel.
          runtime.cachedContext === undefined
            ? Stream.unwrap(Effect.sync(() => engine().stream(chosen, input, runOptions)))
            : engine().stream(chosen, input, runOptions),
          runOptions?.signal
        )
      }
    }),
    replay: (recording, replayOptions) =>
      promise(
        "replay",
        Effect.gen(function*() {
          const events = typeof recording === "string"
            ? yield* readRun(recording)
            : "events" in recording
            ? recording.events
            : recording
          const recorded = yield* Replay.recording(events, replayOptions?.runId)
          const agent = yield* recordedAgent(recorded.agent)
          // A replay journals into a journal of its own: the store keeps the recording as it was.
          return yield* Replay.replay(agent, events, { ...replayOptions, runId: recorded.runId }).pipe(
            Effect.provideServiceEffect(AgentRuntime, Effect.provideService(LocalRuntime.make, Journal, JournalMemory.make()))
          )
        }),
        undefined
      ),
    resume: (runId, resumeOptions) =>
      promise(
        "resume",
        Effect.gen(function*() {
          const events = yield* readRun(runId)
          const recorded = yield* Replay.recording(events, runId)
          const agent = yield* recordedAgent(recorded.agent)
          return yield* Replay.resume(agent, events, {
            runId,
            retry: resumeOptions?.retry ?? [],
            assumeDone: resumeOptions?.assumeDone ?? []
          })
        }),
        resumeOptions?.signal
      ),
    approve: decide(true),
    reject: decide(false),
    events: (runId) => promise("events", readRun(runId), undefined),
    close: () => (closing ??= runtime.dispose())
  }
}

const done: IteratorReturnResult<undefined> = { done: true, value: undefined }

/**
 * The events of `stream` as an async iterator: one fiber runs the stream and
 * pushes its chunks into a plain array; `next` takes the next event from
 * there, and only when the array is empty returns a Promise that the next
 * chunk (or the end) settles — no fiber, no Effect run, no `await` loop per
 * event or per chunk.
 */
const iterate = <R>(
  runtime: ManagedRuntime.ManagedRuntime<R, unknown>,
  stream: Stream.Stream<RunEvent, unknown, R>,
  signal: AbortSignal | undefined
): AsyncIterator<RunEvent> => {
  let buffer: Array<RunEvent> = []
  let position = 0
  let exit: Exit.Exit<void, unknown> | undefined
  let waiting: { readonly resolve: (result: IteratorResult<RunEvent>) => void; readonly reject: (error: unknown) => void } | undefined
  const take = (): IteratorYieldResult<RunEvent> => {
    const value = buffer[position++]!
    if (position === buffer.length) {
      buffer = []
      position = 0
    }
    return { done: false, value }
  }
  // As `runPromise` rejects: with the typed failure itself.
  const failure = (exit: Exit.Failure<void, unknown>) => Cause.squash(exit.cause)
  const settle = () => {
    const waiter = waiting
    if (waiter === undefined) return
    if (position < buffer.length) {
      waiting = undefined
      waiter.resolve(take())
    } else if (exit !== undefined) {
      waiting = undefined
      if (Exit.isSuccess(exit)) waiter.resolve(done)
      else waiter.reject(failure(exit))
    }
  }
  const fiber = runtime.runFork(
    Stream.runForEachArray(stream, (chunk) =>
      Effect.sync(() => {
        for (const event of chunk) buffer.push(event)
        settle()
      })),
    signal === undefined ? undefined : { signal }
  )
  fiber.addObserver((ended) => {
    exit = ended as Exit.Exit<void, unknown>
    settle()
  })
  return {
    next: () => {
      if (position < buffer.length) return Promise.resolve(take())
      if (exit !== undefined) return Exit.isSuccess(exit) ? Promise.resolve(done) : Promise.reject(failure(exit))
      return new Promise((resolve, reject) => (waiting = { resolve, reject }))
    },
    return: async () => {
      if (exit === undefined) await runtime.runPromise(Fiber.interrupt(fiber))
      return done
    }
  }
}
