/**
 * Log output: JSON lines (one object per line, with the run's `runId`,
 * `traceId`, `agent` and `step` annotations) when `GRAPHENT_LOG=json`, pretty
 * lines otherwise.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"

/**
 * @since 0.1.0
 * @category layers
 */
export const layerJson: Layer.Layer<never> = Logger.layer([Logger.consoleJson])

/**
 * @since 0.1.0
 * @category layers
 */
export const layerPretty: Layer.Layer<never> = Logger.layer([Logger.consolePretty()])

/**
 * Chooses the format from `GRAPHENT_LOG` (`json` or `pretty`, default `pretty`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<never, Config.ConfigError> = Layer.unwrap(
  Effect.gen(function*() {
    const format = yield* Config.Literals(["json", "pretty"], "GRAPHENT_LOG").pipe(Config.withDefault("pretty"))
    return format === "json" ? layerJson : layerPretty
  })
)
