/**
 * The server side of the API's {@link Authorization}: API keys, each mapped
 * to a principal and a {@link Role}.
 *
 * Keys are configured as `key:role` or `key:role:name` entries — in
 * `GRAPHENT_API_KEYS` (comma-separated) and/or in a file named by
 * `GRAPHENT_API_KEYS_FILE` (one entry per line, `#` comments). The principal's
 * name is `name`, or `key-N` (the entry's position) when absent; the key
 * itself is never logged nor echoed in an error.
 *
 * With no key configured the API is open: every request acts as the
 * principal `anonymous` with the role `admin` ({@link layerOpen}).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import * as HttpApiSecurity from "effect/http-api/HttpApiSecurity"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Errors from "../services/Errors.js"
import {
  Authorization,
  Forbidden,
  Principal,
  RequiredRight,
  type Right,
  type Role,
  rights,
  Unauthorized
} from "./Api.js"

/**
 * The API keys configuration is malformed.
 *
 * What to do: write `GRAPHENT_API_KEYS` as `key:role[:name]` entries separated by commas (roles: `viewer`,
 * `runner`, `admin`), or put one entry per line in the file `GRAPHENT_API_KEYS_FILE` names; see
 * docs/http-api.md.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApiKeysInvalid extends Schema.TaggedError<ApiKeysInvalid>()("ApiKeysInvalid", {
  /** `GRAPHENT_API_KEYS`, or the file and line. */
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `API keys (${this.source}): ${this.reason}`
  }
  /** {@link Errors.misconfigured}: exit 2, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.misconfigured
  }
}

/**
 * One API key.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiKey {
  readonly key: Redacted.Redacted<string>
  readonly role: Role
  readonly name: string
}

const roles: ReadonlyArray<string> = Object.keys(rights)

/**
 * Parses `key:role[:name]` entries, separated by commas or newlines; `#`
 * starts a comment. `source` names where they came from in errors; `first` is
 * the number the first unnamed key gets in `key-N`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (
  text: string,
  source: string,
  first = 1
): Effect.Effect<ReadonlyArray<ApiKey>, ApiKeysInvalid> =>
  Effect.suspend(() => {
    const keys: Array<ApiKey> = []
    const lines = text.split("\n")
    for (let lineNo = 0; lineNo < lines.length; lineNo++) {
      const line = lines[lineNo]!.replace(/#.*$/, "")
      for (const raw of line.split(",")) {
        const entry = raw.trim()
        if (entry === "") continue
        const where = lines.length > 1 ? `${source}:${lineNo + 1}` : source
        const [key, role, name, ...rest] = entry.split(":")
        const number = first + keys.length
        if (key === undefined || key === "" || role === undefined || role === "" || rest.length > 0) {
          return Effect.fail(
            new ApiKeysInvalid({ source: where, reason: `entry ${number} is not key:role or key:role:name` })
          )
        }
        if (!roles.includes(role)) {
          return Effect.fail(
            new ApiKeysInvalid({
              source: where,
              reason: `entry ${number} has the unknown role "${role}" (roles: ${roles.join(", ")})`
            })
          )
        }
        keys.push({ key: Redacted.make(key), role: role as Role, name: name === undefined || name === "" ? `key-${number}` : name })
      }
    }
    return Effect.succeed(keys)
  })

/**
 * The keys of `GRAPHENT_API_KEYS` and of the file `GRAPHENT_API_KEYS_FILE`.
 *
 * @since 0.1.0
 * @category config
 */
export const fromConfig: Effect.Effect<ReadonlyArray<ApiKey>, ApiKeysInvalid | Config.ConfigError> = Effect.gen(
  function*() {
    const inline = yield* Config.option(Config.Redacted("GRAPHENT_API_KEYS"))
    const file = yield* Config.option(Config.String("GRAPHENT_API_KEYS_FILE"))
    const keys: Array<ApiKey> = []
    if (Option.isSome(inline)) keys.push(...yield* parse(Redacted.value(inline.value), "GRAPHENT_API_KEYS"))
    if (Option.isSome(file)) {
      const text = yield* Effect.try({
        try: () => fs.readFileSync(file.value, "utf8"),
        catch: (error) => new ApiKeysInvalid({ source: file.value, reason: (error as Error).message })
      })
      keys.push(...yield* parse(text, file.value, keys.length + 1))
    }
    return keys
  }
)

const digest = (key: string) => createHash("sha256").update(key).digest("hex")

const anonymous = { name: "anonymous", role: "admin" as const }

