/**
 * `graphent eval`: datasets from recorded runs, and experiments.
 *
 * - `graphent eval dataset add <journal…> --dataset cases.jsonl`: each
 *   completed run of the journals becomes a case (its input and thread, its
 *   answer and tool calls as references, the run as its source); runs already
 *   in the dataset are not added twice.
 * - `graphent eval run <agent-file> --dataset cases.jsonl [--scorers …]
 *   [--concurrency N] [--record-dir runs/] [--baseline report.json]
 *   [--threshold name=min …] [--report report.json] [--html report.html]
 *   [--resume]`: runs the experiment (`Eval.run`), prints progress on standard
 *   error and the summary on standard output, writes the report, and exits 1
 *   when a threshold is missed. With `--report`, each finished case is
 *   appended to `<report>.progress.jsonl` as it ends: an interrupted
 *   experiment (Ctrl-C) keeps every finished case, and `--resume` runs only
 *   the others.
 *
 * @since 0.3.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as JournalFile from "../layers/JournalFile.js"
import * as ExperimentsFolder from "../layers/ExperimentsFolder.js"
import * as Storage from "../layers/Storage.js"
import * as Replay from "../layers/Replay.js"
import * as Dataset from "../services/Dataset.js"
import * as Eval from "../services/Eval.js"
import * as Experiments from "../services/Experiments.js"
import type { Recording } from "../services/Replay.js"
import * as Scorer from "../services/Scorer.js"
import type { RunEvent } from "../services/RunEvent.js"
import * as CliStorage from "./cliStorage.js"
import { Exit, load, readJournal, runWith, usageError, writeLine } from "./cliSupport.js"
import * as EvalHtml from "./evalHtml.js"
import { importModule } from "./typescript.js"

const datasetFlag = Flag.String("dataset").pipe(Flag.withDescription("The dataset: a JSON Lines file of cases"))

const readDataset = (file: string) => Dataset.read(file).pipe(Effect.mapError((error) => usageError(error.message)))

const relativeTo = (folder: string, file: string) => {
  const relative = path.relative(folder, path.resolve(file))
  return relative === "" ? "." : relative
}

const add = Command.make(
  "add",
  {
    journals: Argument.String("journal").pipe(
      Argument.withDescription("Journal files written by graphent run --record (or --record-dir of an experiment)"),
      Argument.atLeast(1)
    ),
    dataset: datasetFlag
  },
  Effect.fn("graphent.cli.eval.dataset.add")(function*({ journals, dataset }) {
    const existing = fs.existsSync(dataset) ? yield* readDataset(dataset) : { file: dataset, cases: [] }
    const ids = new Set(existing.cases.map((item) => item.id))
    const sources = new Set(existing.cases.flatMap((item) => item.source === undefined ? [] : [item.source.runId]))
    const folder = path.dirname(path.resolve(dataset))
    const added: Array<Dataset.Case> = []
    let already = 0
    let unfinished = 0
    for (const journal of journals) {
      const { events } = yield* readJournal(journal)
      for (const runId of new Set(events.map((event) => event.runId))) {
        const recording = yield* Replay.recording(events, runId).pipe(Effect.mapError((error) => usageError(`${journal}: ${error.message}`)))
        const found = Dataset.fromRecording(recording, relativeTo(folder, journal))
        if (found === undefined) {
          unfinished++
          continue
        }
        if (sources.has(runId) || ids.has(found.id)) {
          already++
          continue
        }
        sources.add(runId)
        ids.add(found.id)
        added.push(found)
      }
    }
    yield* Effect.try({
      try: () => fs.appendFileSync(dataset, Dataset.render(added)),
      catch: (error) => usageError(`cannot write ${dataset}: ${(error as Error).message}`)
    })
    yield* writeLine(
      `added ${added.length} case${added.length === 1 ? "" : "s"} to ${dataset}` +
        (already === 0 ? "" : `; ${already} already in it`) +
        (unfinished === 0 ? "" : `; ${unfinished} run${unfinished === 1 ? "" : "s"} did not complete (not added)`)
    )
  })
).pipe(Command.withDescription("Add the completed runs of journals to a dataset: inputs, with their answers and tool calls as references"))

const dataset = Command.make("dataset").pipe(
  Command.withDescription("Build datasets of eval cases"),
  Command.withSubcommands([add])
)

// ---------------------------------------------------------------------------
// scorers
// ---------------------------------------------------------------------------

type AnyScorer = Scorer.Scorer<unknown, unknown>

const isScorer = (value: unknown): value is AnyScorer =>
  typeof value === "object" && value !== null && typeof (value as AnyScorer).name === "string" &&
  typeof (value as AnyScorer).score === "function"

/** The scorers a module exports: its default export (a scorer or an array of them), or its `scorers`. */
const scorersOf = (file: string) =>
  Effect.gen(function*() {
    const module = yield* Effect.tryPromise({
      try: () => importModule(pathToFileURL(path.resolve(file)).href),
      catch: (error) => usageError(`cannot load scorers from ${file}: ${(error as Error).message}`)
    })
    const exported = module.default ?? (module as Record<string, unknown>).scorers
    const list = Array.isArray(exported) ? exported : [exported]
    if (list.length === 0 || !list.every(isScorer)) {
      return yield* usageError(`${file} must export default a scorer or an array of scorers (Scorer.make, Scorer.exactMatch(), ...)`)
    }
    return list as ReadonlyArray<AnyScorer>
  })

