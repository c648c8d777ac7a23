/**
 * Credentials: secrets by name, handed to tools as `Redacted` values, and the
 * redaction that keeps their values out of everything a run leaves behind.
 *
 * A tool declares the secrets it needs by name (`secrets: ["GITHUB_TOKEN"]`);
 * the executor looks each one up in the {@link Credentials} service when the
 * call starts and gives them to the handler in its context
 * (`Tool.secret(context, "GITHUB_TOKEN")`). While the handler runs, log lines
 * and spans are redacted; its result and its errors (every nested field, their
 * classes kept) are redacted before the runtime journals them: every
 * occurrence of a declared secret's value (raw, JSON-, URL-, form- or
 * base64-encoded, see {@link spellings}) becomes `[REDACTED:NAME]`.
 *
 * The default service reads secrets from Effect `Config` (the environment);
 * `CredentialsConfig.layer` adds a prefix, {@link layerTest} serves fixed
 * values, and a vault backend is one more implementation of
 * {@link CredentialsShape}.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Errors from "./Errors.js"
import * as Tracer from "effect/Tracer"
import { type Wired, wires } from "./Wired.js"

/**
 * A secret a tool declares is not available.
 *
 * What to do: set the variable the message names (with `GRAPHENT_SECRET_PREFIX` set, only variables with that
 * prefix count), or provide the secret through your own `Credentials` layer.
 *
 * @since 0.1.0
 * @category errors
 */
export class CredentialNotFound extends Schema.TaggedError<CredentialNotFound>()("CredentialNotFound", {
  name: Schema.String,
  /** Where it was looked up (`env`, `vault`...). */
  source: Schema.String
}) {
  override get message(): string {
    return `credential ${this.name} is not available (${this.source})`
  }
  /** {@link Errors.misconfigured}: exit 2, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.misconfigured
  }
}

/**
 * The credentials interface: one lookup by name. A vault client fits it.
 *
 * @since 0.1.0
 * @category models
 */
export interface CredentialsShape {
  readonly get: (name: string) => Effect.Effect<Redacted.Redacted<string>, CredentialNotFound>
}

/**
 * Whether `name` is a valid secret name (letters, digits and `_`, as an
 * environment variable).
 *
 * @since 0.1.0
 * @category models
 */
export const isValidName = (name: string): boolean => /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)

/**
 * Credentials read with Effect `Config` (by default the environment): the
 * secret `NAME` is the variable `prefix + NAME`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (options?: { readonly prefix?: string | undefined }): CredentialsShape => {
  const prefix = options?.prefix ?? ""
  return {
    get: (name) =>
      Config.Redacted(`${prefix}${name}`).pipe(
        Effect.mapError(() => new CredentialNotFound({ name, source: `config ${prefix}${name}` }))
      )
  }
}

/**
 * The credentials service; by default {@link fromConfig} with no prefix.
 *
 * @since 0.1.0
 * @category services
 */
export const Credentials = Context.Reference<CredentialsShape>("graphent/Credentials", {
  defaultValue: () => fromConfig()
})

/**
 * Fixed secrets, for tests and examples.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRecord = (secrets: Readonly<Record<string, string>>): CredentialsShape => ({
  get: (name) =>
    Object.hasOwn(secrets, name)
      ? Effect.succeed(Redacted.make(secrets[name]!, { label: name }))
      : Effect.fail(new CredentialNotFound({ name, source: "test credentials" }))
})

/**
 * A test layer serving fixed secrets.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTest = (secrets: Readonly<Record<string, string>>): Layer.Layer<Wired<"Credentials">> =>
  Layer.succeed(Credentials, fromRecord(secrets)).pipe(wires("Credentials"))

// ---------------------------------------------------------------------------
// redaction
// ---------------------------------------------------------------------------

/**
 * Replaces the values of known secrets.
 *
 * @since 0.1.0
 * @category redaction
 */
export interface Redactor {
  /** Whether there is anything to redact at all. */
  readonly active: boolean
  /** The text with every secret replaced by `[REDACTED:NAME]`. */
  readonly text: (text: string) => string
  /**
   * The value with every string redacted, walking arrays, plain objects (keys
   * included), errors (own fields, `message`, `stack`, `cause` chains) and
   * other objects' own fields. Errors are copied with their class, so a typed
   * error stays `instanceof` its class; the same reference when nothing leaks.
   */
  readonly value: (value: unknown) => unknown
  /** Whether the text holds a secret. */
  readonly leaks: (text: string) => boolean
}

/** The percent-encoded text with lowercase hex digits (`%2f`), as some servers echo it. */
const lowerHex = (text: string): string => text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())

