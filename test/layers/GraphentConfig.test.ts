/**
 * The environment is read in one place (`GraphentConfig`), documented with
 * every variable; the CLI's wiring chooses the guarded executor from it; layer
 * types say what they wire in, and a guarded wiring's type differs from an
 * unguarded one (checked by `tsc --noEmit`, which covers this file).
 */
import { afterAll, assert, describe, expectTypeOf, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import {
  Agent,
  AgentRuntime,
  Audit,
  AuditMemory,
  Credentials,
  GraphentConfig,
  Policy,
  Pricing,
  SequencePlanner,
  Tool,
  ToolGuard,
  Tools,
  Wired
} from "graphent"
import * as Testing from "graphent/testing"
import { layerSecurity } from "../../src/programs/cliSupport.js"
import { withEnv } from "../support/env.js"
import * as Cli from "../support/cli.js"

const dir = Cli.scratch("graphent-config")
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const policyFile = path.join(dir, "policy.json")
fs.writeFileSync(policyFile, JSON.stringify({ version: 1, roles: { dev: { allow: ["tool:echo"] } }, principals: { alice: ["dev"] } }))

const ran: Array<string> = []
const tool = (name: string) =>
  Tool.make(name, {
    description: name,
    parameters: Schema.Struct({}),
    success: Schema.String,
    handler: () => Effect.sync(() => (ran.push(name), name))
  })
const agent = Agent.make({
  name: "two",
  tools: [tool("echo"), tool("wipe")],
  planner: SequencePlanner.plan({ steps: [{ id: "e", tool: "echo", args: {} }, { id: "w", tool: "wipe", args: {} }] })
})

describe("GraphentConfig: every GRAPHENT_* variable in one place", () => {
  it.effect("reads the environment through Config; unset variables are undefined, secrets Redacted", () =>
    Effect.gen(function*() {
      const settings = yield* GraphentConfig.GraphentConfig
      assert.strictEqual(settings.policy, "p.json")
      assert.strictEqual(settings.roles, "dev,ops")
      assert.isTrue(Redacted.isRedacted(settings.databaseUrl))
      assert.strictEqual(Redacted.value(settings.databaseUrl!), "postgres://secret@db/x")
      assert.notInclude(String(settings.databaseUrl), "secret")
      assert.isUndefined(settings.audit)
      assert.isUndefined(settings.apiKeys)
    }).pipe(
      Effect.provide(GraphentConfig.layer.pipe(
        Layer.provide(withEnv({ GRAPHENT_POLICY: "p.json", GRAPHENT_ROLES: "dev,ops", GRAPHENT_DATABASE_URL: "postgres://secret@db/x" }))
      ))
    ))

  it("lists every variable the sources name, and docs/configuration.md documents each", () => {
    const named = new Set<string>()
    const walk = (folder: string): void => {
      for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
        const file = path.join(folder, entry.name)
        if (entry.isDirectory()) walk(file)
        else if (/\.(ts|js)$/.test(entry.name)) {
          for (const match of fs.readFileSync(file, "utf8").matchAll(/\bGRAPHENT_[A-Z0-9_]*[A-Z0-9]\b/g)) named.add(match[0])
        }
      }
    }
    walk("src")
    const listed = new Set<string>(Object.values(GraphentConfig.variables).map((variable) => variable.name))
    // A family of variables, not one: the secrets handed to tools (GRAPHENT_SECRET_<NAME>).
    const families = [/^GRAPHENT_SECRET_(?!PREFIX$)/]
    const missing = [...named].filter((name) => !listed.has(name) && !families.some((family) => family.test(name)))
    assert.deepStrictEqual(missing, [], "variables read in src but not listed in GraphentConfig.variables")
    const docs = fs.readFileSync("docs/configuration.md", "utf8")
    assert.deepStrictEqual([...listed].filter((name) => !docs.includes(`\`${name}\``)), [], "not in docs/configuration.md")
  })

  it.effect("layerFrom: the same settings without any environment (unset ones undefined)", () =>
    Effect.gen(function*() {
      const settings = yield* GraphentConfig.GraphentConfig
      assert.strictEqual(settings.policy, policyFile)
      assert.isUndefined(settings.principal)
    }).pipe(Effect.provide(GraphentConfig.layerFrom({ policy: policyFile }))))
})

