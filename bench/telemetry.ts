/**
 * The telemetry a workload's Graphent side runs with, chosen by the
 * `GRAPHENT_BENCH_TELEMETRY` environment variable (child processes inherit it):
 *
 * - unset or `off`: none (the default; what the targets are about);
 * - `metrics`: the run metrics only (`Telemetry.layerMetrics`), nothing exported;
 * - `otlp`: spans and metrics exported over OTLP/HTTP (protobuf) to a loopback
 *   sink in the same process that reads and drops every export;
 * - `otlp-json`: the same over OTLP/JSON;
 * - `otlp-payloads`: `otlp` with payloads on the spans;
 * - `otel`: spans through `@effect/opentelemetry` into an OpenTelemetry SDK
 *   `BatchSpanProcessor` whose exporter drops them.
 *
 *   GRAPHENT_BENCH_TELEMETRY=otlp npm run bench -- w1
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import * as Layer from "effect/Layer"
import { Telemetry } from "../src/index.js"

export type Mode = "off" | "metrics" | "otlp" | "otlp-json" | "otlp-payloads" | "otel"

const modes: ReadonlyArray<Mode> = ["off", "metrics", "otlp", "otlp-json", "otlp-payloads", "otel"]

/** The mode asked for; an unknown value is an error, not a silent "off". */
export const mode = (): Mode => {
  const value = process.env.GRAPHENT_BENCH_TELEMETRY?.trim() || "off"
  if (!modes.includes(value as Mode)) {
    throw new Error(`GRAPHENT_BENCH_TELEMETRY: "${value}" is not one of ${modes.join(", ")}`)
  }
  return value as Mode
}

/** An OTLP collector that reads every export and drops it. */
const startSink = (): Promise<string> =>
  new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      req.resume()
      req.on("end", () => res.end())
    })
    server.unref()
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  })

const dropping: SpanExporter = {
  export: (_spans: Array<ReadableSpan>, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve()
}

/** The layer for {@link mode}, to merge into the workload's runtime layer. */
export const layer = async (): Promise<Layer.Layer<never>> => {
  switch (mode()) {
    case "off":
      return Layer.empty
    case "metrics":
      return Telemetry.layerMetrics
    case "otlp":
    case "otlp-json":
    case "otlp-payloads":
      return Telemetry.layerOtlp({
        endpoint: await startSink(),
        protocol: mode() === "otlp-json" ? "http/json" : "http/protobuf",
        payloads: mode() === "otlp-payloads"
      })
    case "otel":
      return Telemetry.layerOtel({ spanProcessors: [new BatchSpanProcessor(dropping)] })
  }
}
