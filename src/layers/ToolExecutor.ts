/**
 * The local tool executor: compiles an agent's tools into a {@link Registry}
 * (decoders and encoders built ahead of time, so the hot path does no Schema
 * work beyond the decode itself) and runs a call against it — decode the
 * arguments, run the handler under its timeout and retry policy with its
 * secrets, encode and redact the result. It is the default of the `Tools`
 * service (`src/services/Tools.ts`), which re-exports what is public here.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { issueOf } from "../internal/issue.js"
import { Credentials, type Redactor, redactorFor, withRedactedLogs } from "../services/Credentials.js"
import * as Tool from "../services/Tool.js"

/**
 * A request to run a tool.
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolCall {
  readonly stepId: string
  readonly tool: string
  readonly args: unknown
}

/**
 * A tool's output: `value` is the typed result, `result` the same encoded with
 * the tool's success Schema (plain JSON, what the journal keeps).
 *
 * @since 0.1.0
 * @category models
 */
export interface ToolOutput {
  readonly value: unknown
  readonly result: unknown
}

/**
 * A tool, compiled for execution.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly tool: Tool.Any
  readonly decode: (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  readonly encode: (value: unknown) => Exit.Exit<unknown, Schema.SchemaError>
  /** Decodes a journaled (encoded) result back to the typed value, for replay. */
  readonly decodeResult: (encoded: unknown) => Exit.Exit<unknown, Schema.SchemaError>
}

/**
 * The tools of one agent, by name.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registry {
  readonly entries: ReadonlyMap<string, Entry>
  readonly names: ReadonlyArray<string>
}

/**
 * Compiles a list of tools. Two tools with one name is a definition bug and throws.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compile = (tools: ReadonlyArray<Tool.Any>): Registry => {
  const entries = new Map<string, Entry>()
  for (const tool of tools) {
    if (entries.has(tool.name)) throw new Error(`graphent: two tools are named "${tool.name}"`)
    entries.set(tool.name, {
      tool,
      decode: Schema.decodeUnknownExit(tool.parameters as Schema.ConstraintDecoder<unknown>),
      encode: Schema.encodeUnknownExit(tool.success as Schema.ConstraintEncoder<unknown>),
      decodeResult: Schema.decodeUnknownExit(tool.success as Schema.ConstraintDecoder<unknown>)
    })
  }
  return { entries, names: [...entries.keys()] }
}

/**
 * Settings that apply to every call of a run unless the tool sets its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallDefaults {
  readonly timeout: Duration.Input | undefined
  readonly retry: Tool.Any["retry"]
}

/**
 * What the local executor can fail with.
 *
 * @since 0.2.0
 * @category models
 */
export type ExecutionError = Tool.ToolError

/** A handler's failure (error or defect) as the step's `ToolFailed`; interruptions pass through. */
const handlerFailure = (call: ToolCall, cause: Cause.Cause<unknown>): Effect.Effect<never, Tool.ToolFailed> => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    return Effect.fail(
      new Tool.ToolFailed({
        tool: call.tool,
        stepId: call.stepId,
        reason: Tool.describeFailure(error.value),
        defect: false,
        cause: error.value
      })
    )
  }
  const defect = Cause.findDefect(cause)
  const thrown = defect._tag === "Success" ? defect.success : Cause.squash(cause)
  return Effect.fail(
    new Tool.ToolFailed({
      tool: call.tool,
      stepId: call.stepId,
      reason: Tool.describeFailure(thrown),
      defect: true,
      cause: thrown
    })
  )
}

// Runs once per step: data-first calls, so no `pipe` and no partially applied combinator per call.
const runHandler = (entry: Entry, value: unknown, call: ToolCall, context: Tool.ToolContext) =>
  Effect.catchCause(
    Effect.suspend(() => entry.tool.handler(value, context) as Effect.Effect<unknown, unknown, unknown>),
    (cause) => handlerFailure(call, cause)
  )

/**
 * Runs one call: decode, handler (timeout, retry), encode. A tool that
 * declares secrets gets them from {@link Credentials} in its context; its log
 * lines, result and errors are redacted (see `Credentials.makeRedactor`).
 * This is the default executor; other executors can delegate to it.
 *
 * @since 0.1.0
 * @category execution
 */
export const executeLocal = (
  registry: Registry,
  call: ToolCall,
  context: Tool.ToolContext,
  defaults: CallDefaults
  // The requirements of the registry's tools; the runtime provides them.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Effect.Effect<ToolOutput, ExecutionError, any> => {
  const entry = registry.entries.get(call.tool)
  if (entry === undefined) {
    return Effect.fail(new Tool.ToolNotFound({ tool: call.tool, stepId: call.stepId, available: registry.names }))
  }
  const decoded = entry.decode(call.args)
  if (decoded._tag === "Failure") {
    return Effect.fail(
      new Tool.ToolArgumentsInvalid({ tool: call.tool, stepId: call.stepId, issue: issueOf(decoded) })
    )
  }
  return entry.tool.secrets.length === 0
    ? runCall(entry, decoded.value, call, context, defaults)
    : withSecrets(entry, decoded.value, call, context, defaults)
}

