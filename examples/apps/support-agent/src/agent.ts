/**
 * The support agent: handles a customer's refund request. It reads the order from the orders service (an MCP server,
 * `src/ordersServer.ts`), asks the policy-lookup sub-agent which clause applies, and issues the refund — a tool the
 * policy file (`policy.json`) puts behind a human's approval. Every decision and call is journaled and audited.
 *
 *   GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=sam npx graphent run src/agent.ts \
 *     --input "Refund order A-1002: the teapot arrived damaged"        # exit 3: the refund waits for approval
 *   GRAPHENT_POLICY=policy.json npx graphent approve <run-id> <step> --by lee   # the run resumes, the refund is issued
 *
 * Offline (no `GRAPHENT_MODEL`) a small rule-based "model" plays the LLM; with `GRAPHENT_MODEL` a real one does.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { Agent, LlmPlanner, ModelConfig, ScriptedModel, Tool } from "graphent"
import { McpTools } from "graphent/mcp"
import { policyLookup } from "./policyLookup.js"

const app = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** The orders service: this Node.js running `src/ordersServer.ts`; its tool definitions pinned in `mcp/orders.json`. */
export const orders = McpTools.server({
  name: "orders",
  transport: { type: "stdio", command: process.execPath, args: [path.join(app, "src/ordersServer.ts")] },
  pinFile: path.join(app, "mcp/orders.json")
})

/** Where refunds are written (`REFUNDS_FILE`, default `out/refunds.jsonl`): the side effect that needs approval. */
const refundsFile = () => path.resolve(process.env.REFUNDS_FILE ?? "out/refunds.jsonl")

export const issueRefund = Tool.make("issue_refund", {
  description: "Refunds an order to the customer's payment method. Requires a human's approval.",
  parameters: Schema.Struct({ orderId: Schema.String, amount: Schema.Number, currency: Schema.String, reason: Schema.String }),
  success: Schema.Struct({ refundId: Schema.String }),
  capabilities: ["payments:refund"],
  handler: (refund, context) =>
    Effect.tryPromise({
      try: async () => {
        await fs.mkdir(path.dirname(refundsFile()), { recursive: true })
        const approvedBy = context.approval?.by ?? null
        await fs.appendFile(refundsFile(), `${JSON.stringify({ ...refund, runId: context.runId, approvedBy })}\n`)
        return { refundId: `R-${refund.orderId}` }
      },
      catch: (error) => `cannot record the refund: ${String(error)}`
    })
})

export default McpTools.withListings(
  Agent.make({
    name: "support",
    description: "Handles refund requests: reads the order, checks the policy, issues the refund after approval.",
    instructions: "You handle refund requests. Look the order up and ask policy_lookup which clause applies. " +
      "Issue a refund only when the clause allows it, for the amount it allows. Answer in one or two sentences.",
    tools: [...McpTools.tools(orders), Agent.asTool(policyLookup), issueRefund],
    planner: LlmPlanner.make()
  }),
  [orders]
)

// ---------------------------------------------------------------------------
// the offline model
// ---------------------------------------------------------------------------

interface Order {
  readonly orderId: string
  readonly item: string
  readonly total: number
  readonly currency: string
  readonly status: string
}

const parse = (value: unknown): unknown => (typeof value === "string" && value.startsWith("{") ? JSON.parse(value) : value)

/** Turn 1: look the order up and ask for the policy at once; turn 2: refund or explain; turn 3: report. */
const offline = ScriptedModel.layerFunction(({ prompt }) => {
  const results = ScriptedModel.lastToolResults(prompt)
  const request = ScriptedModel.lastUserText(prompt)
  if (results.length === 0) {
    const orderId = /\b[A-Z]-\d{4}\b/i.exec(request)?.[0]
    if (orderId === undefined) return ScriptedModel.text("Which order is it? Please give its id, like A-1002.")
    return ScriptedModel.toolCalls([
      { name: "orders__lookup_order", params: { orderId } },
      { name: "policy_lookup", params: { input: request } }
    ])
  }
  const refund = results.find((result) => result.name === "issue_refund")
  if (refund !== undefined) {
    return ScriptedModel.text(
      refund.isFailure
        ? `The refund was not issued: ${String(refund.result)}.`
        : `Refund ${(parse(refund.result) as { refundId: string }).refundId} issued.`
    )
  }
  const lookup = results.find((result) => result.name === "orders__lookup_order")
  if (lookup === undefined || lookup.isFailure) return ScriptedModel.text(`I could not find that order: ${String(lookup?.result)}.`)
  const order = parse(lookup.result) as Order
  const clause = String(results.find((result) => result.name === "policy_lookup")?.result ?? "")
  if (order.status !== "delivered") {
    return ScriptedModel.text(`Order ${order.orderId} has not been delivered yet, so it cannot be refunded; I opened no refund.`)
  }
  if (!/refunded in full/i.test(clause)) {
    return ScriptedModel.text(`Our policy does not allow a full refund here: ${clause.split("\n").slice(1).join(" ")}`)
  }
  return ScriptedModel.toolCall("issue_refund", {
    orderId: order.orderId,
    amount: order.total,
    currency: order.currency,
    reason: `${order.item}: ${request}`
  })
})

/**
 * The model (`GRAPHENT_MODEL`, else the offline one) and one connection to the orders server for the program's
 * lifetime (started on the first call, never during a replay).
 */
export const layer = Layer.mergeAll(
  ModelConfig.layerConfigOrElse(offline),
  McpTools.layer.pipe(Layer.provideMerge(NodeServices.layer))
)
