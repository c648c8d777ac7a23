import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Policy } from "graphent"

const doc: Policy.Document = {
  version: 1,
  roles: {
    reader: { allow: ["tool:*", "net:api.example.com", "fs:read:/data/**"] },
    ops: { inherits: ["reader"], allow: ["shell:git"], approve: ["shell:kubectl", "shell:git-push"] },
    restricted: { deny: ["net:**"] },
    lead: { allow: ["approval:*"] },
    loopA: { inherits: ["loopB"], allow: ["memory:write"] },
    loopB: { inherits: ["loopA"], deny: ["memory:delete"] }
  },
  principals: { alice: ["ops"], bob: ["lead", "reader"] }
}

const compiled = Policy.compile(doc) as Policy.Compiled

describe("Policy patterns", () => {
  it("* stays within a segment, ** crosses segments and paths", () => {
    const star = Policy.compilePattern("net:*.example.com")
    assert.isTrue(star.test("net:api.example.com"))
    assert.isFalse(star.test("net:evil.com/x.example.com"))
    assert.isFalse(star.test("net:a:b.example.com"))
    const deep = Policy.compilePattern("fs:read:/data/**")
    assert.isTrue(deep.test("fs:read:/data/a/b/c"))
    assert.isFalse(deep.test("fs:read:/etc/passwd"))
    assert.isFalse(Policy.compilePattern("fs:read:/data/*").test("fs:read:/data/a/b"))
    assert.isTrue(Policy.compilePattern("**").test("anything:at/all"))
  })

  it("regex metacharacters in patterns are literal", () => {
    assert.isFalse(Policy.compilePattern("net:a.b").test("net:axb"))
    assert.isTrue(Policy.compilePattern("net:(x)+[y]").test("net:(x)+[y]"))
  })
})

describe("Policy.decide", () => {
  it("allows what a role (or a role it inherits) allows", () => {
    assert.strictEqual(Policy.decide(compiled, ["ops"], ["tool:fetch", "net:api.example.com"]).effect, "allow")
    assert.strictEqual(Policy.decide(compiled, ["ops"], ["tool:git", "shell:git"]).effect, "allow")
  })

  it("denies by default, naming the capability and the rule", () => {
    const verdict = Policy.decide(compiled, ["reader"], ["tool:sh", "shell:rm"])
    assert.deepStrictEqual(verdict, { effect: "deny", capability: "shell:rm", rule: "default" })
  })

  it("the strictest matching rule wins: deny over approve over allow", () => {
    assert.strictEqual(Policy.decide(compiled, ["ops"], ["tool:k", "shell:kubectl"]).effect, "approve")
    const denied = Policy.decide(compiled, ["ops", "restricted"], ["tool:fetch", "net:api.example.com"])
    assert.strictEqual(denied.effect, "deny")
    assert.strictEqual(denied.rule, "restricted: deny net:**")
  })

  it("a tool with one denied capability is denied even if another needs approval", () => {
    assert.strictEqual(Policy.decide(compiled, ["ops"], ["shell:kubectl", "shell:rm"]).effect, "deny")
  })

  it("unknown roles grant nothing; inheritance cycles terminate", () => {
    assert.strictEqual(Policy.decide(compiled, ["nobody"], ["tool:x"]).effect, "deny")
    assert.strictEqual(Policy.decide(compiled, ["loopA"], ["memory:write"]).effect, "allow")
    assert.strictEqual(Policy.decide(compiled, ["loopA"], ["memory:delete"]).effect, "deny")
  })

  it("a document with an unknown inherited role or principal role is invalid", () => {
    const bad = Policy.compile({ version: 1, roles: { a: { inherits: ["ghost"] } } })
    assert.instanceOf(bad, Policy.PolicyInvalid)
    assert.match((bad as Policy.PolicyInvalid).message, /inherits unknown role "ghost"/)
    const badPrincipal = Policy.compile({ version: 1, roles: {}, principals: { eve: ["root"] } })
    assert.instanceOf(badPrincipal, Policy.PolicyInvalid)
  })

  it.effect("the service: check, rolesOf, mayApprove (no self-approval by default)", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.make(doc)
      const verdict = yield* policy.check({
        principal: { id: "alice", roles: ["ops"] },
        tool: "deploy",
        capabilities: ["tool:deploy", "shell:kubectl"]
      })
      assert.strictEqual(verdict.effect, "approve")
      assert.deepStrictEqual(policy.rolesOf("alice"), ["ops"])
      assert.isUndefined(policy.rolesOf("mallory"))
      assert.strictEqual(policy.mayApprove({ id: "bob", roles: ["lead"] }, "alice", "deploy").effect, "allow")
      assert.strictEqual(policy.mayApprove({ id: "alice", roles: ["ops"] }, "alice", "deploy").effect, "deny")
      assert.strictEqual(policy.mayApprove({ id: "carol", roles: ["reader"] }, "alice", "deploy").effect, "deny")
      const selfish = yield* Policy.make({ ...doc, selfApproval: true })
      assert.strictEqual(selfish.mayApprove({ id: "bob", roles: ["lead"] }, "bob", "deploy").effect, "allow")
    }))
})

