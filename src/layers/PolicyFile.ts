/**
 * The {@link Policy} of a JSON policy file (format: `docs/security.md`).
 *
 * ```json
 * {
 *   "version": 1,
 *   "default": "deny",
 *   "roles": {
 *     "reader": { "allow": ["tool:*", "net:api.example.com", "fs:read:/data/**"] },
 *     "ops": { "inherits": ["reader"], "allow": ["shell:git"], "approve": ["shell:kubectl"] },
 *     "lead": { "allow": ["approval:*"] }
 *   },
 *   "principals": { "alice": ["ops"], "bob": ["lead"] }
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { issueOf } from "../internal/issue.js"
import { Document, make as makePolicy, Policy, PolicyInvalid, type PolicyShape } from "./Policy.js"

const decodeDocument = Schema.decodeUnknownExit(Document)

/**
 * Parses and checks a policy document from JSON text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parse = (text: string, source: string): Effect.Effect<Document, PolicyInvalid> =>
  Effect.suspend(() => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (error) {
      return Effect.fail(new PolicyInvalid({ source, reason: `not JSON: ${(error as Error).message}` }))
    }
    const decoded = decodeDocument(json, { onExcessProperty: "error" })
    if (decoded._tag === "Success") return Effect.succeed(decoded.value)
    return Effect.fail(new PolicyInvalid({ source, reason: issueOf(decoded) }))
  })

/**
 * Reads a policy file.
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = (path: string): Effect.Effect<Document, PolicyInvalid> =>
  Effect.try({
    try: () => fs.readFileSync(path, "utf8"),
    catch: (error) => new PolicyInvalid({ source: path, reason: `cannot read: ${(error as Error).message}` })
  }).pipe(Effect.flatMap((text) => parse(text, path)))

/**
 * The policy of the file at `path`, read once when the layer is built.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (path: string): Effect.Effect<PolicyShape, PolicyInvalid> =>
  Effect.flatMap(read(path), (document) => makePolicy(document, path))

/**
 * The policy of the file at `options.path`, read once when the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: { readonly path: string }): Layer.Layer<Policy, PolicyInvalid> =>
  Layer.effect(Policy, make(options.path))

/**
 * The policy file named by `GRAPHENT_POLICY`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Policy, PolicyInvalid | Config.ConfigError> = Layer.effect(
  Policy,
  Effect.flatMap(Config.String("GRAPHENT_POLICY"), make)
)
