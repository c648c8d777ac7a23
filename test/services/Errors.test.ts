/**
 * The error model: every error class the package exports declares its
 * outcome (exit code, HTTP status); the CLI and the API read it by type.
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Effect } from "effect"
import * as OpenApi from "effect/http-api/OpenApi"
import * as Graphent from "graphent"
import { Audit, Errors, Journal, Memory, Policy, Runs, Storage, Tool } from "graphent"
import * as Anthropic from "graphent/anthropic"
import * as EvalEntry from "graphent/eval"
import * as HttpTool from "graphent/http-tool"
import * as Mcp from "graphent/mcp"
import * as OpenAi from "graphent/openai"
import * as Pglite from "graphent/pglite"
import * as Postgres from "graphent/postgres"
import * as Redis from "graphent/redis"
import * as Server from "graphent/server"
import { Api } from "graphent/server"
import * as Testing from "graphent/testing"

/** Every error class reachable from the package's entry points: `Namespace.Class` → class. */
const exportedErrorClasses = (): ReadonlyMap<string, { readonly prototype: unknown }> => {
  const found = new Map<string, { readonly prototype: unknown }>()
  const visit = (path: string, namespace: object, depth: number) => {
    for (const [name, value] of Object.entries(namespace)) {
      if (typeof value === "function" && value.prototype instanceof Error) found.set(`${path}${name}`, value)
      else if (depth === 0 && typeof value === "object" && value !== null) visit(`${path}${name}.`, value, 1)
    }
  }
  visit("", Graphent, 0)
  const entries = { anthropic: Anthropic, eval: EvalEntry, "http-tool": HttpTool, mcp: Mcp, openai: OpenAi, pglite: Pglite, postgres: Postgres, redis: Redis, server: Server }
  for (const [entry, namespace] of Object.entries(entries)) visit(`${entry}/`, namespace, 0)
  visit("testing.", Testing, 1)
  return found
}

describe("Errors: every exported error declares its outcome", () => {
  it("each error class has an exit code (1, 2 or 3) and an HTTP status (4xx or 5xx)", () => {
    const classes = exportedErrorClasses()
    // The walk finds the error classes (43 when the model was introduced): an empty walk proves nothing.
    assert.isAtLeast(classes.size, 40)
    const missing: Array<string> = []
    for (const [name, errorClass] of classes) {
      if (!Errors.hasOutcome(errorClass.prototype)) {
        missing.push(name)
        continue
      }
      const { exitCode, httpStatus } = errorClass.prototype.outcome
      assert.include([1, 2, 3], exitCode, `${name}: exit code`)
      assert.isTrue(Number.isInteger(httpStatus) && httpStatus >= 400 && httpStatus <= 599, `${name}: HTTP ${httpStatus}`)
    }
    assert.deepStrictEqual(missing, [], "error classes without an outcome")
  })

  it("representative reasons map by type: a tool timeout, a store down, a pause, a missing run", () => {
    const timeout = new Tool.ToolTimeout({ stepId: "s1", tool: "fetch", timeoutMs: 1000 })
    assert.deepStrictEqual([Errors.exitCodeOf(timeout), Errors.httpStatusOf(timeout)], [1, 504])
    const down = new Journal.JournalError({ backend: "postgres", operation: "connect", reason: "refused" })
    assert.deepStrictEqual([Errors.exitCodeOf(down), Errors.httpStatusOf(down)], [2, 503])
    const paused = new Policy.ApprovalRequired({ stepId: "s1", tool: "deploy", capability: "tool:deploy", principal: "ann" })
    assert.deepStrictEqual([Errors.exitCodeOf(paused), Errors.httpStatusOf(paused)], [3, 409])
    const missing = new Runs.RunNotFound({ runId: "r1" })
    assert.deepStrictEqual([Errors.exitCodeOf(missing), Errors.httpStatusOf(missing)], [2, 404])
  })

  it.effect("an error that declares nothing is exit 1 / HTTP 500; a ConfigError is bad configuration (exit 2)", () =>
    Effect.gen(function*() {
      for (const foreign of [new Error("boom"), "a string", undefined, { outcome: "succeeded" }]) {
        assert.strictEqual(Errors.exitCodeOf(foreign), 1)
        assert.strictEqual(Errors.httpStatusOf(foreign), 500)
      }
      const configError = yield* Effect.flip(
        Config.Number("GRAPHENT_X").parse(ConfigProvider.fromUnknown({ GRAPHENT_X: "many" }))
      )
      assert.deepStrictEqual(Errors.outcomeOf(configError), Errors.misconfigured)
    }))
})

describe("Errors: the four store errors share one shape", () => {
  it("backend, operation, reason and cause; one message form; unavailable (exit 2, HTTP 503)", () => {
    const errors = [
      new Journal.JournalError({ backend: "postgres", operation: "connect", reason: "refused" }),
      new Memory.MemoryError({ backend: "redis", operation: "recall", reason: "refused" }),
      new Audit.AuditError({ backend: "file", operation: "append", reason: "refused" }),
      new Storage.StorageError({ backend: "pglite", operation: "open", reason: "refused" })
    ]
    for (const errorClass of [Journal.JournalError, Memory.MemoryError, Audit.AuditError, Storage.StorageError]) {
      assert.sameMembers(Object.keys(errorClass.fields), ["_tag", "backend", "operation", "reason", "cause"])
    }
    assert.deepStrictEqual(errors.map((error) => error.message), [
      "journal (postgres) connect failed: refused",
      "memory (redis) recall failed: refused",
      "audit log (file) append failed: refused",
      "storage (pglite) open failed: refused"
    ])
    for (const error of errors) assert.deepStrictEqual(Errors.outcomeOf(error), Errors.unavailable)
  })
})

describe("Errors: the HTTP API's statuses come from the outcomes", () => {
  it("the OpenAPI document lists each endpoint error at its outcome's status", () => {
    const spec = OpenApi.fromApi(Api.Api)
    const responses = (path: string, method: "get" | "post") =>
      Object.keys((spec.paths[path] as any)[method].responses as Record<string, unknown>)
    assert.includeMembers(responses("/v1/runs/{id}", "get"), [String(Runs.RunNotFound.prototype.outcome.httpStatus), "401", "403"])
    assert.includeMembers(responses("/v1/runs", "post"), [
      String(Runs.AgentNotFound.prototype.outcome.httpStatus),
      String(Runs.RunsOverloaded.prototype.outcome.httpStatus)
    ])
    assert.deepStrictEqual(
      [Runs.RunNotFound, Runs.AgentNotFound, Runs.RunsOverloaded].map((error) => error.prototype.outcome.httpStatus),
      [404, 404, 429]
    )
  })
})
