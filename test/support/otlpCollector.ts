/**
 * A stand-in OpenTelemetry collector for tests: an HTTP server on 127.0.0.1
 * that records every OTLP/HTTP export it receives, and decoders for what it
 * receives — OTLP/JSON, and the OTLP protobuf messages read with a small
 * wire-format reader (only what the tests look at: spans and metric names).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export interface Export {
  readonly path: string
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

export interface Collector {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly exports: ReadonlyArray<Export>
}

/** Starts the collector for the scope's lifetime; it answers every export with `status` (default 200). */
export const make = (options?: { readonly status?: number }): Effect.Effect<Collector, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const exports: Array<Export> = []
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(req.headers)) {
            if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
          }
          exports.push({
            path: req.url ?? "",
            contentType: headers["content-type"] ?? "",
            headers,
            body: Buffer.concat(chunks)
          })
          res.writeHead(options?.status ?? 200, { "content-type": "application/json" })
          res.end("{}")
        })
      })
      return new Promise<{ server: http.Server; exports: Array<Export> }>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve({ server, exports }))
      )
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ exports, server }) => ({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports
  })))

// ---------------------------------------------------------------------------
// decoded shapes
// ---------------------------------------------------------------------------

export interface Span {
  readonly traceId: string
  readonly spanId: string
  /** `""` for a root span. */
  readonly parentSpanId: string
  readonly name: string
  readonly attributes: Readonly<Record<string, unknown>>
  /** 0 unset, 1 ok, 2 error */
  readonly statusCode: number
}

export interface Traces {
  readonly resource: Readonly<Record<string, unknown>>
  readonly spans: ReadonlyArray<Span>
}

// ---------------------------------------------------------------------------
// OTLP/JSON
// ---------------------------------------------------------------------------

const jsonValue = (value: any): unknown => {
  if (value === undefined || value === null) return undefined
  if ("stringValue" in value) return value.stringValue
  if ("intValue" in value) return Number(value.intValue)
  if ("doubleValue" in value) return Number(value.doubleValue)
  if ("boolValue" in value) return value.boolValue
  if ("arrayValue" in value) return (value.arrayValue.values ?? []).map(jsonValue)
  return value
}

const jsonAttributes = (list: ReadonlyArray<any> | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]))

/** The spans of an OTLP/JSON traces export. */
export const decodeJsonTraces = (body: Buffer): Traces => {
  const data = JSON.parse(body.toString("utf8"))
  const resourceSpans = data.resourceSpans[0]
  return {
    resource: jsonAttributes(resourceSpans.resource.attributes),
    spans: resourceSpans.scopeSpans.flatMap((scope: any) =>
      scope.spans.map((span: any): Span => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId ?? "",
        name: span.name,
        attributes: jsonAttributes(span.attributes),
        statusCode: span.status?.code ?? 0
      }))
    )
  }
}

// ---------------------------------------------------------------------------
// OTLP protobuf
// ---------------------------------------------------------------------------

/** A protobuf message: field number to its values (varints as bigint, length-delimited as bytes, fixed as bytes). */
type Message = Map<number, Array<bigint | Buffer>>

/** Reads one protobuf message (the wire format: tag varints, then varint / 64-bit / length-delimited / 32-bit values). */
export const readMessage = (bytes: Buffer): Message => {
  const fields: Message = new Map()
  let offset = 0
  const varint = (): bigint => {
    let result = 0n
    let shift = 0n
    for (;;) {
      if (offset >= bytes.length) throw new Error("protobuf: truncated varint")
      const byte = bytes[offset++]!
      result |= BigInt(byte & 0x7f) << shift
      if ((byte & 0x80) === 0) return result
      shift += 7n
    }
  }
  const take = (length: number): Buffer => {
    if (offset + length > bytes.length) throw new Error("protobuf: truncated field")
    const value = bytes.subarray(offset, offset + length)
    offset += length
    return value
  }
  while (offset < bytes.length) {
    const tag = Number(varint())
    const field = tag >>> 3
    const wireType = tag & 7
    let value: bigint | Buffer
    switch (wireType) {
      case 0:
        value = varint()
        break
      case 1:
        value = take(8)
        break
      case 2:
        value = take(Number(varint()))
        break
      case 5:
        value = take(4)
        break
      default:
        throw new Error(`protobuf: unknown wire type ${wireType}`)
    }
    const values = fields.get(field)
    if (values === undefined) fields.set(field, [value])
    else values.push(value)
  }
  return fields
}

const bytesOf = (message: Message, field: number): ReadonlyArray<Buffer> =>
  (message.get(field) ?? []).filter((value): value is Buffer => Buffer.isBuffer(value))

const stringOf = (message: Message, field: number): string => bytesOf(message, field)[0]?.toString("utf8") ?? ""

const hexOf = (message: Message, field: number): string => bytesOf(message, field)[0]?.toString("hex") ?? ""

/** opentelemetry.proto.common.v1.AnyValue */
const protoValue = (bytes: Buffer): unknown => {
  const value = readMessage(bytes)
  if (value.has(1)) return stringOf(value, 1)
  if (value.has(2)) return value.get(2)![0] === 1n
  if (value.has(3)) return Number(BigInt.asIntN(64, value.get(3)![0] as bigint))
  if (value.has(4)) return (value.get(4)![0] as Buffer).readDoubleLE(0)
  return undefined
}

/** repeated opentelemetry.proto.common.v1.KeyValue */
const protoAttributes = (list: ReadonlyArray<Buffer>): Record<string, unknown> =>
  Object.fromEntries(list.map((bytes) => {
    const kv = readMessage(bytes)
    const value = bytesOf(kv, 2)[0]
    return [stringOf(kv, 1), value === undefined ? undefined : protoValue(value)]
  }))

/** The spans of an OTLP protobuf traces export (`ExportTraceServiceRequest`). */
export const decodeProtobufTraces = (body: Buffer): Traces => {
  const request = readMessage(body)
  const resourceSpans = readMessage(bytesOf(request, 1)[0]!)
  const resource = readMessage(bytesOf(resourceSpans, 1)[0]!)
  const spans: Array<Span> = []
  for (const scopeBytes of bytesOf(resourceSpans, 2)) {
    for (const spanBytes of bytesOf(readMessage(scopeBytes), 2)) {
      const span = readMessage(spanBytes)
      const status = bytesOf(span, 15)[0]
      spans.push({
        traceId: hexOf(span, 1),
        spanId: hexOf(span, 2),
        parentSpanId: hexOf(span, 4),
        name: stringOf(span, 5),
        attributes: protoAttributes(bytesOf(span, 9)),
        statusCode: status === undefined ? 0 : Number(readMessage(status).get(3)?.[0] ?? 0n)
      })
    }
  }
  return { resource: protoAttributes(bytesOf(resource, 1)), spans }
}

/** The metric names of an OTLP protobuf metrics export (`ExportMetricsServiceRequest`). */
export const decodeProtobufMetricNames = (body: Buffer): ReadonlyArray<string> => {
  const request = readMessage(body)
  const names: Array<string> = []
  for (const resourceBytes of bytesOf(request, 1)) {
    for (const scopeBytes of bytesOf(readMessage(resourceBytes), 2)) {
      for (const metricBytes of bytesOf(readMessage(scopeBytes), 2)) names.push(stringOf(readMessage(metricBytes), 1))
    }
  }
  return names
}
