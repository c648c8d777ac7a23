/**
 * Tools: the typed actions an agent can take.
 *
 * A Graphent tool is an `effect/ai` `Tool` (name, description, parameter and
 * success Schemas — so the same definition can be offered to a language model)
 * plus the things a runtime needs to execute it safely: a handler Effect, an
 * optional timeout, an optional retry `Schedule` and an idempotency flag.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as AiTool from "effect/ai/Tool"
import * as Errors from "./Errors.js"
import type { ApprovalDecision, Principal } from "./Policy.js"

/**
 * What a handler knows about the call it serves.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolContext {
  readonly runId: string
  readonly agent: string
  readonly stepId: string
  /** The conversation thread of the run, when the caller gave one. */
  readonly threadId: string | undefined
  /** Who the run acts for, when the caller named someone (see `Policy`). */
  readonly principal?: Principal | undefined
  /** A human's decision on this step, when the policy asked for one and the run was resumed with it. */
  readonly approval?: ApprovalDecision | undefined
  /** The secrets the tool declares, looked up when the call started (see {@link secret}). */
  readonly secrets?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
}

/**
 * A declared tool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool<
  Name extends string = string,
  Params extends Schema.Top = Schema.Top,
  Success extends Schema.Top = Schema.Top,
  E = unknown,
  R = unknown
> {
  readonly name: Name
  readonly description: string
  readonly parameters: Params
  readonly success: Success
  /** Per-attempt time limit; when absent the agent's `stepTimeout` applies. */
  readonly timeout: Duration.Input | undefined
  /** Retry policy for handler failures and timeouts (not for invalid arguments). */
  readonly retry: Schedule.Schedule<unknown, unknown> | undefined
  /** Whether running the handler twice with the same arguments is harmless. */
  readonly idempotent: boolean
  /**
   * Whether a model-driven planner shows the tool's failures (its typed
   * errors and timeouts) to the model to try again, instead of failing the run.
   */
  readonly recoverable: boolean
  /**
   * What the tool needs permission for, e.g. `net:api.example.com`,
   * `shell:git`, `fs:read:/data`, `memory:write` (`tool:<name>` is implied).
   */
  readonly capabilities: ReadonlyArray<string>
  /** Names of the secrets injected into the handler's context (see `Credentials`). */
  readonly secrets: ReadonlyArray<string>
  readonly handler: (params: Params["Type"], context: ToolContext) => Effect.Effect<Success["Type"], E, R>
  /** The same tool as an `effect/ai` definition, to offer it to a `LanguageModel`. */
  readonly ai: AiTool.Tool<Name, {
    readonly parameters: Params
    readonly success: Success
    readonly failure: typeof Schema.String
    readonly failureMode: "return"
  }>
}

/**
 * Any tool, whatever its schemas.
 *
 * @since 0.1.0
 * @category models
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = Tool<string, any, any, any, any>

/**
 * The services a list of tools needs to run.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements<Tools extends ReadonlyArray<Any>> = Tools[number] extends infer T
  ? T extends Tool<string, infer P, infer S, unknown, infer R> ? R | P["DecodingServices"] | S["EncodingServices"]
  : never
  : never

/**
 * Declares a tool.
 *
 * **Example** (An echo tool)
 *
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Tool } from "graphent"
 *
 * const echo = Tool.make("echo", {
 *   description: "Repeats its input",
 *   parameters: Schema.Struct({ text: Schema.String }),
 *   success: Schema.String,
 *   handler: ({ text }) => Effect.succeed(text)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Params extends Schema.Top,
  Success extends Schema.Top,
  E = never,
  R = never
>(name: Name, options: {
  readonly description: string
  readonly parameters: Params
  readonly success: Success
  readonly handler: (params: Params["Type"], context: ToolContext) => Effect.Effect<Success["Type"], E, R>
  readonly timeout?: Duration.Input | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly idempotent?: boolean | undefined
  readonly recoverable?: boolean | undefined
  readonly capabilities?: ReadonlyArray<string> | undefined
  readonly secrets?: ReadonlyArray<string> | undefined
}): Tool<Name, Params, Success, E, R> => {
  for (const secret of options.secrets ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(secret)) {
      throw new Error(`graphent: tool "${name}": secret names are letters, digits and _, got ${JSON.stringify(secret)}`)
    }
  }
  return {
    name,
    description: options.description,
    parameters: options.parameters,
    success: options.success,
    timeout: options.timeout,
    retry: options.retry,
    idempotent: options.idempotent ?? false,
    recoverable: options.recoverable ?? false,
    capabilities: options.capabilities ?? [],
    secrets: options.secrets ?? [],
    handler: options.handler,
    ai: AiTool.make(name, {
      description: options.description,
      parameters: options.parameters,
      success: options.success,
      failure: Schema.String,
      failureMode: "return"
    })
  }
}

/**
 * The value of a secret the tool declares, inside its handler.
 *
 * **Example** (A tool that calls an API with a token)
 *
 * ```ts
 * const issues = Tool.make("list_issues", {
 *   description: "Lists the open issues",
 *   parameters: Schema.Struct({}),
 *   success: Schema.Array(Schema.String),
 *   secrets: ["GITHUB_TOKEN"],
 *   handler: (_, context) => fetchIssues(Tool.secret(context, "GITHUB_TOKEN"))
 * })
 * ```
 *
 * Reading a secret the tool does not declare is a bug: it throws (the step fails as a defect).
 *
 * @since 0.1.0
 * @category secrets
 */
