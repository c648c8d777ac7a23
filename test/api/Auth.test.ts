import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { ApiAuth } from "graphent/server"
import { withEnv } from "../support/env.js"


const shape = (keys: ReadonlyArray<ApiAuth.ApiKey>) => keys.map((k) => [Redacted.value(k.key), k.role, k.name])

describe("API keys", () => {
  it.effect("parses key:role and key:role:name entries, by commas or lines, with comments", () =>
    Effect.gen(function*() {
      const keys = yield* ApiAuth.parse("k1:admin:alice, k2:viewer\n# a comment\n\nk3:runner # the CI\n", "test")
      assert.deepStrictEqual(shape(keys), [["k1", "admin", "alice"], ["k2", "viewer", "key-2"], ["k3", "runner", "key-3"]])
      // Keys stay secret when printed.
      assert.notInclude(String(keys[0]!.key), "k1")
    }))

  it.effect("rejects malformed entries and unknown roles, naming the entry but never the key", () =>
    Effect.gen(function*() {
      for (const [text, reason] of [
        ["secret-one", "entry 1 is not key:role or key:role:name"],
        ["a:viewer, secret-two:", "entry 2 is not key:role or key:role:name"],
        ["secret-three:root", `entry 1 has the unknown role "root" (roles: viewer, runner, admin)`],
        ["secret-four:admin:x:y", "entry 1 is not key:role or key:role:name"]
      ] as const) {
        const error = yield* ApiAuth.parse(text, "GRAPHENT_API_KEYS").pipe(Effect.flip)
        assert.instanceOf(error, ApiAuth.ApiKeysInvalid)
        assert.strictEqual(error.message, `API keys (GRAPHENT_API_KEYS): ${reason}`)
        assert.notMatch(error.message, /secret-/)
      }
      const inFile = yield* ApiAuth.parse("ok:viewer\nbad", "keys.txt").pipe(Effect.flip)
      assert.strictEqual(inFile.source, "keys.txt:2")
    }))

  it.effect("reads GRAPHENT_API_KEYS and the file named by GRAPHENT_API_KEYS_FILE", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-keys-"))
      const file = path.join(dir, "keys.txt")
      fs.writeFileSync(file, "# operators\nops-key:admin:ops\nci-key:runner:ci\n")
      const keys = yield* ApiAuth.fromConfig.pipe(Effect.provide(withEnv({ GRAPHENT_API_KEYS: "dash:viewer", GRAPHENT_API_KEYS_FILE: file })))
      assert.deepStrictEqual(shape(keys), [["dash", "viewer", "key-1"], ["ops-key", "admin", "ops"], ["ci-key", "runner", "ci"]])
      assert.deepStrictEqual(yield* ApiAuth.fromConfig.pipe(Effect.provide(withEnv({}))), [])
      const missing = yield* ApiAuth.fromConfig.pipe(Effect.provide(withEnv({ GRAPHENT_API_KEYS_FILE: path.join(dir, "nope.txt") })), Effect.flip)
      assert.instanceOf(missing, ApiAuth.ApiKeysInvalid)
      assert.include(missing.message, "nope.txt")
      fs.rmSync(dir, { recursive: true })
    }))

  it.effect("refuses the same key configured twice", () =>
    Effect.gen(function*() {
      const keys = yield* ApiAuth.parse("same:viewer:a, same:admin:b", "test")
      const error = yield* Layer.build(ApiAuth.layer(keys)).pipe(Effect.scoped, Effect.flip)
      assert.strictEqual(error.message, "API keys (b): the same key is configured twice")
    }))
})
