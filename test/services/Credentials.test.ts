import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { ConfigProvider, Effect, Layer, Logger, Redacted, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Credentials,
  JournalFile,
  LocalRuntime,
  SequencePlanner,
  Tool,
  Tools
} from "graphent"
import * as Testing from "graphent/testing"

const secret = "sk_live_4f3c2b1a9d8e"

describe("Credentials: lookup", () => {
  it.effect("from Config (the environment), with a prefix; a missing one is a typed error", () =>
    Effect.gen(function*() {
      const plain = Credentials.fromConfig()
      const value = yield* plain.get("API_KEY")
      assert.isTrue(Redacted.isRedacted(value))
      assert.strictEqual(Redacted.value(value), "from-env")
      assert.notInclude(String(value), "from-env")
      const prefixed = yield* Credentials.fromConfig({ prefix: "APP_" }).get("API_KEY")
      assert.strictEqual(Redacted.value(prefixed), "prefixed")
      const missing = yield* Effect.flip(plain.get("NOPE"))
      assert.instanceOf(missing, Credentials.CredentialNotFound)
      assert.strictEqual(missing.message, "credential NOPE is not available (config NOPE)")
    }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { API_KEY: "from-env", APP_API_KEY: "prefixed" } })))
    ))
})

describe("Credentials: redaction", () => {
  it("replaces every spelling of a secret: raw, JSON-escaped, URL-encoded, base64", () => {
    const tricky = "p@ss/w\"rd+1"
    const redactor = Credentials.makeRedactor([{ name: "PW", value: tricky }])
    const spellings = [
      tricky,
      JSON.stringify(tricky).slice(1, -1),
      encodeURIComponent(tricky),
      Buffer.from(tricky).toString("base64"),
      Buffer.from(tricky).toString("base64url")
    ]
    for (const spelling of spellings) {
      assert.strictEqual(redactor.text(`before ${spelling} after`), "before [REDACTED:PW] after", spelling)
    }
    assert.isTrue(redactor.leaks(`x${encodeURIComponent(tricky)}y`))
    assert.isFalse(redactor.leaks("nothing here"))
  })

  it("redacts JSON values deeply (keys too) and returns the same value when nothing leaks", () => {
    const redactor = Credentials.makeRedactor([{ name: "T", value: secret }])
    const clean = { a: [1, "two", { b: null }] }
    assert.strictEqual(redactor.value(clean), clean)
    assert.deepStrictEqual(redactor.value({ [secret]: [`Bearer ${secret}`, { deep: secret }], n: 1 }), {
      "[REDACTED:T]": ["Bearer [REDACTED:T]", { deep: "[REDACTED:T]" }],
      n: 1
    })
    assert.strictEqual(Credentials.noRedaction.value(clean), clean)
    assert.isFalse(Credentials.noRedaction.active)
  })
})

// ---------------------------------------------------------------------------
// tools with secrets
// ---------------------------------------------------------------------------

const context: Tool.ToolContext = { runId: "r", agent: "a", stepId: "s1", threadId: undefined }
const noDefaults: Tools.CallDefaults = { timeout: undefined, retry: undefined }

