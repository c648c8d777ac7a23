/**
 * Redaction against the class of leak: a secret that reaches any output
 * sink — the journal file, log lines (every format), spans (attributes,
 * events, the exit they end with), the audit log, the API's run views, and
 * the typed errors a caller receives — in any spelling: as is, JSON-escaped,
 * URL-encoded (component, URI, and the `URLSearchParams` form HttpTool sends,
 * with lowercase hex too), base64 and base64url. Tools plant the secret in a
 * query string echoed back, a response body of a failed call, stderr of a
 * failed command, a logged `Error`, a span attribute, and `cause` chains
 * (`Error.cause`, a typed error's `cause` field, nested objects and arrays).
 * Typed errors must keep their class with their fields redacted.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as util from "node:util"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Layer, Logger, Redacted, Schema, Stream, Tracer } from "effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import {
  Agent,
  AgentRuntime,
  Audit,
  AuditMemory,
  Credentials,
  JournalFile,
  LocalRuntime,
  Policy,
  Runs,
  RunsLocal,
  SequencePlanner,
  ShellTool,
  Tool,
  ToolGuard
} from "graphent"
import { HttpTool } from "graphent/http-tool"
import * as Testing from "graphent/testing"
import { json, serve } from "../support/security.js"

/** Spaces, `+`, `/`, `!'()~`, a quote, a backslash, `=` and `&`: every encoding spells it differently. */
const secret = `tok en+/!'()~"\\=&x9`

/** The spellings the test greps for, computed here (not with the library's own list). */
const spellingsOf = (value: string): ReadonlyArray<string> => {
  const encoded = [encodeURIComponent(value), encodeURI(value), new URLSearchParams({ k: value }).toString().slice(2)]
  return [
    value,
    JSON.stringify(value).slice(1, -1),
    ...encoded,
    ...encoded.map((text) => text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())),
    Buffer.from(value).toString("base64"),
    Buffer.from(value).toString("base64url")
  ]
}

class UpstreamFailed extends Schema.TaggedError<UpstreamFailed>()("UpstreamFailed", {
  detail: Schema.String,
  nested: Schema.Unknown,
  cause: Schema.Defect()
}) {}

