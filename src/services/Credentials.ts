/**
 * Credentials: secrets by name, handed to tools as `Redacted` values, and the
 * redaction that keeps their values out of everything a run leaves behind.
 *
 * A tool declares the secrets it needs by name (`secrets: ["GITHUB_TOKEN"]`);
 * the executor looks each one up in the {@link Credentials} service when the
 * call starts and gives them to the handler in its context
 * (`Tool.secret(context, "GITHUB_TOKEN")`). While the handler runs, log lines
 * are redacted; its result and its errors are redacted before the runtime
 * journals them: every occurrence of a declared secret's value (raw, JSON-,
 * URL- or base64-encoded) becomes `[REDACTED:NAME]`.
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
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * A secret a tool declares is not available.
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
export const layerTest = (secrets: Readonly<Record<string, string>>): Layer.Layer<never> =>
  Layer.succeed(Credentials, fromRecord(secrets))

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
  /** A JSON-like value with every string redacted (keys included); the same reference when nothing changed. */
  readonly value: (value: unknown) => unknown
  /** Whether the text holds a secret. */
  readonly leaks: (text: string) => boolean
}

/**
 * The spellings of a secret that redaction looks for: as is, JSON-escaped,
 * URL-encoded, base64 and base64url.
 *
 * @since 0.1.0
 * @category redaction
 */
export const spellings = (value: string): ReadonlyArray<string> => {
  const out = new Set<string>([value])
  out.add(JSON.stringify(value).slice(1, -1))
  out.add(encodeURIComponent(value))
  const base64 = Buffer.from(value, "utf8").toString("base64")
  out.add(base64)
  out.add(base64.replace(/=+$/, ""))
  out.add(Buffer.from(value, "utf8").toString("base64url"))
  out.delete("")
  return [...out]
}

const isPlain = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

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
  const deep = (input: unknown): unknown => {
    if (typeof input === "string") return text(input)
    if (typeof input !== "object" || input === null) return input
    if (Array.isArray(input)) return input.map(deep)
    if (!isPlain(input)) return input
    const out: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(input)) out[text(key)] = deep(item)
    return out
  }
  const value = (input: unknown): unknown => {
    if (needles.length === 0) return input
    if (typeof input === "string") return leaks(input) ? text(input) : input
    let json: string | undefined
    try {
      json = JSON.stringify(input)
    } catch {
      json = undefined
    }
    if (json !== undefined && !leaks(json)) return input
    return deep(input)
  }
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

const redactCause = (redactor: Redactor, cause: Cause.Cause<unknown>): Cause.Cause<unknown> => {
  if (cause.reasons.length === 0) return cause
  const pretty = Cause.pretty(cause)
  return redactor.leaks(pretty) ? Cause.die(redactor.text(pretty)) : cause
}

/**
 * Runs `effect` with every logger redacting log messages and causes.
 *
 * @since 0.1.0
 * @category redaction
 */
export const withRedactedLogs = <A, E, R>(effect: Effect.Effect<A, E, R>, redactor: Redactor): Effect.Effect<A, E, R> =>
  redactor.active
    ? Effect.flatMap(Logger.CurrentLoggers, (loggers) =>
      Effect.provideService(effect, Logger.CurrentLoggers, redactedLoggers(loggers, redactor)))
    : effect

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
