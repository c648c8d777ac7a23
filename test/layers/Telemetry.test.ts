import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Metric, Redacted, Schema } from "effect"
import * as LanguageModel from "effect/ai/LanguageModel"
import {
  Agent,
  AgentRuntime,
  LlmPlanner,
  LocalRuntime,
  Planner,
  Pricing,
  type RunEvent,
  ScriptedModel,
  Telemetry,
  Tool
} from "graphent"
import { OpenAiProvider } from "graphent/openai"
import * as Testing from "graphent/testing"
import * as FakeServer from "../support/fakeModelServer.js"
import * as Collector from "../support/otlpCollector.js"
import * as Cli from "../support/cli.js"
import { withEnv } from "../support/env.js"

// ---------------------------------------------------------------------------
// fixtures
// ---------------------------------------------------------------------------

const add = Tool.make("add", {
  description: "Adds two numbers",
  parameters: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  success: Schema.Number,
  handler: ({ a, b }) => Effect.succeed(a + b)
})

class Boom extends Schema.TaggedError<Boom>()("Boom", { reason: Schema.String }) {}

const boom = Tool.make("boom", {
  description: "Always fails",
  parameters: Schema.Struct({}),
  success: Schema.String,
  handler: () => Effect.fail(new Boom({ reason: "no" }))
})

/** Turn 1 runs `add` and `boom` at once; turn 2 answers. */
const toolsAgent = Agent.make({
  name: "calc",
  tools: [add, boom],
  planner: Planner.scripted([
    Planner.runSteps([
      { id: "sum", tool: "add", args: { a: 1, b: 2 } },
      { id: "bad", tool: "boom", args: {} }
    ]),
    Planner.answer("3")
  ])
})

/** Asks the model on turn 1 (its text is the answer of turn 2), running `add` meanwhile. */
const modelAgent = Agent.make({
  name: "asker",
  tools: [add],
  planner: {
    decide: (state) =>
      state.turn === 1
        ? Effect.map(
          Effect.orDie(LanguageModel.generateText({ prompt: [{ role: "system", content: "Be brief." }, { role: "user", content: state.input }] })),
          (response) => Planner.runSteps([{ id: "sum", tool: "add", args: { a: response.text.length, b: 1 } }])
        )
        : Effect.succeed(Planner.answer(`the sum is ${JSON.stringify(state.steps[0]?._tag === "Succeeded" ? state.steps[0].result : null)}`))
  }
})

