#!/usr/bin/env node
// The `graphent` executable: starts the CLI — from source in a checkout of
// Graphent itself, from dist/ in an installed package. Agent files need no
// build step: the TypeScript loader (tsx) is registered before the first one
// is imported (src/programs/typescript.ts), not here, so the CLI's own modules
// load at Node's native speed.
import { existsSync } from "node:fs"
import module from "node:module"
import { fileURLToPath } from "node:url"

const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`graphent needs Node.js >= 22.19 (this is ${process.version})\n`)
  process.exit(2)
}

// V8's code cache for the modules of every run (Node keeps it in the OS temp folder): later starts skip compiling.
module.enableCompileCache?.()

// Started by npm (npx, npm exec, npm run), this process is the child of a shell that npm
// hands its signals to, and that shell dies of SIGINT / SIGTERM without passing it on.
// So when the parent goes away, stop as if sent SIGTERM: the run is interrupted (and
// says how to resume it) instead of going on as an orphan.
if (process.env.npm_command !== undefined) {
  const parent = process.ppid
  const watch = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(watch)
    process.kill(process.pid, "SIGTERM")
  }, 100)
  watch.unref()
}

const source = new URL("../src/programs/cli.ts", import.meta.url)
const built = new URL("../dist/programs/cli.js", import.meta.url)
const fromSource = existsSync(fileURLToPath(source))
if (fromSource) {
  // A checkout runs its TypeScript sources: the loader is needed at once.
  const { register } = await import("tsx/esm/api")
  register()
}
globalThis[Symbol.for("graphent/typescript-loader")] = fromSource ? "registered" : "on-demand"
const cli = await import(fromSource ? source.href : built.href)
cli.runMain(process.argv.slice(2))
