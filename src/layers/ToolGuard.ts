/**
 * The guarded tool executor: every call is checked against the {@link Policy}
 * and written to the {@link Audit} log before its outcome reaches the run.
 *
 * It wraps whatever executor is in context (the local one, a test layer's
 * stubs) and is provided as the `Tools` executor, so the runtime, replay's
 * live steps and resumed runs all go through it:
 *
 * - `deny`: the call fails with `ToolDenied` (a step failure the planner sees); the tool does not run;
 * - `approve`: without a human's decision the call fails with `ApprovalRequired` — the runtime
 *   journals an `ApprovalRequested` event and pauses the run; once someone approves
 *   (`graphent approve`, `Approvals.approve`) the resumed run carries the decision to this executor,
 *   which runs the tool (or fails it with `ToolDenied` when rejected);
 * - `allow`: the call runs.
 *
 * The principal is the run's (`RunOptions.principal`, journaled and restored on resume), else
 * this layer's `principal` option, else `Policy.anonymous`. Writing the audit entry is part of
 * the call: a log that cannot be written stops the run (a defect) rather than acting unaudited.
 *
 * @since 0.1.0
 */
import * as path from "node:path"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Project from "../internal/project.js"
import * as Audit from "../services/Audit.js"
import * as Policy from "./Policy.js"
import * as Tool from "../services/Tool.js"
import { Tools, type ToolsShape } from "../services/Tools.js"
import type { Wired } from "../services/Wired.js"
import * as AuditFile from "./AuditFile.js"
import * as CredentialsConfig from "./CredentialsConfig.js"
import * as GraphentConfig from "./GraphentConfig.js"
import * as PolicyFile from "./PolicyFile.js"

/**
 * Options of the guarded executor.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The principal of runs that name none (default `Policy.anonymous`: no roles). */
  readonly principal?: Policy.Principal | undefined
}

const errorOf = (cause: Cause.Cause<unknown>): { readonly _tag: string; readonly message: string } => {
  if (Cause.hasInterruptsOnly(cause)) return { _tag: "Interrupted", message: "the call was interrupted" }
  const error = Cause.findErrorOption(cause)
  const value = error._tag === "Some" ? error.value : Cause.squash(cause)
  const tag = typeof value === "object" && value !== null && "_tag" in value && typeof value._tag === "string"
    ? value._tag
    : "Defect"
  return { _tag: tag, message: Tool.describeFailure(value) }
}

/** The capabilities of a declared tool, computed once per tool. */
const capabilitiesCache = new WeakMap<Tool.Any, ReadonlyArray<string>>()

const capabilitiesOf = (declared: Tool.Any | undefined, name: string): ReadonlyArray<string> => {
  if (declared === undefined) return Policy.capabilitiesOf({ name, capabilities: [] })
  let capabilities = capabilitiesCache.get(declared)
  if (capabilities === undefined) {
    capabilities = Policy.capabilitiesOf(declared)
    capabilitiesCache.set(declared, capabilities)
  }
  return capabilities
}

