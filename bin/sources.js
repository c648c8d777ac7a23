// How a checkout of Graphent runs its own TypeScript sources (bin/graphent.js, when src/ is present): in-process
// module hooks (`module.registerHooks`, no loader thread) instead of tsx, with the JavaScript each source file
// strips to kept in a cache, so a CLI process from a checkout starts about as fast as the installed package.
//
// - `graphent` and `graphent/<entry>` (agent files, tests' scratch projects) name the sources of the entry that
//   package.json `exports` declares (`./dist/x.js` -> `src/x.ts`), as tsconfig.json's `paths` does for tsc;
// - `./x.js` imported from a TypeScript file names `./x.ts` when there is no `./x.js` (TypeScript's NodeNext);
// - a `.ts`/`.mts` file outside node_modules loads as the JavaScript Node's own type stripping makes of it
//   (`module.stripTypeScriptTypes`: types replaced by blanks, so lines and columns stay those of the file and
//   stack traces need no source map), or its `transform` mode for the syntax stripping cannot erase
//   (parameter properties, enums). The result is cached in `node_modules/.cache/graphent-ts/` under a digest
//   of the source, so Node's TypeScript compiler (WebAssembly) is not even loaded once the cache is warm.
//
// Anything else (`.tsx`, tsconfig path aliases, CommonJS TypeScript) is left to Node, and an agent file that Node
// then cannot load goes through tsx (src/programs/typescript.ts registers it on demand).
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import module from "node:module"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const rootUrl = pathToFileURL(root).href
const cacheDir = path.join(root, "node_modules", ".cache", "graphent-ts")

/** `graphent` or `graphent/<entry>` -> the `src/` file of that entry, from package.json `exports`. */
const entries = (() => {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
  const map = new Map()
  for (const [key, target] of Object.entries(manifest.exports ?? {})) {
    const built = typeof target === "object" && target !== null ? target.import : undefined
    if (typeof built !== "string" || !/^\.\/dist\/.*\.js$/.test(built)) continue
    const specifier = key === "." ? manifest.name : `${manifest.name}/${key.slice(2)}`
    map.set(specifier, pathToFileURL(path.join(root, "src", built.slice("./dist/".length, -".js".length) + ".ts")).href)
  }
  return map
})()

const typeScriptFile = /\.m?ts$/
const typeScriptParent = /\.[cm]?tsx?$/

// The version of what produced a cached file: Node's (its stripper) and this file's rules.
const producer = `${process.version} 1`

/** Runs `f` without the warning that `stripTypeScriptTypes` is experimental (the CLI's output stays its own). */
const quietly = (f) => {
  const emitWarning = process.emitWarning
  process.emitWarning = (warning, ...rest) => {
    if (!String(warning?.message ?? warning).includes("stripTypeScriptTypes")) emitWarning.call(process, warning, ...rest)
  }
  try {
    return f()
  } finally {
    process.emitWarning = emitWarning
  }
}

// One file per version of a source: past this many, the oldest are removed (a new one is written on a miss only).
const cacheLimit = 4000

/** Keeps the cache to half its limit once it reaches it, the files used least recently removed first. */
const prune = () => {
  const names = fs.readdirSync(cacheDir)
  if (names.length <= cacheLimit) return
  const byAge = names.map((name) => {
    const file = path.join(cacheDir, name)
    try {
      return { file, at: fs.statSync(file).atimeMs }
    } catch {
      return { file, at: 0 }
    }
  }).sort((a, b) => a.at - b.at)
  for (const { file } of byAge.slice(0, names.length - cacheLimit / 2)) fs.rmSync(file, { force: true })
}

/** The JavaScript of a TypeScript source, from the cache or made now (and cached). */
const javaScriptOf = (source) => {
  const digest = createHash("sha256").update(producer).update("\0").update(source).digest("hex")
  const cached = path.join(cacheDir, `${digest}.js`)
  try {
    return fs.readFileSync(cached, "utf8")
  } catch {
    // Not cached yet.
  }
  const code = quietly(() => {
    try {
      return module.stripTypeScriptTypes(source, { mode: "strip" })
    } catch (error) {
      if (error?.code !== "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX") throw error
      return module.stripTypeScriptTypes(source, { mode: "transform" })
    }
  })
  try {
    // Written aside, then renamed: processes starting at once never read half a file.
    fs.mkdirSync(cacheDir, { recursive: true })
    const partial = `${cached}.${process.pid}`
    fs.writeFileSync(partial, code)
    fs.renameSync(partial, cached)
    prune()
  } catch {
    // A cache that cannot be written (read-only checkout) only costs the next start its time.
  }
  return code
}

/**
 * Registers the hooks, or does nothing and returns false on a Node.js that lacks what they need
 * (`module.registerHooks`, `module.stripTypeScriptTypes`): the caller then registers tsx instead.
 */
export const register = () => {
  if (typeof module.registerHooks !== "function" || typeof module.stripTypeScriptTypes !== "function") return false
  module.registerHooks({
    resolve: (specifier, context, nextResolve) => {
      const entry = entries.get(specifier)
      if (entry !== undefined) return { url: entry, format: "module", shortCircuit: true }
      try {
        return nextResolve(specifier, context)
      } catch (error) {
        const relative = specifier.startsWith("./") || specifier.startsWith("../")
        if (
          error?.code !== "ERR_MODULE_NOT_FOUND" || !relative || !/\.[cm]?js$/.test(specifier) ||
          !typeScriptParent.test(context.parentURL ?? "")
        ) throw error
        return nextResolve(specifier.replace(/js$/, "ts"), context)
      }
    },
    load: (url, context, nextLoad) => {
      if (!url.startsWith("file:") || !typeScriptFile.test(url) || url.includes("/node_modules/")) {
        return nextLoad(url, context)
      }
      const file = fileURLToPath(url)
      // A `.ts` file that is not an ES module (no "type": "module" above it) is left to Node and tsx.
      if (file.startsWith(root) || url.endsWith(".mts") || context.format === "module-typescript") {
        return { format: "module", source: javaScriptOf(fs.readFileSync(file, "utf8")), shortCircuit: true }
      }
      return nextLoad(url, context)
    }
  })
  return true
}
