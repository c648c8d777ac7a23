/**
 * The {@link GraphentConfig} service read from the environment: every
 * `GRAPHENT_*` variable in one place, through Effect's `Config` (see
 * `docs/configuration.md` for the list). The CLI and the server compose their
 * layers from it; {@link layerFrom} gives tests and embedders the same wiring
 * without touching `process.env`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { GraphentConfig, type Settings, type Variable, variables } from "../services/GraphentConfig.js"

/** @since 0.1.0 */
// Named, not `export *`: the declaration bundler turns a star re-export inside a namespace into values.
export { GraphentConfig, variables } from "../services/GraphentConfig.js"
export type { Settings, Variable } from "../services/GraphentConfig.js"

const read = (variable: Variable): Config.Config<string | Redacted.Redacted<string> | undefined> =>
  Config.map(
    Config.option<string | Redacted.Redacted<string>>(
      variable.secret === true ? Config.Redacted(variable.name) : Config.String(variable.name)
    ),
    Option.getOrUndefined
  )

/**
 * Every variable's value, read with the current `ConfigProvider` (the
 * process's environment by default).
 *
 * @since 0.1.0
 * @category config
 */
export const settings: Config.Config<Settings> = Config.all(
  Object.fromEntries(Object.entries(variables).map(([key, variable]) => [key, read(variable)]))
) as Config.Config<Settings>

/**
 * Reads every `GRAPHENT_*` variable once, into the service.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<GraphentConfig, Config.ConfigError> = Layer.effect(GraphentConfig, settings)

/**
 * Fixed settings (every one not given is unset): the wiring of the CLI, with no environment.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFrom = (given: Partial<Settings>): Layer.Layer<GraphentConfig> =>
  Layer.succeed(GraphentConfig, {
    ...Object.fromEntries(Object.keys(variables).map((key) => [key, undefined])) as Settings,
    ...given
  })