const builtIn = (spec: string): AnyScorer | undefined => {
  const ceiling = /^(cost|latency)<=(\d+(?:\.\d+)?(?:e-?\d+)?)$/.exec(spec)
  if (ceiling !== null) {
    const value = Number(ceiling[2])
    return ceiling[1] === "cost" ? Scorer.costCeiling(value) : Scorer.latencyCeiling(value)
  }
  if (spec.startsWith("matches:")) {
    try {
      return Scorer.matches(new RegExp(spec.slice("matches:".length)))
    } catch {
      return undefined
    }
  }
  switch (spec) {
    case "exact":
      return Scorer.exactMatch()
    case "exact-ci":
      return Scorer.exactMatch({ ignoreCase: true, name: "exact-ci" })
    case "contains":
      return Scorer.contains()
    case "trajectory":
      return Scorer.trajectory()
    case "trajectory-set":
      return Scorer.trajectory({ order: "set" })
    default:
      return undefined
  }
}

const scorerNames = "exact, exact-ci, contains, matches:REGEX, trajectory, trajectory-set, cost<=MAX, latency<=MS, or a module"

/** `--scorers exact,trajectory --scorers ./my-scorers.ts`: built-ins by name, and modules by path. */
const parseScorers = (specs: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const items = specs.flatMap((spec) => spec.split(",")).map((item) => item.trim()).filter((item) => item !== "")
    const scorers: Array<AnyScorer> = []
    for (const item of items.length === 0 ? ["exact", "trajectory"] : items) {
      const scorer = builtIn(item)
      if (scorer !== undefined) scorers.push(scorer)
      else if (/\.(?:[cm]?[jt]s)$/.test(item)) scorers.push(...(yield* scorersOf(item)))
      else return yield* usageError(`unknown scorer "${item}" (scorers: ${scorerNames})`)
    }
    const names = scorers.map((scorer) => scorer.name)
    const twice = names.find((name, index) => names.indexOf(name) !== index)
    if (twice !== undefined) return yield* usageError(`two scorers are named "${twice}": give one a name of its own`)
    return scorers
  })

// ---------------------------------------------------------------------------
// reports
// ---------------------------------------------------------------------------

const decodeCase = Schema.decodeUnknownExit(Schema.fromJsonString(Eval.CaseReport))

/** The cases a progress file holds (a torn last line, from a killed process, is dropped). */
const readProgress = (file: string): ReadonlyArray<Eval.CaseReport> => {
  if (!fs.existsSync(file)) return []
  const cases: Array<Eval.CaseReport> = []
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue
    const decoded = decodeCase(line)
    if (decoded._tag === "Success") cases.push(decoded.value)
  }
  return cases
}

