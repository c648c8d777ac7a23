/**
 * Graphent's error model: what a failure means outside the process.
 *
 * Every Graphent error class is a tagged error with a readable `message`, one
 * reason of its module's union (e.g. `Tool.ToolError` is `ToolNotFound |
 * ToolArgumentsInvalid | … | ToolDenied`; `catchTag` matches a reason), and
 * declares its {@link Outcome} as `outcome`: the `graphent` exit code and the
 * HTTP status it maps to. The CLI ({@link exitCodeOf}) and the HTTP API
 * ({@link httpStatusOf}) read that declaration, never the error's name; an
 * error that declares none (a defect, a foreign error) is exit 1 / HTTP 500.
 *
 * The four stores' failures (`JournalError`, `MemoryError`, `AuditError`,
 * `StorageError`) share one shape, {@link backendFields}: which backend, which
 * operation, why; {@link backendMessage} reads it; their outcome is
 * {@link unavailable}.
 *
 * **Example**
 *
 * ```ts
 * import { Errors, Tool } from "graphent"
 *
 * const timeout = new Tool.ToolTimeout({ stepId: "s1", tool: "fetch", timeoutMs: 1000 })
 * Errors.exitCodeOf(timeout) // 1: the run failed
 * Errors.httpStatusOf(timeout) // 504
 * ```
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * What a failure means outside the process: the `graphent` exit code (1: the
 * run failed, 2: bad usage, input or store, 3: the run waits for a human) and
 * the HTTP status.
 *
 * @since 0.2.0
 * @category models
 */
export interface Outcome {
  readonly exitCode: number
  readonly httpStatus: number
}

/**
 * An error that declares its {@link Outcome}.
 *
 * @since 0.2.0
 * @category models
 */
export interface HasOutcome {
  readonly outcome: Outcome
}

/**
 * The run failed (exit 1, HTTP 500).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const runFailed: Outcome = { exitCode: 1, httpStatus: 500 }

/**
 * A service the run depends on (a model, a remote planner, a server a tool
 * calls) failed or answered badly (exit 1, HTTP 502).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const upstreamFailed: Outcome = { exitCode: 1, httpStatus: 502 }

/**
 * Something the run waited for ran out of time (exit 1, HTTP 504).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const timedOut: Outcome = { exitCode: 1, httpStatus: 504 }

/**
 * The policy refused a call (exit 1: the run failed, HTTP 403).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const denied: Outcome = { exitCode: 1, httpStatus: 403 }

/**
 * What was asked contradicts what was recorded or decided (a replay that
 * diverged, a step already decided) (exit 1, HTTP 409).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const conflict: Outcome = { exitCode: 1, httpStatus: 409 }

/**
 * The server is too busy; retry later (exit 1, HTTP 429).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const overloaded: Outcome = { exitCode: 1, httpStatus: 429 }

/**
 * The run is paused until a human decides (exit 3, HTTP 409).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const paused: Outcome = { exitCode: 3, httpStatus: 409 }

/**
 * Bad usage or input: a request, flag or file that is not valid (exit 2,
 * HTTP 400).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const invalidInput: Outcome = { exitCode: 2, httpStatus: 400 }

/**
 * The request names something that does not exist (exit 2, HTTP 404).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const notFound: Outcome = { exitCode: 2, httpStatus: 404 }

/**
 * The request cannot apply in the current state (exit 2, HTTP 409).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const rejected: Outcome = { exitCode: 2, httpStatus: 409 }

/**
 * The caller is not authenticated (exit 2, HTTP 401).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const unauthenticated: Outcome = { exitCode: 2, httpStatus: 401 }

/**
 * The caller may not do this (exit 2, HTTP 403).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const forbidden: Outcome = { exitCode: 2, httpStatus: 403 }

/**
 * The configuration (a policy, API keys, settings) is not valid: the user's
 * input to the CLI, the operator's fault on a server (exit 2, HTTP 500).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const misconfigured: Outcome = { exitCode: 2, httpStatus: 500 }

/**
 * A store (journal, memory, audit log) could not be opened, read or written
 * (exit 2, HTTP 503).
 *
 * @since 0.2.0
 * @category outcomes
 */
export const unavailable: Outcome = { exitCode: 2, httpStatus: 503 }

/**
 * Whether `u` declares its {@link Outcome}.
 *
 * @since 0.2.0
 * @category guards
 */
export const hasOutcome = (u: unknown): u is HasOutcome =>
  Predicate.hasProperty(u, "outcome") && Predicate.hasProperty(u.outcome, "exitCode") &&
  Predicate.hasProperty(u.outcome, "httpStatus")

/**
 * The {@link Outcome} of any failure: the one it declares; a `ConfigError`
 * (a missing or malformed setting) is {@link misconfigured}; anything else is
 * {@link runFailed}.
 *
 * @since 0.2.0
 * @category getters
 */
export const outcomeOf = (error: unknown): Outcome =>
  hasOutcome(error) ? error.outcome : error instanceof Config.ConfigError ? misconfigured : runFailed

/**
 * The `graphent` exit code of a failure (see {@link outcomeOf}).
 *
 * @since 0.2.0
 * @category getters
 */
export const exitCodeOf = (error: unknown): number => outcomeOf(error).exitCode

/**
 * The HTTP status of a failure (see {@link outcomeOf}).
 *
 * @since 0.2.0
 * @category getters
 */
export const httpStatusOf = (error: unknown): number => outcomeOf(error).httpStatus

/**
 * The fields every store failure has: the backend (`"postgres"`, `"file"`,
 * …), the operation that failed, a readable reason, and the underlying cause.
 *
 * @since 0.2.0
 * @category models
 */
export const backendFields = <const Operation extends Schema.Top>(operation: Operation) => ({
  backend: Schema.String,
  operation,
  reason: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
})

/**
 * The message of a store's failure ({@link backendFields}): `<store>
 * (<backend>) <operation> failed: <reason>`.
 *
 * @since 0.2.0
 * @category getters
 */
export const backendMessage = (
  store: string,
  error: { readonly backend: string; readonly operation: string; readonly reason: string }
): string => `${store} (${error.backend}) ${error.operation} failed: ${error.reason}`