/**
 * Wraps an executor with policy checks and auditing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  inner: ToolsShape,
  policy: Policy.PolicyShape,
  audit: Audit.AuditShape,
  options?: Options
): ToolsShape => ({
  execute: (registry, call, context, defaults) =>
    Effect.clockWith((clock) => {
      const capabilities = capabilitiesOf(registry.entries.get(call.tool)?.tool, call.tool)
      const principal = context.principal ?? options?.principal ?? Policy.anonymous
      const at = clock.currentTimeMillisUnsafe()
      return Effect.flatMap(policy.check({ principal, tool: call.tool, capabilities }), (verdict) => {
        const record = (entry: Omit<Audit.Entry, "at" | "runId" | "stepId" | "agent" | "principal" | "roles" | "tool" | "argsHash" | "capabilities" | "rule" | "durationMs">) =>
          Effect.orDie(
            audit.append({
              at,
              runId: context.runId,
              stepId: call.stepId,
              agent: context.agent,
              principal: principal.id,
              roles: principal.roles,
              tool: call.tool,
              argsHash: Audit.hashArgs(call.args),
              capabilities,
              rule: verdict.rule,
              ...entry,
              durationMs: clock.currentTimeMillisUnsafe() - at
            })
          )
        if (verdict.effect === "deny") {
          const denied = new Tool.ToolDenied({
            tool: call.tool,
            stepId: call.stepId,
            principal: principal.id,
            capability: verdict.capability,
            reason: `policy: ${verdict.rule}`
          })
          return Effect.andThen(
            record({ decision: "deny", outcome: "denied", error: { _tag: denied._tag, message: denied.message } }),
            Effect.fail(denied)
          )
        }
        let decision: Audit.Decision = "allow"
        let approvedBy: { readonly approvedBy: string } | {} = {}
        if (verdict.effect === "approve") {
          // A decision holds for the arguments it was taken on, not for another call under the same step id.
          const approval = context.approval !== undefined &&
              (context.approval.argsHash === undefined || context.approval.argsHash === Audit.hashArgs(call.args))
            ? context.approval
            : undefined
          if (approval === undefined) {
            return Effect.andThen(
              record({ decision: "approval-required", outcome: "paused" }),
              Effect.fail(
                new Policy.ApprovalRequired({
                  stepId: call.stepId,
                  tool: call.tool,
                  capability: verdict.capability,
                  principal: principal.id
                })
              )
            )
          }
          if (!approval.approved) {
            const rejected = new Tool.ToolDenied({
              tool: call.tool,
              stepId: call.stepId,
              principal: principal.id,
              capability: "",
              reason: `rejected by ${approval.by}${approval.reason === undefined ? "" : `: ${approval.reason}`}`
            })
            return Effect.andThen(
              record({
                decision: "rejected",
                approvedBy: approval.by,
                outcome: "denied",
                error: { _tag: rejected._tag, message: rejected.message }
              }),
              Effect.fail(rejected)
            )
          }
          decision = "approved"
          approvedBy = { approvedBy: approval.by }
        }
        return Effect.onExit(inner.execute(registry, call, context, defaults), (exit) =>
          record(
            Exit.isSuccess(exit)
              ? { decision, ...approvedBy, outcome: "succeeded" }
              : { decision, ...approvedBy, outcome: "failed", error: errorOf(exit.cause) }
          ))
      })
    })
})

/**
 * Provides the guarded executor over the executor already in context (by
 * default the local one), and {@link Policy.Guarded}: the type of a wiring
 * with this layer says that tool calls are checked. Needs a
 * {@link Policy.Policy} and an {@link Audit.Audit}.
 *
 * **Example** (A policy file and a file audit log)
 *
 * ```ts
 * const security = ToolGuard.layer().pipe(
 *   Layer.provide([PolicyFile.layer({ path: "policy.json" }), AuditFile.layer({ path: "audit.jsonl" })])
 * )
 * // Layer<Policy.Guarded, PolicyInvalid | AuditError>
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Policy.Guarded, never, Policy.Policy | Audit.Audit> =>
  Layer.merge(
    Layer.effect(
      Tools,
      Effect.gen(function*() {
        const inner = yield* Tools
        const policy = yield* Policy.Policy
        const audit = yield* Audit.Audit
        return make(inner, policy, audit, options)
      })
    ),
    Layer.effect(Policy.Guarded, Effect.map(Effect.service(Policy.Policy), (policy) => ({ policy })))
  )

/**
 * Requires {@link Policy.Guarded}: `self` cannot be provided by a wiring
 * whose tool calls are not checked (a type error, not a run-time surprise).
 *
 * @since 0.1.0
 * @category combinators
 */
export const requireGuarded = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Policy.Guarded> =>
  Effect.andThen(Effect.service(Policy.Guarded), self)

// ---------------------------------------------------------------------------
// configuration (the CLI's)
// ---------------------------------------------------------------------------

/**
 * Where the audit log is when nothing says otherwise: `audit.jsonl` in the
 * project's `.graphent/` folder (the nearest folder up from `cwd` with a `package.json`), the
 * same file from any folder of the project.
 *
 * @since 0.1.0
 * @category configuration
 */
export const defaultAuditPath = (cwd?: string): string => path.join(Project.projectHome(cwd), "audit.jsonl")

/**
 * The audit log named by `source`: a `postgres://` URL (table
 * `graphent_audit`), or a JSON Lines file path.
 *
 * @since 0.1.0
 * @category configuration
 */