const readReport = (file: string) =>
  Effect.flatMap(
    Effect.try({
      try: () => fs.readFileSync(file, "utf8"),
      catch: (error) => usageError(`cannot read report ${file}: ${(error as Error).message}`)
    }),
    (text) => Eval.parseReport(text, file).pipe(Effect.mapError((error) => usageError(error.message)))
  )

const writeFile = (file: string, text: string) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
      // Next to the file, then renamed: a reader never sees half a report.
      const next = `${file}.${process.pid}.tmp`
      fs.writeFileSync(next, text)
      fs.renameSync(next, file)
    },
    catch: (error) => usageError(`cannot write ${file}: ${(error as Error).message}`)
  })

const percent = (value: number) => `${(value * 100).toFixed(1)}%`
const signed = (value: number, digits: number) => (value > 0 ? "+" : "") + value.toFixed(digits)

/**
 * The summary `graphent eval run` prints: totals, scores, and the comparison.
 *
 * @since 0.3.0
 * @category rendering
 */
export const summary = (report: Eval.Report): string => {
  const totals = report.totals
  const lines = [
    `${totals.cases} cases: ${totals.passed} passed, ${totals.failed} failed (${percent(totals.passRate)})` +
    (totals.errors === 0 ? "" : `, ${totals.errors} ended with an error`),
    `  scores: ${Object.entries(totals.scores).map(([name, value]) => `${name} ${value.toFixed(3)}`).join(" · ") || "none"}`,
    `  cost ${totals.cost.toFixed(6)} (spent on live calls: ${totals.spent.toFixed(6)}) · tokens ${totals.inputTokens} in / ${totals.outputTokens} out · latency mean ` +
    `${totals.latencyMs.mean.toFixed(1)} ms, p95 ${totals.latencyMs.p95} ms`,
    `  model calls: ${totals.liveModelCalls} live, ${totals.recordedModelCalls} answered from recordings`
  ]
  const failed = report.cases.filter((item) => !item.pass)
  if (failed.length > 0) lines.push(`  failed: ${failed.slice(0, 20).map((item) => item.id).join(", ")}${failed.length > 20 ? ", …" : ""}`)
  const compared = report.comparison
  if (compared !== undefined) {
    const ids = (changes: ReadonlyArray<Eval.CaseChange>) =>
      changes.length === 0 ? "" : ` (${changes.slice(0, 20).map((change) => change.id).join(", ")}${changes.length > 20 ? ", …" : ""})`
    lines.push(
      `against the baseline: ${compared.worse.length} worse${ids(compared.worse)}, ${compared.better.length} better${ids(compared.better)}, ` +
        `${compared.unchanged} unchanged` + (compared.added.length === 0 ? "" : `, ${compared.added.length} new`) +
        (compared.removed.length === 0 ? "" : `, ${compared.removed.length} gone`),
      `  pass rate ${signed(compared.passRateDelta * 100, 1)} points · cost ${signed(compared.costDelta, 6)} · mean latency ` +
        `${signed(compared.latencyDeltaMs, 1)} ms` +
        Object.entries(compared.scoreDeltas).map(([name, delta]) => ` · ${name} ${signed(delta, 3)}`).join("")
    )
  }
  return lines.join("\n")
}

// ---------------------------------------------------------------------------
// eval run
// ---------------------------------------------------------------------------

/** The recorded runs of the cases' sources, each journal file read once (twice at worst, by cases running at once). */
const recordingsOf = (data: Dataset.Dataset) => {
  const files = new Map<string, ReadonlyArray<RunEvent>>()
  const read = (file: string) => {
    const known = files.get(file)
    if (known !== undefined) return Effect.succeed(known)
    return Effect.map(JournalFile.readFile(file), ({ events }) => (files.set(file, events), events))
  }
  return (testCase: Dataset.Case): Effect.Effect<Recording | undefined, Exit> => {
    const source = testCase.source
    if (source === undefined) return Effect.succeed(undefined)
    return read(Dataset.sourcePath(data, source)).pipe(
      Effect.mapError((error) => usageError(`case ${testCase.id}: its source journal: ${error.message}`)),
      Effect.flatMap((events) =>
        Replay.recording(events, source.runId).pipe(Effect.mapError((error) => usageError(`case ${testCase.id}: ${error.message}`)))
      )
    )
  }
}

