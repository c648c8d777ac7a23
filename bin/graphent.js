#!/usr/bin/env node
// The `graphent` executable: starts the CLI — from source in a checkout of
// Graphent itself, from dist/ in an installed package. Agent files need no
// build step: they are imported through Node's type stripping, or tsx when
// Node cannot load them (src/programs/typescript.ts), not registered here, so
// the CLI's own modules load at Node's native speed.
import { existsSync, readFileSync } from "node:fs"
import module from "node:module"
import { fileURLToPath } from "node:url"

const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`graphent needs Node.js >= 22.19 (this is ${process.version})\n`)
  process.exit(2)
}

const args = process.argv.slice(2)
const source = new URL("../src/programs/cli.ts", import.meta.url)
const built = new URL("../dist/programs/cli.js", import.meta.url)
const fromSource = existsSync(fileURLToPath(source))

// The embedded store (PGlite) is PostgreSQL compiled to WebAssembly: V8's optimizing tier compiles it a second
// time in the background, which doubles a short run's CPU time and memory. So the commands that may open it on
// the default store run with the baseline compiler only (not `dev`: a long-lived server profits from the
// optimized code). V8 reads the flag at start-up only: the process image is replaced (same pid) before anything
// is loaded.
const mayOpenEmbeddedStore = ["run", "resume", "approve", "reject"].includes(args[0]) &&
  process.env.GRAPHENT_STORE !== "memory" && !process.env.GRAPHENT_DATABASE_URL && !process.env.GRAPHENT_REDIS_URL
if (mayOpenEmbeddedStore && !process.execArgv.includes("--liftoff-only") && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, "--liftoff-only", ...process.execArgv, ...process.argv.slice(1)])
}

// `graphent --help` and `--version` of the installed package print what the built CLI printed for them at build
// time (tsup.config.ts), plain or in colour as the CLI would choose, without loading the CLI.
const printed = fromSource || args.length !== 1 ? undefined : { "--help": "help", "-h": "help", "--version": "version" }[args[0]]
const colors = process.stdout.isTTY === true && !process.env.NO_COLOR
const printedFile = printed && fileURLToPath(new URL(`../dist/programs/${printed}${colors ? ".color" : ""}.txt`, import.meta.url))

if (printedFile && existsSync(printedFile)) {
  process.stdout.write(readFileSync(printedFile))
} else {
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

  // A checkout runs its TypeScript sources: its own loader is needed at once (bin/sources.js), or tsx on a
  // Node.js without in-process hooks. Agent files Node cannot load go through tsx, registered on demand.
  const sourcesLoaded = fromSource && (await import("./sources.js")).register()
  if (fromSource && !sourcesLoaded) {
    const { register } = await import("tsx/esm/api")
    register()
  }
  globalThis[Symbol.for("graphent/typescript-loader")] = fromSource && !sourcesLoaded ? "registered" : "on-demand"
  const cli = await import(fromSource ? source.href : built.href)
  cli.runMain(args)
}