describe("Credentials: injection into tools", () => {
  it.effect("a declared secret reaches the handler as Redacted; the result is redacted", () =>
    Effect.gen(function*() {
      let seen: unknown
      const tool = Tool.make("call_api", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.Struct({ echoed: Schema.String }),
        secrets: ["API_TOKEN"],
        handler: (_, ctx) =>
          Effect.sync(() => {
            const token = Tool.secret(ctx, "API_TOKEN")
            seen = token
            return { echoed: `token=${Redacted.value(token)}` }
          })
      })
      const output = yield* Tools.executeLocal(Tools.compile([tool]), { stepId: "s1", tool: "call_api", args: {} }, context, noDefaults)
      assert.isTrue(Redacted.isRedacted(seen))
      assert.deepStrictEqual(output, { value: { echoed: "token=[REDACTED:API_TOKEN]" }, result: { echoed: "token=[REDACTED:API_TOKEN]" } })
    }).pipe(Effect.provide(Credentials.layerTest({ API_TOKEN: secret }))))

  it.effect("a missing credential fails the call (ToolFailed with CredentialNotFound) before the handler runs", () =>
    Effect.gen(function*() {
      let ran = false
      const tool = Tool.make("needs", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        secrets: ["ABSENT"],
        handler: () => Effect.sync(() => (ran = true, "x"))
      })
      const error = yield* Effect.flip(
        Tools.executeLocal(Tools.compile([tool]), { stepId: "s1", tool: "needs", args: {} }, context, noDefaults)
      )
      assert.strictEqual(error._tag, "ToolFailed")
      assert.instanceOf((error as Tool.ToolFailed).cause, Credentials.CredentialNotFound)
      assert.isFalse(ran)
    }).pipe(Effect.provide(Credentials.layerTest({}))))

  it.effect("reading an undeclared secret is a defect; secret names are checked at declaration", () =>
    Effect.gen(function*() {
      const sneaky = Tool.make("sneaky", {
        description: "",
        parameters: Schema.Struct({}),
        success: Schema.String,
        handler: (_, ctx) => Effect.sync(() => Redacted.value(Tool.secret(ctx, "API_TOKEN")))
      })
      const error = yield* Effect.flip(
        Tools.executeLocal(Tools.compile([sneaky]), { stepId: "s1", tool: "sneaky", args: {} }, context, noDefaults)
      )
      assert.strictEqual(error._tag, "ToolFailed")
      assert.isTrue((error as Tool.ToolFailed).defect)
      assert.throws(
        () => Tool.make("bad", { description: "", parameters: Schema.Struct({}), success: Schema.String, secrets: ["a-b"], handler: () => Effect.succeed("") }),
        /secret names/
      )
    }).pipe(Effect.provide(Credentials.layerTest({ API_TOKEN: secret }))))

  it.effect("a secret planted in tool output, logs and errors appears in neither the journal nor the logs", () => {
    const dir = fs.mkdtempSync(path.join(path.resolve("test/.scratch"), "redact-"))
    const journalPath = path.join(dir, "run.jsonl")
    const logPath = path.join(dir, "log.jsonl")
    const lines: Array<string> = []
    const captured = Logger.make<unknown, void>((options) => {
      lines.push(Logger.formatJson.log(options))
    })
    const leaky = Tool.make("leaky", {
      description: "Returns and logs its token",
      parameters: Schema.Struct({ q: Schema.String }),
      success: Schema.Struct({ answer: Schema.String, headers: Schema.Record(Schema.String, Schema.String) }),
      secrets: ["API_TOKEN"],
      handler: ({ q }, ctx) =>
        Effect.gen(function*() {
          const token = Redacted.value(Tool.secret(ctx, "API_TOKEN"))
          yield* Effect.log(`calling the API with ${token}`)
          yield* Effect.logWarning({ auth: `Bearer ${token}`, encoded: encodeURIComponent(token) })
          return { answer: `${q}: the key is ${token}`, headers: { authorization: `Bearer ${token}` } }
        })
    })
    const failing = Tool.make("failing", {
      description: "Fails, quoting its token",
      parameters: Schema.Struct({}),
      success: Schema.String,
      secrets: ["API_TOKEN"],
      handler: (_, ctx) => Effect.fail(new Error(`upstream rejected ${Redacted.value(Tool.secret(ctx, "API_TOKEN"))}`))
    })
    const agent = Agent.make({
      name: "leaky",
      tools: [leaky, failing],
      planner: SequencePlanner.plan({
        steps: [
          { id: "ask", tool: "leaky", args: { q: "what" } },
          { id: "oops", tool: "failing", args: {} }
        ]
      })
    })
    const layer = Layer.mergeAll(
      LocalRuntime.layer.pipe(Layer.provideMerge(JournalFile.layer({ path: journalPath }))),
      Testing.layerSequentialIds(),
      Credentials.layerTest({ API_TOKEN: secret }),
      Logger.layer([captured])
    )
    return Effect.gen(function*() {
      const error = yield* Effect.flip(AgentRuntime.run(agent, "go"))
      assert.strictEqual(error._tag, "ToolFailed")
      assert.notInclude(error.message, secret)
      fs.writeFileSync(logPath, lines.join("\n"))
      const journal = fs.readFileSync(journalPath, "utf8")
      const logs = fs.readFileSync(logPath, "utf8")
      // The test would be vacuous if nothing had been written.
      assert.include(journal, "StepSucceeded")
      assert.include(journal, "[REDACTED:API_TOKEN]")
      assert.include(logs, "calling the API with [REDACTED:API_TOKEN]")
      for (const [name, text] of [["journal", journal], ["logs", logs]] as const) {
        for (const spelling of Credentials.spellings(secret)) {
          assert.notInclude(text, spelling, `${name} holds the secret (${spelling})`)
        }
      }
    }).pipe(
      Effect.provide(layer),
      Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    )
  })
})
