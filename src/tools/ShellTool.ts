/**
 * Shell tools: declare a tool from an allowlisted executable and an argument
 * template. It runs on Effect's own process module (`effect/process`
 * `ChildProcess`), with argv — never through a shell — so `; rm -rf /`,
 * `$(…)`, backticks, pipes and globs in a parameter stay literal text.
 *
 * Guards, on by default:
 *
 * - **fixed executable**: the planner chooses parameters, never the program;
 *   a bare name is looked up in the tool's own `PATH`, not the process's;
 * - **argument injection**: a parameter that starts an argument may not
 *   begin with `-` (it would be read as an option) unless the tool allows it;
 *   NUL bytes are refused;
 * - **working-directory jail**: the process runs in `root` (or the
 *   subdirectory named by the `cwd` parameter), and parameters declared as
 *   `paths` must stay inside it: absolute paths and `..` segments are
 *   refused, and every component is resolved — each symlink followed, also
 *   a dangling one, links in link targets, `..` after a link — so a link
 *   whose target leaves the jail is refused whether or not the target exists;
 *   the process receives the resolved path;
 * - **scrubbed environment**: the child sees only `PATH`, the variables the
 *   tool declares (`env`, `passEnv`) and its secrets (`secretEnv`);
 * - **timeout that kills the process tree**: the child leads its own process
 *   group; at the timeout the group gets SIGTERM, then SIGKILL after `killGrace`;
 * - **output caps** on stdout and stderr (default 1 MiB each): past it, the
 *   process is killed and the call fails;
 * - **non-zero exit** is a typed error carrying the exit code and the tail of stderr.
 *
 * Not covered: what the program itself may do with its arguments (a program
 * that runs a shell on its input, `git`'s `--upload-pack`-style options when
 * `allowOptions` is set); processes that leave the group (`setsid`); file
 * access outside the jail by the program itself — use OS sandboxing
 * (containers, seccomp, a dedicated user) for that. See `docs/security.md`.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as nodePath from "node:path"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ChildProcess from "effect/process/ChildProcess"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Redacted from "effect/Redacted"
import * as Errors from "../services/Errors.js"
import * as Tool from "../services/Tool.js"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A parameter was refused before anything ran.
 *
 * What to do: the model produced an argument the tool forbids (an option-looking value, a path outside `root`,
 * a control character): tighten the tool's description, or widen `paths`/`root` if the value is legitimate.
 *
 * @since 0.1.0
 * @category errors
 */
