/**
 * The environment Graphent reads, in one place: every `GRAPHENT_*` variable,
 * what it means, and the {@link GraphentConfig} service that holds their
 * values for the wiring of the CLI and the server (`layers/GraphentConfig.ts`
 * reads them with Effect's `Config`, so a `ConfigProvider` can stand in for
 * the process's environment).
 *
 * The wiring decides from these values which layers to compose (e.g. the
 * guarded tool executor when `policy` is set); the layers themselves take
 * options, so a program that composes its own layers reads no environment.
 * A backend's `layerConfig` (`Storage`, `Logging`, `Pricing`, ...) reads its
 * own variables with `Config` under the names listed here; a test checks that
 * every name the sources use is in {@link variables} and in the docs.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Redacted from "effect/Redacted"

/**
 * One environment variable: its name, what it does, and whether its value is
 * a secret (held as `Redacted`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Variable {
  readonly name: `GRAPHENT_${string}`
  readonly description: string
  readonly secret?: true
}

/**
 * Every variable, by setting name. `docs/configuration.md` lists the same
 * table; a test keeps both and the sources in step.
 *
 * @since 0.1.0
 * @category variables
 */
export const variables = {
  home: { name: "GRAPHENT_HOME", description: "The embedded store's folder (default: `.graphent/` in the project)." },
  store: {
    name: "GRAPHENT_STORE",
    description: "`auto` (default), `pglite` (the embedded database, opened at once) or `memory` (keep nothing)."
  },
  databaseUrl: {
    name: "GRAPHENT_DATABASE_URL",
    description: "PostgreSQL for memory and journals instead of the embedded store.",
    secret: true
  },
  redisUrl: { name: "GRAPHENT_REDIS_URL", description: "Redis for memory.", secret: true },
  storePrefix: { name: "GRAPHENT_STORE_PREFIX", description: "The table / key prefix in the store (default `graphent`)." },
  lockTimeout: {
    name: "GRAPHENT_LOCK_TIMEOUT",
    description: "How long to wait for an embedded store another process holds (default 30 seconds)."
  },
  model: {
    name: "GRAPHENT_MODEL",
    description: "The model of LLM-planned agents, e.g. `openai:gpt-4o-mini` (else their scripted model)."
  },
  embeddingModel: { name: "GRAPHENT_EMBEDDING_MODEL", description: "The embedding model for semantic recall." },
  embeddingDimensions: {
    name: "GRAPHENT_EMBEDDING_DIMENSIONS",
    description: "The vector size: of the local embedder (default 384), or asked of a remote model that supports it."
  },
  policy: {
    name: "GRAPHENT_POLICY",
    description: "A policy file: tool calls are checked against it and audited. Unset: tools run unchecked."
  },
  audit: {
    name: "GRAPHENT_AUDIT",
    description: "The audit log: a JSON Lines file (default `.graphent/audit.jsonl` in the project) or a `postgres://` URL."
  },
  principal: { name: "GRAPHENT_PRINCIPAL", description: "Who runs (roles from the policy's `principals`, or `GRAPHENT_ROLES`)." },
  roles: { name: "GRAPHENT_ROLES", description: "The principal's roles, comma-separated, instead of the policy's." },
  secretPrefix: {
    name: "GRAPHENT_SECRET_PREFIX",
    description: "Only variables with this prefix can be handed to tools as secrets (e.g. `GRAPHENT_SECRET_`)."
  },
  prices: {
    name: "GRAPHENT_PRICES",
    description: "Model prices, for costs and cost budgets: JSON, or `@file.json`."
  },
  contextWindows: {
    name: "GRAPHENT_CONTEXT_WINDOWS",
    description: "Context windows of models (tokens), for the LLM planner's compaction: JSON, or `@file.json`."
  },
  log: { name: "GRAPHENT_LOG", description: "`pretty` (default) or `json`: the format of logs on standard error." },
  otelPayloads: {
    name: "GRAPHENT_OTEL_PAYLOADS",
    description: "`true`: spans carry payloads (inputs, answers, tool arguments and results, prompts)."
  },
  plannerUrl: { name: "GRAPHENT_PLANNER_URL", description: "The service of remote-planned agents." },
  plannerToken: { name: "GRAPHENT_PLANNER_TOKEN", description: "The bearer token for the remote planner.", secret: true },
  plannerTimeout: { name: "GRAPHENT_PLANNER_TIMEOUT", description: "The remote planner's time limit per attempt, e.g. `10 seconds`." },
  plannerMaxRetries: { name: "GRAPHENT_PLANNER_MAX_RETRIES", description: "How often a failed remote decision is retried." },
  apiKeys: {
    name: "GRAPHENT_API_KEYS",
    description: "`graphent dev`: API keys, `key:role,...`; none: the API is open, on loopback only.",
    secret: true
  },
  apiKeysFile: { name: "GRAPHENT_API_KEYS_FILE", description: "`graphent dev`: a file of API keys, one `key:role` a line." },
  apiMaxBodyBytes: { name: "GRAPHENT_API_MAX_BODY_BYTES", description: "The largest request body the API accepts." },
  apiMaxUrlBytes: { name: "GRAPHENT_API_MAX_URL_BYTES", description: "The longest request URL the API accepts." },
  apiMaxHeaderBytes: { name: "GRAPHENT_API_MAX_HEADER_BYTES", description: "The largest request headers the API accepts." },
  apiMaxHeaders: { name: "GRAPHENT_API_MAX_HEADERS", description: "The most request headers the API accepts." },
  rateLimits: {
    name: "GRAPHENT_RATE_LIMITS",
    description: "Rate limits by key, JSON: `{\"model:openai\": \"60/minute\", \"tool:http_get\": \"10/second burst 5\"}`."
  },
  rateLimitsRedis: {
    name: "GRAPHENT_RATE_LIMITS_REDIS",
    description: "A Redis URL: the rate limits are shared by every process that names it (else each process has its own).",
    secret: true
  },
  rateLimitsPrefix: {
    name: "GRAPHENT_RATE_LIMITS_PREFIX",
    description: "The prefix of the limits' keys in that Redis (default `graphent:ratelimit:`)."
  },
  runEventsUrl: {
    name: "GRAPHENT_RUN_EVENTS_URL",
    description:
      "A `postgres://` URL: servers follow runs of other processes on `LISTEN`/`NOTIFY` notices (else by polling; a cluster's programs default to `GRAPHENT_DATABASE_URL`); `off`: none.",
    secret: true
  }
} as const satisfies Record<string, Variable>

/**
 * The value of every variable (`undefined` when unset); secrets are `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = {
  readonly [K in keyof typeof variables]: (typeof variables)[K] extends { readonly secret: true } ?
    Redacted.Redacted<string> | undefined
    : string | undefined
}

/**
 * The settings the CLI and the server were started with.
 *
 * **Example** (The wiring chooses the guarded executor)
 *
 * ```ts
 * const security = Layer.unwrap(Effect.map(Effect.service(GraphentConfig.GraphentConfig), (settings) =>
 *   settings.policy === undefined ? Layer.empty : ToolGuard.layerFrom({ policy: settings.policy })
 * ))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class GraphentConfig extends Context.Service<GraphentConfig, Settings>()("graphent/GraphentConfig") {}
