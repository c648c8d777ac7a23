/**
 * OpenTelemetry for Graphent runs: traces, metrics, and their export.
 *
 * **Spans.** When a tracer that exports spans is installed (any layer of this
 * module that exports traces), every run is a tree of spans:
 *
 * - `graphent.run` — the run (`graphent.run_id`, `graphent.agent`, and the
 *   GenAI attributes `gen_ai.operation.name = invoke_agent`,
 *   `gen_ai.agent.name`, `gen_ai.conversation.id` for a thread);
 * - `graphent.decide` — one planner decision (`graphent.turn`,
 *   `graphent.decision`, `graphent.steps`); a model call the planner makes is
 *   its child;
 * - `graphent.step` — one step (`graphent.step_id`, `graphent.tool`): its
 *   journaling and its tool call;
 * - `execute_tool <tool>` — the tool call, after the GenAI conventions
 *   (`gen_ai.operation.name = execute_tool`, `gen_ai.tool.name`,
 *   `gen_ai.tool.call.id`; `error.type` when it fails);
 * - `LanguageModel.generateText` / `streamText` / `generateObject` — a model
 *   call (client span, from `effect/ai`), with the GenAI attributes the
 *   providers set: `gen_ai.provider.name`, `gen_ai.operation.name = chat`,
 *   `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.response.id`,
 *   `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens`,
 *   `gen_ai.usage.output_tokens`.
 *
 * Every span of a run carries `graphent.run_id`. Payloads — the run's input
 * and answer (`graphent.input`, `graphent.answer`), decisions
 * (`graphent.decision.payload`), tool arguments and results
 * (`gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`), prompts and
 * completions (`gen_ai.system_instructions`, `gen_ai.input.messages`,
 * `gen_ai.output.messages`) — are recorded only when enabled
 * ({@link layerPayloads}, `GRAPHENT_OTEL_PAYLOADS=true`), each cut at 16 KB.
 *
 * **Metrics.** {@link layerMetrics} records every run into Effect `Metric`s
 * ({@link metrics}): runs started / finished / failed by agent, run, decision,
 * step and tool latency histograms, tool errors by tag, model calls, tokens
 * and cost. They are exported over OTLP with the traces, and
 * {@link prometheusText} renders them for a Prometheus `/metrics` endpoint.
 *
 * **Export.** {@link layerOtlp} sends traces and metrics over OTLP/HTTP
 * (protobuf or JSON) with Effect's own exporter — no OpenTelemetry SDK
 * needed. {@link layerOtel} hands spans and metrics to OpenTelemetry SDK span
 * processors and metric readers through `@effect/opentelemetry` (an
 * `InMemorySpanExporter` in tests, or a pipeline of your own).
 * {@link layerConfig} reads the standard `OTEL_*` variables: with
 * `OTEL_EXPORTER_OTLP_ENDPOINT` set it exports, otherwise it does nothing.
 *
 * With no layer of this module a run creates no span beyond the cheap
 * `graphent.run` of the native tracer, and records no metric.
 *
 * The exporters are loaded when a layer that needs them is built, not when
 * this module is imported: importing Graphent stays fast.
 *
 * @since 0.1.0
 */
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as AiTelemetry from "effect/ai/Telemetry"
import { CurrentRunObserver, maxPayloadLength, Payloads, payloadText, type RunObserver } from "../internal/telemetry.js"
import type { RunEvent } from "../services/RunEvent.js"
import { type Wired, wires } from "../services/Wired.js"
import { version } from "../version.js"

export {
  /**
   * Watches one run: called when the run starts, it returns the function
   * that sees each event the run publishes (or `undefined` to skip the run).
   *
   * @since 0.1.0
   * @category models
   */
  type RunObserver,
  /**
   * The observer of runs (none by default). {@link layerMetrics} installs the
   * metrics observer; provide your own to watch runs some other way.
   *
   * @since 0.1.0
   * @category references
   */
  CurrentRunObserver,
  /**
   * Longest payload attribute, in characters.
   *
   * @since 0.1.0
   * @category models
   */
  maxPayloadLength,
  /**
   * Whether spans carry payloads (default `false`).
   *
   * @since 0.1.0
   * @category references
   */
  Payloads
}

