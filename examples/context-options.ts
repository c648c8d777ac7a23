import { Effect, Layer, Redacted } from "effect"
import { LlmPlanner, ModelFallback, Pricing } from "graphent"
import { AnthropicProvider } from "graphent/anthropic"
import { OpenAiProvider } from "graphent/openai"

// Drop the oldest turns, keeping the last 6 (and fewer if the prompt still does not fit).
export const dropping = LlmPlanner.make({ context: { policy: "keep-last-n", keep: 6 } })

// A custom policy: forget all but the last two turns, and say so in the summary.
export const custom = LlmPlanner.make({
  context: {
    limit: 32_768,
    policy: (input) =>
      Effect.succeed({
        removeTurns: Math.max(0, input.messages.length / 2 - 2),
        summary: `${input.summary ?? ""} (older tool results were dropped)`.trim()
      })
  }
})

// Cached input tokens are priced at `cachedInput` (per million tokens, like `input` and `output`).
export const prices = Pricing.layer({
  "anthropic:claude-sonnet-4-5": { input: 3, output: 15, cachedInput: 0.3 },
  "openai:gpt-4.1-mini": { input: 0.4, output: 1.6, cachedInput: 0.1 }
})

// The window of a model Graphent does not know (GRAPHENT_CONTEXT_WINDOWS does the same from the environment).
export const windows = Pricing.layerContextWindows({ "openai:qwen3:8b": 32_768 })

// Model fallback in code: what GRAPHENT_MODEL=openai:gpt-4.1-mini,anthropic:claude-haiku-4-5 builds.
export const model = ModelFallback.layer([
  {
    label: "openai:gpt-4.1-mini",
    layer: OpenAiProvider.layer({ model: "gpt-4.1-mini", apiKey: Redacted.make(process.env.OPENAI_API_KEY ?? "") })
  },
  {
    label: "anthropic:claude-haiku-4-5",
    layer: AnthropicProvider.layer({
      model: "claude-haiku-4-5",
      apiKey: Redacted.make(process.env.ANTHROPIC_API_KEY ?? ""),
      promptCaching: true // the default: cache breakpoints on the tools, the system prompt and the conversation
    })
  }
])

export const live = Layer.mergeAll(model, prices, windows)
