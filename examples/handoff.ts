/**
 * A handoff: a triage agent hands the rest of the run over to a specialist
 * (the OpenAI Agents SDK's handoff). The model sees `transfer_to_billing` and
 * `transfer_to_support` as tools; calling one is a `Handoff` decision, and the
 * specialist's answer is the run's answer.
 *
 *   npx graphent run examples/handoff.ts --input "I was charged twice" --record handoff.jsonl
 *   npx graphent trace show handoff.jsonl
 *
 * Offline on a scripted model without `GRAPHENT_MODEL`.
 */
import { Effect, Schema } from "effect"
import { Agent, LlmPlanner, ModelConfig, Planner, ScriptedModel, SequencePlanner, Tool } from "graphent"

const refund = Tool.make("refund", {
  description: "Refunds the last charge",
  parameters: Schema.Struct({ reason: Schema.String }),
  success: Schema.String,
  handler: ({ reason }) => Effect.succeed(`refunded (${reason})`)
})

export const billing = Agent.make({
  name: "billing",
  description: "Handles charges and refunds",
  tools: [refund],
  planner: SequencePlanner.plan({
    steps: [{ id: "refund", tool: "refund", args: { reason: "double charge" } }],
    answer: (results) => `Billing: ${results.refund}.`
  })
})

export const support = Agent.make({
  name: "support",
  description: "Answers product questions",
  tools: [],
  planner: { decide: (state) => Effect.succeed(Planner.answer(`Support: about "${state.input}", see the manual.`)) }
})

export default Agent.make({
  name: "triage",
  description: "Sends each request to the right specialist",
  instructions: "Hand billing questions to billing and everything else to support.",
  tools: [Agent.handoff(billing), Agent.handoff(support)],
  planner: LlmPlanner.make()
})

/** The offline model: a charge goes to billing, anything else to support. */
const offlineModel = ScriptedModel.layerFunction(({ prompt }) => {
  const input = ScriptedModel.lastUserText(prompt)
  const target = /charge|refund|invoice/i.test(input) ? "transfer_to_billing" : "transfer_to_support"
  return ScriptedModel.toolCalls([{ name: target, params: { input }, id: "handoff" }])
})

/** The model: `GRAPHENT_MODEL` when it is set, the offline one otherwise. */
export const layer = ModelConfig.layerConfigOrElse(offlineModel)