// ---------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------

/** Latency buckets, in seconds: 1 ms to 5 minutes. */
const secondsBuckets: ReadonlyArray<number> = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  120,
  300
]

/**
 * The metrics of runs, by name (Prometheus style; OTLP carries the same
 * names). Labels: `agent` on all; `outcome` (`completed` / `failed` /
 * `interrupted` for runs, `succeeded` / `failed` for steps and tools),
 * `error` (the error's tag), `tool`, `model` (`provider:model`) and `type`
 * (`input` / `output` tokens) where named.
 *
 * A step is one tool call, so the step and tool histograms time the same
 * interval (from `StepStarted` to the step's outcome, retries included),
 * sliced by agent and by tool. A decision is timed from the end of the
 * previous turn (or the run's start) to the `DecisionMade` event: the
 * planner's time, its model calls included.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  runsStarted: { name: "graphent_runs_started_total", description: "Runs started, by agent." },
  runsFinished: {
    name: "graphent_runs_finished_total",
    description: "Runs finished, by agent and outcome (completed, failed, interrupted)."
  },
  runsFailed: { name: "graphent_runs_failed_total", description: "Runs failed, by agent and error tag." },
  runDuration: {
    name: "graphent_run_duration_seconds",
    description: "Run latency in seconds, by agent and outcome."
  },
  decisionDuration: {
    name: "graphent_decision_duration_seconds",
    description: "Planner decision latency in seconds (model calls included), by agent."
  },
  stepDuration: {
    name: "graphent_step_duration_seconds",
    description: "Step latency in seconds (retries included), by agent and outcome."
  },
  stepsSkipped: {
    name: "graphent_steps_skipped_total",
    description: "Steps skipped because a step they depend on did not succeed, by agent."
  },
  toolDuration: {
    name: "graphent_tool_duration_seconds",
    description: "Tool call latency in seconds (retries included), by agent, tool and outcome."
  },
  toolErrors: { name: "graphent_tool_errors_total", description: "Tool call failures, by agent, tool and error tag." },
  modelCalls: { name: "graphent_model_calls_total", description: "Model calls of planners, by agent and model." },
  modelCallDuration: {
    name: "graphent_model_call_duration_seconds",
    description: "Model call latency in seconds, by agent and model."
  },
  modelTokens: {
    name: "graphent_model_tokens_total",
    description: "Model tokens, by agent, model and type (input, output, cached_input: of the input, read from a prompt cache)."
  },
  modelCost: {
    name: "graphent_model_cost_total",
    description: "Cost of model calls from the price table (Pricing), by agent and model."
  }
} as const

type Labels = Readonly<Record<string, string>>

/** One metric per label set, made once and reused (a metric caches its series key). */
const family = <M>(make: (attributes: Labels) => M) => {
  const cache = new Map<string, M>()
  return (attributes: Labels): M => {
    let key = ""
    for (const name in attributes) key += `${attributes[name]}\u0000`
    let metric = cache.get(key)
    if (metric === undefined) {
      metric = make(attributes)
      cache.set(key, metric)
    }
    return metric
  }
}

const counter = (definition: { readonly name: string; readonly description: string }) =>
  family((attributes) =>
    Metric.counter(definition.name, { description: definition.description, attributes, incremental: true })
  )

const histogram = (definition: { readonly name: string; readonly description: string }) =>
  family((attributes) =>
    Metric.histogram(definition.name, { description: definition.description, attributes, boundaries: secondsBuckets })
  )

const runsStarted = counter(metrics.runsStarted)
const runsFinished = counter(metrics.runsFinished)
const runsFailed = counter(metrics.runsFailed)
const runDuration = histogram(metrics.runDuration)
const decisionDuration = histogram(metrics.decisionDuration)
const stepDuration = histogram(metrics.stepDuration)
const stepsSkipped = counter(metrics.stepsSkipped)
const toolDuration = histogram(metrics.toolDuration)
const toolErrors = counter(metrics.toolErrors)
const modelCalls = counter(metrics.modelCalls)
const modelCallDuration = histogram(metrics.modelCallDuration)
const modelTokens = counter(metrics.modelTokens)
const modelCost = counter(metrics.modelCost)

