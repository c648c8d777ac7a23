/**
 * The CLI's permission commands: `graphent approve`, `graphent reject` and
 * `graphent audit`, and the principal of `graphent run`.
 *
 * Runs are checked against a policy when `GRAPHENT_POLICY` names a policy
 * file (see `docs/security.md`; the choice is `cliSupport.layerSecurity`, the
 * variables are read by `GraphentConfig`); every tool call is then audited to
 * `GRAPHENT_AUDIT` (a file, default `.graphent/audit.jsonl`, or a
 * `postgres://` URL). `GRAPHENT_PRINCIPAL` names who runs (roles from the
 * policy's `principals`, or `GRAPHENT_ROLES`).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as GraphentConfig from "../layers/GraphentConfig.js"
import * as PolicyFile from "../layers/PolicyFile.js"
import * as ToolGuard from "../layers/ToolGuard.js"
import * as Approvals from "../services/Approvals.js"
import * as Audit from "../services/Audit.js"
import * as Policy from "../services/Policy.js"
import { agentFlag, jsonFlag, printEvents, runFlag, runWith, usageError, writeLine } from "./cliSupport.js"
import * as CliStorage from "./cliStorage.js"

/**
 * The principal of `graphent run` (`GRAPHENT_PRINCIPAL`), journaled with the run.
 *
 * @since 0.1.0
 * @category configuration
 */
export const runPrincipal = ToolGuard.principalConfig.pipe(Effect.mapError((error) => usageError(error.message)))

/** The settings, a bad value being a usage error. */
const settings = GraphentConfig.settings.pipe(Effect.mapError((error) => usageError(error.message)))

/**
 * Who decides: `--by`, else `GRAPHENT_PRINCIPAL`, else the OS user. When the
 * policy requires authenticated approvers, only the OS account running the
 * command counts: a claimed name that differs from it is refused.
 */
const approverOf = (by: Option.Option<string>, requireAuthentication: boolean) =>
  Effect.gen(function*() {
    const account = os.userInfo().username
    const configured = Option.fromUndefinedOr((yield* settings).principal)
    const claim = Option.isSome(by)
      ? { claimed: by.value, source: "--by" }
      : Option.isSome(configured)
      ? { claimed: configured.value, source: "GRAPHENT_PRINCIPAL" }
      : undefined
    if (claim === undefined) return account
    if (requireAuthentication && (claim.source === "--by" || claim.claimed !== account)) {
      return yield* new Policy.ApproverNotAuthenticated(claim)
    }
    return claim.claimed
  })

const decideCommand = (name: "approve" | "reject", approved: boolean) =>
  Command.make(
    name,
    {
      journal: Argument.String("journal-or-run").pipe(
        Argument.withDescription("The paused run: a journal file, or a run id (or unique prefix) in the project's store")
      ),
      step: Argument.String("step").pipe(Argument.withDescription("The step waiting for approval")),
      agent: agentFlag,
      run: runFlag,
      json: jsonFlag,
      by: Flag.String("by").pipe(
        Flag.withDescription(
          "Who decides (default: GRAPHENT_PRINCIPAL, else the OS user); the policy must let them. A claim, not an " +
            "identity: refused when the policy sets approvalsRequireAuthentication"
        ),
        Flag.optional
      ),
      reason: Flag.String("reason").pipe(Flag.withDescription("Why, recorded in the journal"), Flag.optional)
    },
    Effect.fn(`graphent.cli.${name}`)(function*({ journal, step, agent, run, json, by, reason }) {
      const policy = (yield* settings).policy
      if (policy === undefined) {
        return yield* usageError(`${name} needs the policy that decides who may approve: set GRAPHENT_POLICY`)
      }
      const document = yield* PolicyFile.read(policy).pipe(Effect.mapError((error) => usageError(error.message)))
      const approver = yield* approverOf(by, document.approvalsRequireAuthentication === true).pipe(
        Effect.mapError((error) => usageError(error.message))
      )
      const { events, module, recorded, stores } = yield* CliStorage.openRun(journal, agent, run)
      const result = yield* runWith(
        module,
        stores,
        Approvals.decide(module.agent, events, {
          stepId: step,
          approved,
          approver: { id: approver, roles: [] },
          reason: Option.getOrUndefined(reason),
          runId: recorded.runId
        })
      )
      if (json) yield* Effect.forEach(result.events, printEvents(true), { discard: true })
      else yield* writeLine(result.answer)
    }, Effect.scoped)
  ).pipe(
    Command.withDescription(
      approved
        ? "Approve a step a paused run waits for, then resume the run (the step runs)"
        : "Reject a step a paused run waits for, then resume the run (the step fails with ToolDenied)"
    ),
    Command.withExamples([
      {
        command: `graphent ${name} run.jsonl deploy --by bob${approved ? "" : " --reason \"change freeze\""}`,
        description: approved ? "Bob approves step deploy; the run continues" : "Bob rejects step deploy"
      }
    ])
  )

/**
 * `graphent approve <journal> <step>`.
 *
 * @since 0.1.0
 * @category commands
 */
export const approve = decideCommand("approve", true)

/**
 * `graphent reject <journal> <step>`.
 *
 * @since 0.1.0
 * @category commands
 */
export const reject = decideCommand("reject", false)

