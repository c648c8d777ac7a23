/**
 * Loads an agent module: a file whose default export is an agent. The module
 * may also export `layer`, a Layer that provides what its tools need beyond
 * Graphent's defaults.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Errors from "../services/Errors.js"
import { type Agent, isAgent } from "../services/Agent.js"
import { importModule } from "./typescript.js"

/**
 * The agent file is missing, does not load, or exports no agent.
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentLoadError extends Schema.TaggedError<AgentLoadError>()("AgentLoadError", {
  file: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot load agent from ${this.file}: ${this.reason}`
  }
  /** {@link Errors.invalidInput}: exit 2, HTTP 400. */
  get outcome(): Errors.Outcome {
    return Errors.invalidInput
  }
}

/**
 * A loaded agent module.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentModule {
  readonly file: string
  readonly agent: Agent<unknown, unknown>
  readonly layer: Layer.Layer<unknown, unknown> | undefined
}

/**
 * Imports the module at `file` (TypeScript is loaded without a build step
 * when the CLI runs under its loader).
 *
 * @since 0.1.0
 * @category loading
 */
export const loadAgent = (file: string): Effect.Effect<AgentModule, AgentLoadError> =>
  Effect.gen(function*() {
    const absolute = path.resolve(file)
    if (!fs.existsSync(absolute)) return yield* new AgentLoadError({ file, reason: "no such file" })
    if (!fs.statSync(absolute).isFile()) return yield* new AgentLoadError({ file, reason: "not a file" })
    const module = yield* Effect.tryPromise({
      try: () => importModule(pathToFileURL(absolute).href),
      catch: (error) => new AgentLoadError({ file, reason: error instanceof Error ? error.message : String(error) })
    })
    const agent = module.default
    if (!isAgent(agent)) {
      return yield* new AgentLoadError({
        file,
        reason: "its default export is not an agent (export default Agent.make({ ... }))"
      })
    }
    const layer = module.layer
    if (layer !== undefined && !Layer.isLayer(layer)) {
      return yield* new AgentLoadError({ file, reason: "its `layer` export is not a Layer" })
    }
    return { file: absolute, agent, layer: layer as Layer.Layer<unknown, unknown> | undefined }
  })
