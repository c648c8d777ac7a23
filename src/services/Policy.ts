/**
 * Permissions: who may call which tool.
 *
 * A run acts for a {@link Principal} (a user or an API key) that has roles.
 * Every tool needs capabilities — the ones it declares (`net:api.example.com`,
 * `shell:git`, `fs:read:/data`, `memory:write`) plus `tool:<its name>` — and
 * the {@link Policy} service decides, for a principal and a tool, one of
 * `allow`, `deny` or `approve` (ask a human first).
 *
 * The default implementation (`src/layers/Policy.ts`, exported as `Policy`
 * with these definitions) evaluates a small declarative {@link Document}
 * (see `docs/security.md` for the file format): each role lists capability
 * patterns it allows, denies or sends for approval; roles inherit other
 * roles; the strictest matching rule wins (deny, then approve, then allow),
 * and a capability no rule matches gets the document's default (deny unless
 * said otherwise). A tool is allowed only when every capability it needs is.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"

// ---------------------------------------------------------------------------
// principals and decisions
// ---------------------------------------------------------------------------

/**
 * Who a run acts for.
 *
 * @since 0.1.0
 * @category models
 */
export const Principal = Schema.Struct({
  /** A user name or an API key's id (never the key itself). */
  id: Schema.String,
  roles: Schema.Array(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Principal extends Schema.Schema.Type<typeof Principal> {}

/**
 * The principal of runs that name none.
 *
 * @since 0.1.0
 * @category models
 */
export const anonymous: Principal = { id: "anonymous", roles: [] }

/**
 * What a rule does to a matching capability.
 *
 * @since 0.1.0
 * @category models
 */
export const RuleEffect = Schema.Literals(["allow", "deny", "approve"])

/**
 * @since 0.1.0
 * @category models
 */
export type RuleEffect = typeof RuleEffect.Type

/**
 * The policy's answer for one tool call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verdict {
  readonly effect: RuleEffect
  /** The capability that decided (for `allow`: the last one; empty when the tool needs none). */
  readonly capability: string
  /** The rule that decided, as `role: effect pattern`, or `default` (for `allow`: every rule that allowed, `; `-separated). */
  readonly rule: string
}

/**
 * A human's answer to an approval request, as the runtime hands it to the tool executor.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalDecision {
  readonly approved: boolean
  readonly by: string
  readonly reason?: string | undefined
  /** The hash of the arguments that were approved (`Audit.hashArgs`); a call with other arguments is not covered. */
  readonly argsHash?: string | undefined
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A step needs a human's approval: the run pauses (its journal stays
 * resumable) until someone approves or rejects the step.
 *
 * What to do: not a failure: the run is paused (exit 3). Approve or reject the step with `graphent approve
 * <run> <step>` / `graphent reject <run> <step>`, through the HTTP API, or in the viewer; the run then resumes
 * from its journal.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalRequired extends Schema.TaggedError<ApprovalRequired>()("ApprovalRequired", {
  stepId: Schema.String,
  tool: Schema.String,
  /** The capability a rule sends for approval. */
  capability: Schema.String,
  principal: Schema.String
}) {
  override get message(): string {
    return `step "${this.stepId}" (tool "${this.tool}", capability ${this.capability}, principal ${this.principal}) ` +
      `needs approval: the run is paused; continue it with \`graphent approve <journal> ${this.stepId}\` ` +
      `or \`graphent reject <journal> ${this.stepId}\``
  }
  /** {@link Errors.paused}: exit 3, HTTP 409. */
  get outcome(): Errors.Outcome {
    return Errors.paused
  }
}

/**
 * A policy document is malformed (unknown role in `inherits`, bad pattern...).
 *
 * What to do: fix the policy file at the path and field the message names; docs/security.md describes its
 * shape. Nothing runs under a policy that does not decode.
 *
 * @since 0.1.0
 * @category errors
 */
export class PolicyInvalid extends Schema.TaggedError<PolicyInvalid>()("PolicyInvalid", {
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid policy (${this.source}): ${this.reason}`
  }
  /** {@link Errors.misconfigured}: exit 2, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.misconfigured
  }
}

// ---------------------------------------------------------------------------
// documents
// ---------------------------------------------------------------------------

const Patterns = Schema.optionalKey(Schema.Array(Schema.String))

/**
 * The rules of one role.
 *
 * @since 0.1.0
 * @category models
 */
export const RoleRules = Schema.Struct({
  /** Roles whose rules this role also has. */
  inherits: Patterns,
  allow: Patterns,
  deny: Patterns,
  approve: Patterns
})

/**
 * An approver named by a claim (`--by`, `GRAPHENT_PRINCIPAL`) where the policy
 * requires approvals from an authenticated principal.
 *
 * What to do: the policy requires approvers to be authenticated: approve through the HTTP API with an API key
 * whose role may approve, or give the approver a role in the policy file.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApproverNotAuthenticated extends Schema.TaggedError<ApproverNotAuthenticated>()("ApproverNotAuthenticated", {
  /** The name claimed. */
  claimed: Schema.String,
  /** Where the claim came from: `--by` or `GRAPHENT_PRINCIPAL`. */
  source: Schema.String
}) {
  override get message(): string {
    return `the policy requires approvals from an authenticated principal (approvalsRequireAuthentication), ` +
      `and ${this.source} ${JSON.stringify(this.claimed)} is a claim, not an identity: approve through the HTTP API ` +
      `with your key, or run graphent approve as your own operating-system account without ${this.source}`
  }
  /** {@link Errors.unauthenticated}: exit 2, HTTP 401. */
  get outcome(): Errors.Outcome {
    return Errors.unauthenticated
  }
}

/**
 * A policy file.
 *
 * @since 0.1.0
 * @category models
 */
export const Document = Schema.Struct({
  version: Schema.Literal(1),
  /** For capabilities no rule matches (default `deny`). */
  default: Schema.optionalKey(RuleEffect),
  roles: Schema.Record(Schema.String, RoleRules),
  /** Principals known by id, with their roles (for the CLI's `GRAPHENT_PRINCIPAL`). */
  principals: Schema.optionalKey(Schema.Record(Schema.String, Schema.Array(Schema.String))),
  /** Whether the principal of a run may approve its own steps (default false). */
  selfApproval: Schema.optionalKey(Schema.Boolean),
  /**
   * Whether an approver must be authenticated (default false): a name that is
   * only claimed — `graphent approve --by`, `GRAPHENT_PRINCIPAL` — is refused
   * ({@link ApproverNotAuthenticated}); approve through the HTTP API (the key's
   * principal decides) or as the operating-system account running the CLI.
   */
  approvalsRequireAuthentication: Schema.optionalKey(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Document extends Schema.Schema.Type<typeof Document> {}

/**
 * One rule of a role, its pattern compiled.
 *
 * @since 0.2.0
 * @category models
 */
export interface CompiledRule {
  readonly role: string
  readonly effect: RuleEffect
  readonly pattern: string
  readonly regex: RegExp
}

/**
 * A document ready for evaluation: roles expanded with what they inherit,
 * patterns compiled, decisions cached.
 *
 * @since 0.1.0
 * @category models
 */
export interface Compiled {
  readonly document: Document
  readonly defaultEffect: RuleEffect
  /** The rules of each role, its inherited roles' included. */
  readonly rules: ReadonlyMap<string, ReadonlyArray<CompiledRule>>
}

// ---------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------

/**
 * What the policy is asked about one call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly principal: Principal
  readonly tool: string
  /** Everything the tool needs, `tool:<name>` included. */
  readonly capabilities: ReadonlyArray<string>
}

/**
 * The policy interface.
 *
 * @since 0.1.0
 * @category models
 */
export interface PolicyShape {
  readonly check: (request: Request) => Effect.Effect<Verdict>
  /** The roles of a principal known by id, if the policy knows it. */
  readonly rolesOf: (id: string) => ReadonlyArray<string> | undefined
  /** Whether `approver` may approve or reject a step of `tool` that runs for `principal`. */
  readonly mayApprove: (approver: Principal, principal: string, tool: string) => Verdict
}

/**
 * The policy that decides tool calls: the guarded executor (`ToolGuard`) asks it about every call.
 *
 * @since 0.1.0
 * @category services
 */
export class Policy extends Context.Service<Policy, PolicyShape>()("graphent/Policy") {}

/**
 * Present when every tool call is checked against a policy and audited: only
 * the guarded executor (`ToolGuard.layer`) provides it, with the policy it
 * enforces. A guarded wiring's type names it and an unguarded one's does not,
 * so a program that must never run unchecked requires it (`ToolGuard.requireGuarded`).
 *
 * @since 0.1.0
 * @category services
 */
export class Guarded extends Context.Service<Guarded, { readonly policy: PolicyShape }>()("graphent/Policy/Guarded") {}
