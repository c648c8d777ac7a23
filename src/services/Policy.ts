/**
 * Permissions: who may call which tool.
 *
 * A run acts for a {@link Principal} (a user or an API key) that has roles.
 * Every tool needs capabilities — the ones it declares (`net:api.example.com`,
 * `shell:git`, `fs:read:/data`, `memory:write`) plus `tool:<its name>` — and
 * the {@link Policy} service decides, for a principal and a tool, one of
 * `allow`, `deny` or `approve` (ask a human first).
 *
 * The default implementation evaluates a small declarative {@link Document}
 * (see `docs/security.md` for the file format): each role lists capability
 * patterns it allows, denies or sends for approval; roles inherit other
 * roles; the strictest matching rule wins (deny, then approve, then allow),
 * and a capability no rule matches gets the document's default (deny unless
 * said otherwise). A tool is allowed only when every capability it needs is.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

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
}

/**
 * A policy document is malformed (unknown role in `inherits`, bad pattern...).
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
 * Compiles a capability pattern: `*` matches any characters but `:` and `/`,
 * `**` matches anything; every other character matches itself.
 *
 * @since 0.1.0
 * @category patterns
 */
export const compilePattern = (pattern: string): RegExp => {
  let source = ""
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!
    if (char === "*") {
      if (pattern[i + 1] === "*") {
        source += ".*"
        i++
      } else {
        source += "[^:/]*"
      }
    } else {
      source += char.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
    }
  }
  return new RegExp(`^${source}$`, "s")
}

