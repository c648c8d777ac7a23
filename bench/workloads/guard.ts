/**
 * GUARD: what least privilege costs per tool step — a 200-step run (one
 * trivial step per turn) with the plain executor, with `ToolGuard` (policy
 * check + audit entry, in memory and in a JSON Lines file), and with a tool
 * that declares a secret (lookup, injection, redaction of the result).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import {
  Agent,
  AgentRuntime,
  Audit,
  AuditFile,
  AuditMemory,
  Credentials,
  LocalRuntime,
  Planner,
  Policy,
  Tool,
  ToolGuard
} from "../../src/index.js"
import { batchTiming, runInChild, timeBatches } from "../harness.js"
import type { Report, Workload } from "../report.js"

const steps = 200

type Mode = "plain" | "guard-memory" | "guard-file" | "secret"

const makeAgent = (secret: boolean) => {
  const lookup = Tool.make("lookup", {
    description: "Looks a key up.",
    parameters: Schema.Struct({ key: Schema.String }),
    success: Schema.Struct({ key: Schema.String, value: Schema.Number }),
    capabilities: ["net:api.example.com"],
    ...(secret ? { secrets: ["API_TOKEN"] } : {}),
    handler: ({ key }) => Effect.succeed({ key, value: key.length })
  })
  return Agent.make({
    name: "guard",
    tools: [lookup],
    planner: {
      decide: (state) =>
        Effect.succeed(
          state.turn <= steps
            ? Planner.runSteps([{ id: `s${state.turn}`, tool: "lookup", args: { key: `key-${state.turn}` } }])
            : Planner.answer("done")
        )
    },
    budget: { maxSteps: steps, maxTurns: steps + 1 }
  })
}

const policy: Policy.Document = { version: 1, roles: { bench: { allow: ["tool:*", "net:*"] } } }

/** Task (child process): microseconds per step of one mode. */
export const measure = async (params: { readonly mode: Mode }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-guard-"))
  const audit: Layer.Layer<Audit.Audit, unknown> = params.mode === "guard-file"
    ? AuditFile.layer({ path: path.join(dir, "audit.jsonl") })
    : AuditMemory.layer()
  const guard = params.mode === "guard-memory" || params.mode === "guard-file"
    ? ToolGuard.layer().pipe(Layer.provide(Layer.mergeAll(audit, Policy.layer(policy))))
    : Layer.empty
  const runtime = ManagedRuntime.make(
    Layer.mergeAll(LocalRuntime.layerMemory, guard, Credentials.layerTest({ API_TOKEN: "tok_bench_123456" })) as Layer.Layer<
      AgentRuntime.AgentRuntime
    >
  )
  const agent = makeAgent(params.mode === "secret")
  const principal = { id: "bench", roles: ["bench"] }
  const { msPerRep } = await timeBatches((reps) =>
    runtime.runPromise(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < reps; i++) yield* AgentRuntime.run(agent, "go", { principal })
      return performance.now() - startedAt
    })), batchTiming)
  await runtime.dispose()
  fs.rmSync(dir, { recursive: true, force: true })
  return { usPerStep: (msPerRep * 1000) / steps }
}

export const workload: Workload = {
  id: "guard",
  run: async (): Promise<Report> => {
    const modes: ReadonlyArray<[Mode, string]> = [
      ["plain", "plain executor"],
      ["guard-memory", "ToolGuard, audit in memory"],
      ["guard-file", "ToolGuard, audit to a file"],
      ["secret", "tool with a secret (no guard)"]
    ]
    const results: Array<{ mode: Mode; what: string; usPerStep: number; peakRssMb: number }> = []
    for (const [mode, what] of modes) {
      const result = await runInChild<typeof measure>(import.meta.url, "measure", { mode })
      results.push({ mode, what, ...result })
    }
    const plain = results[0]!.usPerStep
    return {
      title: `cost of policy checks, auditing and secrets per tool step (${steps}-step runs)`,
      targets: "report µs per step beside the plain executor",
      columns: [
        { key: "what", header: "what" },
        { key: "usPerStep", header: "µs per step", digits: 1 },
        { key: "extra", header: "extra µs", digits: 1 },
        { key: "peakRssMb", header: "peak RSS MB", digits: 0 }
      ],
      rows: results.map((result) => ({
        what: result.what,
        usPerStep: result.usPerStep,
        extra: result.usPerStep - plain,
        peakRssMb: result.peakRssMb
      })),
      notes: []
    }
  }
}
