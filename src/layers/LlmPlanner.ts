/**
 * A ReAct-style planner over Effect's `LanguageModel`.
 *
 * Each turn it sends the agent's instructions, the thread's earlier
 * conversation (from `Memory`, when the run has a thread), the input and
 * every tool call and result of the run so far to the model, with the
 * agent's tools, and turns the response into a decision: the tool calls to
 * run (several in one response run concurrently, through Graphent's own
 * executor, budgets and journal), or the answer.
 *
 * - The model's mistakes are fed back, not fatal: a call to an unknown tool or
 *   with arguments its Schema rejects comes back to the model as a failed
 *   tool result, and the model tries again (each attempt is a step of the
 *   budget). So does a tool's own failure when the tool is `recoverable`;
 *   any other failure ends the run with the tool's error.
 * - With an `output` Schema on the agent, the answer must be JSON that decodes
 *   with it; the model is told what is wrong and may repair its answer
 *   `agent.outputRepairs` times.
 * - On `stream()`, the model call streams: text deltas and tool calls reach the
 *   consumer as they arrive.
 * - Every model call goes through the run context: it is journaled with its
 *   request, response, tokens and cost, so replay needs no model and resume
 *   does not call it again.
 *
 * The hot path stays lean: the services a run's model calls need are read
 * once per run, the conversation is extended by each turn's new messages
 * (never rebuilt), the toolkit is built once per agent, and tool calls are
 * resolved by the runtime rather than by `effect/ai`'s `Chat`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import type * as AiError from "effect/ai/AiError"
import * as IdGenerator from "effect/ai/IdGenerator"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Model from "effect/ai/Model"
import * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as AiTelemetry from "effect/ai/Telemetry"
import type * as AiTool from "effect/ai/Tool"
import * as Toolkit from "effect/ai/Toolkit"
import { type Agent, decodeOutput } from "../services/Agent.js"
import * as Memory from "../services/Memory.js"
import { ModelTransport, type ModelTransportShape } from "../services/ModelTransport.js"
import {
  type Decision,
  Planner,
  PlannerFailed,
  type PlannerShape,
  type PlanStep,
  type RunState,
  type StepOutcome
} from "../services/Planner.js"
import type { ModelOutput, ModelToolCall } from "../services/RunEvent.js"
import * as SubAgent from "../internal/subAgent.js"

/**
 * How the planner names its model, instructs it, and what of the thread it remembers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The model's name in the journal and the price table, e.g.
   * `openai:gpt-4o-mini`. Default: from the provider layer (`effect/ai`'s
   * `Model.ProviderName` and `Model.ModelName`), else `"model"`.
   */
  readonly model?: string | undefined
  /** The system prompt when the agent has no `instructions`. */
  readonly instructions?: string | undefined
  /** How many earlier messages of the run's thread to show the model (default 20; 0: none). */
  readonly history?: number | undefined
  /** Whether to append the input and the answer to the thread's history (default true). */
  readonly remember?: boolean | undefined
}

// ---------------------------------------------------------------------------
// the conversation
// ---------------------------------------------------------------------------

/**
 * The messages of a run, in two forms kept side by side: `effect/ai` messages
 * for the model, and plain JSON for the journal (and for replay to compare).
 */
interface Conversation {
  readonly messages: Array<Prompt.Message>
  readonly json: Array<unknown>
  /** How many of the run's decisions are folded in. */
  decisions: number
  /** The JSON prompt of the run's last model call: an append-only array and how much of it was sent. */
  sent: { readonly json: ReadonlyArray<unknown>; readonly length: number } | undefined
}

/**
 * What a model call journals of its prompt: the messages after the ones it
 * shares with the previous call of the run (`prefix` of them). A
 * conversation re-sent every turn is then journaled once, not once per turn.
 * The arrays only grow, so a shared message is the same object at the same
 * index; only after a repair exchange (another array) are they compared.
 */
const promptDelta = (conversation: Conversation, json: ReadonlyArray<unknown>, length: number) => {
  const sent = conversation.sent
  let prefix = 0
  if (sent !== undefined) {
    const shared = Math.min(sent.length, length)
    if (sent.json === json) prefix = shared
    else while (prefix < shared && sent.json[prefix] === json[prefix]) prefix++
  }
  conversation.sent = { json, length }
  return { prefix, messages: json.slice(prefix, length) }
}


