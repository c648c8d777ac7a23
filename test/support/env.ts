/**
 * Configuration for a test, without touching `process.env`: a layer that
 * stands in for the environment, so `Config` reads exactly these variables.
 */
import { ConfigProvider, type Layer } from "effect"

/** A layer whose `Config` reads only `env` (as environment variables: names to string values). */
export const withEnv = (env: Readonly<Record<string, string>>): Layer.Layer<never> =>
  ConfigProvider.layer(ConfigProvider.fromUnknown(env))