/**
 * The run observer that records {@link metrics}. A replay is not observed; a
 * resumed run counts as a run started again.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metricsObserver: RunObserver = (context, agent) => {
  const byAgent = { agent }
  const started = runsStarted(byAgent)
  const decisions = decisionDuration(byAgent)
  const skipped = stepsSkipped(byAgent)
  const stepSucceeded = stepDuration({ agent, outcome: "succeeded" })
  const stepFailed = stepDuration({ agent, outcome: "failed" })
  /** When the current turn began: the run's start, then the end of each turn's last step. */
  let turnStartedAt: number | undefined
  const finished = (outcome: string, durationMs: number) => {
    runsFinished({ agent, outcome }).updateUnsafe(1, context)
    runDuration({ agent, outcome }).updateUnsafe(durationMs / 1000, context)
  }
  return (event: RunEvent) => {
    switch (event._tag) {
      case "RunStarted":
        started.updateUnsafe(1, context)
        turnStartedAt = event.at
        break
      case "RunResumed":
        turnStartedAt = event.at
        break
      case "DecisionMade":
        if (turnStartedAt !== undefined) decisions.updateUnsafe(Math.max(0, event.at - turnStartedAt) / 1000, context)
        turnStartedAt = event.at
        break
      case "StepSucceeded":
        stepSucceeded.updateUnsafe(event.durationMs / 1000, context)
        toolDuration({ agent, tool: event.tool, outcome: "succeeded" }).updateUnsafe(event.durationMs / 1000, context)
        turnStartedAt = event.at
        break
      case "StepFailed":
        stepFailed.updateUnsafe(event.durationMs / 1000, context)
        toolDuration({ agent, tool: event.tool, outcome: "failed" }).updateUnsafe(event.durationMs / 1000, context)
        toolErrors({ agent, tool: event.tool, error: event.error._tag }).updateUnsafe(1, context)
        turnStartedAt = event.at
        break
      case "StepSkipped":
        skipped.updateUnsafe(1, context)
        turnStartedAt = event.at
        break
      case "ModelCalled": {
        const byModel = { agent, model: event.model }
        modelCalls(byModel).updateUnsafe(1, context)
        modelCallDuration(byModel).updateUnsafe(event.durationMs / 1000, context)
        const usage = event.response.usage
        modelTokens({ agent, model: event.model, type: "input" }).updateUnsafe(usage.inputTokens, context)
        modelTokens({ agent, model: event.model, type: "output" }).updateUnsafe(usage.outputTokens, context)
        // Of the input tokens, those read from the provider's prompt cache (also counted in `input`).
        if (usage.cachedInputTokens !== undefined) {
          modelTokens({ agent, model: event.model, type: "cached_input" }).updateUnsafe(usage.cachedInputTokens, context)
        }
        // And those written to it (also counted in `input`).
        if (usage.cacheWriteInputTokens !== undefined) {
          modelTokens({ agent, model: event.model, type: "cache_write_input" }).updateUnsafe(usage.cacheWriteInputTokens, context)
        }
        if (event.cost !== undefined) modelCost(byModel).updateUnsafe(event.cost, context)
        break
      }
      case "RunCompleted":
        finished("completed", event.durationMs)
        break
      case "RunFailed":
        finished("failed", event.durationMs)
        runsFailed({ agent, error: event.error._tag }).updateUnsafe(1, context)
        break
      case "RunInterrupted":
        finished("interrupted", event.durationMs)
        break
    }
  }
}