const addText = (conversation: Conversation, role: "system" | "user" | "assistant", text: string) => {
  const message = role === "system"
    ? Prompt.makeMessage("system", { content: text })
    : Prompt.makeMessage(role, { content: [Prompt.makePart("text", { text })] })
  conversation.messages.push(message)
  conversation.json.push({ role, content: text })
}

/** A failed tool call, as the model sees it. */
const failureText = (outcome: Extract<StepOutcome, { readonly _tag: "Failed" | "Skipped" }>): string =>
  outcome._tag === "Skipped"
    ? `not run: step "${outcome.blockedBy}" did not succeed`
    : `${outcome.error._tag}: ${outcome.error.message}`

/** Folds a decision's tool calls and their outcomes into the conversation. */
const addTurn = (
  conversation: Conversation,
  steps: ReadonlyArray<PlanStep>,
  text: string | undefined,
  outcomes: ReadonlyMap<string, StepOutcome>
) => {
  const content: Array<Prompt.AssistantMessagePart> = []
  if (text !== undefined && text !== "") content.push(Prompt.makePart("text", { text }))
  const results: Array<Prompt.ToolResultPart> = []
  const calls: Array<unknown> = []
  const resultsJson: Array<unknown> = []
  for (const step of steps) {
    content.push(Prompt.makePart("tool-call", { id: step.id, name: step.tool, params: step.args, providerExecuted: false }))
    calls.push({ id: step.id, name: step.tool, params: step.args })
    const outcome = outcomes.get(step.id)
    const isFailure = outcome?._tag !== "Succeeded"
    const result = outcome === undefined
      ? "not run"
      : outcome._tag === "Succeeded"
      ? outcome.result ?? null
      : failureText(outcome)
    results.push(Prompt.makePart("tool-result", { id: step.id, name: step.tool, isFailure, result, providerExecuted: false }))
    resultsJson.push({ id: step.id, name: step.tool, isFailure, result })
  }
  conversation.messages.push(Prompt.makeMessage("assistant", { content }))
  conversation.messages.push(Prompt.makeMessage("tool", { content: results }))
  conversation.json.push(text === undefined || text === "" ? { role: "assistant", toolCalls: calls } : {
    role: "assistant",
    content: text,
    toolCalls: calls
  })
  conversation.json.push({ role: "tool", results: resultsJson })
}

const defaultInstructions = (agent: Agent<unknown, unknown>) =>
  `You are ${agent.name}${agent.description === "" ? "" : `: ${agent.description}`}. ` +
  `Use the tools when they help; call several at once when they do not depend on each other. ` +
  `When you have what you need, answer the user directly.`

const outputInstructions = (schema: Schema.Top): string => {
  const document = Schema.toJsonSchemaDocument(schema)
  const jsonSchema = Object.keys(document.definitions).length > 0
    ? { ...document.schema, $defs: document.definitions }
    : document.schema
  return `\n\nYour final answer must be only JSON (no prose around it) that matches this JSON Schema:\n${
    JSON.stringify(jsonSchema)
  }`
}

// ---------------------------------------------------------------------------
// the model's mistakes
// ---------------------------------------------------------------------------

/**
 * Failures the model can act on, always shown to it: its own mistakes, and a
 * tool the policy denies to the run's principal (the model may find another way).
 */
const modelMistakes = new Set(["ToolNotFound", "ToolArgumentsInvalid", "PlanInvalid", "ToolDenied"])
/** Failures of the tool itself: shown to the model when the tool is `recoverable`. */
const toolFailures = new Set(["ToolFailed", "ToolTimeout"])

/** The first failure of the last turn that the model may not see and retry, if any. */
const fatalFailure = (state: RunState, steps: ReadonlyArray<PlanStep>): StepOutcome | undefined => {
  for (const step of steps) {
    const outcome = state.outcomes.get(step.id)
    if (outcome?._tag !== "Failed") continue
    const tag = outcome.error._tag
    if (modelMistakes.has(tag)) continue
    const recoverable = state.agent.registry.entries.get(step.tool)?.tool.recoverable === true
    const defect = (outcome.error.data as { readonly defect?: unknown } | undefined)?.defect === true
    if (recoverable && toolFailures.has(tag) && !defect) continue
    return outcome
  }
  return undefined
}