const completion = {
  id: "chatcmpl-7",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-test-2025",
  choices: [{ index: 0, message: { role: "assistant", content: "four" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 }
}

const modelLayer = (url: string) =>
  OpenAiProvider.layer({ model: "gpt-test", apiKey: Redacted.make("sk-test"), baseUrl: `${url}/v1`, retryDelay: "1 millis" })

const runtime = Layer.mergeAll(LocalRuntime.layerMemory, Testing.layerSequentialIds())

const byName = (spans: ReadonlyArray<ReadableSpan>, name: string): ReadableSpan => {
  const found = spans.filter((span) => span.name === name)
  assert.strictEqual(found.length, 1, `one span named ${name}, got ${spans.map((span) => span.name).join(", ")}`)
  return found[0]!
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId

/** Runs `effect` with spans going to an in-memory exporter; the spans are read before the layer closes (closing empties it). */
const withSpans = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  options?: { readonly payloads?: boolean }
) => {
  const exporter = new InMemorySpanExporter()
  return effect.pipe(
    Effect.map((value) => ({ value, spans: exporter.getFinishedSpans() })),
    Effect.provide(Telemetry.layerOtel({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
      payloads: options?.payloads
    }))
  )
}

// ---------------------------------------------------------------------------
// spans
// ---------------------------------------------------------------------------

describe("through @effect/opentelemetry: an in-memory span exporter, a metric reader", () => {
  it.effect("a run with tool calls: run > decide, step > execute_tool; run id everywhere; failures marked", () =>
    Effect.gen(function*() {
      const { spans, value: result } = yield* withSpans(
        AgentRuntime.run(toolsAgent, "1+2").pipe(Effect.provide(runtime))
      )
      assert.strictEqual(result.answer, "3")
      assert.deepStrictEqual(spans.map((span) => span.name).sort(), [
        "execute_tool add",
        "execute_tool boom",
        "graphent.decide",
        "graphent.decide",
        "graphent.run",
        "graphent.step",
        "graphent.step"
      ])
      const run = byName(spans, "graphent.run")
      assert.strictEqual(parentOf(run), undefined)
      assert.deepInclude(run.attributes, {
        "graphent.run_id": "run-1",
        "graphent.agent": "calc",
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "calc"
      })
      const runId = run.spanContext().spanId
      for (const span of spans) {
        assert.strictEqual(span.spanContext().traceId, run.spanContext().traceId, span.name)
        assert.strictEqual(span.attributes["graphent.run_id"], "run-1", span.name)
      }

      const decisions = spans.filter((span) => span.name === "graphent.decide")
        .sort((a, b) => Number(a.attributes["graphent.turn"]) - Number(b.attributes["graphent.turn"]))
      assert.deepStrictEqual(decisions.map((span) => parentOf(span)), [runId, runId])
      assert.deepInclude(decisions[0]!.attributes, { "graphent.turn": 1, "graphent.decision": "RunSteps", "graphent.steps": 2 })
      assert.deepInclude(decisions[1]!.attributes, { "graphent.turn": 2, "graphent.decision": "Answer" })

      const steps = spans.filter((span) => span.name === "graphent.step")
      for (const step of steps) assert.strictEqual(parentOf(step), runId)
      const stepOf = (id: string) => steps.find((span) => span.attributes["graphent.step_id"] === id)!
      const addCall = byName(spans, "execute_tool add")
      assert.strictEqual(parentOf(addCall), stepOf("sum").spanContext().spanId)
      assert.deepInclude(addCall.attributes, {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "gen_ai.tool.call.id": "sum"
      })
      assert.strictEqual(addCall.status.code, 1, "ok")

      const boomCall = byName(spans, "execute_tool boom")
      assert.strictEqual(parentOf(boomCall), stepOf("bad").spanContext().spanId)
      assert.strictEqual(boomCall.attributes["error.type"], "ToolFailed")
      assert.strictEqual(boomCall.status.code, 2, "the failed tool call's span has the error status")

      // Payloads are off by default.
      for (const span of spans) {
        for (const key of Object.keys(span.attributes)) {
          assert.notMatch(key, /arguments|result|payload|input|answer|messages/, `${span.name} carries ${key}`)
        }
      }
    }))

  it.effect("a model call: a client span under its decision, with the GenAI attributes", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json(completion)])
      const { spans, value: result } = yield* withSpans(
        AgentRuntime.run(modelAgent, "what is 2+2?").pipe(Effect.provide(Layer.mergeAll(runtime, modelLayer(server.url))))
      )
      assert.strictEqual(result.answer, "the sum is 5")
      const decisions = spans.filter((span) => span.name === "graphent.decide")
      const first = decisions.find((span) => span.attributes["graphent.turn"] === 1)!
      const model = byName(spans, "LanguageModel.generateText")
      assert.strictEqual(parentOf(model), first.spanContext().spanId)
      assert.strictEqual(model.kind, 2, "a client span")
      assert.deepInclude(model.attributes, {
        "graphent.run_id": "run-1",
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-test",
        "gen_ai.response.model": "gpt-test-2025",
        "gen_ai.response.id": "chatcmpl-7",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5
      })
      assert.deepStrictEqual(model.attributes["gen_ai.response.finish_reasons"], ["stop"])
      assert.notProperty(model.attributes, "gen_ai.input.messages")
      // The HTTP request to the provider is a child of the model call.
      const http = spans.filter((span) => parentOf(span) === model.spanContext().spanId)
      assert.isAtLeast(http.length, 1)
      // The tool step of turn 1 runs after the decision, beside it under the run.
      assert.strictEqual(parentOf(byName(spans, "graphent.step")), parentOf(first))
    }))

  it.effect("payloads, when enabled: input and answer, decisions, tool arguments and results, prompts and completions", () =>
    Effect.gen(function*() {
      const server = yield* FakeServer.make([FakeServer.json(completion)])
      const { spans } = yield* withSpans(
        AgentRuntime.run(modelAgent, "what is 2+2?").pipe(Effect.provide(Layer.mergeAll(runtime, modelLayer(server.url)))),
        { payloads: true }
      )
      const run = byName(spans, "graphent.run")
      assert.strictEqual(run.attributes["graphent.input"], "what is 2+2?")
      assert.strictEqual(run.attributes["graphent.answer"], "the sum is 5")
      const first = spans.find((span) => span.name === "graphent.decide" && span.attributes["graphent.turn"] === 1)!
      assert.deepStrictEqual(JSON.parse(String(first.attributes["graphent.decision.payload"])), {
        _tag: "RunSteps",
        steps: [{ id: "sum", tool: "add", args: { a: 4, b: 1 } }]
      })
      const call = byName(spans, "execute_tool add")
      assert.strictEqual(call.attributes["gen_ai.tool.call.arguments"], "{\"a\":4,\"b\":1}")
      assert.strictEqual(call.attributes["gen_ai.tool.call.result"], "5")
      const model = byName(spans, "LanguageModel.generateText")
      assert.deepStrictEqual(JSON.parse(String(model.attributes["gen_ai.system_instructions"])), [
        { type: "text", content: "Be brief." }
      ])
      assert.deepStrictEqual(JSON.parse(String(model.attributes["gen_ai.input.messages"])), [
        { role: "user", parts: [{ type: "text", content: "what is 2+2?" }] }
      ])
      assert.deepStrictEqual(JSON.parse(String(model.attributes["gen_ai.output.messages"])), [
        { role: "assistant", parts: [{ type: "text", content: "four" }], finish_reason: "stop" }
      ])
    }))

  it.effect("run metrics reach OpenTelemetry SDK metric readers", () =>
    Effect.gen(function*() {
      const reader = new PeriodicExportingMetricReader({
        exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
        exportIntervalMillis: 3_600_000
      })
      const collected = yield* Effect.gen(function*() {
        yield* AgentRuntime.run(toolsAgent, "1+2")
        return yield* Effect.promise(() => reader.collect())
      }).pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerOtel({ metricReaders: [reader] })),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      const metrics = collected.resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
      const started = metrics.find((metric) => metric.descriptor.name === "graphent_runs_started_total")
      assert.isDefined(started, metrics.map((metric) => metric.descriptor.name).join(", "))
      assert.deepStrictEqual(started!.dataPoints.map((point) => [point.attributes, point.value]), [[{ agent: "calc" }, 1]])
      assert.include(metrics.map((metric) => metric.descriptor.name), "graphent_tool_errors_total")
    }))

  it.effect("a long payload is cut, and says by how much", () => {
    const long = "x".repeat(Telemetry.maxPayloadLength + 10)
    const echo = Tool.make("echo", {
      description: "Echoes",
      parameters: Schema.Struct({ text: Schema.String }),
      success: Schema.String,
      handler: ({ text }) => Effect.succeed(text)
    })
    const agent = Agent.make({
      name: "echo",
      tools: [echo],
      planner: Planner.scripted([Planner.runSteps([{ id: "e", tool: "echo", args: { text: long } }]), Planner.answer("ok")])
    })
    return withSpans(AgentRuntime.run(agent, "go").pipe(Effect.provide(runtime)), { payloads: true }).pipe(
      Effect.map(({ spans }) => {
        const result = String(byName(spans, "execute_tool echo").attributes["gen_ai.tool.call.result"])
        assert.strictEqual(result, `${"x".repeat(Telemetry.maxPayloadLength)}... (10 more characters)`)
      })
    )
  })
})