/**
 * Records every run into {@link metrics} (in the `Metric.MetricRegistry` of
 * the run's context). Nothing is exported by this layer alone: add
 * {@link layerOtlp} / {@link layerOtel}, or serve {@link prometheusText}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMetrics: Layer.Layer<Wired<"RunMetrics">> = Layer.succeed(CurrentRunObserver, metricsObserver).pipe(
  wires("RunMetrics")
)

/**
 * The metrics of the current context's registry in the Prometheus text
 * exposition format (Effect's `PrometheusMetrics`), for a `/metrics` endpoint.
 * Serve it with {@link prometheusContentType}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const prometheusText: Effect.Effect<string> = Effect.flatMap(
  Effect.promise(() => import("effect/observability/PrometheusMetrics")),
  (PrometheusMetrics) => PrometheusMetrics.format()
)

/**
 * The content type of {@link prometheusText}.
 *
 * @since 0.1.0
 * @category metrics
 */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// ---------------------------------------------------------------------------
// payloads
// ---------------------------------------------------------------------------

const partsOf = (parts: ReadonlyArray<Prompt.Part | Response.AllParts<any>>): Array<unknown> => {
  const out: Array<unknown> = []
  for (const part of parts) {
    switch (part.type) {
      case "text":
        out.push({ type: "text", content: part.text })
        break
      case "reasoning":
        out.push({ type: "reasoning", content: part.text })
        break
      case "tool-call":
        out.push({ type: "tool_call", id: part.id, name: part.name, arguments: part.params })
        break
      case "tool-result":
        out.push({ type: "tool_call_response", id: part.id, response: part.result })
        break
      case "file":
        out.push({ type: "file", mime_type: part.mediaType })
        break
      default:
        break
    }
  }
  return out
}

/** The prompt and the response of a model call, as the GenAI conventions shape them (JSON). */
const modelPayloads: AiTelemetry.SpanTransformer = ({ prompt, response, span }) => {
  const system: Array<unknown> = []
  const input: Array<unknown> = []
  for (const message of prompt.content) {
    if (message.role === "system") system.push({ type: "text", content: message.content })
    else input.push({ role: message.role, parts: partsOf(message.content) })
  }
  if (system.length > 0) span.attribute("gen_ai.system_instructions", payloadText(system))
  span.attribute("gen_ai.input.messages", payloadText(input))
  const finish = response.find((part) => part.type === "finish")
  span.attribute(
    "gen_ai.output.messages",
    payloadText([{
      role: "assistant",
      parts: partsOf(response),
      ...(finish === undefined ? {} : { finish_reason: finish.reason })
    }])
  )
}

/**
 * Whether spans carry payloads: the run's input and answer, decisions, tool
 * arguments and results, and the prompts and completions of model calls (an
 * `effect/ai` span transformer; it replaces one provided earlier). Each
 * payload is JSON, cut at {@link maxPayloadLength} characters.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPayloads = (enabled: boolean): Layer.Layer<Wired<"TelemetryPayloads">> =>
  (enabled
    ? Layer.merge(Layer.succeed(Payloads, true), Layer.succeed(AiTelemetry.CurrentSpanTransformer, modelPayloads))
    : Layer.succeed(Payloads, false)).pipe(wires("TelemetryPayloads"))

// ---------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------

/**
 * What every exporting layer takes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The resource's `service.name`. Default `graphent`. */
  readonly serviceName?: string | undefined
  /** The resource's `service.version`. */
  readonly serviceVersion?: string | undefined
  /** More resource attributes. */
  readonly resourceAttributes?: Readonly<Record<string, string>> | undefined
  /** Record payloads on spans ({@link layerPayloads}). Default `false`. */
  readonly payloads?: boolean | undefined
}

/**
 * The OTLP wire format: protobuf (the OpenTelemetry default) or JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type Protocol = "http/protobuf" | "http/json"

/**
 * Where and how {@link layerOtlp} exports traces and metrics over OTLP/HTTP.
 *
 * @since 0.1.0
 * @category models
 */