/**
 * The spellings of a secret that redaction looks for: as is, JSON-escaped
 * (once and twice, as JSON nested in a JSON string), URL-encoded as a
 * component, as a URI, and as a form/query value (`URLSearchParams`, the
 * spelling `HttpTool` sends in queries: spaces as `+`, `!'()~` escaped), each
 * also with lowercase hex digits, base64 (with and without padding) and base64url.
 *
 * @since 0.1.0
 * @category redaction
 */
export const spellings = (value: string): ReadonlyArray<string> => {
  const out = new Set<string>([value])
  const json = JSON.stringify(value).slice(1, -1)
  out.add(json)
  out.add(JSON.stringify(json).slice(1, -1))
  for (const encoded of [encodeURIComponent(value), encodeURI(value), new URLSearchParams([["", value]]).toString().slice(1)]) {
    out.add(encoded)
    out.add(lowerHex(encoded))
  }
  const base64 = Buffer.from(value, "utf8").toString("base64")
  out.add(base64)
  out.add(base64.replace(/=+$/, ""))
  out.add(Buffer.from(value, "utf8").toString("base64url"))
  out.delete("")
  return [...out]
}

/** Objects whose contents are not fields: left as they are. */
const isOpaque = (value: object): boolean =>
  Redacted.isRedacted(value) || value instanceof Date || value instanceof RegExp || value instanceof Map ||
  value instanceof Set || value instanceof Promise || ArrayBuffer.isView(value) || value instanceof ArrayBuffer ||
  value instanceof WeakMap || value instanceof WeakSet

/** Nesting walked at most (deeper values are left as they are). */
const maxDepth = 64

/**
 * A redactor for these secrets (name and value).
 *
 * @since 0.1.0
 * @category redaction
 */
export const makeRedactor = (secrets: ReadonlyArray<{ readonly name: string; readonly value: string }>): Redactor => {
  const needles: Array<{ readonly needle: string; readonly replacement: string }> = []
  for (const { name, value } of secrets) {
    if (value === "") continue
    for (const needle of spellings(value)) needles.push({ needle, replacement: `[REDACTED:${name}]` })
  }
  // Longer spellings first, so a secret inside another is not half-replaced.
  needles.sort((a, b) => b.needle.length - a.needle.length)
  const leaks = (text: string) => needles.some(({ needle }) => text.includes(needle))
  const text = (input: string): string => {
    let out = input
    for (const { needle, replacement } of needles) {
      if (out.includes(needle)) out = out.split(needle).join(replacement)
    }
    return out
  }
  /** Whether a secret is anywhere in the value: strings, keys, own data fields (getters are not called). */
  const leaksDeep = (input: unknown, seen: Set<object>, depth: number): boolean => {
    if (typeof input === "string") return leaks(input)
    if (typeof input !== "object" || input === null || depth > maxDepth || seen.has(input) || isOpaque(input)) return false
    seen.add(input)
    for (const key of Reflect.ownKeys(input)) {
      if (typeof key === "string" && leaks(key)) return true
      const descriptor = Object.getOwnPropertyDescriptor(input, key)
      if (descriptor !== undefined && "value" in descriptor && leaksDeep(descriptor.value, seen, depth + 1)) return true
    }
    return false
  }
  /**
   * A copy with every string redacted. Arrays, plain objects and errors keep
   * their prototype (an error its class, with its message fixed as an own
   * field, since a getter may read what the copy no longer has); other class
   * instances become plain objects of their own fields (their methods may
   * rely on private state a copy cannot have).
   */
  const copy = (input: unknown, copies: Map<object, unknown>, depth: number): unknown => {
    if (typeof input === "string") return text(input)
    if (typeof input !== "object" || input === null || depth > maxDepth || isOpaque(input)) return input
    const known = copies.get(input)
    if (known !== undefined) return known
    const prototype = Object.getPrototypeOf(input)
    const isError = input instanceof Error
    const out: Record<PropertyKey, unknown> = Array.isArray(input)
      ? []
      : Object.create(isError || prototype === null || prototype === Object.prototype ? prototype : Object.prototype)
    copies.set(input, out)
    for (const key of Reflect.ownKeys(input)) {
      const descriptor = Object.getOwnPropertyDescriptor(input, key)!
      if ("value" in descriptor) descriptor.value = copy(descriptor.value, copies, depth + 1)
      Object.defineProperty(out, typeof key === "string" ? text(key) : key, descriptor)
    }
    if (isError && !Object.hasOwn(input, "message")) {
      let message: string
      try {
        message = text(String((input as Error).message))
      } catch {
        message = ""
      }
      Object.defineProperty(out, "message", { value: message, writable: true, enumerable: false, configurable: true })
    }
    return out
  }
  const value = (input: unknown): unknown =>
    needles.length === 0 || !leaksDeep(input, new Set(), 0) ? input : copy(input, new Map(), 0)
  return { active: needles.length > 0, text, value, leaks }
}

