/**
 * A handoff: a triage agent looks the customer up, then hands the rest of the
 * run over to a specialist (the OpenAI Agents SDK's handoff). The model sees
 * `transfer_to_billing` and `transfer_to_support` as tools; calling one is a
 * `Handoff` decision, the specialist gets the conversation so far (the
 * user's message, the lookup and its result), and its answer is the run's.
 *
 *   npx graphent run examples/handoff.ts --input "I was charged twice" --record handoff.jsonl
 *   npx graphent trace show handoff.jsonl
 *
 * Offline on a scripted model without `GRAPHENT_MODEL`.
 */
import { Effect, Schema } from "effect"
import { Agent, LlmPlanner, ModelConfig, Planner, ScriptedModel, Tool } from "graphent"

/** The customer's account (a lookup: it changes nothing). */
const account = Tool.make("account", {
  description: "Looks up the customer's account",
  parameters: Schema.Struct({}),
  success: Schema.String,
  idempotent: true,
  handler: () => Effect.succeed("acct-42")
})

const refund = Tool.make("refund", {
  description: "Refunds the last charge of an account",
  parameters: Schema.Struct({ account: Schema.String, reason: Schema.String }),
  success: Schema.String,
  handler: ({ account, reason }) => Effect.succeed(`refunded ${account} (${reason})`)
})

/** The account the triage looked up, from the conversation it handed over. */
const accountOf = (state: Planner.RunState): string => {
  const lookup = state.conversation?.find((item) => item._tag === "ToolCall" && item.tool === "account")
  return lookup?._tag === "ToolCall" && typeof lookup.result === "string" ? lookup.result : "unknown"
}

export const billing = Agent.make({
  name: "billing",
  description: "Handles charges and refunds",
  tools: [refund],
  planner: {
    decide: (state) => {
      if (state.turn === 1) {
        return Effect.succeed(
          Planner.runSteps([{ id: "refund", tool: "refund", args: { account: accountOf(state), reason: "double charge" } }])
        )
      }
      const refunded = state.outcomes.get("refund")
      return Effect.succeed(
        refunded?._tag === "Succeeded" ? Planner.answer(`Billing: ${String(refunded.value)}.`) : Planner.fail("the refund failed")
      )
    }
  }
})

export const support = Agent.make({
  name: "support",
  description: "Answers product questions",
  tools: [],
  planner: {
    decide: (state) =>
      Effect.succeed(Planner.answer(`Support: about "${state.input}" (${state.conversation?.length ?? 0} messages handed over), see the manual.`))
  }
})

export default Agent.make({
  name: "triage",
  description: "Sends each request to the right specialist",
  instructions: "Look the customer up, then hand billing questions to billing and everything else to support.",
  tools: [
    account,
    // Billing gets the whole conversation (it needs the account); support only the messages.
    Agent.handoff(billing),
    Agent.handoff(support, { inputFilter: Agent.removeToolCalls })
  ],
  planner: LlmPlanner.make()
})

/** The offline model: look the account up first; then a charge goes to billing, anything else to support. */
const offlineModel = ScriptedModel.layerFunction(({ prompt }) => {
  const input = ScriptedModel.lastUserText(prompt)
  if (!prompt.content.some((message) => message.role === "tool")) {
    return ScriptedModel.toolCalls([{ name: "account", params: {}, id: "lookup" }])
  }
  const target = /charge|refund|invoice/i.test(input) ? "transfer_to_billing" : "transfer_to_support"
  return ScriptedModel.toolCalls([{ name: target, params: { input }, id: "handoff" }])
})

/** The model: `GRAPHENT_MODEL` when it is set, the offline one otherwise. */
export const layer = ModelConfig.layerConfigOrElse(offlineModel)
