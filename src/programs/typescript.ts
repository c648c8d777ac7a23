/**
 * How the `graphent` executable imports agent files written in TypeScript,
 * with no build step.
 *
 * First, Node's own type stripping, for an ES module (`.mts`, or `.ts` in a
 * package with `"type": "module"`) on a Node.js that strips types without a
 * warning: it costs nothing at start-up. A resolve hook (in the process, not
 * on a loader thread) adds what TypeScript's `NodeNext` resolution allows and
 * Node's does not: `./tools.js` naming `./tools.ts`.
 *
 * Else, or when Node cannot load the file (an `enum`, a `.tsx` file, a path
 * alias, a CommonJS package: errors raised before any of the module runs),
 * tsx, registered just before the import. Registering it later than start-up
 * keeps it out of the CLI's own start: every module imported after
 * registration goes through its hooks (on a separate thread).
 *
 * Only the executable asks for this (bin/graphent.js marks the process); a
 * program that imports Graphent as a library keeps its own loader, and a
 * checkout of Graphent runs under tsx from the start.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import module from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const state = Symbol.for("graphent/typescript-loader")

type State = "on-demand" | "registered"

const global = globalThis as { [state]?: State }

/** Registers tsx's ESM loader when the process asked for it on demand and has not registered it yet. */
const registerTsx = async (): Promise<void> => {
  if (global[state] === undefined || global[state] === "registered") return
  global[state] = "registered"
  const { register } = await import("tsx/esm/api")
  register()
}

/** Node 22.18+ and 24 strip types silently; 23 warns that it is experimental. */
const nodeStripsTypes = (): boolean => {
  const major = Number(process.versions.node.split(".")[0])
  return Boolean((process.features as { typescript?: unknown }).typescript) && major !== 23 &&
    typeof module.registerHooks === "function"
}

/** Whether Node loads `file` as an ES module: `.mts`/`.mjs`, or `.ts`/`.js` under a package.json with `"type": "module"`. */
const isEsm = (file: string): boolean => {
  if (/\.m[jt]s$/.test(file)) return true
  if (!/\.[jt]s$/.test(file)) return false
  for (let dir = path.dirname(file);; dir = path.dirname(dir)) {
    const manifest = path.join(dir, "package.json")
    if (fs.existsSync(manifest)) {
      try {
        return (JSON.parse(fs.readFileSync(manifest, "utf8")) as { type?: unknown }).type === "module"
      } catch {
        return false
      }
    }
    if (path.dirname(dir) === dir) return false
  }
}

const typeScriptParent = /\.[cm]?tsx?$/

let hooked = false

/** `./x.js` from a TypeScript file names `./x.ts` when there is no `./x.js` (likewise `.mjs`/`.mts`, `.cjs`/`.cts`). */
const registerExtensionHook = () => {
  if (hooked) return
  hooked = true
  module.registerHooks({
    resolve: (specifier, context, nextResolve) => {
      try {
        return nextResolve(specifier, context)
      } catch (error) {
        const relative = specifier.startsWith("./") || specifier.startsWith("../")
        if (
          (error as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND" || !relative ||
          !/\.[cm]?js$/.test(specifier) || !typeScriptParent.test(context.parentURL ?? "")
        ) throw error
        return nextResolve(specifier.replace(/js$/, "ts"), context)
      }
    }
  })
}

/** What Node raises, before running any of the module, for TypeScript it cannot load by itself. */
const unsupported = new Set([
  "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX",
  "ERR_INVALID_TYPESCRIPT_SYNTAX",
  "ERR_MODULE_NOT_FOUND",
  "ERR_UNKNOWN_FILE_EXTENSION",
  "ERR_UNSUPPORTED_DIR_IMPORT",
  "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING"
])

/**
 * Imports the module at `href` (a `file:` URL): natively when Node can load
 * it, else through tsx (see the module's description).
 *
 * @since 0.2.0
 * @category loading
 */
export const importModule = async (href: string): Promise<Record<string, unknown>> => {
  if (global[state] === "on-demand" && nodeStripsTypes() && isEsm(fileURLToPath(href))) {
    registerExtensionHook()
    try {
      return await import(href)
    } catch (error) {
      if (!unsupported.has((error as { code?: unknown }).code as string)) throw error
    }
  }
  await registerTsx()
  return import(href)
}
