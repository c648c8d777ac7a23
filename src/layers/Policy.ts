/**
 * The policy engine: compiles a {@link Document} (roles expanded with what
 * they inherit, capability patterns compiled) and decides calls against it,
 * the strictest matching rule winning (deny, then approve, then allow). The
 * package exports this module as `Policy`, with the definitions of
 * `src/services/Policy.ts`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Document, Policy, PolicyInvalid, type RuleEffect } from "../services/Policy.js"

/** @since 0.1.0 */
import type * as Definitions from "../services/Policy.js"
// Named, not `export *`: the declaration bundler turns a star re-export inside a namespace into values.
export {
  anonymous,
  ApprovalRequired,
  ApproverNotAuthenticated,
  Document,
  Guarded,
  Policy,
  PolicyInvalid,
  Principal,
  RoleRules,
  RuleEffect
} from "../services/Policy.js"
/**
 * A human's decision on a step that waited for approval: who decided, and on which arguments.
 *
 * @since 0.1.0
 */
export type ApprovalDecision = Definitions.ApprovalDecision
/**
 * A policy document compiled for checking: roles expanded with what they inherit, patterns compiled.
 *
 * @since 0.1.0
 */
export type Compiled = Definitions.Compiled
/**
 * One rule of a role, its capability pattern compiled.
 *
 * @since 0.1.0
 */
export type CompiledRule = Definitions.CompiledRule
/**
 * What a policy does: decide one tool call (see `Policy.Policy`).
 *
 * @since 0.1.0
 */
export type PolicyShape = Definitions.PolicyShape
/**
 * A tool call to decide: who calls, which tool, with which capabilities.
 *
 * @since 0.1.0
 */
export type Request = Definitions.Request
/**
 * A policy's decision on one call: allow, deny or approve, and the rule that decided it.
 *
 * @since 0.1.0
 */
export type Verdict = Definitions.Verdict

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
