/**
 * Model fallback: a list of models that answers as one. Each call goes to the
 * first model; when its provider fails with a retryable failure after its
 * own retries (a 429 that did not clear, a 5xx, a network error, a timeout),
 * the next model of the list answers, and so on. Any other failure (a bad
 * key, a rejected request, content policy, quota) is the call's failure: it
 * would fail on the next model too, or it must be seen.
 *
 * The response says which model answered (`graphent.model` in its finish
 * part's metadata); the LLM planner journals it as the `ModelCalled` event's
 * `model`, so the trace shows it and replay answers from the record.
 *
 * ```sh
 * GRAPHENT_MODEL=openai:gpt-4.1-mini,anthropic:claude-haiku-4-5
 * ```
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as AiError from "effect/ai/AiError"
import type * as LanguageModel from "effect/ai/LanguageModel"
import * as Model from "effect/ai/Model"
import type * as Response from "effect/ai/Response"
import { isRetryable } from "../internal/modelHttp.js"
import * as ModelTransport from "../services/ModelTransport.js"

/**
 * One model of a list: its name in the journal (`provider:model`) and its
 * provider layer.
 *
 * @since 0.2.0
 * @category models
 */
export interface Candidate<E, R> {
  readonly label: string
  readonly layer: Layer.Layer<LanguageModel.LanguageModel | ModelTransport.ModelTransport, E, R>
}

/**
 * Whether a provider's failure lets the next model of a list answer: the
 * failures providers retry (429, 5xx, network errors, timeouts), reported
 * once their retries are spent.
 *
 * @since 0.2.0
 * @category predicates
 */
export const fallsBack = (error: AiError.AiError): boolean => isRetryable(error.reason)

/** The finish part, naming the model that answered. */
const named = <P extends Response.StreamPartEncoded | Response.PartEncoded>(part: P, label: string): P =>
  part.type === "finish" ? { ...part, metadata: { ...part.metadata, graphent: { model: label } } } : part

/**
 * The transport of a list of models: each call tries them in order, moving on
 * only after a failure that {@link fallsBack}. A stream moves on only when it
 * fails before its first part (what was streamed cannot be taken back).
 *
 * @since 0.2.0
 * @category constructors
 */
export const transport = (
  models: ReadonlyArray<{ readonly label: string; readonly transport: ModelTransport.ModelTransportShape }>
): ModelTransport.ModelTransportShape => {
  const generateText = (options: LanguageModel.ProviderOptions, index: number): ReturnType<ModelTransport.ModelTransportShape["generateText"]> => {
    const model = models[index]!
    const call = Effect.map(model.transport.generateText(options), (parts) => parts.map((part) => named(part, model.label)))
    return index + 1 >= models.length ? call : Effect.catchIf(call, fallsBack, () => generateText(options, index + 1))
  }
  const streamText = (options: LanguageModel.ProviderOptions, index: number): ReturnType<ModelTransport.ModelTransportShape["streamText"]> =>
    Stream.suspend(() => {
      const model = models[index]!
      let started = false
      const stream = model.transport.streamText(options).pipe(
        Stream.map((part) => {
          started = true
          return named(part, model.label)
        })
      )
      return index + 1 >= models.length
        ? stream
        : Stream.catchIf(stream, (error) => !started && fallsBack(error), () => streamText(options, index + 1))
    })
  return {
    generateText: (options) => generateText(options, 0),
    streamText: (options) => streamText(options, 0)
  }
}

/**
 * The models of `candidates` as one `LanguageModel` (and `ModelTransport`)
 * that falls back from each to the next; `Model.ProviderName` and
 * `Model.ModelName` name the first.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <E, R>(
  candidates: readonly [Candidate<E, R>, ...Array<Candidate<E, R>>]
): Layer.Layer<ModelTransport.Provides, E, R> => {
  const first = candidates[0].label
  const colon = first.indexOf(":")
  const build = Effect.gen(function*() {
    const models: Array<{ label: string; transport: ModelTransport.ModelTransportShape }> = []
    for (const candidate of candidates) {
      const context = yield* Layer.build(candidate.layer)
      models.push({ label: candidate.label, transport: Context.get(context, ModelTransport.ModelTransport) })
    }
    const combined = transport(models)
    return yield* ModelTransport.make({ generateText: combined.generateText, streamText: combined.streamText })
  })
  return Layer.mergeAll(
    Layer.effectContext(build),
    Layer.succeed(Model.ProviderName, colon < 0 ? first : first.slice(0, colon)),
    Layer.succeed(Model.ModelName, colon < 0 ? first : first.slice(colon + 1))
  )
}
