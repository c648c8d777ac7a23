/**
 * Log output: JSON lines (one object per line, carrying the run's `runId`,
 * `traceId`, `agent` and `step` annotations) when `GRAPHENT_LOG=json`, pretty
 * lines otherwise.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { type Wired, wires } from "../services/Wired.js"

/**
 * The log format: `json` lines, or `pretty` for people.
 *
 * @since 0.1.0
 * @category models
 */
export type Format = "json" | "pretty"

/**
 * How logs are written: the format, and where to.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly format: Format
  /** Write to standard error instead of standard output (the CLI keeps stdout for answers). */
  readonly stderr?: boolean | undefined
}

/**
 * Replaces the logger with one writing `options.format`, to standard error when `options.stderr` is set.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Wired<"Logger">> => {
  const stderr = options.stderr === true
  const logger = options.format === "json"
    ? (stderr ? Logger.withConsoleError(Logger.formatJson) : Logger.consoleJson)
    : Logger.consolePretty()
  return Layer.merge(Logger.layer([logger]), Layer.succeed(Logger.LogToStderr, stderr)).pipe(wires("Logger"))
}

/**
 * Reads the format from `GRAPHENT_LOG` (`json` or `pretty`, default `pretty`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options?: { readonly stderr?: boolean | undefined }): Layer.Layer<Wired<"Logger">, Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const format = yield* Config.Literals(["json", "pretty"], "GRAPHENT_LOG").pipe(Config.withDefault("pretty"))
      return layer({ format, stderr: options?.stderr })
    })
  )