interface CompiledRule {
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

const effects: ReadonlyArray<RuleEffect> = ["deny", "approve", "allow"]

/**
 * Checks and compiles a document.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compile = (document: Document, source = "document"): Compiled | PolicyInvalid => {
  const roles = document.roles
  const expanded = new Map<string, ReadonlyArray<CompiledRule>>()
  for (const name of Object.keys(roles)) {
    const seen = new Set<string>()
    const pending = [name]
    const rules: Array<CompiledRule> = []
    while (pending.length > 0) {
      const role = pending.pop()!
      if (seen.has(role)) continue
      seen.add(role)
      const own = roles[role]
      if (own === undefined) {
        return new PolicyInvalid({ source, reason: `role "${name}" inherits unknown role "${role}"` })
      }
      for (const effect of effects) {
        for (const pattern of own[effect] ?? []) {
          if (pattern === "") return new PolicyInvalid({ source, reason: `role "${role}" has an empty pattern` })
          rules.push({ role, effect, pattern, regex: compilePattern(pattern) })
        }
      }
      for (const parent of own.inherits ?? []) pending.push(parent)
    }
    expanded.set(name, rules)
  }
  for (const [id, assigned] of Object.entries(document.principals ?? {})) {
    for (const role of assigned) {
      if (!(role in roles)) return new PolicyInvalid({ source, reason: `principal "${id}" has unknown role "${role}"` })
    }
  }
  return { document, defaultEffect: document.default ?? "deny", rules: expanded }
}

const rank: Record<RuleEffect, number> = { allow: 0, approve: 1, deny: 2 }

/**
 * The decision for one capability: the strictest rule of the principal's
 * roles that matches it, or the default. Unknown roles grant nothing.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const decideCapability = (
  policy: Compiled,
  roles: ReadonlyArray<string>,
  capability: string
): Verdict => {
  let best: CompiledRule | undefined
  for (const role of roles) {
    const rules = policy.rules.get(role)
    if (rules === undefined) continue
    for (const rule of rules) {
      if (best !== undefined && rank[rule.effect] <= rank[best.effect]) continue
      if (rule.regex.test(capability)) {
        best = rule
        if (rule.effect === "deny") return { effect: "deny", capability, rule: `${rule.role}: deny ${rule.pattern}` }
      }
    }
  }
  return best === undefined
    ? { effect: policy.defaultEffect, capability, rule: "default" }
    : { effect: best.effect, capability, rule: `${best.role}: ${best.effect} ${best.pattern}` }
}

/**
 * The decision for a tool: `deny` if any capability it needs is denied, else
 * `approve` if any needs approval, else `allow`.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const decide = (
  policy: Compiled,
  roles: ReadonlyArray<string>,
  capabilities: ReadonlyArray<string>
): Verdict => {
  let approve: Verdict | undefined
  const allowedBy: Array<string> = []
  for (const capability of capabilities) {
    const verdict = decideCapability(policy, roles, capability)
    if (verdict.effect === "deny") return verdict
    if (verdict.effect === "approve") approve ??= verdict
    else if (!allowedBy.includes(verdict.rule)) allowedBy.push(verdict.rule)
  }
  if (approve !== undefined) return approve
  return {
    effect: "allow",
    capability: capabilities[capabilities.length - 1] ?? "",
    rule: allowedBy.length === 0 ? "no capabilities needed" : allowedBy.join("; ")
  }
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
 * @since 0.1.0
 * @category services
 */
export class Policy extends Context.Service<Policy, PolicyShape>()("graphent/Policy") {}

/**
 * The policy of a compiled document. Decisions are cached per role set and
 * capability list.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCompiled = (policy: Compiled): PolicyShape => {
  // By the identity of the roles and capabilities arrays (a run keeps its principal, a tool its capabilities),
  // then by their contents; both caches forget what is no longer referenced or grows too large.
  const byIdentity = new WeakMap<ReadonlyArray<string>, WeakMap<ReadonlyArray<string>, Verdict>>()
  const byContent = new Map<string, Verdict>()
  return {
    check: ({ capabilities, principal }) =>
      Effect.sync(() => {
        let forRoles = byIdentity.get(principal.roles)
        let verdict = forRoles?.get(capabilities)
        if (verdict !== undefined) return verdict
        const key = `${principal.roles.join("\u0000")}\u0001${capabilities.join("\u0000")}`
        verdict = byContent.get(key)
        if (verdict === undefined) {
          verdict = decide(policy, principal.roles, capabilities)
          if (byContent.size > 10_000) byContent.clear()
          byContent.set(key, verdict)
        }
        if (forRoles === undefined) byIdentity.set(principal.roles, forRoles = new WeakMap())
        forRoles.set(capabilities, verdict)
        return verdict
      }),
    rolesOf: (id) => policy.document.principals?.[id],
    mayApprove: (approver, principal, tool) => {
      if (approver.id === principal && policy.document.selfApproval !== true) {
        return { effect: "deny", capability: `approval:${tool}`, rule: "no self-approval (selfApproval is false)" }
      }
      // Approving is allowed only by an explicit allow rule: `approve` on an approval makes no sense.
      const verdict = decideCapability(policy, approver.roles, `approval:${tool}`)
      return verdict.effect === "allow" ? verdict : { ...verdict, effect: "deny" }
    }
  }
}

/**
 * A policy from a document; an invalid document is an error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (document: Document, source?: string): Effect.Effect<PolicyShape, PolicyInvalid> =>
  Effect.suspend(() => {
    const compiled = compile(document, source)
    return "_tag" in compiled ? Effect.fail(compiled) : Effect.succeed(fromCompiled(compiled))
  })

/**
 * The policy of a document, as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (document: Document): Layer.Layer<Policy, PolicyInvalid> => Layer.effect(Policy, make(document))

/**
 * Allows everything to everyone (for tests and trusted local use; the audit
 * log still records every call).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAllowAll: Layer.Layer<Policy> = Layer.succeed(
  Policy,
  fromCompiled(compile({ version: 1, default: "allow", roles: {}, selfApproval: true }) as Compiled)
)

/**
 * The capabilities a tool needs: `tool:<name>` and the ones it declares.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const capabilitiesOf = (tool: { readonly name: string; readonly capabilities: ReadonlyArray<string> }) => [
  `tool:${tool.name}`,
  ...tool.capabilities
]