export const auditLayer = (source: string): Layer.Layer<Audit.Audit, Audit.AuditError> =>
  /^postgres(ql)?:\/\//.test(source)
    // Loaded when named: a process with a file audit log loads no PostgreSQL client.
    ? Layer.unwrap(Effect.promise(() => import("./AuditPg.js")).pipe(
      Effect.map((AuditPg) => AuditPg.layerPg({ pg: { url: Redacted.make(source) } }))
    ))
    : AuditFile.layer({ path: source })

/**
 * The audit log named by `GRAPHENT_AUDIT` (default {@link defaultAuditPath}).
 *
 * @since 0.1.0
 * @category configuration
 */
export const auditLayerConfig: Layer.Layer<Audit.Audit, Audit.AuditError | Config.ConfigError> = Layer.unwrap(
  Effect.map(GraphentConfig.settings, (settings) => auditLayer(settings.audit ?? defaultAuditPath()))
)

/**
 * Where the guarded executor's policy, audit log and secrets come from.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sources {
  /** The policy file. */
  readonly policy: string
  /** The audit log, a file or a `postgres://` URL (default {@link defaultAuditPath}). */
  readonly audit?: string | undefined
  /** Only variables with this prefix can be handed to tools as secrets (default: none). */
  readonly secretPrefix?: string | undefined
}

/**
 * The guarded executor over the policy file and the audit log `sources`
 * names, with credentials limited to `secretPrefix`. The policy and the audit
 * log stay in context (deciding approvals checks the approver against the policy).
 *
 * @since 0.1.0
 * @category configuration
 */
export const layerFrom = (
  sources: Sources
): Layer.Layer<Policy.Guarded | Policy.Policy | Audit.Audit | Wired<"Credentials">, Policy.PolicyInvalid | Audit.AuditError> =>
  layer().pipe(
    Layer.provideMerge(Layer.mergeAll(
      PolicyFile.layer({ path: sources.policy }),
      auditLayer(sources.audit ?? defaultAuditPath()),
      CredentialsConfig.layer({ prefix: sources.secretPrefix ?? "" })
    ))
  )

/**
 * {@link layerFrom} the settings of `GraphentConfig` (the environment): the
 * policy file `GRAPHENT_POLICY` (required), the audit log `GRAPHENT_AUDIT`,
 * credentials with the prefix `GRAPHENT_SECRET_PREFIX`.
 *
 * @since 0.1.0
 * @category configuration
 */
export const layerConfig: Layer.Layer<
  Policy.Guarded | Policy.Policy | Audit.Audit | Wired<"Credentials">,
  Config.ConfigError | Policy.PolicyInvalid | Audit.AuditError
> = Layer.unwrap(Effect.flatMap(GraphentConfig.settings, (settings) =>
  settings.policy === undefined
    ? Effect.fail(
      new Config.ConfigError(new ConfigProvider.SourceError({ message: "GRAPHENT_POLICY: the policy file is not set" }))
    )
    : Effect.succeed(layerFrom({ policy: settings.policy, audit: settings.audit, secretPrefix: settings.secretPrefix }))
))

/**
 * The principal named by `settings.principal`, with the roles `settings.roles`
 * names (comma-separated), else the roles the policy file gives it;
 * `undefined` when no principal is named.
 *
 * @since 0.1.0
 * @category configuration
 */
export const principalFrom = (
  settings: Pick<GraphentConfig.Settings, "principal" | "roles" | "policy">
): Effect.Effect<Policy.Principal | undefined, Policy.PolicyInvalid> =>
  Effect.gen(function*() {
    const id = settings.principal
    if (id === undefined) return undefined
    if (settings.roles !== undefined) {
      return { id, roles: settings.roles.split(",").map((role) => role.trim()).filter((role) => role !== "") }
    }
    if (settings.policy === undefined) return { id, roles: [] }
    const document = yield* PolicyFile.read(settings.policy)
    return { id, roles: document.principals?.[id] ?? [] }
  })

/**
 * {@link principalFrom} the settings of `GraphentConfig` (`GRAPHENT_PRINCIPAL`,
 * `GRAPHENT_ROLES`, `GRAPHENT_POLICY`).
 *
 * @since 0.1.0
 * @category configuration
 */
export const principalConfig: Effect.Effect<Policy.Principal | undefined, Config.ConfigError | Policy.PolicyInvalid> =
  Effect.flatMap(GraphentConfig.settings, principalFrom)