export interface OtlpOptions extends Options {
  /**
   * The collector's base URL, e.g. `http://localhost:4318`: traces go to
   * `<endpoint>/v1/traces`, metrics to `<endpoint>/v1/metrics`.
   */
  readonly endpoint?: string | undefined
  /** The traces URL, when it is not `<endpoint>/v1/traces`. */
  readonly tracesEndpoint?: string | undefined
  /** The metrics URL, when it is not `<endpoint>/v1/metrics`. */
  readonly metricsEndpoint?: string | undefined
  /** Default `http/protobuf`. */
  readonly protocol?: Protocol | undefined
  /** Sent with every export (e.g. an API key of a hosted collector). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Export spans (default `true` when a traces URL is known). */
  readonly traces?: boolean | undefined
  /** Record run metrics and export them (default `true` when a metrics URL is known). */
  readonly metrics?: boolean | undefined
  /** How often buffered spans are sent. Default 5 seconds. */
  readonly tracesExportInterval?: Duration.Input | undefined
  /** How often metrics are sent. Default 60 seconds. */
  readonly metricsExportInterval?: Duration.Input | undefined
  /** How long closing the layer waits for the last export. Default 3 seconds. */
  readonly shutdownTimeout?: Duration.Input | undefined
}

const resourceOf = (options: Options) => ({
  serviceName: options.serviceName ?? "graphent",
  ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion }),
  attributes: { "graphent.version": version, ...options.resourceAttributes }
})

const signalUrl = (base: string, signal: "traces" | "metrics") => `${base.replace(/\/+$/, "")}/v1/${signal}`

/**
 * Exports traces and run metrics over OTLP/HTTP with Effect's own exporter
 * (`effect/observability`): spans in batches (every 5 s, and when the layer
 * closes), metrics every 60 s and when the layer closes. A collector that is
 * down does not fail the program: the exporter retries, then drops.
 *
 * **Example** (Send a run's spans to a local collector)
 *
 * ```ts
 * program.pipe(Effect.provide(Telemetry.layerOtlp({ endpoint: "http://localhost:4318", serviceName: "my-agents" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<Wired<"Telemetry">> => wires("Telemetry")(otlp(options))

const otlp = (options: OtlpOptions): Layer.Layer<never> => {
  const tracesUrl = options.tracesEndpoint ??
    (options.endpoint === undefined ? undefined : signalUrl(options.endpoint, "traces"))
  const metricsUrl = options.metricsEndpoint ??
    (options.endpoint === undefined ? undefined : signalUrl(options.endpoint, "metrics"))
  const traces = options.traces !== false && tracesUrl !== undefined
  const exportMetrics = options.metrics !== false && metricsUrl !== undefined
  if (!traces && !exportMetrics) return Layer.empty
  const exporters = Layer.unwrap(Effect.promise(async () => {
    const [OtlpTracer, OtlpMetrics, OtlpSerialization, FetchHttpClient] = await Promise.all([
      import("effect/observability/OtlpTracer"),
      import("effect/observability/OtlpMetrics"),
      import("effect/observability/OtlpSerialization"),
      import("effect/http/FetchHttpClient")
    ])
    const resource = resourceOf(options)
    const common = {
      resource,
      headers: options.headers,
      shutdownTimeout: options.shutdownTimeout
    }
    const tracer = traces
      ? OtlpTracer.layer({ ...common, url: tracesUrl!, exportInterval: options.tracesExportInterval })
      : Layer.empty
    const meter = exportMetrics
      ? OtlpMetrics.layer({ ...common, url: metricsUrl!, exportInterval: options.metricsExportInterval })
      : Layer.empty
    const serialization = options.protocol === "http/json"
      ? OtlpSerialization.layerJson
      : OtlpSerialization.layerProtobuf
    // What these layers provide besides the tracer (the exporters' flusher) stays out of the type.
    return Layer.mergeAll(tracer, meter).pipe(
      Layer.provide(serialization),
      Layer.provide(FetchHttpClient.layer)
    ) as unknown as Layer.Layer<never>
  }))
  return Layer.mergeAll(
    exporters,
    exportMetrics ? layerMetrics : Layer.empty,
    layerPayloads(options.payloads === true)
  )
}

/**
 * The OpenTelemetry SDK pieces {@link layerOtel} sends spans and metrics to.
 *
 * @since 0.1.0
 * @category models
 */
