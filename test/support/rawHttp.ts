/**
 * HTTP/1.1 over a bare socket: the request exactly as given (no URL
 * normalisation, no header checks, bytes a client library would refuse),
 * and the answer as the server sent it.
 */
import * as net from "node:net"

export interface RawAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  /** The body as JSON, when it is. */
  readonly json: any
}

const decodeChunked = (body: Buffer): Buffer => {
  const parts: Array<Buffer> = []
  let at = 0
  for (;;) {
    const end = body.indexOf("\r\n", at)
    if (end === -1) break
    const size = parseInt(body.subarray(at, end).toString(), 16)
    if (!(size > 0)) break
    parts.push(body.subarray(end + 2, end + 2 + size))
    at = end + 2 + size + 2
  }
  return Buffer.concat(parts)
}

/** Sends `request` and reads until the server closes the connection. */
export const send = (port: number, request: string | Buffer): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    socket.setTimeout(20_000, () => socket.destroy(new Error("no answer within 20 s")))
    socket.on("data", (chunk) => chunks.push(chunk))
    socket.on("error", reject)
    socket.on("close", () => {
      const data = Buffer.concat(chunks)
      const split = data.indexOf("\r\n\r\n")
      if (split === -1) return reject(new Error(`no HTTP answer: ${JSON.stringify(data.toString().slice(0, 200))}`))
      const [statusLine, ...lines] = data.subarray(0, split).toString("latin1").split("\r\n")
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(":")
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      const rawBody = data.subarray(split + 4)
      const body = (headers["transfer-encoding"] === "chunked" ? decodeChunked(rawBody) : rawBody).toString("utf8")
      let json: unknown
      try {
        json = JSON.parse(body)
      } catch {
        json = undefined
      }
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body, json })
    })
    socket.write(request)
  })

/** A request with `connection: close` (and `content-length` when there is a body). */
export const request = (
  method: string,
  target: string,
  options: { readonly headers?: ReadonlyArray<string>; readonly body?: string | Buffer } = {}
): Buffer => {
  const body = options.body === undefined ? Buffer.alloc(0) : Buffer.from(options.body)
  const head = [
    `${method} ${target} HTTP/1.1`,
    "host: 127.0.0.1",
    "connection: close",
    ...(options.body === undefined ? [] : [`content-length: ${body.length}`]),
    ...(options.headers ?? [])
  ]
  return Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n", "latin1"), body])
}