const runCall = (
  entry: Entry,
  value: unknown,
  call: ToolCall,
  context: Tool.ToolContext,
  defaults: CallDefaults
): Effect.Effect<ToolOutput, Tool.ToolFailed | Tool.ToolTimeout | Tool.ToolResultInvalid, unknown> => {
  let attempt: Effect.Effect<unknown, Tool.ToolFailed | Tool.ToolTimeout, unknown> = runHandler(
    entry,
    value,
    call,
    context
  )
  const timeout = entry.tool.timeout ?? defaults.timeout
  if (timeout !== undefined) {
    const timeoutMs = Duration.toMillis(Duration.fromInputUnsafe(timeout))
    attempt = Effect.timeoutOrElse(attempt, {
      duration: timeout,
      orElse: () => Effect.fail(new Tool.ToolTimeout({ tool: call.tool, stepId: call.stepId, timeoutMs }))
    })
  }
  const retry = entry.tool.retry ?? defaults.retry
  if (retry !== undefined) attempt = Effect.retry(attempt, retry)
  return Effect.flatMap(attempt, (value) => {
    const encoded = entry.encode(value)
    return encoded._tag === "Success"
      ? Effect.succeed({ value, result: encoded.value })
      : Effect.fail(new Tool.ToolResultInvalid({ tool: call.tool, stepId: call.stepId, issue: issueOf(encoded) }))
  })
}

/** Looks the tool's secrets up, runs the call with them, and redacts what comes out. */
const withSecrets = (
  entry: Entry,
  value: unknown,
  call: ToolCall,
  context: Tool.ToolContext,
  defaults: CallDefaults
): Effect.Effect<ToolOutput, Tool.ToolFailed | Tool.ToolTimeout | Tool.ToolResultInvalid, unknown> =>
  Effect.gen(function*() {
    const credentials = yield* Credentials
    const secrets: Record<string, Redacted.Redacted<string>> = {}
    const plain: Array<{ name: string; value: string }> = []
    for (const name of entry.tool.secrets) {
      const secret = yield* credentials.get(name).pipe(
        Effect.mapError((error) =>
          new Tool.ToolFailed({ tool: call.tool, stepId: call.stepId, reason: error.message, defect: false, cause: error })
        )
      )
      secrets[name] = secret
      plain.push({ name, value: Redacted.value(secret) })
    }
    const redactor = redactorFor(plain)
    const output = yield* withRedactedLogs(runCall(entry, value, call, { ...context, secrets }, defaults), redactor).pipe(
      Effect.mapError((error) => redactError(redactor, error))
    )
    return yield* redactOutput(entry, call, redactor, output)
  })

/** The output with secrets replaced; the typed value re-decoded from the redacted result. */
const redactOutput = (
  entry: Entry,
  call: ToolCall,
  redactor: Redactor,
  output: ToolOutput
): Effect.Effect<ToolOutput, Tool.ToolResultInvalid> => {
  const result = redactor.value(output.result)
  if (result === output.result) return Effect.succeed(output)
  const decoded = entry.decodeResult(result)
  return decoded._tag === "Success"
    ? Effect.succeed({ value: decoded.value, result })
    : Effect.fail(
      new Tool.ToolResultInvalid({
        tool: call.tool,
        stepId: call.stepId,
        issue: `the result contains a secret, and with it redacted it no longer decodes: ${redactor.text(issueOf(decoded))}`
      })
    )
}

/** An error with secrets replaced in its message and cause. */
const redactError = <E extends Tool.ToolFailed | Tool.ToolTimeout | Tool.ToolResultInvalid>(
  redactor: Redactor,
  error: E
): E => {
  switch (error._tag) {
    case "ToolFailed": {
      const failed = error as Tool.ToolFailed
      const described = Tool.describeFailure(failed.cause)
      let json: string | undefined
      try {
        json = JSON.stringify(failed.cause)
      } catch {
        json = undefined
      }
      const causeLeaks = redactor.leaks(described) || (json !== undefined && redactor.leaks(json))
      if (!causeLeaks && !redactor.leaks(failed.reason)) return error
      return new Tool.ToolFailed({
        tool: failed.tool,
        stepId: failed.stepId,
        reason: redactor.text(failed.reason),
        defect: failed.defect,
        cause: causeLeaks ? redactor.text(described) : failed.cause
      }) as E
    }
    case "ToolResultInvalid": {
      const invalid = error as Tool.ToolResultInvalid
      return redactor.leaks(invalid.issue)
        ? new Tool.ToolResultInvalid({ tool: invalid.tool, stepId: invalid.stepId, issue: redactor.text(invalid.issue) }) as E
        : error
    }
    default:
      return error
  }
}