const authorize = (
  principal: Context.Service.Shape<typeof Principal>,
  endpoint: { readonly annotations: Context.Context<never> }
): Forbidden | undefined => {
  const needed = Context.get(endpoint.annotations, RequiredRight)
  return rights[principal.role].includes(needed) ? undefined : new Forbidden({
    message: `the role "${principal.role}" of ${principal.name} lacks the right "${needed}"`,
    role: principal.role,
    right: needed
  })
}

/**
 * Authorization by the given keys (with none, every request is refused).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (keys: ReadonlyArray<ApiKey>): Layer.Layer<Authorization, ApiKeysInvalid> =>
  Layer.effect(
    Authorization,
    Effect.gen(function*() {
      const byDigest = new Map<string, Context.Service.Shape<typeof Principal>>()
      for (const { key, name, role } of keys) {
        const hash = digest(Redacted.value(key))
        if (byDigest.has(hash)) {
          return yield* new ApiKeysInvalid({ source: name, reason: "the same key is configured twice" })
        }
        byDigest.set(hash, { name, role })
      }
      return Authorization.of({
        bearer: (effect, { credential, endpoint }) => {
          const token = Redacted.value(credential)
          if (token === "") {
            return Effect.fail(new Unauthorized({ message: "missing API key: send the header Authorization: Bearer <key>" }))
          }
          const principal = byDigest.get(digest(token))
          if (principal === undefined) return Effect.fail(new Unauthorized({ message: "unknown API key" }))
          const denied = authorize(principal, endpoint)
          return denied === undefined ? Effect.provideService(effect, Principal, principal) : Effect.fail(denied)
        }
      })
    })
  )

/**
 * No keys: every request acts as `anonymous`, an `admin`. For a server only
 * this machine can reach (`graphent dev` on 127.0.0.1).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOpen: Layer.Layer<Authorization> = Layer.succeed(
  Authorization,
  Authorization.of({ bearer: (effect) => Effect.provideService(effect, Principal, anonymous) })
)

/**
 * Keys from the configuration ({@link fromConfig}); open when none is configured.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Authorization, ApiKeysInvalid | Config.ConfigError> = Layer.unwrap(
  Effect.map(fromConfig, (keys) => keys.length === 0 ? layerOpen : layer(keys))
)

const Refused = Schema.Union([Unauthorized, Forbidden])

/** The API's answer to a refused request: the error's JSON body, with its status. */
const refusal = (error: Unauthorized | Forbidden) =>
  HttpServerResponse.jsonUnsafe(Schema.encodeSync(Refused)(error), { status: error.outcome.httpStatus })

/**
 * The API's {@link Authorization} as router middleware, for routes served
 * beside the API (`graphent dev`'s MCP endpoint at `/mcp`): the bearer token
 * is read as the API's endpoints read it, the same `Authorization` decides
 * (its layer: keys, or open), and a refused request gets the API's answer
 * (`401 Unauthorized`, `403 Forbidden`, the same body). A request let through
 * acts as its {@link Principal}, which the routes' handlers see. `right` is
 * what every request to those routes requires, as an endpoint's
 * {@link RequiredRight}.
 *
 * **Example** (An MCP endpoint for keys that may start runs)
 *
 * ```ts
 * McpServer.layerHttp({ name: "agents", version: "1", path: "/mcp" }).pipe(
 *   Layer.provide(ApiAuth.routeMiddleware("run").layer)
 * )
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const routeMiddleware = (right: Right) =>
  HttpRouter.middleware<{ provides: Principal }>()(Effect.gen(function*() {
    const authorization = yield* Authorization
    // What the API's middleware is given for an endpoint that requires `right` (it reads the annotation only). No
    // concrete endpoint type is assignable to `Top` (its request parts are invariant): effect's builder passes its
    // endpoints untyped too.
    const endpoint: HttpApiEndpoint.Top = HttpApiEndpoint.post("routes", "/").annotate(RequiredRight, right) as never
    const group: HttpApiGroup.Top = HttpApiGroup.make("routes").add(endpoint)
    const credential = HttpApiBuilder.securityDecode(HttpApiSecurity.bearer)
    return (app) =>
      Effect.flatMap(credential, (credential) => authorization.bearer(app, { credential, endpoint, group })).pipe(
        Effect.catchIf(
          (error): error is Unauthorized | Forbidden => error instanceof Unauthorized || error instanceof Forbidden,
          (error) => Effect.succeed(refusal(error))
        )
      )
  }))
