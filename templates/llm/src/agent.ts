/**
 * An assistant planned by a language model. With no GRAPHENT_MODEL it runs
 * offline on a scripted model; with GRAPHENT_MODEL=openai:gpt-4.1-mini (and
 * OPENAI_API_KEY), or anthropic:..., the same agent runs live.
 *
 *   npx graphent run src/agent.ts --input "what is (2 + 3) * 4?"
 */
import { Agent, LlmPlanner, ModelConfig, ScriptedModel } from "graphent"
import { calculator } from "./tools.js"

export default Agent.make({
  name: "assistant",
  description: "Answers questions; does arithmetic with its calculator.",
  instructions: "You are a concise assistant. Use the calculator for arithmetic. Answer in one sentence.",
  tools: [calculator],
  planner: LlmPlanner.make()
})

/** The offline model: calls the calculator on the arithmetic in the question, then answers with its result. */
export const offlineModel = ScriptedModel.layerFunction(({ prompt }) => {
  const results = ScriptedModel.lastToolResults(prompt)
  if (results.length > 0) {
    const result = results[0]!
    return ScriptedModel.text(result.isFailure ? `That did not work: ${String(result.result)}.` : `The answer is ${String(result.result)}.`)
  }
  const arithmetic = /[-(]*\d[\d\s.+\-*/()]*[+\-*/][\d\s.+\-*/()]*\d\)*/.exec(ScriptedModel.lastUserText(prompt))
  return arithmetic === null
    ? ScriptedModel.text("Offline, I only do arithmetic: ask me \"what is 2 + 3?\", or set GRAPHENT_MODEL.")
    : ScriptedModel.toolCalls([{ name: "calculator", params: { expression: arithmetic[0].trim() } }])
})

/** The model `graphent run` / `graphent dev` use: GRAPHENT_MODEL when it is set, the offline one otherwise. */
export const layer = ModelConfig.layerConfigOrElse(offlineModel)
