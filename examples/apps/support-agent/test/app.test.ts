/**
 * The support agent end to end: the refund waits for a human — approved from the CLI (real processes, the orders
 * MCP server started by each), rejected through the Promise API in-process — the refund is issued exactly once and
 * only when approved, every decision is in the audit log, and the golden journal (MCP calls, a sub-agent's child
 * run, the approval) replays with no server started and no model called.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { AuditMemory, Graphent, PolicyFile, ToolGuard } from "graphent"
import * as Testing from "graphent/testing"
import { run, scratch } from "../../../../test/support/cli.js"
import agent, { layer } from "../src/agent.js"

const app = path.resolve(import.meta.dirname, "..")
const request = "Refund order A-1002: the teapot arrived damaged"
const refunds = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "") : [])

describe("support agent", () => {
  it("CLI: the refund pauses the run (exit 3); `graphent approve` issues it once, audited; a second approval is refused", async () => {
    const home = scratch("support")
    const env = {
      GRAPHENT_HOME: path.join(home, ".graphent"),
      GRAPHENT_POLICY: path.join(app, "policy.json"),
      GRAPHENT_AUDIT: path.join(home, "audit.jsonl"),
      REFUNDS_FILE: path.join(home, "refunds.jsonl")
    }
    const journal = path.join(home, "run.jsonl")
    const paused = await run(["run", path.join(app, "src/agent.ts"), "--input", request, "--record", journal], {
      cwd: app,
      env: { ...env, GRAPHENT_PRINCIPAL: "sam" }
    })
    assert.strictEqual(paused.code, 3, paused.stderr)
    const step = /paused: step "([^"]+)" \(tool "issue_refund"/.exec(paused.stderr)?.[1]
    assert.isDefined(step, paused.stderr)
    assert.deepStrictEqual(refunds(env.REFUNDS_FILE), [], "refunded before the approval")

    const approved = await run(["approve", journal, step!, "--by", "lee", "--reason", "damaged in transit"], { cwd: app, env })
    assert.strictEqual(approved.code, 0, approved.stderr)
    assert.strictEqual(approved.stdout.trim(), "Refund R-A-1002 issued.")
    const [issued, ...more] = refunds(env.REFUNDS_FILE).map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.deepStrictEqual([issued?.orderId, issued?.amount, issued?.approvedBy, more.length], ["A-1002", 49.9, "lee", 0])

    const again = await run(["approve", journal, step!, "--by", "lee"], { cwd: app, env })
    assert.strictEqual(again.code, 2, again.stderr)
    assert.strictEqual(refunds(env.REFUNDS_FILE).length, 1)
    const audit = fs.readFileSync(env.GRAPHENT_AUDIT, "utf8")
    assert.include(audit, "\"tool\":\"issue_refund\"")
    assert.include(audit, "\"tool\":\"orders__lookup_order\"")
  })

  it("Promise API: a rejected refund is never issued, and the customer is told", async () => {
    const refundsFile = path.join(scratch("support-reject"), "refunds.jsonl")
    process.env.REFUNDS_FILE = refundsFile
    const graphent = Graphent.create({
      agents: [agent],
      layer: Layer.mergeAll(layer, ToolGuard.layer().pipe(
        Layer.provideMerge(Layer.mergeAll(PolicyFile.layer({ path: path.join(app, "policy.json") }), AuditMemory.layer()))
      ))
    })
    try {
      const runId = "refund-request-1"
      const paused = await graphent.run(agent, request, { runId, principal: { id: "sam", roles: ["support"] } }).then(
        () => assert.fail("the refund did not wait for approval"),
        (error: unknown) => error as { readonly _tag: string; readonly stepId: string; readonly tool: string }
      )
      assert.deepStrictEqual([paused._tag, paused.tool], ["ApprovalRequired", "issue_refund"])
      const result = await graphent.reject(runId, paused.stepId, { by: "lee", reason: "not covered" })
      assert.match(result.answer as string, /^The refund was not issued/)
      assert.deepStrictEqual(refunds(refundsFile), [])
    } finally {
      delete process.env.REFUNDS_FILE
      await graphent.close()
    }
  })

  // Recorded with the commands of the README (a run paused for approval, then `graphent approve`).
  it.effect("replays its golden journal: MCP calls, the sub-agent's child run and the approval, with no server", () =>
    Testing.replayJournal(agent, path.join(app, "test/fixtures/support.jsonl")).pipe(Effect.provide(layer)))
})
