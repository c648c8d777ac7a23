/**
 * The worker's tools, each declaring the capability it needs (policy.json says who may use which):
 *
 * - `list_inbox`, `read_file`: read the inbox folder, jailed in it (`fs:read:inbox`);
 * - `count_lines`: the allowlisted command `wc -l`, run with argv and a path jail (`shell:wc`);
 * - `put_report`: `PUT /reports/{key}` on the reports API (`net:<host>`) — a PUT, so repeating it is harmless and a
 *   resumed run may retry it;
 * - `write_report`: writes the report file under `out/` (`fs:write:out`); not idempotent (appends to the log), so a
 *   resumed run never repeats it once it is journaled.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { ShellTool, Tool } from "graphent"
import { HttpTool } from "graphent/http-tool"

/** Where the worker reads, writes and reports to. */
export interface Places {
  /** The folder the worker reads. */
  readonly inbox: string
  /** The folder it writes its report and log to. */
  readonly out: string
  /** The reports API's base URL. */
  readonly api: string
}

/** The places from the environment: `WORKER_INBOX` (default `inbox/`), `WORKER_OUT` (`out/`), `WORKER_API_URL`. */
export const placesFromEnv = (): Places => ({
  inbox: path.resolve(process.env.WORKER_INBOX ?? "inbox"),
  out: path.resolve(process.env.WORKER_OUT ?? "out"),
  api: process.env.WORKER_API_URL ?? "http://127.0.0.1:7431"
})

/** One line of the report: a file, its line count and its first line. */
export const Entry = Schema.Struct({ name: Schema.String, lines: Schema.Int, title: Schema.String })

/** The worker's five tools, working in `places`. */
export const workerTools = (places: Places) => {
  /** A file name inside the inbox: no folders, no way out of it. */
  const inboxFile = (name: string) =>
    path.basename(name) === name && name !== "." && name !== ".."
      ? Effect.succeed(path.join(places.inbox, name))
      : Effect.fail(`not a file of the inbox: ${JSON.stringify(name)}`)

  const listInbox = Tool.make("list_inbox", {
    description: "Lists the text files waiting in the inbox, by name.",
    parameters: Schema.Struct({}),
    success: Schema.Array(Schema.String),
    idempotent: true,
    capabilities: ["fs:read:inbox"],
    handler: () =>
      Effect.tryPromise({ try: () => fs.readdir(places.inbox), catch: (error) => `cannot list the inbox: ${String(error)}` })
        .pipe(Effect.map((names) => names.filter((name) => name.endsWith(".txt")).sort()))
  })

  const readFile = Tool.make("read_file", {
    description: "Reads a file of the inbox.",
    parameters: Schema.Struct({ name: Schema.String }),
    success: Schema.String,
    idempotent: true,
    capabilities: ["fs:read:inbox"],
    handler: ({ name }) =>
      Effect.flatMap(inboxFile(name), (file) =>
        Effect.tryPromise({ try: () => fs.readFile(file, "utf8"), catch: (error) => `cannot read ${name}: ${String(error)}` }))
  })

  const countLines = ShellTool.make("count_lines", {
    description: "Counts the lines of a file of the inbox with `wc -l`.",
    command: "wc",
    args: ["-l", "{name}"],
    parameters: Schema.Struct({ name: Schema.String }),
    paths: ["name"],
    root: places.inbox,
    idempotent: true,
    timeout: "10 seconds"
  })

  const putReport = HttpTool.make("put_report", {
    description: "Stores the report on the reports API under a key (PUT: repeating it stores the same report).",
    method: "PUT",
    url: `${places.api}/reports/{key}`,
    hosts: [new URL(places.api).host],
    allowAddresses: ["127.0.0.0/8"],
    parameters: Schema.Struct({ key: Schema.String, entries: Schema.Array(Entry) }),
    body: ({ entries }) => ({ entries }),
    success: Schema.Struct({ stored: Schema.String, version: Schema.Int }),
    timeout: "10 seconds"
  })

  const writeReport = Tool.make("write_report", {
    description: "Writes the report to out/report.md and appends a line to out/log.txt.",
    parameters: Schema.Struct({ entries: Schema.Array(Entry), stored: Schema.String }),
    success: Schema.String,
    capabilities: ["fs:write:out"],
    handler: ({ entries, stored }) =>
      Effect.tryPromise({
        try: async () => {
          await fs.mkdir(places.out, { recursive: true })
          const report = path.join(places.out, "report.md")
          const lines = entries.map((entry) => `- ${entry.name}: ${entry.lines} lines — ${entry.title}`)
          await fs.writeFile(report, `# Inbox report\n\n${lines.join("\n")}\n\nStored as ${stored}.\n`)
          // The log shows how often the side effect happened: once per run, also across a crash and a resume.
          await fs.appendFile(path.join(places.out, "log.txt"), `report ${stored}\n`)
          return report
        },
        catch: (error) => `cannot write the report: ${String(error)}`
      })
  })

  return [listInbox, readFile, countLines, putReport, writeReport] as const
}