// ---------------------------------------------------------------------------
// model calls
// ---------------------------------------------------------------------------

/** The agent's tools for the model. Their handlers never run: the runtime executes tool calls. */
type AgentToolkit = Toolkit.WithHandler<Record<string, AiTool.Any>>

const toolkits = new WeakMap<Agent<unknown, unknown>, AgentToolkit>()

const toolkitOf = (agent: Agent<unknown, unknown>): AgentToolkit => {
  let toolkit = toolkits.get(agent)
  if (toolkit === undefined) {
    toolkit = Toolkit.make(...agent.tools.map((tool) => tool.ai)) as unknown as AgentToolkit
    toolkits.set(agent, toolkit)
  }
  return toolkit
}

const toolNames = new WeakMap<Agent<unknown, unknown>, ReadonlyArray<string>>()

const toolNamesOf = (agent: Agent<unknown, unknown>): ReadonlyArray<string> => {
  let names = toolNames.get(agent)
  if (names === undefined) {
    names = agent.tools.map((tool) => tool.name)
    toolNames.set(agent, names)
  }
  return names
}

const modelFailed = (error: AiError.AiError | Schema.SchemaError) =>
  new PlannerFailed({ reason: `the model call failed: ${error.message}`, cause: error })

const tokens = (usage: { readonly inputTokens: { readonly total?: number | undefined }; readonly outputTokens: { readonly total?: number | undefined } }) => ({
  inputTokens: usage.inputTokens.total ?? 0,
  outputTokens: usage.outputTokens.total ?? 0
})

const toolCallOf = (part: { readonly id: string; readonly name: string; readonly params: unknown }): ModelToolCall => ({
  id: part.id,
  name: part.name,
  params: part.params
})

const generate = (
  model: LanguageModel.LanguageModel,
  prompt: Prompt.Prompt,
  toolkit: AgentToolkit
): Effect.Effect<ModelOutput, PlannerFailed> =>
  model.generateText({
    prompt,
    toolkit,
    disableToolCallResolution: true,
    toolCallValidation: "deferred"
  }).pipe(
    Effect.map((response): ModelOutput => ({
      text: response.text,
      toolCalls: response.toolCalls.map(toolCallOf),
      finishReason: response.finishReason,
      usage: tokens(response.usage)
    })),
    Effect.mapError(modelFailed)
  ) as Effect.Effect<ModelOutput, PlannerFailed> // tool handlers never run, so nothing they require is needed

/** The same call, streamed: deltas go to the run's consumer as they arrive. */
const generateStreaming = (
  model: LanguageModel.LanguageModel,
  prompt: Prompt.Prompt,
  toolkit: AgentToolkit,
  state: RunState
): Effect.Effect<ModelOutput, PlannerFailed> =>
  Effect.suspend(() => {
    let text = ""
    const toolCalls: Array<ModelToolCall> = []
    let finishReason = "unknown"
    let usage = { inputTokens: 0, outputTokens: 0 }
    return model.streamText({
      prompt,
      toolkit,
      disableToolCallResolution: true,
      toolCallValidation: "deferred"
    }).pipe(
      Stream.runForEach((part) =>
        Effect.sync(() => {
          switch (part.type) {
            case "text-delta":
              text += part.delta
              state.context.textDelta(part.delta)
              break
            case "tool-call": {
              const call = toolCallOf(part)
              toolCalls.push(call)
              state.context.toolCallDelta(call)
              break
            }
            case "finish":
              finishReason = part.reason
              usage = tokens(part.usage)
              break
          }
        })
      ),
      Effect.map((): ModelOutput => ({ text, toolCalls, finishReason, usage })),
      Effect.mapError(modelFailed)
    ) as Effect.Effect<ModelOutput, PlannerFailed> // as in generate
  })

// -- the direct path -----------------------------------------------------------

/**
 * The provider's own transport, when the planner may call it directly: it is
 * there, and nothing observes model spans (no exporting tracer, no `effect/ai`
 * span transformer), so skipping `LanguageModel`'s per-call work is invisible.
 * A run's direct calls share its offered tools and one span: the transport
 * needs a span to annotate, and none of them is ever seen.
 */
interface Direct {
  readonly transport: ModelTransportShape
  readonly tools: ReadonlyArray<AiTool.Any>
  readonly span: Tracer.Span
}

