/**
 * {@link Credentials} from Effect `Config`: the secret `NAME` is the config
 * value `prefix + NAME` (by default an environment variable). This is also
 * what runs get when no credentials layer is provided (no prefix).
 *
 * ```sh
 * GRAPHENT_SECRET_GITHUB_TOKEN=ghp_... graphent run agent.ts   # with prefix "GRAPHENT_SECRET_"
 * ```
 *
 * A vault is another implementation of `Credentials.CredentialsShape`
 * (`get(name)` → `Redacted`), provided the same way.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Credentials, fromConfig } from "../services/Credentials.js"
import { type Wired, wires } from "../services/Wired.js"

/**
 * How secrets are looked up in `Config`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prepended to every secret name when it is looked up (e.g. `GRAPHENT_SECRET_`). */
  readonly prefix?: string | undefined
}

/**
 * Credentials read from Config with an optional prefix.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Wired<"Credentials">> =>
  Layer.succeed(Credentials, fromConfig(options)).pipe(wires("Credentials"))

/**
 * The prefix read from `GRAPHENT_SECRET_PREFIX` (none when unset): only
 * variables that start with it can be handed to tools, so a tool declaring
 * `secrets: ["AWS_SECRET_ACCESS_KEY"]` cannot read the process's own.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Wired<"Credentials">, Config.ConfigError> = Layer.unwrap(
  Effect.map(
    Config.String("GRAPHENT_SECRET_PREFIX").pipe(Config.withDefault("")),
    (prefix) => layer({ prefix })
  )
)
