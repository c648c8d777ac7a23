/**
 * The OpenAI-compatible provider (OpenAI, Ollama, vLLM, ...): a `LanguageModel` and an
 * `EmbeddingModel` over HTTP: `import { OpenAiProvider } from "graphent/openai"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as OpenAiProvider from "./layers/OpenAiProvider.js"
/** @since 0.1.0 */
export * as EmbeddingOpenAi from "./layers/EmbeddingOpenAi.js"