const directOf = (toolkit: AgentToolkit) =>
  Effect.map(Effect.context<never>(), (context): Direct | undefined => {
    const transport = Context.getOrUndefined(context, ModelTransport)
    if (transport === undefined) return undefined
    if (Context.get(context, Tracer.Tracer) !== Tracer.nativeTracer) return undefined
    if (Context.getOrUndefined(context, AiTelemetry.CurrentSpanTransformer) !== undefined) return undefined
    const span = new Tracer.NativeSpan({
      name: "LanguageModel",
      parent: Option.fromUndefinedOr(Context.getOrUndefined(context, Tracer.ParentSpan)),
      annotations: Context.empty(),
      links: [],
      startTime: 0n,
      kind: "client",
      sampled: false
    })
    return { transport, tools: Object.values(toolkit.tools), span }
  })

const textFormat = { type: "text" } as const

const providerOptions = (prompt: Prompt.Prompt, direct: Direct): LanguageModel.ProviderOptions => ({
  prompt,
  tools: direct.tools,
  responseFormat: textFormat,
  toolChoice: "auto",
  span: direct.span,
  previousResponseId: undefined,
  incrementalPrompt: undefined,
  toolCallValidation: "deferred"
})

const usageOf = (usage: typeof Response.Usage.Encoded) => ({
  inputTokens: usage.inputTokens.total ?? 0,
  outputTokens: usage.outputTokens.total ?? 0
})

/**
 * {@link generate} through the provider's transport: its encoded parts are read
 * directly. Suspended: a transport may start the call when asked for it, and a
 * recording may answer the call instead.
 */
const generateDirect = (direct: Direct, prompt: Prompt.Prompt) =>
  Effect.suspend(() => direct.transport.generateText(providerOptions(prompt, direct))).pipe(
    Effect.map((parts): ModelOutput => {
      let text = ""
      const toolCalls: Array<ModelToolCall> = []
      let finishReason = "unknown"
      let usage = { inputTokens: 0, outputTokens: 0 }
      for (const part of parts) {
        if (part.type === "text") text += part.text
        else if (part.type === "tool-call" && part.providerExecuted !== true) toolCalls.push(toolCallOf(part))
        else if (part.type === "finish") {
          finishReason = part.reason
          usage = usageOf(part.usage)
        }
      }
      return { text, toolCalls, finishReason, usage }
    }),
    Effect.provideService(IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator),
    Effect.mapError(modelFailed)
  )

/** {@link generateStreaming} through the provider's transport. */
const generateStreamingDirect = (direct: Direct, prompt: Prompt.Prompt, state: RunState) =>
  Effect.suspend(() => {
    let text = ""
    const toolCalls: Array<ModelToolCall> = []
    let finishReason = "unknown"
    let usage = { inputTokens: 0, outputTokens: 0 }
    return direct.transport.streamText(providerOptions(prompt, direct)).pipe(
      Stream.runForEach((part) =>
        Effect.sync(() => {
          if (part.type === "text-delta") {
            text += part.delta
            state.context.textDelta(part.delta)
          } else if (part.type === "tool-call" && part.providerExecuted !== true) {
            const call = toolCallOf(part)
            toolCalls.push(call)
            state.context.toolCallDelta(call)
          } else if (part.type === "finish") {
            finishReason = part.reason
            usage = usageOf(part.usage)
          }
        })
      ),
      Effect.map((): ModelOutput => ({ text, toolCalls, finishReason, usage })),
      Effect.provideService(IdGenerator.IdGenerator, IdGenerator.defaultIdGenerator),
      Effect.mapError(modelFailed)
    )
  })

/** The decision to run a response's tool calls. */
const runSteps = (state: RunState, output: ModelOutput): Decision => {
  const handoff = handoffOf(state, output.toolCalls)
  if (handoff !== undefined) return handoff
  const steps = stepsOf(state, output.toolCalls)
  return output.text === "" ? { _tag: "RunSteps", steps } : { _tag: "RunSteps", steps, text: output.text }
}

