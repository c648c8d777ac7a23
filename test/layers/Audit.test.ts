import { afterAll, assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { Audit, AuditFile, AuditMemory } from "graphent"
import { AuditPg } from "graphent/postgres"
import { pgConfig } from "../support/services.js"
import * as Store from "../support/store.js"

const testId = randomUUID().slice(0, 8)
const pgPrefix = `graphent_a${testId}_`
const PgLive = PgClient.layer({
  ...pgConfig,
  applicationName: `graphent-audit-test-${testId}`
})
const dir = fs.mkdtempSync(path.join(path.resolve("test/.scratch"), "audit-"))

afterAll(async () => {
  await Store.dropPgPrefixes([pgPrefix])
  fs.rmSync(dir, { recursive: true, force: true })
}, 60_000)

const entry = (n: number, overrides: Partial<Audit.Entry> = {}): Audit.Entry => ({
  at: 1_800_000_000_000 + n * 1000,
  runId: n % 2 === 0 ? "run-even" : "run-odd",
  stepId: `s${n}`,
  agent: "auditor",
  principal: n % 3 === 0 ? "alice" : "bob",
  roles: ["dev"],
  tool: n % 2 === 0 ? "fetch" : "deploy",
  argsHash: Audit.hashArgs({ n }),
  capabilities: ["tool:x", "net:api.example.com"],
  decision: n === 4 ? "deny" : n === 5 ? "approved" : "allow",
  rule: "dev: allow tool:*",
  ...(n === 5 ? { approvedBy: "carol" } : {}),
  outcome: n === 4 ? "denied" : n === 6 ? "failed" : "succeeded",
  ...(n === 6 ? { error: { _tag: "ToolFailed", message: "boom" } } : {}),
  durationMs: n * 1.5,
  ...overrides
})

const contract = (name: string, layer: Layer.Layer<Audit.Audit, unknown>) =>
  describe(`Audit contract: ${name}`, () => {
    it.effect("appends and queries by run, principal, tool, decision, outcome, time; oldest first; limit keeps the latest", () =>
      Effect.gen(function*() {
        const audit = yield* Audit.Audit
        const entries = Array.from({ length: 8 }, (_, i) => entry(i + 1))
        for (const e of entries) yield* audit.append(e)
        assert.deepStrictEqual(yield* audit.query({}), entries)
        assert.deepStrictEqual((yield* audit.query({ runId: "run-even" })).map((e) => e.stepId), ["s2", "s4", "s6", "s8"])
        assert.deepStrictEqual((yield* audit.query({ principal: "alice" })).map((e) => e.stepId), ["s3", "s6"])
        assert.deepStrictEqual((yield* audit.query({ tool: "deploy", decision: "approved" })).map((e) => e.approvedBy), ["carol"])
        assert.deepStrictEqual((yield* audit.query({ outcome: "failed" }))[0]?.error, { _tag: "ToolFailed", message: "boom" })
        assert.deepStrictEqual((yield* audit.query({ decision: "deny" })).map((e) => e.stepId), ["s4"])
        assert.deepStrictEqual(
          (yield* audit.query({ since: entries[2]!.at, until: entries[5]!.at })).map((e) => e.stepId),
          ["s3", "s4", "s5"]
        )
        assert.deepStrictEqual((yield* audit.query({ limit: 3 })).map((e) => e.stepId), ["s6", "s7", "s8"])
        assert.deepStrictEqual(yield* audit.query({ limit: 0 }), [])
      }).pipe(Effect.provide(Layer.fresh(layer))))
  })

contract("memory", AuditMemory.layer())
contract("file", AuditFile.layer({ path: path.join(dir, "audit.jsonl") }))
contract("postgres", AuditPg.layerNoDeps({ tablePrefix: pgPrefix }).pipe(Layer.provide(PgLive)))

describe("AuditFile", () => {
  it.effect("a header line, one entry per line, mode 0600; a torn last line is dropped and the next entry starts fresh", () =>
    Effect.gen(function*() {
      const file = path.join(dir, "torn", "audit.jsonl")
      yield* Effect.gen(function*() {
        const audit = yield* Audit.Audit
        yield* audit.append(entry(1))
      }).pipe(Effect.provide(AuditFile.layer({ path: file })))
      assert.strictEqual(fs.statSync(file).mode & 0o777, 0o600)
      const lines = fs.readFileSync(file, "utf8").split("\n")
      assert.strictEqual(JSON.parse(lines[0]!)._tag, "AuditHeader")
      fs.appendFileSync(file, '{"at":123,"runId":"tor')
      assert.deepStrictEqual((yield* AuditFile.read(file)).map((e) => e.stepId), ["s1"])
      yield* Effect.gen(function*() {
        const audit = yield* Audit.Audit
        yield* audit.append(entry(2))
        assert.deepStrictEqual((yield* audit.query({})).map((e) => e.stepId), ["s1", "s2"])
      }).pipe(Effect.provide(AuditFile.layer({ path: file })))
    }))

  it.effect("a file that is not an audit log is a typed error naming the line", () =>
    Effect.gen(function*() {
      const file = path.join(dir, "bad.jsonl")
      fs.writeFileSync(file, '{"_tag":"JournalHeader"}\n')
      const error = yield* Effect.flip(AuditFile.read(file))
      assert.strictEqual(error._tag, "AuditError")
      assert.include(error.message, "bad.jsonl:1: not a graphent audit file")
      fs.writeFileSync(file, `${JSON.stringify({ _tag: "AuditHeader", format: "graphent-audit", version: 1, createdAt: 1 })}\n{"x":1}\n`)
      const second = yield* Effect.flip(AuditFile.read(file))
      assert.include(second.message, "bad.jsonl:2: not an audit entry")
      assert.deepStrictEqual(yield* AuditFile.read(path.join(dir, "absent.jsonl")), [])
    }))
})

describe("Audit.hashArgs", () => {
  it("is the SHA-256 of canonical JSON: key order does not matter, values do", () => {
    assert.strictEqual(Audit.hashArgs({ a: 1, b: [1, { c: 2, d: 3 }] }), Audit.hashArgs({ b: [1, { d: 3, c: 2 }], a: 1 }))
    assert.notStrictEqual(Audit.hashArgs({ a: 1 }), Audit.hashArgs({ a: 2 }))
    assert.match(Audit.hashArgs(undefined), /^[0-9a-f]{64}$/)
  })
})
