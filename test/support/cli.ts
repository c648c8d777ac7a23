/**
 * The `graphent` executable as a test runs it: a real child process of
 * `bin/graphent.js` (the way a user runs it), started in the project folder so
 * agent files resolve "effect" and "graphent". One spawner for every test that
 * crosses the process boundary: synchronous ({@link graphent}), awaited
 * ({@link run}), or left running to be watched and killed ({@link start}).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Console as NodeConsole } from "node:console"
import { ConfigProvider, Console, Effect } from "effect"

/** The project's root folder (where `package.json` is). */
export const root = path.resolve(import.meta.dirname, "../..")

/** The executable users run (`npx graphent` resolves to it). */
export const bin = path.join(root, "bin/graphent.js")

/** How to run one process. */
export interface Options {
  /** Added to the test's environment; `undefined` removes a variable (e.g. `GRAPHENT_MODEL`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** The working directory (default: the project's root). */
  readonly cwd?: string | undefined
  /** Killed (SIGTERM) after this many milliseconds (default 90 s: a loaded 2-core machine is slow). */
  readonly timeout?: number | undefined
  /** Written to the process's standard input, which is then closed. */
  readonly stdin?: string | undefined
}

/** How a process ended and what it printed. */
export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment of a child: the test's own, with `env` applied (an `undefined` value removes the variable). */
export const environment = (env: Options["env"]): NodeJS.ProcessEnv => {
  const merged: NodeJS.ProcessEnv = { ...process.env }
  for (const [name, value] of Object.entries(env ?? {})) {
    if (value === undefined) delete merged[name]
    else merged[name] = value
  }
  return merged
}

/** Runs `graphent args…` to completion, blocking the test until it exits. */
export const graphent = (args: ReadonlyArray<string>, options: Options = {}): Result => {
  const child = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? root,
    encoding: "utf8",
    timeout: options.timeout ?? 90_000,
    env: environment(options.env),
    ...(options.stdin === undefined ? {} : { input: options.stdin })
  })
  return { code: child.status, signal: child.signal, stdout: child.stdout, stderr: child.stderr }
}

/** A `graphent` process that is still running. */
export interface Running {
  readonly child: ChildProcess
  /** What it printed so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when it exits (never rejects). */
  readonly exited: Promise<Result>
}

/** Starts `graphent args…` without waiting for it; the caller watches it, kills it or awaits `exited`. */
export const start = (args: ReadonlyArray<string>, options: Options = {}): Running => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? root,
    env: environment(options.env),
    stdio: ["pipe", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
  child.stdin.end(options.stdin ?? "")
  const timer = setTimeout(() => child.kill("SIGTERM"), options.timeout ?? 90_000)
  const exited = new Promise<Result>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  )
  return { child, stdout: () => stdout, stderr: () => stderr, exited }
}

/** Runs `graphent args…` to completion without blocking the test's event loop (several can run at once). */
export const run = (args: ReadonlyArray<string>, options: Options = {}): Promise<Result> => start(args, options).exited

/** {@link run} as an Effect: interrupting it kills the process. */
export const runEffect = (args: ReadonlyArray<string>, options: Options = {}): Effect.Effect<Result> =>
  Effect.callback<Result>((resume) => {
    const running = start(args, options)
    void running.exited.then((result) => resume(Effect.succeed(result)))
    return Effect.sync(() => void running.child.kill("SIGKILL"))
  })

/**
 * Resolves with the first match of `pattern` in what the process printed on standard output (and
 * standard error when `stream` is "both"); rejects if it exits first, with its output.
 */
export const waitForOutput = (
  running: Running,
  pattern: RegExp,
  stream: "stdout" | "both" = "stdout"
): Promise<RegExpExecArray> =>
  new Promise((resolve, reject) => {
    const output = () => stream === "stdout" ? running.stdout() : running.stdout() + running.stderr()
    const check = () => {
      const match = pattern.exec(output())
      if (match === null) return
      running.child.stdout?.off("data", check)
      running.child.stderr?.off("data", check)
      resolve(match)
    }
    running.child.stdout?.on("data", check)
    running.child.stderr?.on("data", check)
    void running.exited.then((result) =>
      reject(new Error(`graphent exited (${result.code ?? result.signal}) before printing ${pattern}:\n${result.stdout}${result.stderr}`))
    )
    check()
  })

/** A new folder inside the project (test/.scratch, git-ignored): agent files written there resolve "effect" and "graphent". */
export const scratch = (name: string): string => {
  const dir = path.join(root, "test/.scratch")
  fs.mkdirSync(dir, { recursive: true })
  return fs.mkdtempSync(path.join(dir, `${name}-`))
}

/** The non-empty lines of a file. */
export const lines = (file: string): Array<string> =>
  fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "")

let inProcessQueue: Promise<unknown> = Promise.resolve()

/**
 * Runs `graphent args…` inside the test's own process: the CLI program (`main` of src/programs/cli.ts)
 * with `env` applied to the environment and its configuration, `cwd` as the working directory, and what it
 * writes on standard output and error captured. No process start-up (seconds of CPU on a loaded 2-core
 * machine), for what does not depend on being a process: arguments, output, exit codes, stores and
 * journals. Signals, standard input and the executable itself need {@link graphent} / {@link start}.
 * Calls are queued: one at a time owns the process's environment, working directory and output.
 */
export const inProcess = (args: ReadonlyArray<string>, options: Omit<Options, "stdin" | "timeout"> = {}): Promise<Result> => {
  const call = inProcessQueue.then(async (): Promise<Result> => {
    const { main } = await import("../../src/programs/cli.js")
    const env = environment(options.env)
    const saved = { env: process.env, cwd: process.cwd(), stdout: process.stdout.write, stderr: process.stderr.write }
    let stdout = ""
    let stderr = ""
    const capture = (append: (text: string) => void) =>
      ((chunk: string | Uint8Array, ...rest: Array<unknown>) => {
        append(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"))
        const done = rest.find((arg) => typeof arg === "function") as (() => void) | undefined
        done?.()
        return true
      }) as typeof process.stdout.write
    process.env = env
    process.chdir(options.cwd ?? root)
    process.stdout.write = capture((text) => (stdout += text))
    process.stderr.write = capture((text) => (stderr += text))
    try {
      // Loggers write through Effect's Console (by default the global console, which the test runner keeps).
      const console = new NodeConsole({ stdout: process.stdout, stderr: process.stderr })
      const code = await Effect.runPromise(
        main(args).pipe(
          Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: env as Record<string, string> })),
          Effect.provideService(Console.Console, console)
        )
      )
      return { code, signal: null, stdout, stderr }
    } finally {
      process.stdout.write = saved.stdout
      process.stderr.write = saved.stderr
      process.chdir(saved.cwd)
      process.env = saved.env
    }
  })
  inProcessQueue = call.catch(() => undefined)
  return call
}
