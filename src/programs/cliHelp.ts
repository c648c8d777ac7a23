/**
 * What `graphent --help` says beyond the commands — exit codes and
 * environment variables — and how the CLI reports a usage error: one line on
 * standard error and a pointer to `--help`, not the whole help text.
 *
 * @since 0.1.0
 */
import * as CliOutput from "effect/cli/CliOutput"
import * as Effect from "effect/Effect"

/**
 * The exit codes of every `graphent` command.
 *
 * @since 0.1.0
 * @category models
 */
export const exitCodes = {
  /** The command did what it was asked (a replay was identical). */
  ok: 0,
  /** The agent's run failed, or a replay diverged from its recording. */
  failed: 1,
  /** Bad usage or bad input: an unknown flag, a missing file, a file with no agent, an unreadable store. */
  usage: 2,
  /** The run is paused until someone approves or rejects a step (`graphent approve` / `reject`). */
  paused: 3,
  /** Interrupted by Ctrl-C (SIGINT); the run can be resumed. */
  interrupted: 130,
  /** Stopped by SIGTERM; the run can be resumed. */
  terminated: 143
} as const

const exitCodeLines: ReadonlyArray<readonly [number, string]> = [
  [exitCodes.ok, "success (replay: identical)"],
  [exitCodes.failed, "the run failed, or replay found a divergence"],
  [exitCodes.usage, "bad usage or input: unknown flag, missing file, no agent in the file, store unavailable"],
  [exitCodes.paused, "the run waits for a human: graphent approve / reject"],
  [exitCodes.interrupted, "interrupted (Ctrl-C); the run id and the command to resume it are printed"],
  [exitCodes.terminated, "stopped by SIGTERM; resumable the same way"]
]

/**
 * The environment variables the CLI reads, with what each one does.
 *
 * @since 0.1.0
 * @category models
 */
export const environment: ReadonlyArray<readonly [string, string]> = [
  ["GRAPHENT_HOME", "the embedded store's folder (default: .graphent/ in the project)"],
  ["GRAPHENT_STORE", "auto (default) or memory: keep nothing"],
  ["GRAPHENT_DATABASE_URL", "PostgreSQL for memory and journals instead of the embedded store"],
  ["GRAPHENT_REDIS_URL", "Redis for memory"],
  ["GRAPHENT_STORE_PREFIX", "table / key prefix in the store (default graphent)"],
  ["GRAPHENT_LOCK_TIMEOUT", "how long to wait for an embedded store another process holds (default 30 seconds)"],
  ["GRAPHENT_MODEL", "the model of LLM-planned agents, e.g. openai:gpt-4o-mini (else their scripted model)"],
  ["GRAPHENT_EMBEDDING_MODEL", "the embedding model for semantic recall"],
  ["GRAPHENT_POLICY", "a policy file: tool calls are checked and audited"],
  ["GRAPHENT_AUDIT", "the audit log: a file (default .graphent/audit.jsonl in the project) or a postgres:// URL"],
  ["GRAPHENT_PRINCIPAL", "who runs (roles from the policy, or GRAPHENT_ROLES)"],
  ["GRAPHENT_PRICES", "model prices, for costs and cost budgets"],
  ["GRAPHENT_CONTEXT_WINDOWS", "context windows of models, for the LLM planner's compaction"],
  ["GRAPHENT_SECRET_PREFIX", "only variables with this prefix can be handed to tools as secrets"],
  ["GRAPHENT_PLANNER_URL", "the service of remote-planned agents (GRAPHENT_PLANNER_TOKEN, _TIMEOUT, _MAX_RETRIES)"],
  ["GRAPHENT_LOG", "pretty (default) or json: the format of logs on standard error"],
  ["GRAPHENT_API_KEYS", "graphent dev: API keys key:role,... (or GRAPHENT_API_KEYS_FILE); none: open, loopback only"],
  ["OTEL_EXPORTER_OTLP_ENDPOINT", "export traces and metrics over OTLP"]
]

const table = (rows: ReadonlyArray<readonly [string | number, string]>) => {
  const width = Math.max(...rows.map(([key]) => String(key).length))
  return rows.map(([key, text]) => `  ${String(key).padEnd(width)}    ${text}`).join("\n")
}

/**
 * The sections `graphent --help` ends with: exit codes and environment variables.
 *
 * @since 0.1.0
 * @category rendering
 */
export const epilogue = `EXIT CODES\n${table(exitCodeLines)}\n\nENVIRONMENT\n${table(environment)}\n`

const write = (stream: NodeJS.WriteStream, text: string) => Effect.sync(() => void stream.write(text.endsWith("\n") ? text : `${text}\n`))

/**
 * Help on standard output (the root command's with {@link epilogue}); a usage
 * error as one line on standard error, with the command to get help.
 *
 * @since 0.1.0
 * @category layers
 */
export const presenter = CliOutput.layerPresenter({
  present: (event) =>
    Effect.gen(function*() {
      switch (event._tag) {
        case "InvalidInvocation": {
          const reason = event.errors.map((error) => error.message.trim()).join("; ")
          yield* write(process.stderr, `error: ${reason}\nrun "${event.commandPath.join(" ")} --help" for usage`)
          return
        }
        case "Help": {
          const formatter = yield* CliOutput.Formatter
          const text = formatter.formatHelpDoc(event.helpDoc)
          yield* write(process.stdout, event.commandPath.length === 1 ? `${text.trimEnd()}\n\n${epilogue}` : text)
          return
        }
        case "Version":
          return yield* CliOutput.defaultPresenter.present(event)
      }
    })
})
