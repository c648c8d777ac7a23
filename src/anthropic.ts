/**
 * The Anthropic provider: a `LanguageModel` over the Messages API: `import { AnthropicProvider } from "graphent/anthropic"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as AnthropicProvider from "./layers/AnthropicProvider.js"
