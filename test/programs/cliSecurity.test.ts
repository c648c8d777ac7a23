/**
 * The permission commands (run under a policy, approve, reject, audit) through the CLI program, in this
 * process: the journals, the audit log and the exit codes are what a user gets from the executable.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as CliSecurity from "../../src/programs/cliSecurity.js"
import * as Cli from "../support/cli.js"

const dir = Cli.scratch("cli-security")
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const policyFile = path.join(dir, "policy.json")
const auditFile = path.join(dir, "audit.jsonl")
const marker = path.join(dir, "deployed.log")
const agentFile = path.join(dir, "deployer.ts")

fs.writeFileSync(
  policyFile,
  JSON.stringify({
    version: 1,
    roles: {
      dev: { allow: ["tool:*", "fs:read:**"], approve: ["shell:deploy"] },
      guest: { allow: ["tool:read_notes", "fs:read:**"] },
      lead: { allow: ["approval:*"] }
    },
    principals: { alice: ["dev"], bob: ["lead"], gus: ["guest"] }
  })
)
fs.writeFileSync(
  agentFile,
  `import { Effect, Schema } from "effect"
import * as fs from "node:fs"
import { Agent, SequencePlanner, Tool } from "graphent"

const readNotes = Tool.make("read_notes", {
  description: "Reads the release notes",
  parameters: Schema.Struct({}),
  success: Schema.String,
  capabilities: ["fs:read:/notes"],
  handler: () => Effect.succeed("v2 notes")
})

const deploy = Tool.make("deploy", {
  description: "Deploys",
  parameters: Schema.Struct({ env: Schema.String }),
  success: Schema.String,
  capabilities: ["shell:deploy"],
  handler: ({ env }) => Effect.sync(() => {
    fs.appendFileSync(${JSON.stringify(marker)}, env + "\\n")
    return "deployed to " + env
  })
})

export default Agent.make({
  name: "deployer",
  tools: [readNotes, deploy],
  planner: SequencePlanner.plan({
    steps: [
      { id: "notes", tool: "read_notes", args: {} },
      { id: "deploy", tool: "deploy", args: { env: "prod" }, dependsOn: ["notes"] }
    ]
  })
})
`
)

const graphent = (env: Record<string, string>, ...args: Array<string>) =>
  Cli.inProcess(args, { env: { GRAPHENT_STORE: "memory", GRAPHENT_POLICY: policyFile, GRAPHENT_AUDIT: auditFile, ...env } })

const journalOf = (file: string) =>
  fs.readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as { _tag: string; [key: string]: unknown })

describe("graphent run / approve / reject / audit", () => {
  it("a step that needs approval pauses the run (exit 3); approve resumes it; the audit log shows it all", async () => {
    const journal = path.join(dir, "approve.jsonl")
    const paused = await graphent({ GRAPHENT_PRINCIPAL: "alice" }, "run", agentFile, "--record", journal)
    assert.strictEqual(paused.code, 3, paused.stderr)
    assert.match(paused.stderr, /paused: step "deploy" .* needs approval/)
    assert.isFalse(fs.existsSync(marker))
    const events = journalOf(journal)
    assert.deepStrictEqual(events.find((event) => event._tag === "RunStarted")?.principal, { id: "alice", roles: ["dev"] })
    assert.isDefined(events.find((event) => event._tag === "ApprovalRequested"))
    assert.isUndefined(events.find((event) => event._tag === "RunFailed"))

    const self = await graphent({}, "approve", journal, "deploy", "--by", "alice")
    assert.strictEqual(self.code, 2, self.stderr)
    assert.include(self.stderr, "no self-approval")

    const approved = await graphent({}, "approve", journal, "deploy", "--by", "bob", "--reason", "release window")
    assert.strictEqual(approved.code, 0, approved.stderr)
    assert.strictEqual(approved.stdout, "deployed to prod\n")
    assert.strictEqual(fs.readFileSync(marker, "utf8"), "prod\n")
    const after = journalOf(journal)
    assert.deepStrictEqual(
      after.filter((event) => event._tag === "ApprovalDecided").map((event) => [event.by, event.approved, event.reason]),
      [["bob", true, "release window"]]
    )
    assert.strictEqual(after.at(-1)?._tag, "RunCompleted")

    const audit = await graphent({}, "audit", "--json", "--run", String(after[1]!.runId))
    assert.strictEqual(audit.code, 0, audit.stderr)
    const entries = audit.stdout.trim().split("\n").map((line) => JSON.parse(line))
    assert.deepStrictEqual(entries.map((entry) => [entry.tool, entry.decision, entry.outcome, entry.principal, entry.approvedBy]), [
      ["read_notes", "allow", "succeeded", "alice", undefined],
      ["deploy", "approval-required", "paused", "alice", undefined],
      ["deploy", "approved", "succeeded", "alice", "bob"]
    ])
    assert.match(CliSecurity.renderEntries(entries), /deploy\s+approved by bob\s+succeeded/)
    fs.rmSync(marker)
  }, 120_000)

  it("reject: the step fails with ToolDenied (exit 1) and never runs", async () => {
    const journal = path.join(dir, "reject.jsonl")
    assert.strictEqual((await graphent({ GRAPHENT_PRINCIPAL: "alice" }, "run", agentFile, "--record", journal)).code, 3)
    const rejected = await graphent({ GRAPHENT_PRINCIPAL: "bob" }, "reject", journal, "deploy", "--reason", "freeze")
    assert.strictEqual(rejected.code, 1, rejected.stderr)
    assert.include(rejected.stderr, "rejected by bob: freeze")
    assert.isFalse(fs.existsSync(marker))
  }, 120_000)

  it("a denied capability fails the run (exit 1); nothing ran; the denial is audited", async () => {
    const denied = await graphent({ GRAPHENT_PRINCIPAL: "gus" }, "run", agentFile)
    assert.strictEqual(denied.code, 1, denied.stderr)
    assert.include(denied.stderr, "denied to gus: capability tool:deploy (policy: default)")
    assert.isFalse(fs.existsSync(marker))
    const audit = await graphent({}, "audit", "--principal", "gus", "--decision", "deny", "--json")
    const entries = audit.stdout.trim().split("\n").map((line) => JSON.parse(line))
    assert.strictEqual(entries.length, 1)
    assert.strictEqual(entries[0].outcome, "denied")
  }, 120_000)

  it("approvalsRequireAuthentication: --by and a GRAPHENT_PRINCIPAL other than the OS account are refused (exit 2), nothing decided", async () => {
    const account = os.userInfo().username
    const strict = path.join(dir, "strict-policy.json")
    const document = JSON.parse(fs.readFileSync(policyFile, "utf8"))
    fs.writeFileSync(
      strict,
      JSON.stringify({ ...document, principals: { ...document.principals, [account]: ["lead"] }, approvalsRequireAuthentication: true })
    )
    const journal = path.join(dir, "strict.jsonl")
    assert.strictEqual((await graphent({ GRAPHENT_POLICY: strict, GRAPHENT_PRINCIPAL: "alice" }, "run", agentFile, "--record", journal)).code, 3)
    const before = fs.readFileSync(journal, "utf8")
    // Every claimed name is refused — even the account's own name given with --by: a flag proves nothing.
    const claims: Array<[Record<string, string>, Array<string>, string]> = [
      [{}, ["--by", "bob"], "--by"],
      [{}, ["--by", account], "--by"],
      [{ GRAPHENT_PRINCIPAL: "bob" }, [], "GRAPHENT_PRINCIPAL"],
      [{ GRAPHENT_PRINCIPAL: "bob" }, ["--by", "bob"], "--by"]
    ]
    for (const [index, [env, flags, source]] of claims.entries()) {
      for (const command of index === 0 ? ["approve", "reject"] : ["approve"]) {
        const refused = await graphent({ GRAPHENT_POLICY: strict, ...env }, command, journal, "deploy", ...flags)
        assert.strictEqual(refused.code, 2, refused.stderr)
        assert.include(refused.stderr, `requires approvals from an authenticated principal`)
        assert.include(refused.stderr, source)
      }
    }
    assert.strictEqual(fs.readFileSync(journal, "utf8"), before, "nothing was decided")
    assert.isFalse(fs.existsSync(marker))
    // The operating-system account running the command is the authenticated approver.
    const approved = await graphent({ GRAPHENT_POLICY: strict, GRAPHENT_PRINCIPAL: "" }, "approve", journal, "deploy")
    assert.strictEqual(approved.code, 0, approved.stderr)
    assert.deepStrictEqual(
      journalOf(journal).filter((event) => event._tag === "ApprovalDecided").map((event) => event.by),
      [account]
    )
    fs.rmSync(marker)
  }, 240_000)

  it("bad input: an invalid policy, a bad --since, approve without a policy", async () => {
    const bad = path.join(dir, "bad-policy.json")
    fs.writeFileSync(bad, JSON.stringify({ version: 1, roles: { a: { inherits: ["ghost"] } } }))
    const invalid = await graphent({ GRAPHENT_POLICY: bad }, "run", agentFile)
    assert.strictEqual(invalid.code, 2, invalid.stderr)
    assert.include(invalid.stderr, 'inherits unknown role "ghost"')
    const since = await graphent({}, "audit", "--since", "yesterday-ish")
    assert.strictEqual(since.code, 2)
    assert.include(since.stderr, "--since")
    const noPolicy = await graphent({ GRAPHENT_POLICY: "" }, "approve", path.join(dir, "approve.jsonl"), "deploy")
    assert.strictEqual(noPolicy.code, 2)
  }, 120_000)
})