export interface OtelOptions extends Options {
  /** Where spans go: OpenTelemetry SDK span processors (e.g. a `SimpleSpanProcessor` over an exporter). */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
  /** Where run metrics go: OpenTelemetry SDK metric readers. With one, {@link layerMetrics} is on. */
  readonly metricReaders?: ReadonlyArray<MetricReader> | undefined
  /** How long closing the layer waits for the processors and readers to flush. Default 3 seconds. */
  readonly shutdownTimeout?: Duration.Input | undefined
}

/**
 * Hands spans and run metrics to an OpenTelemetry SDK pipeline through
 * `@effect/opentelemetry`: a tracer provider over `spanProcessors`, Effect's
 * metrics registered with `metricReaders`. The provider is not registered
 * globally; closing the layer flushes and shuts it down.
 *
 * **Example** (Spans in memory, for a test)
 *
 * ```ts
 * import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
 *
 * const exporter = new InMemorySpanExporter()
 * const layer = Telemetry.layerOtel({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
 * // read exporter.getFinishedSpans() before the layer closes: shutting down empties it
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtel = (options: OtelOptions): Layer.Layer<Wired<"Telemetry">> => wires("Telemetry")(otel(options))

const otel = (options: OtelOptions): Layer.Layer<never> => {
  const processors = options.spanProcessors ?? []
  const readers = options.metricReaders ?? []
  if (processors.length === 0 && readers.length === 0) return layerPayloads(options.payloads === true)
  const sdk = Layer.unwrap(Effect.promise(async () => {
    const [OtelTracer, OtelMetrics, Resource, SdkTraceNode] = await Promise.all([
      import("@effect/opentelemetry/OtelTracer"),
      import("@effect/opentelemetry/OtelMetrics"),
      import("@effect/opentelemetry/Resource"),
      import("@opentelemetry/sdk-trace-node")
    ])
    const shutdownTimeout = options.shutdownTimeout ?? "3 seconds"
    const provider = Layer.effect(
      OtelTracer.OtelTracerProvider,
      Effect.gen(function*() {
        const resource = yield* Resource.Resource
        return yield* Effect.acquireRelease(
          Effect.sync(() => new SdkTraceNode.NodeTracerProvider({ resource, spanProcessors: [...processors] })),
          (provider) =>
            Effect.promise(() => provider.forceFlush().finally(() => provider.shutdown())).pipe(
              Effect.timeoutOption(shutdownTimeout),
              Effect.ignore
            )
        )
      })
    )
    const tracer = processors.length > 0 ? OtelTracer.layer.pipe(Layer.provide(provider)) : Layer.empty
    const meter = readers.length > 0
      ? OtelMetrics.layer(() => readers as unknown as readonly [MetricReader, ...Array<MetricReader>], {
        shutdownTimeout
      })
      : Layer.empty
    const { attributes, ...resource } = resourceOf(options)
    // What these layers provide besides the tracer (the OpenTelemetry tracer service) stays out of the type.
    return Layer.mergeAll(tracer, meter).pipe(
      Layer.provide(Resource.layer({ ...resource, attributes }))
    ) as unknown as Layer.Layer<never>
  }))
  return Layer.mergeAll(sdk, readers.length > 0 ? layerMetrics : Layer.empty, layerPayloads(options.payloads === true))
}

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

const configError = (message: string) => new Config.ConfigError(new ConfigProvider.SourceError({ message }))

const optionalString = (name: string) =>
  Config.String(name).pipe(
    Config.map((value) => value.trim()),
    Config.withDefault("")
  )

/** `key=value,key2=value2`, values URL-encoded (the `OTEL_*_HEADERS` format). */
const parseKeyValues = (name: string, text: string): Effect.Effect<Record<string, string>, Config.ConfigError> => {
  const out: Record<string, string> = {}
  for (const item of text.split(",")) {
    if (item.trim() === "") continue
    const eq = item.indexOf("=")
    if (eq <= 0) return Effect.fail(configError(`${name}: "${item.trim()}" is not key=value`))
    try {
      out[decodeURIComponent(item.slice(0, eq).trim())] = decodeURIComponent(item.slice(eq + 1).trim())
    } catch {
      return Effect.fail(configError(`${name}: "${item.trim()}" is not URL-encoded`))
    }
  }
  return Effect.succeed(out)
}