const safeName = (id: string) => id.replace(/[^\w.-]/g, "_")

/**
 * `graphent eval run`.
 *
 * @since 0.3.0
 * @category commands
 */
export const run = Command.make(
  "run",
  {
    file: Argument.String("agent-file").pipe(Argument.withDescription("A module whose default export is the agent to evaluate")),
    dataset: datasetFlag,
    scorers: Flag.String("scorers").pipe(
      Flag.withDescription(`Comma-separated scorers (default exact,trajectory): ${scorerNames} exporting scorers`),
      Flag.atLeast(0)
    ),
    concurrency: Flag.Int("concurrency").pipe(Flag.withDescription("Cases run at once"), Flag.withDefault(4)),
    recordDir: Flag.String("record-dir").pipe(
      Flag.withDescription("Write each case's journal to DIR/<case>.jsonl (linked from the report)"),
      Flag.optional
    ),
    baseline: Flag.String("baseline").pipe(Flag.withDescription("A previous report to compare with"), Flag.optional),
    threshold: Flag.String("threshold").pipe(
      Flag.withDescription("name=min (a scorer's mean, or pass: the pass rate) or cost<=max / latency<=ms; exit 1 when missed"),
      Flag.atLeast(0)
    ),
    report: Flag.String("report").pipe(
      Flag.withDescription("Write the report (JSON) here; finished cases are kept in <report>.progress.jsonl as they end"),
      Flag.optional
    ),
    html: Flag.String("html").pipe(Flag.withDescription("Write the report as an HTML page here"), Flag.optional),
    replayJudge: Flag.Boolean("replay-judge").pipe(
      Flag.withDescription(
        "Never call a judge: answer each judgement from the judge journals of --baseline / --resume (exit 1 naming the case when one was asked anew)"
      ),
      Flag.withDefault(false)
    ),
    resume: Flag.Boolean("resume").pipe(
      Flag.withDescription("Continue the interrupted experiment of --report: finished cases are not run again"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("graphent.cli.eval.run")(function*(flags) {
    if (flags.concurrency < 1) return yield* usageError("--concurrency must be at least 1")
    if (flags.resume && Option.isNone(flags.report)) return yield* usageError("--resume needs the --report of the experiment to continue")
    const thresholds: Array<Eval.Threshold> = []
    for (const text of flags.threshold) {
      const parsed = Eval.parseThreshold(text)
      if (parsed === undefined) return yield* usageError(`--threshold ${text}: write name=min or name<=max (e.g. exact=0.9, cost<=0.5)`)
      thresholds.push(parsed)
    }
    const data = yield* readDataset(flags.dataset)
    const scorers = yield* parseScorers(flags.scorers)
    const baseline = Option.isSome(flags.baseline) ? yield* readReport(flags.baseline.value) : undefined
    const module = yield* load(flags.file)
    const progressFile = Option.map(flags.report, (file) => `${file}.progress.jsonl`)
    const done: Array<Eval.CaseReport> = []
    if (Option.isSome(progressFile)) {
      if (flags.resume) {
        done.push(...readProgress(progressFile.value))
        // Nothing in progress: the report of a finished experiment, if there is one (nothing to run again).
        if (done.length === 0 && Option.isSome(flags.report) && fs.existsSync(flags.report.value)) {
          done.push(...(yield* readReport(flags.report.value)).cases)
        }
      }
      yield* writeFile(progressFile.value, done.map((item) => JSON.stringify(item) + "\n").join(""))
    }
    const known = new Set(data.cases.map((item) => item.id))
    const resumed = done.filter((item) => known.has(item.id)).length
    if (flags.resume) process.stderr.write(`resuming: ${resumed} of ${data.cases.length} cases already done\n`)
    const recordDir = Option.getOrUndefined(flags.recordDir)
    if (recordDir !== undefined) {
      yield* Effect.try({
        try: () => fs.mkdirSync(recordDir, { recursive: true }),
        catch: (error) => usageError(`cannot create --record-dir ${recordDir}: ${(error as Error).message}`)
      })
    }
    const experiment = Eval.run(module.agent, data, scorers, {
      concurrency: flags.concurrency,
      // The agent's file, as `graphent run` records it: a case's journal replays with `graphent replay`.
      metadata: { agentFile: path.relative(process.cwd(), module.file) },
      recording: recordingsOf(data),
      done,
      earlier: [...done, ...(baseline?.cases ?? [])],
      replayJudge: flags.replayJudge,
      baseline,
      ...(recordDir === undefined ? {} : {
        record: (testCase: Dataset.Case, events: ReadonlyArray<RunEvent>) => {
          const file = path.join(recordDir, `${safeName(testCase.id)}.jsonl`)
          return Effect.as(writeFile(file, JournalFile.render(events)), path.relative(process.cwd(), path.resolve(file)))
        }
      }),
      onCase: (item: Eval.CaseReport, count: number, total: number) =>
        Effect.sync(() => {
          if (Option.isSome(progressFile)) fs.appendFileSync(progressFile.value, JSON.stringify(item) + "\n")
          const verdict = item.pass ? "pass" : item.error === undefined ? "FAIL" : `FAIL (${item.error._tag})`
          process.stderr.write(`[${count}/${total}] ${verdict} ${item.id} ${item.latencyMs} ms\n`)
        })
    })
    // Each case's run is journaled in the project's store, as `graphent run` does, and the report kept beside it
    // (unless the store keeps nothing): `graphent dev` lists the experiment and links each case to its run.
    const kept = Effect.gen(function*() {
      const report = yield* experiment
      const storage = yield* Effect.serviceOption(Storage.Storage)
      if (storage._tag === "None" || storage.value.journal === "memory") return report
      const id = yield* Effect.flatMap(Experiments.Experiments, (store) => store.save(report)).pipe(
        Effect.provide(ExperimentsFolder.layerConfig)
      )
      process.stderr.write(`experiment kept as ${id}: see it in graphent dev (Experiments), or GET /v1/evals/${id}\n`)
      return report
    })
    const report = yield* runWith(module, CliStorage.runStores(Option.none()), kept).pipe(
      Effect.onInterrupt(() =>
        Effect.sync(() =>
          process.stderr.write(
            Option.match(progressFile, {
              onNone: () => "interrupted: finished cases were not kept (no --report)\n",
              onSome: (file) =>
                `interrupted: ${readProgress(file).length} finished cases kept in ${file}; continue with the same command and --resume\n`
            })
          )
        )
      )
    )
    if (Option.isSome(flags.report)) {
      yield* writeFile(flags.report.value, JSON.stringify(report, null, 2) + "\n")
      if (Option.isSome(progressFile)) fs.rmSync(progressFile.value, { force: true })
    }
    if (Option.isSome(flags.html)) {
      // Journal links relative to the page, wherever it is written.
      const folder = path.dirname(path.resolve(flags.html.value))
      const link = (journal: string) => path.relative(folder, path.resolve(journal)).split(path.sep).join("/")
      yield* writeFile(flags.html.value, EvalHtml.render(report, { link }))
    }
    yield* writeLine(summary(report))
    // A missed threshold: exit 1, the experiment's verdict (as a failed run's), not a usage error.
    yield* Eval.check(report, thresholds).pipe(Effect.mapError((error) => new Exit({ code: error.outcome.exitCode, reason: error.message })))
  })
).pipe(
  Command.withDescription("Run an agent on every case of a dataset, score the runs, compare with a baseline; exit 1 below a threshold"),
  Command.withExamples([
    {
      command: "graphent eval run examples/assistant.ts --dataset cases.jsonl --report report.json --threshold exact=0.9",
      description: "Gate CI on an experiment"
    },
    {
      command: "graphent eval run agent.ts --dataset cases.jsonl --baseline main.json --html report.html",
      description: "Compare with the report of the main branch"
    }
  ])
)

/**
 * `graphent eval`.
 *
 * @since 0.3.0
 * @category commands
 */
export const evalCommand = Command.make("eval").pipe(
  Command.withDescription("Evals: datasets of cases, experiments that score an agent and compare it with a baseline"),
  Command.withSubcommands([dataset, run])
)