describe("Redaction: every sink, every spelling, types kept", () => {
  it("the redactor finds the URLSearchParams spelling and keeps error classes with redacted fields", () => {
    const redactor = Credentials.makeRedactor([{ name: "K", value: secret }])
    for (const spelling of spellingsOf(secret)) {
      assert.strictEqual(redactor.text(`a ${spelling} b`), "a [REDACTED:K] b", spelling)
    }
    const inner = new Error(`deep ${secret}`)
    const error = new UpstreamFailed({
      detail: "x",
      nested: { list: [{ s: new URLSearchParams({ q: secret }).toString() }], n: 1 },
      cause: new Error("wrapped", { cause: inner })
    })
    const redacted = redactor.value(error) as UpstreamFailed
    assert.instanceOf(redacted, UpstreamFailed)
    assert.notStrictEqual(redacted, error)
    assert.deepStrictEqual(redacted.nested, { list: [{ s: "q=[REDACTED:K]" }], n: 1 })
    assert.instanceOf(redacted.cause, Error)
    assert.strictEqual(((redacted.cause as Error).cause as Error).message, "deep [REDACTED:K]")
    assert.instanceOf((redacted.cause as Error).cause, Error)
    assert.strictEqual(inner.message, `deep ${secret}`, "the original is not modified")
    const cyclic: Record<string, unknown> = { s: secret }
    cyclic.self = cyclic
    const copy = redactor.value(cyclic) as Record<string, unknown>
    assert.strictEqual(copy.s, "[REDACTED:K]")
    assert.strictEqual(copy.self, copy)
    const clean = new UpstreamFailed({ detail: "x", nested: [], cause: new Error("fine") })
    assert.strictEqual(redactor.value(clean), clean)
  })

  it.live("journal, logs, spans, audit, API views and returned errors hold no spelling of the secret", () => {
    const dir = fs.mkdtempSync(path.join(path.resolve("test/.scratch"), "redaction-"))
    const logLines: Array<string> = []
    const capture = Logger.make<unknown, void>((options) => {
      logLines.push(Logger.formatJson.log(options), Logger.formatLogFmt.log(options), Logger.formatStructured.log(options) as never)
    })
    const spans: Array<Tracer.NativeSpan> = []
    const recordingTracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    const audit = AuditMemory.make()
    return Effect.gen(function*() {
      const server = yield* serve((req, res) =>
        json(res, req.url.startsWith("/fail") ? 500 : 200, { url: req.url, key: req.headers["x-key"] ?? null })
      )
      const http = (name: string, route: string) =>
        HttpTool.make(name, {
          description: "Echoes its query and headers",
          url: `${server.origin}${route}`,
          query: { key: "{secret:API_KEY}" },
          headers: { "X-Key": "{secret:API_KEY}" },
          secrets: ["API_KEY"],
          hosts: [server.origin],
          allowAddresses: ["127.0.0.1/32"],
          parameters: Schema.Struct({})
        })
      const shell = ShellTool.make("shell_fail", {
        description: "Prints its key to stderr, fails",
        command: process.execPath,
        args: ["-e", "console.error('key=' + process.env.KEY); process.exit(3)"],
        parameters: Schema.Struct({}),
        root: dir,
        secretEnv: { KEY: "API_KEY" }
      })
      const chained = Tool.make("chained", {
        description: "Logs, traces and fails with its key deep in a cause chain",
        parameters: Schema.Struct({}),
        success: Schema.String,
        secrets: ["API_KEY"],
        handler: (_, context) =>
          Effect.gen(function*() {
            const key = Redacted.value(Tool.secret(context, "API_KEY"))
            yield* Effect.logError("upstream", new Error(key))
            yield* Effect.logWarning({ auth: `Bearer ${key}`, list: [new URLSearchParams({ key }).toString()] })
            return yield* new UpstreamFailed({
              detail: "the upstream refused",
              nested: { list: [{ s: encodeURIComponent(key) }, [`b64 ${Buffer.from(key).toString("base64")}`]] },
              cause: new Error("wrapped", { cause: new Error("deeper", { cause: { reason: key } }) })
            }).pipe(
              Effect.withSpan("chained.inner", { attributes: { key, nested: { key } } }),
              Effect.tap(() => Effect.annotateCurrentSpan("never", key))
            )
          })
      })
      const agents = [
        ["echo_ok", http("echo_ok", "/ok")],
        ["echo_fail", http("echo_fail", "/fail")],
        ["shell_fail", shell],
        ["chained", chained]
      ].map(([name, tool]) =>
        Agent.make({
          name: name as string,
          tools: [tool as Tool.Any],
          planner: SequencePlanner.plan({ steps: [{ id: "only", tool: name as string, args: {} }] })
        })
      )
      const runtime = LocalRuntime.layer.pipe(
        Layer.provideMerge(ToolGuard.layer().pipe(Layer.provide([Policy.layerAllowAll, Layer.succeed(Audit.Audit, audit)])))
      )
      const runs = yield* Effect.gen(function*() {
        const service = yield* Runs.Runs
        const views: Array<unknown> = []
        for (const agent of agents) {
          const started = yield* service.start({ agent: agent.name, input: "go" })
          views.push(yield* (yield* service.events(started.id)).pipe(Stream.runCollect))
          views.push(yield* service.get(started.id))
        }
        return views
      }).pipe(
        Effect.provide(RunsLocal.layer({ agents }).pipe(Layer.provideMerge(runtime), Layer.provideMerge(JournalFile.layer({ path: path.join(dir, "api.jsonl") }))))
      )
      // The typed errors a library caller gets back, run by run.
      const returned: Array<unknown> = []
      for (const agent of agents.slice(1)) {
        const error = yield* Effect.flip(AgentRuntime.run(agent, "go")).pipe(
          Effect.provide(runtime.pipe(Layer.provideMerge(JournalFile.layer({ path: path.join(dir, `${agent.name}.jsonl`) }))))
        )
        assert.strictEqual(error._tag, "ToolFailed", agent.name)
        returned.push(error)
      }
      const causes = returned.map((error) => (error as Tool.ToolFailed).cause)
      assert.instanceOf(causes[0], HttpTool.HttpStatusFailed)
      assert.include((causes[0] as HttpTool.HttpStatusFailed).body, "[REDACTED:API_KEY]")
      assert.strictEqual((causes[0] as HttpTool.HttpStatusFailed).status, 500)
      assert.instanceOf(causes[1], ShellTool.ShellExitFailed)
      assert.strictEqual((causes[1] as ShellTool.ShellExitFailed).exitCode, 3)
      assert.include((causes[1] as ShellTool.ShellExitFailed).stderrTail, "key=[REDACTED:API_KEY]")
      assert.instanceOf(causes[2], UpstreamFailed)
      assert.strictEqual(((((causes[2] as UpstreamFailed).cause as Error).cause as Error).cause as { reason: string }).reason, "[REDACTED:API_KEY]")

      const journal = fs.readdirSync(dir).filter((file) => file.endsWith(".jsonl"))
        .map((file) => fs.readFileSync(path.join(dir, file), "utf8")).join("\n")
      const spanText = spans.map((span) =>
        util.inspect({
          name: span.name,
          attributes: span.attributes,
          events: span.events,
          exit: span.status._tag === "Ended" ? span.status.exit : undefined,
          pretty: span.status._tag === "Ended" && span.status.exit._tag === "Failure" ? Cause.pretty(span.status.exit.cause) : ""
        }, { depth: 30 })
      ).join("\n")
      const sinks: ReadonlyArray<readonly [string, string]> = [
        ["journal", journal],
        ["logs", logLines.map((line) => typeof line === "string" ? line : util.inspect(line, { depth: 30 })).join("\n")],
        ["spans", spanText],
        ["audit", JSON.stringify(audit.entries)],
        ["api", JSON.stringify(runs)],
        ["errors", util.inspect(returned, { depth: 30 }) + returned.map((error) => (error as Error).message).join("\n")]
      ]
      // Vacuous unless every sink was written, with the redacted marker where the secret was.
      for (const [name, text] of sinks) {
        if (name !== "audit") assert.include(text, "[REDACTED:API_KEY]", `${name} shows the redaction`)
      }
      assert.include(journal, "StepSucceeded")
      assert.include(journal, "UpstreamFailed")
      assert.include(sinks[1]![1], "upstream")
      assert.include(spanText, "chained.inner")
      assert.strictEqual(audit.entries.length, 7)
      for (const [name, text] of sinks) {
        for (const spelling of spellingsOf(secret)) assert.notInclude(text, spelling, `${name} holds the secret as ${spelling}`)
      }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.mergeAll(
        FetchHttpClient.layer,
        NodeServices.layer,
        Credentials.layerTest({ API_KEY: secret }),
        Testing.layerSequentialIds(),
        Logger.layer([capture])
      )),
      Effect.withTracer(recordingTracer),
      Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    )
  }, 60_000)
})