const parseProtocol = (name: string, value: string): Effect.Effect<Protocol | undefined, Config.ConfigError> => {
  if (value === "") return Effect.succeed(undefined)
  if (value === "http/protobuf" || value === "http/json") return Effect.succeed(value)
  return Effect.fail(
    configError(`${name}: "${value}" is not supported; use http/protobuf or http/json (gRPC is not supported)`)
  )
}

const parseUrl = (name: string, value: string): Effect.Effect<string | undefined, Config.ConfigError> => {
  if (value === "") return Effect.succeed(undefined)
  try {
    const url = new URL(value)
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return Effect.fail(configError(`${name}: "${value}" is not an http(s) URL`))
    }
    return Effect.succeed(value)
  } catch {
    return Effect.fail(configError(`${name}: "${value}" is not a URL`))
  }
}

const parseMillis = (name: string, value: string): Effect.Effect<number | undefined, Config.ConfigError> => {
  if (value === "") return Effect.succeed(undefined)
  const ms = Number(value)
  return Number.isFinite(ms) && ms >= 0
    ? Effect.succeed(ms)
    : Effect.fail(configError(`${name}: "${value}" is not a number of milliseconds`))
}

const isNone = (value: string) => value.split(",").map((item) => item.trim().toLowerCase()).includes("none")

/**
 * The OTLP options the environment asks for, or `undefined` when it asks
 * for no export. Read by {@link layerConfig}.
 *
 * | variable | meaning |
 * |---|---|
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | the collector's base URL; unset: no export |
 * | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `..._METRICS_ENDPOINT` | one signal's full URL |
 * | `OTEL_EXPORTER_OTLP_PROTOCOL` (`..._TRACES_...`, `..._METRICS_...`) | `http/protobuf` (default) or `http/json` |
 * | `OTEL_EXPORTER_OTLP_HEADERS` | `key=value,...` sent with every export |
 * | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` | `none` turns a signal off |
 * | `OTEL_SDK_DISABLED` | `true`: no export at all |
 * | `OTEL_SERVICE_NAME` | the service name (default: the program's, e.g. `graphent`) |
 * | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...` resource attributes |
 * | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_METRIC_EXPORT_INTERVAL` | export intervals, ms |
 * | `OTEL_EXPORTER_OTLP_TIMEOUT` | how long the last export may take when the program ends, ms (default 3000) |
 * | `GRAPHENT_OTEL_PAYLOADS` | `true`: spans carry payloads |
 *
 * @since 0.1.0
 * @category configuration
 */