const redactors = new Map<string, Redactor>()

/**
 * {@link makeRedactor}, remembered for the same secrets (a tool's calls share one).
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactorFor = (secrets: ReadonlyArray<{ readonly name: string; readonly value: string }>): Redactor => {
  const key = secrets.map(({ name, value }) => `${name}\u0000${value}`).join("\u0001")
  let redactor = redactors.get(key)
  if (redactor === undefined) {
    if (redactors.size >= 256) redactors.clear()
    redactor = makeRedactor(secrets)
    redactors.set(key, redactor)
  }
  return redactor
}

/**
 * A redactor with nothing to redact.
 *
 * @since 0.1.0
 * @category redaction
 */
export const noRedaction: Redactor = makeRedactor([])

/**
 * The cause with its errors and defects redacted (see {@link Redactor.value}):
 * a typed failure stays a failure of the same class; the same cause when
 * nothing leaks.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactCause = <E>(redactor: Redactor, cause: Cause.Cause<E>): Cause.Cause<E> => {
  let changed = false
  const reasons = cause.reasons.map((reason): Cause.Reason<E> => {
    if (reason._tag === "Interrupt") return reason
    const inner = reason._tag === "Fail" ? reason.error : reason.defect
    const redacted = redactor.value(inner)
    if (redacted === inner) return reason
    changed = true
    return reason._tag === "Fail" ? Cause.makeFailReason(redacted as E) : Cause.makeDieReason(redacted)
  })
  return changed ? Cause.fromReasons(reasons) : cause
}

/**
 * Runs `effect` with every logger redacting log messages and causes, and the
 * tracer redacting what its spans record: attributes, event names and
 * attributes, and the exit a span ends with (errors keep their class).
 *
 * @since 0.1.0
 * @category redaction
 */
export const withRedactedLogs = <A, E, R>(effect: Effect.Effect<A, E, R>, redactor: Redactor): Effect.Effect<A, E, R> =>
  redactor.active
    ? Effect.flatMap(Logger.CurrentLoggers, (loggers) =>
      Effect.flatMap(Effect.tracer, (tracer) =>
        effect.pipe(
          Effect.provideService(Logger.CurrentLoggers, redactedLoggers(loggers, redactor)),
          Effect.provideService(Tracer.Tracer, redactedTracer(tracer, redactor))
        )))
    : effect

/** The exit with its cause redacted (a success value is left: results are redacted by the executor). */
const redactExit = (redactor: Redactor, exit: Exit.Exit<unknown, unknown>): Exit.Exit<unknown, unknown> => {
  if (Exit.isSuccess(exit)) return exit
  const cause = redactCause(redactor, exit.cause)
  return cause === exit.cause ? exit : Exit.failCause(cause)
}

/**
 * A tracer whose spans redact what they record. The spans are the inner
 * tracer's own objects (a parent must stay the exporter's span), with their
 * recording methods wrapped.
 */
const redactedTracer = (tracer: Tracer.Tracer, redactor: Redactor): Tracer.Tracer =>
  Tracer.make({
    ...(tracer.context === undefined ? {} : { context: tracer.context }),
    span(options) {
      const span = tracer.span(options)
      const attribute = span.attribute.bind(span)
      const event = span.event.bind(span)
      const end = span.end.bind(span)
      span.attribute = (key, value) => attribute(redactor.text(key), redactor.value(value))
      span.event = (name, startTime, attributes) =>
        event(redactor.text(name), startTime, redactor.value(attributes) as Record<string, unknown> | undefined)
      span.end = (endTime, exit) => end(endTime, redactExit(redactor, exit))
      return span
    }
  })

// The wrapped loggers, made once per set of loggers and redactor.
const wrappedLoggers = new WeakMap<ReadonlySet<Logger.Logger<unknown, any>>, WeakMap<Redactor, ReadonlySet<Logger.Logger<unknown, any>>>>()

const redactedLoggers = (
  loggers: ReadonlySet<Logger.Logger<unknown, any>>,
  redactor: Redactor
): ReadonlySet<Logger.Logger<unknown, any>> => {
  let byRedactor = wrappedLoggers.get(loggers)
  let wrapped = byRedactor?.get(redactor)
  if (wrapped !== undefined) return wrapped
  wrapped = new Set(
    [...loggers].map((logger) =>
      Logger.make<unknown, unknown>((options) =>
        logger.log({
          ...options,
          message: redactor.value(options.message),
          cause: redactCause(redactor, options.cause)
        })
      )
    )
  )
  if (byRedactor === undefined) wrappedLoggers.set(loggers, byRedactor = new WeakMap())
  byRedactor.set(redactor, wrapped)
  return wrapped
}
