/**
 * A scripted HTTP server on 127.0.0.1 that stands in for a model API in tests:
 * each request gets the next reply of the script (the last one repeats), and
 * every request is recorded (path, headers, parsed JSON body).
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: any
  /** `Date.now()` when the request arrived. */
  readonly at: number
}

export type Reply =
  | {
    readonly _tag: "Json"
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body: unknown
  }
  | {
    readonly _tag: "Raw"
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
    readonly body: string
  }
  | {
    readonly _tag: "Sse"
    readonly events: ReadonlyArray<SseEvent>
    /** Writes the bytes in pieces of this size, one at a time, to split lines and events apart. */
    readonly pieceSize: number | undefined
  }
  /** Accepts the request and never answers. */
  | { readonly _tag: "Hang" }
  /** The reply computed from the request (e.g. one vector per input of an embeddings request). */
  | { readonly _tag: "Dynamic"; readonly reply: (request: RecordedRequest) => Reply }

/**
 * A server-sent event: a string is a raw `data:` payload written as is (e.g.
 * `[DONE]`), a {@link named} event carries an `event:` line, anything else is
 * JSON data.
 */
export type SseEvent = unknown

class NamedEvent {
  constructor(readonly event: string, readonly data: unknown) {}
}

/** An event with an `event:` line, as the Anthropic API sends them. */
export const named = (event: string, data: unknown): SseEvent => new NamedEvent(event, data)

export const json = (body: unknown, options?: {
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}): Reply => ({ _tag: "Json", status: options?.status ?? 200, headers: options?.headers ?? {}, body })

export const raw = (body: string, options?: {
  readonly status?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}): Reply => ({ _tag: "Raw", status: options?.status ?? 200, headers: options?.headers ?? {}, body })

export const sse = (events: ReadonlyArray<SseEvent>, options?: { readonly pieceSize?: number | undefined }): Reply => ({
  _tag: "Sse",
  events,
  pieceSize: options?.pieceSize
})

export const hang: Reply = { _tag: "Hang" }

export const dynamic = (reply: (request: RecordedRequest) => Reply): Reply => ({ _tag: "Dynamic", reply })

/**
 * A deterministic vector for a text, for the embeddings route: coordinate `i`
 * is a function of the text's characters, so equal texts get equal vectors.
 */
export const fakeVector = (text: string, dimensions: number): Array<number> =>
  Array.from({ length: dimensions }, (_, i) => {
    let sum = 0
    for (let c = 0; c < text.length; c++) sum += ((text.charCodeAt(c) * (i + 1) * (c + 1)) % 97) - 48
    return sum / 97
  })

/**
 * The OpenAI embeddings route (`POST /v1/embeddings`): one {@link fakeVector}
 * per input, in the inputs' order, with the usage counting one token per
 * input. `reverse` lists them backwards (with their `index`), as a server may.
 */
export const embeddings = (options?: {
  readonly dimensions?: number | undefined
  readonly reverse?: boolean | undefined
}): Reply =>
  dynamic((request) => {
    const inputs: Array<string> = typeof request.body?.input === "string" ? [request.body.input] : request.body?.input ?? []
    const dimensions = request.body?.dimensions ?? options?.dimensions ?? 8
    const data = inputs.map((text, index) => ({ object: "embedding", index, embedding: fakeVector(text, dimensions) }))
    return json({
      object: "list",
      model: request.body?.model,
      data: options?.reverse === true ? data.reverse() : data,
      usage: { prompt_tokens: inputs.length, total_tokens: inputs.length }
    })
  })

const renderEvent = (event: SseEvent): string => {
  if (typeof event === "string") return `data: ${event}\n\n`
  if (event instanceof NamedEvent) return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`
  return `data: ${JSON.stringify(event)}\n\n`
}

const pause = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

export interface FakeModelServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly requests: ReadonlyArray<RecordedRequest>
}

/** Starts the server for the scope's lifetime. */
export const make = (script: ReadonlyArray<Reply>): Effect.Effect<FakeModelServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const requests: Array<RecordedRequest> = []
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let body: unknown = text
          try {
            body = JSON.parse(text)
          } catch {
            // keep the text
          }
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(req.headers)) {
            if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
          }
          const scripted = script[Math.min(requests.length, script.length - 1)]!
          const request = { method: req.method ?? "", path: req.url ?? "", headers, body, at: Date.now() }
          requests.push(request)
          void respond(resolve(scripted, request), res)
        })
      })
      return new Promise<{ server: http.Server; requests: Array<RecordedRequest> }>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve({ server, requests }))
      )
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ requests, server }) => ({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests
  })))

/** The reply to send: a dynamic reply is computed from the request. */
const resolve = (reply: Reply, request: RecordedRequest): Exclude<Reply, { readonly _tag: "Dynamic" }> =>
  reply._tag === "Dynamic" ? resolve(reply.reply(request), request) : reply

const respond = async (reply: Exclude<Reply, { readonly _tag: "Dynamic" }>, res: http.ServerResponse): Promise<void> => {
  switch (reply._tag) {
    case "Json": {
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
      res.end(JSON.stringify(reply.body))
      return
    }
    case "Raw": {
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
      res.end(reply.body)
      return
    }
    case "Sse": {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
      if (reply.pieceSize === undefined) {
        for (const event of reply.events) {
          res.write(renderEvent(event))
          await pause(1)
        }
      } else {
        const text = reply.events.map(renderEvent).join("")
        for (let offset = 0; offset < text.length; offset += reply.pieceSize) {
          res.write(text.slice(offset, offset + reply.pieceSize))
          await pause(1)
        }
      }
      res.end()
      return
    }
    case "Hang":
      return
  }
}

/** A URL where nothing listens: a port that was just free. */
export const closedPortUrl: Effect.Effect<string> = Effect.promise(() =>
  new Promise<string>((resolve) => {
    const server = http.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(`http://127.0.0.1:${port}`))
    })
  })
)

/**
 * Runs `effect` with a tracer that keeps every span and a logger that keeps
 * every line (from Debug up), and returns both rendered as text: span names,
 * attributes, events and exits; log messages and causes.
 */
export const recordTelemetry = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<{
  readonly result: Exit.Exit<A, E>
  readonly spanNames: ReadonlyArray<string>
  readonly spans: ReadonlyArray<string>
  readonly logs: ReadonlyArray<string>
}, never, R> => {
  const spans: Array<Tracer.NativeSpan> = []
  const logs: Array<string> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const logger = Logger.make((options) => {
    logs.push(`${String(options.message)} ${Cause.pretty(options.cause)}`)
  })
  const render = (span: Tracer.NativeSpan): string => {
    const exit = span.status._tag === "Ended" ? span.status.exit : undefined
    return [
      span.name,
      JSON.stringify([...span.attributes.entries()]),
      JSON.stringify(span.events, (_, value) => typeof value === "bigint" ? String(value) : value),
      exit === undefined ? "" : Exit.isFailure(exit) ? Cause.pretty(exit.cause) : String(exit)
    ].join(" ")
  }
  return effect.pipe(
    Effect.exit,
    Effect.withTracer(tracer),
    Effect.provide(Logger.layer([logger])),
    Effect.provideService(References.MinimumLogLevel, "Debug"),
    Effect.map((result) => ({ result, spanNames: spans.map((span) => span.name), spans: spans.map(render), logs }))
  )
}