/** A call of a `transfer_to_<agent>` tool (`Agent.handoff`): the model hands the run over (other calls are dropped). */
const handoffOf = (state: RunState, calls: ReadonlyArray<ModelToolCall>): Decision | undefined => {
  for (const call of calls) {
    const spec = SubAgent.specOf(state.agent.registry.entries.get(call.name)?.tool)
    if (spec === undefined || !spec.handoff) continue
    const input = (call.params as { readonly input?: unknown } | null)?.input
    return typeof input === "string" && input !== ""
      ? { _tag: "Handoff", agent: spec.agent.name, input }
      : { _tag: "Handoff", agent: spec.agent.name }
  }
  return undefined
}

/** What a run's turns share, read from its context on the first turn. */
interface Session {
  readonly model: LanguageModel.LanguageModel
  readonly direct: Direct | undefined
  readonly memory: Memory.MemoryShape | undefined
  readonly label: string
  readonly toolkit: AgentToolkit
  readonly tools: ReadonlyArray<string>
  readonly conversation: Conversation
}

/** Each run's session, for as long as its state lives. */
const sessions = new WeakMap<RunState, Session>()

/** Step ids for a response's tool calls: the call ids, made unique within the run. */
const stepsOf = (state: RunState, calls: ReadonlyArray<ModelToolCall>): Array<PlanStep> => {
  const used = new Set<string>()
  return calls.map((call, index) => {
    let id = call.id === "" ? `call_${state.turn}_${index}` : call.id
    if (state.outcomes.has(id) || used.has(id)) id = `${id}~${state.turn}.${index}`
    used.add(id)
    return { id, tool: call.name, args: call.params }
  })
}

// ---------------------------------------------------------------------------
// the planner
// ---------------------------------------------------------------------------

const modelLabel = Effect.gen(function*() {
  const provider = yield* Effect.serviceOption(Model.ProviderName)
  const name = yield* Effect.serviceOption(Model.ModelName)
  if (Option.isNone(name)) return "model"
  return Option.isSome(provider) && provider.value !== name.value ? `${provider.value}:${name.value}` : name.value
})

