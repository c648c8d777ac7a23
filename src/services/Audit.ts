/**
 * The audit log: one entry per tool call — who asked, which tool, a hash of
 * the arguments (never the arguments themselves), what the policy decided,
 * what happened, and how long it took. The `ToolGuard` executor writes it;
 * `graphent audit` queries it. Backends: `AuditMemory`, `AuditFile` (JSON
 * Lines), `AuditPg` (PostgreSQL).
 *
 * @since 0.1.0
 */
import { hash } from "node:crypto"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"

/**
 * What the policy decided for a call.
 *
 * - `allow` / `deny`: by a rule (or the default);
 * - `approval-required`: a rule asks a human; the run paused;
 * - `approved` / `rejected`: a human answered (`approvedBy`).
 *
 * @since 0.1.0
 * @category models
 */
export const Decision = Schema.Literals(["allow", "deny", "approval-required", "approved", "rejected"])

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = typeof Decision.Type

/**
 * What happened to the call.
 *
 * @since 0.1.0
 * @category models
 */
export const Outcome = Schema.Literals(["succeeded", "failed", "denied", "paused"])

/**
 * @since 0.1.0
 * @category models
 */
export type Outcome = typeof Outcome.Type

/**
 * One audited tool call.
 *
 * @since 0.1.0
 * @category models
 */
export const Entry = Schema.Struct({
  /** When the call was asked for (epoch milliseconds). */
  at: Schema.Number,
  runId: Schema.String,
  stepId: Schema.String,
  agent: Schema.String,
  principal: Schema.String,
  roles: Schema.Array(Schema.String),
  tool: Schema.String,
  /** SHA-256 (hex) of the arguments as canonical JSON (keys sorted). */
  argsHash: Schema.String,
  capabilities: Schema.Array(Schema.String),
  decision: Decision,
  /** The rule that decided, e.g. `ops: approve shell:*`, or `default`. */
  rule: Schema.String,
  approvedBy: Schema.optionalKey(Schema.String),
  outcome: Outcome,
  /** The error of a failed or denied call (tag and redacted message). */
  error: Schema.optionalKey(Schema.Struct({ _tag: Schema.String, message: Schema.String })),
  durationMs: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Entry extends Schema.Schema.Type<typeof Entry> {}

/**
 * A filter on the audit log; every field given must match.
 *
 * @since 0.1.0
 * @category models
 */
export interface Query {
  readonly runId?: string | undefined
  readonly principal?: string | undefined
  readonly tool?: string | undefined
  readonly decision?: Decision | undefined
  readonly outcome?: Outcome | undefined
  /** Entries at or after this time (epoch milliseconds). */
  readonly since?: number | undefined
  /** Entries before this time (epoch milliseconds). */
  readonly until?: number | undefined
  /** The most recent this many (default 100). */
  readonly limit?: number | undefined
}

/**
 * An audit backend could not write or read.
 *
 * What to do: check the audit log's target (`GRAPHENT_AUDIT`: a writable file, or a reachable `postgres://`
 * URL). A run whose audit entry cannot be written fails rather than act unaudited.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuditError extends Schema.TaggedError<AuditError>()(
  "AuditError",
  Errors.backendFields(Schema.Literals(["append", "query"]))
) {
  override get message(): string {
    return Errors.backendMessage("audit log", this)
  }
  /** {@link Errors.unavailable}: exit 2, HTTP 503. */
  get outcome(): Errors.Outcome {
    return Errors.unavailable
  }
}

/**
 * The audit interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuditShape {
  /** Appends one entry; when it returns, the entry is as durable as the backend makes it. */
  readonly append: (entry: Entry) => Effect.Effect<void, AuditError>
  /** The entries matching `query`, oldest first (the most recent `limit` of them). */
  readonly query: (query: Query) => Effect.Effect<ReadonlyArray<Entry>, AuditError>
}

/**
 * The audit log the guarded executor writes one entry per tool call to.
 *
 * @since 0.1.0
 * @category services
 */
export class Audit extends Context.Service<Audit, AuditShape>()("graphent/Audit") {}

/**
 * Whether an entry passes a query's filters (not its limit).
 *
 * @since 0.1.0
 * @category queries
 */
export const matches = (entry: Entry, query: Query): boolean =>
  (query.runId === undefined || entry.runId === query.runId) &&
  (query.principal === undefined || entry.principal === query.principal) &&
  (query.tool === undefined || entry.tool === query.tool) &&
  (query.decision === undefined || entry.decision === query.decision) &&
  (query.outcome === undefined || entry.outcome === query.outcome) &&
  (query.since === undefined || entry.at >= query.since) &&
  (query.until === undefined || entry.at < query.until)

/**
 * The default number of entries a query returns.
 *
 * @since 0.1.0
 * @category queries
 */
export const defaultLimit = 100

/** JSON with object keys sorted, so equal arguments hash alike whatever their key order. */
const canonical = (value: unknown): string => {
  if (value === undefined) return "null"
  if (typeof value !== "object" || value === null) return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`).join(",")}}`
}

/**
 * The hash the audit log keeps of a call's arguments: SHA-256 (hex) of their
 * canonical JSON. To check whether a call had given arguments, hash them the
 * same way and compare.
 *
 * @since 0.1.0
 * @category hashing
 */
export const hashArgs = (args: unknown): string => hash("sha256", canonical(args), "hex")