/** `2026-01-02`, `2026-01-02T10:00:00Z`, or a duration back from now: `90m`, `24h`, `7d`. */
const parseTime = (text: string, now: number): number | undefined => {
  const relative = /^(\d+)(s|m|h|d)$/.exec(text)
  if (relative !== null) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "s" | "m" | "h" | "d"]
    return now - Number(relative[1]) * unit
  }
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : at
}

const pad = (text: string, width: number) => text.length >= width ? text : text + " ".repeat(width - text.length)

/**
 * The audit entries as a table, one per line.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderEntries = (entries: ReadonlyArray<Audit.Entry>): string => {
  if (entries.length === 0) return "no audit entries"
  const rows = entries.map((entry) => [
    new Date(entry.at).toISOString().replace(".000Z", "Z"),
    entry.principal,
    entry.tool,
    entry.decision + (entry.approvedBy === undefined ? "" : ` by ${entry.approvedBy}`),
    entry.outcome,
    `${Math.round(entry.durationMs)} ms`,
    `${entry.runId.slice(0, 8)}/${entry.stepId}`,
    entry.argsHash.slice(0, 12),
    entry.error === undefined ? "" : `${entry.error._tag}: ${entry.error.message.slice(0, 80)}`
  ])
  const header = ["time", "principal", "tool", "decision", "outcome", "duration", "run/step", "args", "error"]
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
  return [header, ...rows].map((row) => row.map((cell, column) => pad(cell, widths[column]!)).join("  ").trimEnd()).join("\n")
}

const decisions = ["allow", "deny", "approval-required", "approved", "rejected"] as const
const outcomes = ["succeeded", "failed", "denied", "paused"] as const

/**
 * `graphent audit`: query the audit log.
 *
 * @since 0.1.0
 * @category commands
 */
export const audit = Command.make(
  "audit",
  {
    source: Flag.String("log").pipe(
      Flag.withDescription("The audit log: a file or a postgres:// URL (default GRAPHENT_AUDIT, else the project's .graphent/audit.jsonl)"),
      Flag.optional
    ),
    run: Flag.String("run").pipe(Flag.withDescription("Only this run"), Flag.optional),
    principal: Flag.String("principal").pipe(Flag.withDescription("Only calls made for this principal"), Flag.optional),
    tool: Flag.String("tool").pipe(Flag.withDescription("Only this tool"), Flag.optional),
    decision: Flag.Literals("decision", decisions).pipe(Flag.withDescription("Only this policy decision"), Flag.optional),
    outcome: Flag.Literals("outcome", outcomes).pipe(Flag.withDescription("Only this outcome"), Flag.optional),
    since: Flag.String("since").pipe(
      Flag.withDescription("From this time: an ISO date, or a span back from now (30m, 24h, 7d)"),
      Flag.optional
    ),
    until: Flag.String("until").pipe(Flag.withDescription("Before this time (same forms as --since)"), Flag.optional),
    limit: Flag.Int("limit").pipe(Flag.withDescription("The most recent this many (default 100)"), Flag.withDefault(Audit.defaultLimit)),
    json: Flag.Boolean("json").pipe(Flag.withDescription("One JSON entry per line"), Flag.withDefault(false))
  },
  Effect.fn("graphent.cli.audit")(function*(flags) {
    const now = Date.now()
    const time = (flag: string, value: Option.Option<string>) =>
      Effect.gen(function*() {
        if (Option.isNone(value)) return undefined
        const at = parseTime(value.value, now)
        if (at === undefined) return yield* usageError(`--${flag}: not a date or a span (30m, 24h, 7d): ${value.value}`)
        return at
      })
    if (flags.limit < 0) return yield* usageError(`--limit must be >= 0`)
    const query: Audit.Query = {
      runId: Option.getOrUndefined(flags.run),
      principal: Option.getOrUndefined(flags.principal),
      tool: Option.getOrUndefined(flags.tool),
      decision: Option.getOrUndefined(flags.decision),
      outcome: Option.getOrUndefined(flags.outcome),
      since: yield* time("since", flags.since),
      until: yield* time("until", flags.until),
      limit: flags.limit
    }
    const configured = Option.fromUndefinedOr((yield* settings).audit)
    const named = Option.orElse(flags.source, () => configured)
    const source = Option.getOrElse(named, () => ToolGuard.defaultAuditPath())
    // A log that was named must exist; the default one does not until something is audited.
    if (Option.isSome(named) && !/^postgres(ql)?:\/\//.test(source) && !fs.existsSync(source)) {
      return yield* usageError(`no audit log at ${source} (${Option.isSome(flags.source) ? "--log" : "GRAPHENT_AUDIT"})`)
    }
    const entries = yield* Effect.flatMap(Audit.Audit, (log) => log.query(query)).pipe(
      Effect.provide(ToolGuard.auditLayer(source)),
      Effect.mapError((error) => usageError(error.message))
    )
    if (flags.json) yield* Effect.forEach(entries, (entry) => writeLine(JSON.stringify(entry)), { discard: true })
    else yield* writeLine(renderEntries(entries))
  })
).pipe(
  Command.withDescription("Query the audit log: who called which tool, the policy's decision, the outcome"),
  Command.withExamples([
    { command: "graphent audit --decision deny --since 24h", description: "Denied calls of the last day" },
    { command: "graphent audit --run 6c63c2f1-... --json", description: "Every call of one run, as JSON lines" }
  ])
)
