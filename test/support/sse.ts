/**
 * A minimal server-sent events reader over `fetch`, for tests that look at
 * the wire: it reads `url` until `stop` says so (then drops the connection,
 * like a client that goes away) or until the server ends the stream.
 */
export interface SseEvent {
  readonly id: string | undefined
  readonly data: string
}

export const readSse = async (
  url: string,
  headers: Record<string, string>,
  stop: (event: SseEvent) => boolean = () => false
): Promise<{ readonly status: number; readonly events: ReadonlyArray<SseEvent>; readonly ended: boolean }> => {
  const controller = new AbortController()
  const response = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal })
  const events: Array<SseEvent> = []
  if (!response.ok || response.body === null) return { status: response.status, events, ended: true }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ""
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return { status: response.status, events, ended: true }
    buffer += value
    let end: number
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      let id: string | undefined
      const data: Array<string> = []
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) id = line.slice(4)
        else if (line.startsWith("data: ")) data.push(line.slice(6))
      }
      const event = { id, data: data.join("\n") }
      events.push(event)
      if (stop(event)) {
        controller.abort()
        await reader.cancel().catch(() => {})
        return { status: response.status, events, ended: false }
      }
    }
  }
}