export const secret = (context: ToolContext, name: string): Redacted.Redacted<string> => {
  const value = context.secrets?.[name]
  if (value === undefined || !Redacted.isRedacted(value)) {
    throw new Error(`graphent: secret ${name} was not declared by step "${context.stepId}"'s tool`)
  }
  return value
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * The planner asked for a tool the agent does not declare.
 *
 * What to do: add the tool to the agent's `tools`, or fix the planner's tool name (for an LLM planner, the
 * model invented it: the planner is told and may retry).
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolNotFound extends Schema.TaggedError<ToolNotFound>()("ToolNotFound", {
  tool: Schema.String,
  stepId: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `step "${this.stepId}": no tool named "${this.tool}" (available: ${this.available.join(", ") || "none"})`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The arguments of a call do not decode with the tool's parameter Schema.
 *
 * What to do: the model sent arguments that do not fit the tool's parameters: the message names the field.
 * Describe the parameters better (Schema annotations become the JSON Schema the model sees); the planner is
 * told and may retry.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolArgumentsInvalid extends Schema.TaggedError<ToolArgumentsInvalid>()("ToolArgumentsInvalid", {
  tool: Schema.String,
  stepId: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `step "${this.stepId}": invalid arguments for tool "${this.tool}": ${this.issue}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The tool's handler failed (a typed failure or a defect).
 *
 * What to do: read the `cause` (the handler's own error); the step's input and error are in the journal. Give
 * the tool a `retry` Schedule for transient failures.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolFailed extends Schema.TaggedError<ToolFailed>()("ToolFailed", {
  tool: Schema.String,
  stepId: Schema.String,
  reason: Schema.String,
  /** `true` when the handler died (threw) instead of failing with a typed error. */
  defect: Schema.Boolean,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `step "${this.stepId}": tool "${this.tool}" ${this.defect ? "crashed" : "failed"}: ${this.reason}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The tool did not finish within its time limit; it was interrupted.
 *
 * What to do: raise the tool's `timeout` (or the agent's `stepTimeout` for tools that set none), or make the
 * tool faster; give it a `retry` Schedule if a second attempt is likely to succeed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolTimeout extends Schema.TaggedError<ToolTimeout>()("ToolTimeout", {
  tool: Schema.String,
  stepId: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `step "${this.stepId}": tool "${this.tool}" timed out after ${this.timeoutMs} ms`
  }
  /** {@link Errors.timedOut}: exit 1, HTTP 504. */
  get outcome(): Errors.Outcome {
    return Errors.timedOut
  }
}

/**
 * The handler returned a value that does not encode with the tool's success Schema.
 *
 * What to do: the handler's value does not fit the tool's `success` Schema: fix the handler or the Schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolResultInvalid extends Schema.TaggedError<ToolResultInvalid>()("ToolResultInvalid", {
  tool: Schema.String,
  stepId: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `step "${this.stepId}": tool "${this.tool}" returned an invalid result: ${this.issue}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The policy does not let the run's principal use this tool (or a human
 * rejected the step): the tool did not run.
 *
 * What to do: give the principal a role that grants the tool's capability in the policy file, or approve the
 * call when the policy asks for approval; `graphent audit` shows each decision.
 *
 * @since 0.1.0
 * @category errors
 */
export class ToolDenied extends Schema.TaggedError<ToolDenied>()("ToolDenied", {
  tool: Schema.String,
  stepId: Schema.String,
  principal: Schema.String,
  /** The capability that was denied (empty when a human rejected the step). */
  capability: Schema.String,
  /** The rule that denied it, or who rejected the step and why. */
  reason: Schema.String
}) {
  override get message(): string {
    return this.capability === ""
      ? `step "${this.stepId}": tool "${this.tool}" denied to ${this.principal}: ${this.reason}`
      : `step "${this.stepId}": tool "${this.tool}" denied to ${this.principal}: capability ${this.capability} (${this.reason})`
  }
  /** {@link Errors.denied}: exit 1, HTTP 403. */
  get outcome(): Errors.Outcome {
    return Errors.denied
  }
}

/**
 * Every way a tool call can fail.
 *
 * @since 0.1.0
 * @category errors
 */
export type ToolError = ToolNotFound | ToolArgumentsInvalid | ToolFailed | ToolTimeout | ToolResultInvalid | ToolDenied

/**
 * The tags of {@link ToolError}; a retry policy only ever applies to the last two.
 *
 * @since 0.1.0
 * @category errors
 */
export const isRetryable = (error: ToolError): boolean => error._tag === "ToolFailed" || error._tag === "ToolTimeout"

/**
 * Renders any failure value as one readable line (never `[object Object]`).
 *
 * @since 0.1.0
 * @category utils
 */
export const describeFailure = (error: unknown): string => {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === "string") return error
  if (typeof error === "object" && error !== null) {
    const record = error as Record<string, unknown>
    if (typeof record.message === "string" && record.message !== "") return record.message
    try {
      return JSON.stringify(error)
    } catch {
      return String(error)
    }
  }
  return String(error)
}