/**
 * Makes an LLM planner; it needs a `LanguageModel` (and uses `Memory` when one
 * is provided and the run has a thread).
 *
 * **Example** (An assistant with a calculator)
 *
 * ```ts
 * const assistant = Agent.make({
 *   name: "assistant",
 *   instructions: "You are a concise assistant.",
 *   tools: [calculator],
 *   planner: LlmPlanner.make()
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Options): PlannerShape<LanguageModel.LanguageModel> => {
  const historySize = options?.history ?? 20
  const remember = options?.remember ?? true

  /** The conversation of the run's first turn: instructions, the thread's history, the input. */
  const openConversation = (state: RunState, history: ReadonlyArray<Memory.Message>): Conversation => {
    const conversation: Conversation = { messages: [], json: [], decisions: 0, sent: undefined }
    const agent = state.agent
    const instructions = (agent.instructions ?? options?.instructions ?? defaultInstructions(agent)) +
      (agent.output === undefined ? "" : outputInstructions(agent.output))
    addText(conversation, "system", instructions)
    for (const message of history) {
      if (message.role === "user" || message.role === "assistant") addText(conversation, message.role, message.content)
    }
    addText(conversation, "user", state.input)
    return conversation
  }

  /** The thread's earlier messages, read once per run and journaled (replay sees the same history). */
  const historyOf = (state: RunState, memory: Memory.MemoryShape | undefined) =>
    state.turn !== 1 || historySize === 0 || state.threadId === undefined || memory === undefined
      ? Effect.succeed<ReadonlyArray<Memory.Message>>([])
      : state.context.journaled(
        "history",
        memory.history(Memory.thread(state.threadId), { last: historySize }).pipe(
          Effect.mapError((error) => new PlannerFailed({ reason: `cannot read the thread's history: ${error.message}` }))
        )
      )

  /** Reads the run's services and its thread's history once, on the run's first turn. */
  const openSession = (state: RunState) =>
    Effect.gen(function*() {
      const model = yield* LanguageModel.LanguageModel
      const toolkit = toolkitOf(state.agent)
      const direct = yield* directOf(toolkit)
      const memory = Option.getOrUndefined(yield* Effect.serviceOption(Memory.Memory))
      const label = options?.model ?? (yield* modelLabel)
      const history = yield* historyOf(state, memory)
      const session: Session = {
        model,
        direct,
        memory,
        label,
        toolkit,
        tools: toolNamesOf(state.agent),
        conversation: openConversation(state, history)
      }
      sessions.set(state, session)
      return session
    })

  const rememberAnswer = (state: RunState, memory: Memory.MemoryShape | undefined, answer: string) =>
    !remember || state.threadId === undefined || memory === undefined
      ? Effect.void
      : state.context.journaled(
        "remember",
        memory.append(Memory.thread(state.threadId), [
          { role: "user", content: state.input },
          { role: "assistant", content: answer }
        ]).pipe(Effect.mapError((error) => new PlannerFailed({ reason: `cannot save the conversation: ${error.message}` })))
      )

  /** One model call of the turn, with the messages of `from` (the conversation, or a repair exchange). */
  const call = (state: RunState, session: Session, from: Conversation) => {
    const { messages, prefix } = promptDelta(session.conversation, from.json, from.json.length)
    const { direct, model, toolkit } = session
    // A transport reads the prompt during the call, and the conversation grows only after it (see
    // `ModelTransport`): the direct path passes the messages uncopied, which keeps a turn's cost flat as the
    // run grows. `LanguageModel` and what observes it may keep the prompt: it gets a copy.
    const prompt = Prompt.fromMessages(direct === undefined ? from.messages.slice() : from.messages)
    const live = direct === undefined
      ? state.context.streaming ? generateStreaming(model, prompt, toolkit, state) : generate(model, prompt, toolkit)
      : state.context.streaming
      ? generateStreamingDirect(direct, prompt, state)
      : generateDirect(direct, prompt)
    return state.context.callModel(session.label, { prefix, messages, tools: session.tools }, live)
  }

  /** Turns the model's response into a decision; an answer that does not decode is repaired first. */
  const decideOn = (state: RunState, session: Session, output: ModelOutput) => {
    if (output.toolCalls.length > 0) return Effect.succeed(runSteps(state, output))
    return Effect.gen(function*() {
      // A repair exchange is part of this turn only: later turns do not need it.
      let repair: Conversation | undefined
      for (let attempt = 0; output.toolCalls.length === 0; attempt++) {
        const decoded = decodeOutput(state.agent, output.text)
        if (decoded._tag === "Success" || attempt >= state.agent.outputRepairs) break
        repair ??= {
          messages: session.conversation.messages.slice(),
          json: session.conversation.json.slice(),
          decisions: 0,
          sent: undefined
        }
        addText(repair, "assistant", output.text)
        addText(
          repair,
          "user",
          `Your answer does not match the required output: ${decoded.issue}. Reply with only the corrected JSON.`
        )
        output = yield* call(state, session, repair)
      }
      if (output.toolCalls.length > 0) return runSteps(state, output)
      yield* rememberAnswer(state, session.memory, output.text)
      return { _tag: "Answer", answer: output.text } satisfies Decision
    })
  }

  /** A turn: the conversation extended by the turns since the last call, one model call, its decision. */
  const turn = (state: RunState, session: Session) => {
    const { conversation } = session
    const { decisions } = state
    for (; conversation.decisions < decisions.length; conversation.decisions++) {
      const decision = decisions[conversation.decisions]!
      if (decision._tag === "RunSteps") addTurn(conversation, decision.steps, decision.text, state.outcomes)
    }
    return Effect.flatMap(call(state, session, conversation), (output) => decideOn(state, session, output))
  }

  return {
    decide: (state) => {
      const last = state.decisions[state.decisions.length - 1]
      if (last?._tag === "RunSteps") {
        const fatal = fatalFailure(state, last.steps)
        if (fatal !== undefined && fatal._tag === "Failed") {
          return Effect.succeed<Decision>({ _tag: "Fail", reason: fatal.error.message, stepId: fatal.id })
        }
      }
      const session = sessions.get(state)
      return session === undefined
        ? Effect.flatMap(openSession(state), (opened) => turn(state, opened))
        : turn(state, session)
    }
  }
}

/**
 * The {@link Planner} service as an LLM planner over the `LanguageModel` in
 * context, for agents that bring no planner of their own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Planner, never, LanguageModel.LanguageModel> =>
  Layer.effect(
    Planner,
    Effect.map(Effect.context<LanguageModel.LanguageModel>(), (context): PlannerShape => {
      const planner = make(options)
      return { decide: (state) => Effect.provide(planner.decide(state), context) }
    })
  )