// ---------------------------------------------------------------------------
// OTLP/HTTP export
// ---------------------------------------------------------------------------

describe("OTLP/HTTP export (Effect's exporter) to a loopback collector", () => {
  it.effect("JSON: the run's spans and metrics arrive when the layer closes", () =>
    Effect.gen(function*() {
      const collector = yield* Collector.make()
      yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerOtlp({
          endpoint: collector.url,
          protocol: "http/json",
          serviceName: "otlp-test",
          headers: { authorization: "Bearer collector-key" }
        })),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      const traces = collector.exports.filter((item) => item.path === "/v1/traces")
      assert.strictEqual(traces.length, 1)
      assert.strictEqual(traces[0]!.contentType, "application/json")
      assert.strictEqual(traces[0]!.headers.authorization, "Bearer collector-key")
      const decoded = Collector.decodeJsonTraces(traces[0]!.body)
      assert.strictEqual(decoded.resource["service.name"], "otlp-test")
      assert.strictEqual(decoded.resource["graphent.version"], "0.1.0")
      const run = decoded.spans.find((span) => span.name === "graphent.run")!
      assert.strictEqual(run.parentSpanId, "")
      assert.strictEqual(run.attributes["graphent.run_id"], "run-1")
      const boomCall = decoded.spans.find((span) => span.name === "execute_tool boom")!
      const boomStep = decoded.spans.find((span) => span.spanId === boomCall.parentSpanId)!
      assert.strictEqual(boomStep.name, "graphent.step")
      assert.strictEqual(boomStep.parentSpanId, run.spanId)
      assert.strictEqual(boomCall.statusCode, 2)
      assert.strictEqual(boomCall.attributes["error.type"], "ToolFailed")
      assert.strictEqual(decoded.spans.length, 7)

      const metrics = collector.exports.filter((item) => item.path === "/v1/metrics")
      assert.isAtLeast(metrics.length, 1)
      const body = JSON.parse(metrics[metrics.length - 1]!.body.toString("utf8"))
      const all = body.resourceMetrics[0].scopeMetrics.flatMap((scope: any) => scope.metrics)
      const started = all.find((metric: any) => metric.name === "graphent_runs_started_total")
      assert.deepStrictEqual(started.sum.dataPoints[0].attributes, [{ key: "agent", value: { stringValue: "calc" } }])
      assert.strictEqual(started.sum.dataPoints[0].asDouble, 1)
      const errors = all.find((metric: any) => metric.name === "graphent_tool_errors_total")
      assert.strictEqual(errors.sum.dataPoints[0].asDouble, 1)
    }))

  it.effect("protobuf (the default): decoded, the same span tree", () =>
    Effect.gen(function*() {
      const collector = yield* Collector.make()
      yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerOtlp({ endpoint: collector.url })),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      const traces = collector.exports.find((item) => item.path === "/v1/traces")!
      assert.strictEqual(traces.contentType, "application/x-protobuf")
      const decoded = Collector.decodeProtobufTraces(traces.body)
      assert.strictEqual(decoded.resource["service.name"], "graphent")
      const run = decoded.spans.find((span) => span.name === "graphent.run")!
      assert.strictEqual(run.parentSpanId, "")
      assert.strictEqual(run.traceId.length, 32)
      const addCall = decoded.spans.find((span) => span.name === "execute_tool add")!
      assert.strictEqual(addCall.traceId, run.traceId)
      assert.deepInclude(addCall.attributes, { "gen_ai.tool.name": "add", "graphent.run_id": "run-1" })
      const addStep = decoded.spans.find((span) => span.spanId === addCall.parentSpanId)!
      assert.strictEqual(addStep.parentSpanId, run.spanId)
      assert.strictEqual(
        decoded.spans.filter((span) => span.name === "graphent.decide" && span.parentSpanId === run.spanId).length,
        2
      )
      const metrics = collector.exports.find((item) => item.path === "/v1/metrics")!
      assert.strictEqual(metrics.contentType, "application/x-protobuf")
      assert.includeMembers([...Collector.decodeProtobufMetricNames(metrics.body)], [
        "graphent_runs_started_total",
        "graphent_runs_finished_total",
        "graphent_step_duration_seconds",
        "graphent_tool_duration_seconds",
        "graphent_tool_errors_total"
      ])
    }))

  // Live clock: the exporter retries and gives up in real time.
  it.live("a collector that is down does not fail the run", () =>
    Effect.gen(function*() {
      const url = yield* FakeServer.closedPortUrl
      const result = yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerOtlp({ endpoint: url, shutdownTimeout: "100 millis" }))
      )
      assert.strictEqual(result.answer, "3")
    }))

  it.live("a collector that answers 500 does not fail the run", () =>
    Effect.gen(function*() {
      const collector = yield* Collector.make({ status: 500 })
      const result = yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerOtlp({ endpoint: collector.url, shutdownTimeout: "100 millis" }))
      )
      assert.strictEqual(result.answer, "3")
      assert.isAtLeast(collector.exports.length, 1)
    }))
})

