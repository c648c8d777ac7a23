import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { Policy, PolicyFile } from "graphent"

const dir = path.resolve("test/.scratch")

describe("PolicyFile", () => {
  it.effect("reads and compiles a policy file", () =>
    Effect.gen(function*() {
      fs.mkdirSync(dir, { recursive: true })
      const file = path.join(dir, `policy-${process.pid}.json`)
      fs.writeFileSync(file, JSON.stringify({ version: 1, roles: { dev: { allow: ["tool:*"] } }, principals: { al: ["dev"] } }))
      const policy = yield* PolicyFile.make(file)
      const verdict = yield* policy.check({ principal: { id: "al", roles: ["dev"] }, tool: "x", capabilities: ["tool:x"] })
      assert.strictEqual(verdict.effect, "allow")
      assert.deepStrictEqual(policy.rolesOf("al"), ["dev"])
      fs.rmSync(file)
    }))

  it.effect("typos, wrong shapes, bad JSON and missing files are PolicyInvalid, not a weaker policy", () =>
    Effect.gen(function*() {
      const cases: Array<[string, RegExp]> = [
        [JSON.stringify({ version: 1, roles: { dev: { alow: ["tool:*"] } } }), /alow/],
        [JSON.stringify({ version: 1, roles: {}, defualt: "allow" }), /defualt/],
        [JSON.stringify({ version: 2, roles: {} }), /version/],
        [JSON.stringify({ version: 1, roles: { dev: { allow: "tool:*" } } }), /allow/],
        [JSON.stringify({ version: 1, roles: { dev: { allow: [""] } } }), /empty pattern/],
        ["{ not json", /not JSON/]
      ]
      for (const [text, reason] of cases) {
        const error = yield* Effect.flip(Effect.flatMap(PolicyFile.parse(text, "test"), (doc) => Policy.make(doc, "test")))
        assert.strictEqual(error._tag, "PolicyInvalid")
        assert.match(error.message, reason, text)
      }
      const missing = yield* Effect.flip(PolicyFile.make(path.join(dir, "no-such-policy.json")))
      assert.match(missing.message, /cannot read/)
    }))
})