export const otlpOptionsFromConfig = (
  defaults?: Options & { readonly shutdownTimeout?: Duration.Input | undefined }
): Effect.Effect<OtlpOptions | undefined, Config.ConfigError> =>
  Effect.gen(function*() {
    const disabled = yield* Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false))
    if (disabled) return undefined
    const endpoint = yield* Effect.flatMap(
      optionalString("OTEL_EXPORTER_OTLP_ENDPOINT"),
      (value) => parseUrl("OTEL_EXPORTER_OTLP_ENDPOINT", value)
    )
    const tracesEndpoint = yield* Effect.flatMap(
      optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
      (value) => parseUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value)
    )
    const metricsEndpoint = yield* Effect.flatMap(
      optionalString("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
      (value) => parseUrl("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", value)
    )
    if (endpoint === undefined && tracesEndpoint === undefined && metricsEndpoint === undefined) return undefined
    const traces = !isNone(yield* optionalString("OTEL_TRACES_EXPORTER"))
    const exportMetrics = !isNone(yield* optionalString("OTEL_METRICS_EXPORTER"))
    // One protocol for both signals: the traces' (or the metrics') own setting, else the common one.
    const protocol = (yield* Effect.flatMap(
      optionalString("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
      (value) => parseProtocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", value)
    )) ??
      (yield* Effect.flatMap(
        optionalString("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"),
        (value) => parseProtocol("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", value)
      )) ??
      (yield* Effect.flatMap(
        optionalString("OTEL_EXPORTER_OTLP_PROTOCOL"),
        (value) => parseProtocol("OTEL_EXPORTER_OTLP_PROTOCOL", value)
      ))
    const headers = yield* Effect.flatMap(
      optionalString("OTEL_EXPORTER_OTLP_HEADERS"),
      (value) => parseKeyValues("OTEL_EXPORTER_OTLP_HEADERS", value)
    )
    const resourceAttributes = yield* Effect.flatMap(
      optionalString("OTEL_RESOURCE_ATTRIBUTES"),
      (value) => parseKeyValues("OTEL_RESOURCE_ATTRIBUTES", value)
    )
    const serviceName = (yield* optionalString("OTEL_SERVICE_NAME")) || resourceAttributes["service.name"] ||
      defaults?.serviceName || "graphent"
    const tracesInterval = yield* Effect.flatMap(
      optionalString("OTEL_BSP_SCHEDULE_DELAY"),
      (value) => parseMillis("OTEL_BSP_SCHEDULE_DELAY", value)
    )
    const metricsInterval = yield* Effect.flatMap(
      optionalString("OTEL_METRIC_EXPORT_INTERVAL"),
      (value) => parseMillis("OTEL_METRIC_EXPORT_INTERVAL", value)
    )
    const timeout = yield* Effect.flatMap(
      optionalString("OTEL_EXPORTER_OTLP_TIMEOUT"),
      (value) => parseMillis("OTEL_EXPORTER_OTLP_TIMEOUT", value)
    )
    const payloads = yield* Config.Boolean("GRAPHENT_OTEL_PAYLOADS").pipe(Config.withDefault(defaults?.payloads ?? false))
    const { "service.name": _, "service.version": serviceVersion, ...attributes } = resourceAttributes
    return {
      ...defaults,
      serviceName,
      serviceVersion: serviceVersion ?? defaults?.serviceVersion,
      resourceAttributes: { ...defaults?.resourceAttributes, ...attributes },
      endpoint,
      tracesEndpoint,
      metricsEndpoint,
      protocol,
      headers,
      traces,
      metrics: exportMetrics,
      payloads,
      tracesExportInterval: tracesInterval === undefined ? undefined : `${tracesInterval} millis`,
      metricsExportInterval: metricsInterval === undefined ? undefined : `${metricsInterval} millis`,
      shutdownTimeout: timeout === undefined ? defaults?.shutdownTimeout : `${timeout} millis`
    } satisfies OtlpOptions
  })

/**
 * {@link layerOtlp} as the standard OpenTelemetry environment variables ask
 * (see {@link otlpOptionsFromConfig}): with `OTEL_EXPORTER_OTLP_ENDPOINT`
 * set, traces and run metrics are exported; without it, nothing happens and
 * runs stay on the cheap path. A malformed variable is a `ConfigError`.
 *
 * **Example** (Export a CLI run to a local collector)
 *
 * ```sh
 * OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npx graphent run examples/wordstats.ts -i "a b c"
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  defaults?: Options & { readonly shutdownTimeout?: Duration.Input | undefined }
): Layer.Layer<Wired<"Telemetry">, Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(
      otlpOptionsFromConfig(defaults),
      (options) => options === undefined ? Layer.empty.pipe(wires("Telemetry")) : layerOtlp(options)
    )
  )

/**
 * The context a run's metrics are read from and written to; here for tests
 * and servers that keep a registry of their own.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metricRegistry = (registry: Metric.MetricRegistry): Layer.Layer<Wired<"MetricRegistry">> =>
  Layer.succeed(Metric.MetricRegistry, registry).pipe(wires("MetricRegistry"))