// ---------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------

describe("layerConfig (OTEL_* variables)", () => {
  it.effect("OTEL_EXPORTER_OTLP_ENDPOINT set: exports, with the service name and resource attributes asked for", () =>
    Effect.gen(function*() {
      const collector = yield* Collector.make()
      yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerConfig({ serviceName: "fallback" })),
        Effect.provide(withEnv({
          OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/`,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: "from-env",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test,team=agents%20core",
          OTEL_EXPORTER_OTLP_HEADERS: "x-api-key=k%3D1",
          OTEL_METRICS_EXPORTER: "none"
        })),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      assert.deepStrictEqual(collector.exports.map((item) => item.path), ["/v1/traces"])
      const exported = collector.exports[0]!
      assert.strictEqual(exported.headers["x-api-key"], "k=1")
      const decoded = Collector.decodeJsonTraces(exported.body)
      assert.deepInclude(decoded.resource, {
        "service.name": "from-env",
        "deployment.environment": "test",
        team: "agents core"
      })
    }))

  it.effect("GRAPHENT_OTEL_PAYLOADS=true records payloads; OTEL_TRACES_EXPORTER=none exports metrics only", () =>
    Effect.gen(function*() {
      const options = yield* Telemetry.otlpOptionsFromConfig().pipe(
        Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", GRAPHENT_OTEL_PAYLOADS: "true" }))
      )
      assert.deepInclude(options, { payloads: true, traces: true, metrics: true, serviceName: "graphent" })
      const timed = yield* Telemetry.otlpOptionsFromConfig().pipe(
        Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_EXPORTER_OTLP_TIMEOUT: "500" }))
      )
      assert.strictEqual(timed?.shutdownTimeout, "500 millis")
      const metricsOnly = yield* Telemetry.otlpOptionsFromConfig().pipe(
        Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" }))
      )
      assert.deepInclude(metricsOnly, { traces: false, metrics: true, payloads: false })
      const collector = yield* Collector.make()
      yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerConfig()),
        Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_TRACES_EXPORTER: "none" })),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      assert.deepStrictEqual(collector.exports.map((item) => item.path), ["/v1/metrics"])
    }))

  it.effect("no endpoint (or OTEL_SDK_DISABLED): nothing is exported and runs keep the native tracer", () =>
    Effect.gen(function*() {
      assert.isUndefined(yield* Telemetry.otlpOptionsFromConfig().pipe(Effect.provide(withEnv({}))))
      assert.isUndefined(
        yield* Telemetry.otlpOptionsFromConfig().pipe(
          Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }))
        )
      )
      const registry: Metric.MetricRegistry = new Map()
      const spanCount = yield* AgentRuntime.run(toolsAgent, "1+2").pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerConfig()),
        Effect.provide(withEnv({})),
        Effect.provide(Telemetry.metricRegistry(registry)),
        Effect.as(registry.size)
      )
      assert.strictEqual(spanCount, 0, "no metric recorded without export")
    }))

  it.effect("malformed variables are ConfigErrors naming the variable", () =>
    Effect.gen(function*() {
      const fails = (env: Record<string, string>) =>
        Telemetry.otlpOptionsFromConfig().pipe(Effect.provide(withEnv(env)), Effect.flip, Effect.map((error) => error.message))
      assert.include(
        yield* fails({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
        "OTEL_EXPORTER_OTLP_PROTOCOL"
      )
      assert.include(yield* fails({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }), "OTEL_EXPORTER_OTLP_ENDPOINT")
      assert.include(yield* fails({ OTEL_EXPORTER_OTLP_ENDPOINT: "nonsense" }), "not a URL")
      assert.include(
        yield* fails({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_HEADERS: "novalue" }),
        "OTEL_EXPORTER_OTLP_HEADERS"
      )
      assert.include(
        yield* fails({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_BSP_SCHEDULE_DELAY: "soon" }),
        "OTEL_BSP_SCHEDULE_DELAY"
      )
      assert.include(
        yield* fails({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TIMEOUT: "-1" }),
        "OTEL_EXPORTER_OTLP_TIMEOUT"
      )
      const exit = yield* Effect.exit(
        AgentRuntime.run(toolsAgent, "1+2").pipe(
          Effect.provide(runtime),
          Effect.provide(Telemetry.layerConfig()),
          Effect.provide(withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
    }))
})

// ---------------------------------------------------------------------------
// metrics
// ---------------------------------------------------------------------------

/** The value of one Prometheus sample line, by its full name with labels. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("metrics", () => {
  it.effect("after runs: runs by agent and outcome, failures by tag, step and tool latencies, tool errors", () =>
    Effect.gen(function*() {
      const failing = Agent.make({
        name: "failing",
        tools: [boom],
        planner: Planner.scripted([Planner.runSteps([{ id: "x", tool: "boom", args: {} }]), Planner.fail("gave up", "x")])
      })
      const text = yield* Effect.gen(function*() {
        yield* AgentRuntime.run(toolsAgent, "1+2")
        yield* AgentRuntime.run(toolsAgent, "1+2")
        yield* Effect.exit(AgentRuntime.run(failing, "go"))
        return yield* Telemetry.prometheusText
      }).pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerMetrics),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      assert.strictEqual(sample(text, "graphent_runs_started_total{agent=\"calc\"}"), 2)
      assert.strictEqual(sample(text, "graphent_runs_started_total{agent=\"failing\"}"), 1)
      assert.strictEqual(sample(text, "graphent_runs_finished_total{agent=\"calc\",outcome=\"completed\"}"), 2)
      assert.strictEqual(sample(text, "graphent_runs_finished_total{agent=\"failing\",outcome=\"failed\"}"), 1)
      assert.strictEqual(sample(text, "graphent_runs_failed_total{agent=\"failing\",error=\"ToolFailed\"}"), 1)
      assert.strictEqual(sample(text, "graphent_tool_errors_total{agent=\"calc\",tool=\"boom\",error=\"ToolFailed\"}"), 2)
      assert.strictEqual(sample(text, "graphent_tool_errors_total{agent=\"failing\",tool=\"boom\",error=\"ToolFailed\"}"), 1)
      assert.strictEqual(sample(text, "graphent_step_duration_seconds_count{agent=\"calc\",outcome=\"succeeded\"}"), 2)
      assert.strictEqual(sample(text, "graphent_step_duration_seconds_count{agent=\"calc\",outcome=\"failed\"}"), 2)
      assert.strictEqual(
        sample(text, "graphent_tool_duration_seconds_count{agent=\"calc\",tool=\"add\",outcome=\"succeeded\"}"),
        2
      )
      assert.strictEqual(
        sample(text, "graphent_tool_duration_seconds_bucket{agent=\"calc\",tool=\"add\",outcome=\"succeeded\",le=\"+Inf\"}"),
        2
      )
      assert.strictEqual(sample(text, "graphent_decision_duration_seconds_count{agent=\"calc\"}"), 4)
      assert.strictEqual(sample(text, "graphent_run_duration_seconds_count{agent=\"calc\",outcome=\"completed\"}"), 2)
      assert.include(text, "# TYPE graphent_runs_started_total counter")
      assert.include(text, "# TYPE graphent_step_duration_seconds histogram")
      assert.include(text, "# HELP graphent_tool_errors_total Tool call failures, by agent, tool and error tag.")
    }))

  it.live("skipped steps and interrupted runs", () =>
    Effect.gen(function*() {
      const skipping = Agent.make({
        name: "skipping",
        tools: [boom, add],
        planner: Planner.scripted([
          Planner.runSteps([
            { id: "x", tool: "boom", args: {} },
            { id: "y", tool: "add", args: { a: Planner.ref("x"), b: 1 } }
          ]),
          Planner.answer("done")
        ])
      })
      const slow = Tool.make("slow", {
        description: "Never ends",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: () => Effect.never
      })
      const stuck = Agent.make({
        name: "stuck",
        tools: [slow],
        planner: Planner.scripted([Planner.runSteps([{ id: "s", tool: "slow", args: {} }])])
      })
      const text = yield* Effect.gen(function*() {
        yield* AgentRuntime.run(skipping, "go")
        yield* Effect.exit(AgentRuntime.run(stuck, "go").pipe(Effect.timeout("5 millis")))
        return yield* Telemetry.prometheusText
      }).pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerMetrics),
        Effect.provide(Telemetry.metricRegistry(new Map()))
      )
      assert.strictEqual(sample(text, "graphent_steps_skipped_total{agent=\"skipping\"}"), 1)
      assert.strictEqual(sample(text, "graphent_runs_finished_total{agent=\"stuck\",outcome=\"interrupted\"}"), 1)
    }))

  it.effect("model calls: calls, tokens and cost by agent and model, from ModelCalled events", () =>
    Effect.gen(function*() {
      const registry: Metric.MetricRegistry = new Map()
      const text = yield* Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        const observe = Telemetry.metricsObserver(context, "llm")!
        const event = (cost: number | undefined): RunEvent.RunEvent => ({
          _tag: "ModelCalled",
          runId: "r",
          turn: 1,
          call: 1,
          model: "openai:gpt-test",
          request: { prefix: 0, messages: [], tools: [] },
          response: { text: "hi", toolCalls: [], finishReason: "stop", usage: { inputTokens: 100, outputTokens: 20 } },
          ...(cost === undefined ? {} : { cost }),
          durationMs: 250,
          at: 0
        })
        observe(event(0.5))
        observe(event(undefined))
        return yield* Telemetry.prometheusText
      }).pipe(Effect.provide(Telemetry.metricRegistry(registry)))
      const model = "agent=\"llm\",model=\"openai:gpt-test\""
      assert.strictEqual(sample(text, `graphent_model_calls_total{${model}}`), 2)
      assert.strictEqual(sample(text, `graphent_model_tokens_total{${model},type="input"}`), 200)
      assert.strictEqual(sample(text, `graphent_model_tokens_total{${model},type="output"}`), 40)
      assert.strictEqual(sample(text, `graphent_model_cost_total{${model}}`), 0.5)
      assert.strictEqual(sample(text, `graphent_model_call_duration_seconds_sum{${model}}`), 0.5)
    }))

  it.effect("a replay is not counted", () =>
    Effect.gen(function*() {
      const registry: Metric.MetricRegistry = new Map()
      const counted = yield* Effect.gen(function*() {
        const context = yield* Effect.context<never>()
        return Telemetry.metricsObserver(context, "x") !== undefined
      })
      assert.isTrue(counted)
      const text = yield* Effect.gen(function*() {
        const result = yield* AgentRuntime.run(toolsAgent, "1+2")
        const { Replay } = yield* Effect.promise(() => import("graphent"))
        yield* Replay.replay(toolsAgent, result.events)
        return yield* Telemetry.prometheusText
      }).pipe(
        Effect.provide(runtime),
        Effect.provide(Telemetry.layerMetrics),
        Effect.provide(Telemetry.metricRegistry(registry))
      )
      assert.strictEqual(sample(text, "graphent_runs_started_total{agent=\"calc\"}"), 1)
    }))
})

// ---------------------------------------------------------------------------
// an LLM planner: model calls in the span tree and in the metrics
// ---------------------------------------------------------------------------

describe("LlmPlanner runs", () => {
  const assistant = Agent.make({
    name: "assistant",
    instructions: "You add numbers.",
    tools: [add],
    planner: LlmPlanner.make({ model: "scripted:adder", remember: false })
  })
  const script = () =>
    ScriptedModel.layer([
      ScriptedModel.toolCall("add", { a: 1, b: 2 }),
      ScriptedModel.text("1 + 2 = 3", { inputTokens: 40, outputTokens: 8 })
    ])

  it.effect("spans: each model call under its decision; metrics: calls, tokens and cost from ModelCalled", () =>
    Effect.gen(function*() {
      const { spans, value: text } = yield* withSpans(
        Effect.gen(function*() {
          const result = yield* AgentRuntime.run(assistant, "what is 1 + 2?")
          assert.strictEqual(result.answer, "1 + 2 = 3")
          return yield* Telemetry.prometheusText
        }).pipe(
          Effect.provide(Layer.mergeAll(runtime, script(), Pricing.layer({ "scripted:adder": { input: 1, output: 10 } }))),
          Effect.provide(Telemetry.layerMetrics),
          Effect.provide(Telemetry.metricRegistry(new Map()))
        )
      )
      const decisions = spans.filter((span) => span.name === "graphent.decide")
      const models = spans.filter((span) => span.name.startsWith("LanguageModel."))
      assert.strictEqual(decisions.length, 2)
      assert.strictEqual(models.length, 2)
      for (const model of models) {
        assert.include(decisions.map((span) => span.spanContext().spanId), parentOf(model))
        assert.strictEqual(model.attributes["graphent.run_id"], "run-1")
      }
      assert.strictEqual(byName(spans, "execute_tool add").attributes["gen_ai.tool.name"], "add")

      const model = "agent=\"assistant\",model=\"scripted:adder\""
      assert.strictEqual(sample(text, `graphent_model_calls_total{${model}}`), 2)
      const input = sample(text, `graphent_model_tokens_total{${model},type="input"}`)!
      const output = sample(text, `graphent_model_tokens_total{${model},type="output"}`)!
      assert.isAbove(input, 40, "the second call's 40 input tokens, plus the first call's estimate")
      assert.isAbove(output, 8)
      assert.closeTo(sample(text, `graphent_model_cost_total{${model}}`)!, (input * 1 + output * 10) / 1_000_000, 1e-12)
    }))
})

// ---------------------------------------------------------------------------
// the CLI
// ---------------------------------------------------------------------------

describe("graphent run with OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  /** Runs the real executable (not blocking the loop: the collector is in this process). */
  const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) =>
    // No embedded store: another process may hold its lock, and the runs need none.
    Cli.runEffect(args, { env: { GRAPHENT_STORE: "memory", ...env } })

  it.live("exports the run's trace and metrics; the run's span is the root", () =>
    Effect.gen(function*() {
      const collector = yield* Collector.make()
      const result = yield* graphent(["run", "examples/wordstats.ts", "--input", "the quick brown fox"], {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_SERVICE_NAME: "cli-test"
      })
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout, "4 words (4 distinct); the longest is \"quick\".\n")
      // Spans come in batches (every 5 s, and the rest when the command ends).
      const batches = collector.exports.filter((item) => item.path === "/v1/traces")
        .map((item) => Collector.decodeProtobufTraces(item.body))
      assert.isAtLeast(batches.length, 1, `exports: ${collector.exports.map((item) => item.path).join(", ")}`)
      for (const batch of batches) assert.strictEqual(batch.resource["service.name"], "cli-test")
      const decoded = { spans: batches.flatMap((batch) => batch.spans) }
      const run = decoded.spans.find((span) => span.name === "graphent.run")!
      assert.isDefined(run, decoded.spans.map((span) => span.name).join(", "))
      assert.strictEqual(run.parentSpanId, "", "no parent that is never exported")
      assert.strictEqual(run.attributes["graphent.agent"], "wordstats")
      const tools = decoded.spans.filter((span) => span.name.startsWith("execute_tool ")).map((span) => span.name).sort()
      assert.deepStrictEqual(tools, [
        "execute_tool count_words",
        "execute_tool distinct_words",
        "execute_tool longest_word",
        "execute_tool summarize"
      ])
      for (const span of decoded.spans) assert.strictEqual(span.traceId, run.traceId)
      const metrics = collector.exports.find((item) => item.path === "/v1/metrics")
      assert.isDefined(metrics)
      assert.include([...Collector.decodeProtobufMetricNames(metrics!.body)], "graphent_runs_started_total")
    }), 60_000)

  it.live("a malformed OTEL variable is a usage error (exit 2) naming it", () =>
    Effect.gen(function*() {
      const result = yield* graphent(["run", "examples/echo.ts", "--input", "hi"], {
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc"
      })
      assert.strictEqual(result.code, 2, result.stderr)
      assert.include(result.stderr, "OTEL_EXPORTER_OTLP_PROTOCOL")
      assert.strictEqual(result.stdout, "")
    }), 60_000)
})
