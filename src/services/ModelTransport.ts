/**
 * A model provider's own request functions — what its `LanguageModel` is
 * made from — offered beside that `LanguageModel`.
 *
 * `effect/ai`'s `LanguageModel.generateText` scans the whole prompt for tool
 * approvals and decodes every response part with Schema on each call; in an
 * agent loop that re-sends a growing conversation every turn, that cost grows
 * with the conversation. Graphent's providers (OpenAI-compatible, Anthropic,
 * scripted) also provide this service, and the `LlmPlanner` calls it directly
 * when it is there and nothing observes model spans (no exporting tracer, no
 * `effect/ai` span transformer); otherwise, and for any other provider, it
 * goes through `LanguageModel` as usual.
 *
 * A transport reads the prompt it is given during the call: the planner
 * extends the same message array on its next turn, so a transport that keeps
 * a prompt past the call keeps a copy.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Stream from "effect/Stream"
import type * as AiError from "effect/ai/AiError"
import type { IdGenerator } from "effect/ai/IdGenerator"
import * as LanguageModel from "effect/ai/LanguageModel"
import * as Model from "effect/ai/Model"
import type * as Response from "effect/ai/Response"

/**
 * The functions a provider passes to `LanguageModel.make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelTransportShape {
  readonly generateText: (
    options: LanguageModel.ProviderOptions
  ) => Effect.Effect<Array<Response.PartEncoded>, AiError.AiError, IdGenerator>
  readonly streamText: (
    options: LanguageModel.ProviderOptions
  ) => Stream.Stream<Response.StreamPartEncoded, AiError.AiError, IdGenerator>
}

/**
 * How model providers send their HTTP requests: replace it to record, stub or route model calls.
 *
 * @since 0.1.0
 * @category services
 */
export class ModelTransport extends Context.Service<ModelTransport, ModelTransportShape>()("graphent/ModelTransport") {}

/**
 * Makes the `LanguageModel` from a provider's functions, and the
 * {@link ModelTransport} beside it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  params: Parameters<typeof LanguageModel.make>[0]
): Effect.Effect<Context.Context<LanguageModel.LanguageModel | ModelTransport>> =>
  Effect.map(LanguageModel.make(params), (model) =>
    Context.make(LanguageModel.LanguageModel, model).pipe(
      Context.add(ModelTransport, { generateText: params.generateText, streamText: params.streamText })
    ))

/**
 * What a Graphent provider layer provides: the `LanguageModel`, its
 * {@link ModelTransport}, and the provider's and model's names (which label
 * model calls in journals and traces, and look their prices up).
 *
 * @since 0.1.0
 * @category models
 */
export type Provides = LanguageModel.LanguageModel | ModelTransport | Model.ProviderName | Model.ModelName

/**
 * A provider layer from its constructor (see {@link make}) and its names.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  provider: string,
  model: string,
  build: Effect.Effect<Context.Context<LanguageModel.LanguageModel | ModelTransport>, E, R>
): Layer.Layer<Provides, E, R> =>
  Layer.mergeAll(
    Layer.effectContext(build),
    Layer.succeed(Model.ProviderName, provider),
    Layer.succeed(Model.ModelName, model)
  )