// ---------------------------------------------------------------------------
// fuzzing against a brute-force reference
// ---------------------------------------------------------------------------

/** Backtracking glob matcher, written independently of the regex compiler. */
const globMatch = (pattern: string, text: string): boolean => {
  const go = (i: number, j: number): boolean => {
    if (i === pattern.length) return j === text.length
    if (pattern[i] === "*" && pattern[i + 1] === "*") {
      for (let k = j; k <= text.length; k++) if (go(i + 2, k)) return true
      return false
    }
    if (pattern[i] === "*") {
      for (let k = j; k <= text.length; k++) {
        if (go(i + 1, k)) return true
        if (k < text.length && (text[k] === ":" || text[k] === "/")) return false
      }
      return false
    }
    return j < text.length && pattern[i] === text[j] && go(i + 1, j + 1)
  }
  return go(0, 0)
}

/** Every role reachable from `roles` by inheritance: a fixpoint over the whole document. */
const reachable = (document: Policy.Document, roles: ReadonlyArray<string>): Set<string> => {
  const set = new Set(roles.filter((role) => role in document.roles))
  let changed = true
  while (changed) {
    changed = false
    for (const role of [...set]) {
      for (const parent of document.roles[role]?.inherits ?? []) {
        if (!set.has(parent)) {
          set.add(parent)
          changed = true
        }
      }
    }
  }
  return set
}

const referenceCapability = (document: Policy.Document, roles: ReadonlyArray<string>, capability: string) => {
  const hits = new Set<string>()
  for (const role of reachable(document, roles)) {
    for (const effect of ["allow", "deny", "approve"] as const) {
      for (const pattern of document.roles[role]?.[effect] ?? []) {
        if (globMatch(pattern, capability)) hits.add(effect)
      }
    }
  }
  if (hits.has("deny")) return "deny"
  if (hits.has("approve")) return "approve"
  if (hits.has("allow")) return "allow"
  return document.default ?? "deny"
}

const reference = (document: Policy.Document, roles: ReadonlyArray<string>, capabilities: ReadonlyArray<string>) => {
  const effects = capabilities.map((capability) => referenceCapability(document, roles, capability))
  if (effects.includes("deny")) return "deny"
  if (effects.includes("approve")) return "approve"
  return "allow"
}

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
const prng = (seed: number) => () => {
  seed |= 0
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("Policy.decide, fuzzed against a brute-force reference", () => {
  it("agrees on 3,000 random policies, principals and tools", () => {
    const random = prng(20240601)
    const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
    const kinds = ["net", "shell", "fs", "tool", "memory"]
    const words = ["a", "b", "ab", "a.b", "x/y", "x/y/z", "", "read:/d"]
    const capability = () => `${pick(kinds)}:${pick(words)}${random() < 0.3 ? `:${pick(words)}` : ""}`
    const pattern = () => {
      const parts: Array<string> = []
      const n = 1 + Math.floor(random() * 3)
      for (let i = 0; i < n; i++) parts.push(pick([...kinds, ...words, "*", "**", "a*", "*b", "x/*", "**/z"]))
      const joined = parts.join(pick([":", ":", "/", ""]))
      // The compiler rejects empty patterns (tested above).
      return joined === "" ? "*" : joined
    }
    const roleNames = ["r0", "r1", "r2", "r3", "r4", "r5"]
    let decided = { allow: 0, deny: 0, approve: 0 }
    for (let iteration = 0; iteration < 3000; iteration++) {
      const roles: Record<string, Policy.Document["roles"][string]> = {}
      for (const name of roleNames) {
        if (random() < 0.2) continue
        const list = (max: number) => Array.from({ length: Math.floor(random() * max) }, pattern)
        roles[name] = {
          allow: list(4),
          deny: list(2),
          approve: list(2),
          inherits: roleNames.filter((other) => other !== name && random() < 0.25)
        }
      }
      // Keep inheritance to defined roles (the compiler rejects the rest; tested above).
      for (const rules of Object.values(roles)) {
        ;(rules as { inherits: Array<string> }).inherits = (rules.inherits ?? []).filter((role) => role in roles)
      }
      const document: Policy.Document = {
        version: 1,
        roles,
        ...(random() < 0.3 ? { default: pick(["allow", "deny", "approve"] as const) } : {})
      }
      const compiled = Policy.compile(document)
      if ("_tag" in compiled) return assert.fail(compiled.message)
      for (let call = 0; call < 5; call++) {
        const principalRoles = [...roleNames, "unknown"].filter(() => random() < 0.35)
        const capabilities = Array.from({ length: Math.floor(random() * 4) }, capability)
        const got: Policy.RuleEffect = Policy.decide(compiled, principalRoles, capabilities).effect
        const want = reference(document, principalRoles, capabilities)
        if (got !== want) {
          assert.fail(
            `disagreement: ${JSON.stringify({ document, principalRoles, capabilities, got, want })}`
          )
        }
        decided = { ...decided, [got]: decided[got] + 1 }
      }
    }
    // The generator exercises all three outcomes.
    assert.isAbove(decided.allow, 500)
    assert.isAbove(decided.deny, 500)
    assert.isAbove(decided.approve, 300)
  })
})