describe("the CLI's security wiring: guarded only when the settings name a policy", () => {
  const audit = AuditMemory.make()
  const runWith = (settings: Partial<GraphentConfig.Settings>) =>
    Effect.gen(function*() {
      ran.length = 0
      const guarded = yield* Effect.serviceOption(Policy.Guarded)
      const exit = yield* Effect.exit(AgentRuntime.run(agent, "go", { principal: { id: "alice", roles: ["dev"] } }))
      return { guarded: Option.isSome(guarded), exit }
    }).pipe(
      Effect.provide(Layer.mergeAll(
        Testing.layer,
        layerSecurity.pipe(Layer.provide(GraphentConfig.layerFrom(settings)))
      )),
      Effect.provide(Layer.succeed(Audit.Audit, audit))
    )

  it.effect("no policy: nothing checked, both tools run", () =>
    Effect.gen(function*() {
      const { exit, guarded } = yield* runWith({})
      assert.isFalse(guarded)
      assert.isTrue(Exit.isSuccess(exit))
      assert.deepStrictEqual(ran, ["echo", "wipe"])
    }))

  it.effect("a policy: Guarded in context, the call the policy does not allow is denied and never runs", () =>
    Effect.gen(function*() {
      const { exit, guarded } = yield* runWith({ policy: policyFile, audit: path.join(dir, "audit.jsonl") })
      assert.isTrue(guarded)
      assert.deepStrictEqual(ran, ["echo"])
      assert.isTrue(Exit.isFailure(exit))
      const entries = fs.readFileSync(path.join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line))
        .filter((entry) => entry.tool !== undefined)
      assert.deepStrictEqual(entries.map((entry) => [entry.tool, entry.decision]), [["echo", "allow"], ["wipe", "deny"]])
    }))

  it.effect("a policy file that does not exist: PolicyInvalid, no run", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(layerSecurity.pipe(
        Layer.provide(GraphentConfig.layerFrom({ policy: path.join(dir, "missing.json") }))
      )).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "PolicyInvalid")
    }))

  it.effect("ToolGuard.layerConfig: the guarded executor from GRAPHENT_POLICY; unset, a ConfigError naming it", () =>
    Effect.gen(function*() {
      const unset = yield* Effect.flip(Layer.build(ToolGuard.layerConfig).pipe(Effect.scoped, Effect.provide(withEnv({}))))
      assert.strictEqual(unset._tag, "ConfigError")
      assert.include(unset.message, "GRAPHENT_POLICY")
      const guarded = yield* Effect.serviceOption(Policy.Guarded).pipe(
        Effect.provide(ToolGuard.layerConfig),
        Effect.provide(withEnv({ GRAPHENT_POLICY: policyFile, GRAPHENT_AUDIT: path.join(dir, "config-audit.jsonl") }))
      )
      assert.isTrue(Option.isSome(guarded))
    }))

  it.effect("principalFrom: roles from GRAPHENT_ROLES, else from the policy's principals", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* ToolGuard.principalFrom({ principal: "alice", roles: " a, b ,", policy: undefined }), {
        id: "alice",
        roles: ["a", "b"]
      })
      assert.deepStrictEqual(yield* ToolGuard.principalFrom({ principal: "alice", roles: undefined, policy: policyFile }), {
        id: "alice",
        roles: ["dev"]
      })
      assert.isUndefined(yield* ToolGuard.principalFrom({ principal: undefined, roles: "x", policy: policyFile }))
    }))
})

describe("layer types say what they wire in", () => {
  const policy = Policy.layer({ version: 1, roles: {} }).pipe(Layer.orDie)
  const guarded = ToolGuard.layer().pipe(Layer.provide([policy, Layer.succeed(Audit.Audit, AuditMemory.make())]))
  const program = ToolGuard.requireGuarded(Effect.succeed("checked"))

  it("a guarded wiring provides Policy.Guarded; an unguarded one does not", () => {
    expectTypeOf(guarded).toEqualTypeOf<Layer.Layer<Policy.Guarded>>()
    expectTypeOf(Testing.layer).not.toExtend<Layer.Layer<Policy.Guarded, unknown, unknown>>()
    expectTypeOf(program).toEqualTypeOf<Effect.Effect<string, never, Policy.Guarded>>()
    // A program that must run guarded does not compile against an unguarded wiring.
    // @ts-expect-error Policy.Guarded is not provided by Testing.layer
    const unguarded: Effect.Effect<string> = program.pipe(Effect.provide(Testing.layer))
    void unguarded
    const checked: Effect.Effect<string> = program.pipe(Effect.provide(guarded))
    void checked
  })

  it("layers that replace a default service name it", () => {
    expectTypeOf(Tools.layerTest({})).toEqualTypeOf<Layer.Layer<Wired.Wired<"Tools">>>()
    expectTypeOf(Credentials.layerTest({})).toEqualTypeOf<Layer.Layer<Wired.Wired<"Credentials">>>()
    expectTypeOf(Pricing.layer({})).toEqualTypeOf<Layer.Layer<Wired.Wired<"Pricing">>>()
    expectTypeOf(Testing.layerSequentialIds()).toEqualTypeOf<Layer.Layer<Wired.Wired<"Ids">>>()
  })

  it.effect("at run time: Guarded holds the enforced policy; the markers are in context", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* program.pipe(Effect.provide(guarded)), "checked")
      const { policy: enforced } = yield* Effect.service(Policy.Guarded).pipe(Effect.provide(guarded))
      assert.strictEqual((yield* enforced.check({ principal: Policy.anonymous, tool: "x", capabilities: ["tool:x"] })).effect, "deny")
      assert.strictEqual(yield* Effect.service(Wired.key("Tools")).pipe(Effect.provide(Tools.layerTest({}))), "Tools")
    }))
})