export class ShellArgumentRejected extends Schema.TaggedError<ShellArgumentRejected>()("ShellArgumentRejected", {
  tool: Schema.String,
  parameter: Schema.String,
  reason: Schema.Literals([
    "missing",
    "not-scalar",
    "nul-byte",
    "option-like",
    "absolute-path",
    "traversal",
    "outside-jail",
    "not-a-directory"
  ]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.tool}: parameter ${this.parameter} refused (${this.reason}): ${this.detail}`
  }
  /** {@link Errors.denied}: exit 1, HTTP 403. */
  get outcome(): Errors.Outcome {
    return Errors.denied
  }
}

/**
 * The program exited with a non-zero code.
 *
 * What to do: read the exit code and stderr excerpt in the message; run the same argv by hand from the tool's
 * `root` to reproduce.
 *
 * @since 0.1.0
 * @category errors
 */
export class ShellExitFailed extends Schema.TaggedError<ShellExitFailed>()("ShellExitFailed", {
  tool: Schema.String,
  exitCode: Schema.Number,
  /** The last 2 KiB of stderr. */
  stderrTail: Schema.String
}) {
  override get message(): string {
    const tail = this.stderrTail.trim()
    return `${this.tool}: exited with code ${this.exitCode}${tail === "" ? "" : `: ${tail.slice(-500)}`}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The program wrote more than the cap on stdout or stderr; it was killed.
 *
 * What to do: raise the tool's `maxOutputBytes`, or make the command print less.
 *
 * @since 0.1.0
 * @category errors
 */
export class ShellOutputTooLarge extends Schema.TaggedError<ShellOutputTooLarge>()("ShellOutputTooLarge", {
  tool: Schema.String,
  stream: Schema.Literals(["stdout", "stderr"]),
  limitBytes: Schema.Number
}) {
  override get message(): string {
    return `${this.tool}: ${this.stream} exceeded ${this.limitBytes} bytes; the process was killed`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * The program could not be found or started, or was killed by a signal.
 *
 * What to do: check the command is installed and found with the environment the tool passes (`passEnv`), or
 * why it was killed (its `timeout`).
 *
 * @since 0.1.0
 * @category errors
 */
export class ShellFailed extends Schema.TaggedError<ShellFailed>()("ShellFailed", {
  tool: Schema.String,
  reason: Schema.Literals(["not-found", "jail", "spawn", "signal"]),
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.tool}: ${this.reason}: ${this.detail}`
  }
  /** {@link Errors.runFailed}: exit 1, HTTP 500. */
  get outcome(): Errors.Outcome {
    return Errors.runFailed
  }
}

/**
 * Every way a shell tool's handler fails (its timeout is the tool's `ToolTimeout`).
 *
 * @since 0.1.0
 * @category errors
 */
export type ShellToolError = ShellArgumentRejected | ShellExitFailed | ShellOutputTooLarge | ShellFailed

// ---------------------------------------------------------------------------
// the tool
// ---------------------------------------------------------------------------

/**
 * What a shell tool returns.
 *
 * @since 0.1.0
 * @category models
 */
export const Output = Schema.Struct({
  stdout: Schema.String,
  stderr: Schema.String,
  exitCode: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Output extends Schema.Schema.Type<typeof Output> {}

/**
 * The `PATH` of shell tools that declare none.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultPath = "/usr/local/bin:/usr/bin:/bin"

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Params extends Schema.Top> {
  readonly description: string
  /** The program: an absolute path, or a name looked up in `path`. */
  readonly command: string
  /**
   * The arguments, one template per argv entry: `{name}` is replaced by the
   * parameter (`"--count={n}"`, `"{file}"`); an entry that is exactly
   * `{name}` with an array value becomes one entry per item.
   */
  readonly args: ReadonlyArray<string>
  readonly parameters: Params
  /** The jail: an existing directory the process runs in and path parameters must stay inside. */
  readonly root: string
  /** A parameter naming a subdirectory of `root` to run in (relative to `root`). */
  readonly cwd?: string | undefined
  /** Parameters that are file paths: checked against the jail, passed resolved (absolute, symlinks followed). */
  readonly paths?: ReadonlyArray<string> | undefined
  /** Parameters allowed to start an argument with `-` (off by default: argument injection). */
  readonly allowOptions?: ReadonlyArray<string> | undefined
  /** Fixed environment variables. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Variables copied from this process's environment (e.g. `HOME`, `LANG`). */
  readonly passEnv?: ReadonlyArray<string> | undefined
  /** Environment variables filled from declared secrets: `{ GH_TOKEN: "GITHUB_TOKEN" }`. */
  readonly secretEnv?: Readonly<Record<string, string>> | undefined
  /** The child's `PATH`, also where a bare `command` is looked up (default {@link defaultPath}). */
  readonly path?: string | undefined
  /** Time limit (default 30 seconds); the process group is killed at it. */
  readonly timeout?: Duration.Input | undefined
  /** Between SIGTERM and SIGKILL when the process is stopped (default 1 second). */
  readonly killGrace?: Duration.Input | undefined
  /** Cap on stdout and on stderr, each (default 1 MiB). */
  readonly maxOutputBytes?: number | undefined
  /** Whether running twice is harmless (default false). */
  readonly idempotent?: boolean | undefined
  /** Capabilities beyond `shell:<program>`. */
  readonly capabilities?: ReadonlyArray<string> | undefined
}

const placeholder = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g

const isExecutable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** Whether `candidate` is `root` or inside it (both absolute and real). */
const inside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(root.endsWith(nodePath.sep) ? root : root + nodePath.sep)

/** How long output is still read after the program exited (from background children that inherited it). */
const outputDrain = Duration.millis(250)

/** Symbolic links followed at most while resolving one path (Linux's own limit). */
const maxLinks = 40

/**
 * The path `relative` names from the real directory `base`, every component
 * resolved: each symbolic link is followed — also one whose target does not
 * exist (a dangling link) and links inside link targets — and `..` applies to
 * the resolved path. Components that do not exist are kept as written. Returns
 * `undefined` on a link loop.
 */
const resolveComponents = (base: string, relative: string): string | undefined => {
  const pending = relative.split(/[\\/]+/)
  let resolved = base
  let links = 0
  while (pending.length > 0) {
    const component = pending.shift()!
    if (component === "" || component === ".") continue
    if (component === "..") {
      resolved = nodePath.dirname(resolved)
      continue
    }
    const candidate = nodePath.join(resolved, component)
    let stat: fs.Stats | undefined
    try {
      stat = fs.lstatSync(candidate)
    } catch {
      stat = undefined
    }
    if (stat === undefined || !stat.isSymbolicLink()) {
      resolved = candidate
      continue
    }
    if (++links > maxLinks) return undefined
    const target = fs.readlinkSync(candidate)
    pending.unshift(...target.split("/"))
    if (nodePath.isAbsolute(target)) resolved = nodePath.parse(target).root
  }
  return resolved
}

/**
 * Declares a shell tool.
 *
 * **Example** (`git log` in a repository)
 *
 * ```ts
 * const gitLog = ShellTool.make("git_log", {
 *   description: "The last commits of the repository",
 *   command: "git",
 *   args: ["log", "--oneline", "-n", "{count}", "--", "{path}"],
 *   parameters: Schema.Struct({ count: Schema.Int, path: Schema.String }),
 *   paths: ["path"],
 *   root: "/srv/repo",
 *   passEnv: ["HOME"],
 *   timeout: "10 seconds"
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Name extends string, Params extends Schema.Top>(
  name: Name,
  options: Options<Params>
): Tool.Tool<Name, Params, typeof Output, ShellToolError, ChildProcessSpawner> => {
  const searchPath = options.path ?? defaultPath
  if (options.command.includes("/") && !nodePath.isAbsolute(options.command)) {
    throw new Error(`graphent: tool "${name}": command must be an absolute path or a bare name, got ${options.command}`)
  }
  if (!nodePath.isAbsolute(options.root)) {
    throw new Error(`graphent: tool "${name}": root must be an absolute path, got ${options.root}`)
  }
  const pathParams = new Set(options.paths ?? [])
  const optionParams = new Set(options.allowOptions ?? [])
  const secretEnv = Object.entries(options.secretEnv ?? {})
  const maxBytes = options.maxOutputBytes ?? 1024 * 1024
  const killGrace = options.killGrace ?? Duration.seconds(1)
  const program = nodePath.basename(options.command)

  const reject = (parameter: string, reason: ShellArgumentRejected["reason"], detail: string) =>
    new ShellArgumentRejected({ tool: name, parameter, reason, detail })

  /** The executable, found now (it may be installed after the tool is declared). */
  const resolveCommand = (): string | ShellFailed => {
    if (nodePath.isAbsolute(options.command)) {
      return isExecutable(options.command)
        ? options.command
        : new ShellFailed({ tool: name, reason: "not-found", detail: `${options.command} is not an executable file` })
    }
    for (const dir of searchPath.split(":")) {
      if (dir === "" || !nodePath.isAbsolute(dir)) continue
      const candidate = nodePath.join(dir, options.command)
      if (isExecutable(candidate)) return candidate
    }
    return new ShellFailed({ tool: name, reason: "not-found", detail: `${options.command} is not in PATH ${searchPath}` })
  }

  /** A path parameter, resolved inside the jail, or why not. */
  const jailed = (parameter: string, value: string, base: string, root: string): string | ShellArgumentRejected => {
    if (value === "") return reject(parameter, "missing", "empty path")
    if (nodePath.isAbsolute(value) || /^[A-Za-z]:[\\/]/.test(value)) {
      return reject(parameter, "absolute-path", `${JSON.stringify(value)} is absolute; paths are relative to the tool's folder`)
    }
    if (value.split(/[\\/]+/).includes("..")) {
      return reject(parameter, "traversal", `${JSON.stringify(value)} contains a .. segment`)
    }
    const resolved = resolveComponents(base, value)
    if (resolved === undefined) {
      return reject(parameter, "outside-jail", `${JSON.stringify(value)}: too many symbolic links (a loop?)`)
    }
    if (!inside(root, resolved)) {
      return reject(parameter, "outside-jail", `${JSON.stringify(value)} resolves outside the tool's folder (through a symlink)`)
    }
    return resolved
  }

  const scalar = (parameter: string, value: unknown): string | ShellArgumentRejected => {
    if (value === undefined || value === null) return reject(parameter, "missing", "no value")
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean" && typeof value !== "bigint") {
      return reject(parameter, "not-scalar", "not a string, number or boolean")
    }
    const text = String(value)
    if (text.includes("\u0000")) return reject(parameter, "nul-byte", "contains a NUL byte")
    return text
  }

  /** argv and cwd from the parameters, every guard applied. */
  const prepare = (params: Record<string, unknown>): { argv: Array<string>; cwd: string } | ShellToolError => {
    let root: string
    try {
      root = fs.realpathSync(options.root)
      if (!fs.statSync(root).isDirectory()) throw new Error("not a directory")
    } catch (error) {
      return new ShellFailed({ tool: name, reason: "jail", detail: `root ${options.root}: ${(error as Error).message}` })
    }
    let cwd = root
    if (options.cwd !== undefined) {
      const value = scalar(options.cwd, params[options.cwd])
      if (typeof value !== "string") return value
      const dir = jailed(options.cwd, value, root, root)
      if (typeof dir !== "string") return dir
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        return reject(options.cwd, "not-a-directory", `${JSON.stringify(value)} is not a directory inside the tool's folder`)
      }
      cwd = dir
    }
    const valueOf = (parameter: string, raw: unknown, startsArg: boolean): string | ShellArgumentRejected => {
      const text = scalar(parameter, raw)
      if (typeof text !== "string") return text
      if (pathParams.has(parameter)) return jailed(parameter, text, cwd, root)
      if (startsArg && text.startsWith("-") && !optionParams.has(parameter)) {
        return reject(parameter, "option-like", `${JSON.stringify(text.slice(0, 40))} starts with "-" and would be read as an option`)
      }
      return text
    }
    const argv: Array<string> = []
    for (const template of options.args) {
      const whole = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(template)
      if (whole !== null && Array.isArray(params[whole[1]!])) {
        for (const item of params[whole[1]!] as ReadonlyArray<unknown>) {
          const text = valueOf(whole[1]!, item, true)
          if (typeof text !== "string") return text
          argv.push(text)
        }
        continue
      }
      let failure: ShellArgumentRejected | undefined
      const arg = template.replace(placeholder, (match, parameter: string, offset: number) => {
        if (failure !== undefined) return match
        const text = valueOf(parameter, params[parameter], offset === 0)
        if (typeof text !== "string") {
          failure = text
          return match
        }
        return text
      })
      if (failure !== undefined) return failure
      argv.push(arg)
    }
    return { argv, cwd }
  }

  /** A stream read whole, up to the cap. */
  const collect = (stream: Stream.Stream<Uint8Array, unknown>, which: "stdout" | "stderr") => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return stream.pipe(
      Stream.runForEach((chunk) => {
        size += chunk.length
        if (size > maxBytes) return Effect.fail(new ShellOutputTooLarge({ tool: name, stream: which, limitBytes: maxBytes }))
        chunks.push(chunk)
        return Effect.void
      }),
      Effect.mapError((error): ShellOutputTooLarge | ShellFailed =>
        error instanceof ShellOutputTooLarge
          ? error
          : new ShellFailed({ tool: name, reason: "spawn", detail: String(error) })
      ),
      Effect.map(() => Buffer.concat(chunks).toString("utf8"))
    )
  }

  const handler = (params: Params["Type"], context: Tool.ToolContext) =>
    Effect.gen(function*() {
      const executable = resolveCommand()
      if (typeof executable !== "string") return yield* executable
      const prepared = prepare(params as Record<string, unknown>)
      if ("_tag" in prepared) return yield* prepared
      const env: Record<string, string | Redacted.Redacted<string>> = { PATH: searchPath }
      for (const variable of options.passEnv ?? []) {
        const value = process.env[variable]
        if (value !== undefined) env[variable] = value
      }
      Object.assign(env, options.env ?? {})
      for (const [variable, secret] of secretEnv) env[variable] = Tool.secret(context, secret)
      const command = ChildProcess.make(executable, prepared.argv, {
        cwd: prepared.cwd,
        env,
        extendEnv: false,
        // Its own process group, so a timeout kills its children too.
        detached: true,
        killSignal: "SIGTERM",
        forceKillAfter: killGrace,
        stdin: "ignore"
      })
      return yield* Effect.scoped(
        Effect.gen(function*() {
          const handle = yield* command.pipe(
            Effect.mapError((error) => new ShellFailed({ tool: name, reason: "spawn", detail: error.message }))
          )
          // A background child that inherited stdout or stderr keeps them open after the program exits:
          // read them for a short while after the exit, then stop (the scope kills the whole group).
          const exited = yield* Deferred.make<void>()
          const drained = Deferred.await(exited).pipe(Effect.andThen(Effect.sleep(outputDrain)))
          const [stdout, stderr, exitCode] = yield* Effect.all([
            collect(Stream.interruptWhen(handle.stdout, drained), "stdout"),
            collect(Stream.interruptWhen(handle.stderr, drained), "stderr"),
            handle.exitCode.pipe(
              Effect.mapError((error) => new ShellFailed({ tool: name, reason: "signal", detail: error.message })),
              Effect.tap(() => Deferred.succeed(exited, undefined))
            )
          ], { concurrency: "unbounded" })
          if (exitCode !== 0) {
            return yield* new ShellExitFailed({ tool: name, exitCode, stderrTail: stderr.slice(-2048) })
          }
          return { stdout, stderr, exitCode: exitCode as number }
        })
      )
    })

  return Tool.make(name, {
    description: options.description,
    parameters: options.parameters,
    success: Output,
    timeout: options.timeout ?? Duration.seconds(30),
    idempotent: options.idempotent ?? false,
    capabilities: [`shell:${program}`, ...(options.capabilities ?? [])],
    secrets: [...new Set(secretEnv.map(([, secret]) => secret))],
    handler
  }) as Tool.Tool<Name, Params, typeof Output, ShellToolError, ChildProcessSpawner>
}
