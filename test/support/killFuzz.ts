/**
 * The kill fuzzer: runs a real `graphent` process on an agent whose tools log
 * every side effect durably (test/fixtures/agents/sideEffects.ts), SIGKILLs it
 * at seeded random moments — during `graphent run` and during the
 * `graphent resume`s that follow — and resumes the way docs/journal-format.md
 * tells a user to (`--assume-done STEP` when the side-effect log shows the
 * in-flight call happened, `--retry STEP` when it did not) until the run
 * finishes. It then counts what the guarantee forbids: a side effect twice, a
 * side effect lost, a call executed again although the journal already held its
 * result, a step with two outcomes in the journal, another answer than an
 * uninterrupted run's.
 *
 * Kill points follow the run's progress, not the clock (a process spends most
 * of its life loading modules): progress is the number of journal lines plus
 * side-effect log lines, and each process is killed once progress reaches a
 * random target drawn over what is left of an uninterrupted run's total, after
 * a further random delay of a few milliseconds — so kills land before, inside
 * and after tool calls, between an effect and its journal line, and between
 * turns.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "./cli.js"

/** An agent to fuzz: a module under test/fixtures/agents that uses sideEffects.ts. */
export interface Scenario {
  readonly name: string
  readonly agentFile: string
  readonly input?: string | undefined
}

/** The DAG agent: 12 steps in two turns, concurrent steps, `Planner.ref`, idempotent and non-idempotent tools. */
export const dag: Scenario = { name: "dag", agentFile: "test/fixtures/agents/killDag.ts" }

/** The LLM agent on a function model: three turns of parallel tool calls. */
export const chat: Scenario = { name: "chat", agentFile: "test/fixtures/agents/killChat.ts", input: "book the trip" }

/** A tree of agents: a parent whose step runs a sub-agent (a child run with its own DAG), then two more turns. */
export const tree: Scenario = { name: "tree", agentFile: "test/fixtures/agents/killTree.ts" }

/** One SIGKILL. */
export interface Kill {
  /** `run`, or the resume command line it interrupted. */
  readonly command: string
  /** Progress (journal lines + side-effect lines) when the kill was sent. */
  readonly progress: number
  /** The journal's last lines at the kill, for the report. */
  readonly journalTail: ReadonlyArray<string>
}

/** A side effect's key, with how often it happened. */
export interface Count {
  readonly key: string
  readonly count: number
}

/** What one fuzzed run came to. */
export interface Report {
  readonly scenario: string
  readonly seed: number
  readonly kills: ReadonlyArray<Kill>
  /** Kills of a `graphent resume` process (the rest interrupted `graphent run`). */
  readonly killsDuringResume: number
  /** Every command started, in order (`run`, `resume --retry s`, ...). */
  readonly commands: ReadonlyArray<string>
  /** Side effects that happened more than once. */
  readonly duplicates: ReadonlyArray<Count>
  /** Side effects of the uninterrupted run that never happened. */
  readonly lost: ReadonlyArray<string>
  /** Calls executed by a process although the journal it resumed from held their result. */
  readonly repeatedCompleted: ReadonlyArray<string>
  /** Steps with more than one outcome (StepSucceeded/StepFailed) in the final journal. */
  readonly journalRepeats: ReadonlyArray<string>
  /** The final answer, or why there is none. */
  readonly answer: string
  /** The uninterrupted run's answer. */
  readonly expected: string
  /** Where the journal and the side-effect log are. */
  readonly dir: string
}

/** A small seeded generator (mulberry32): the same seed draws the same kill targets. */
export const random = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const readLines = (file: string): Array<string> => fs.existsSync(file) ? Cli.lines(file) : []

interface JournalLine {
  readonly _tag: string
  readonly runId?: string
  readonly stepId?: string
  readonly args?: { readonly key?: unknown }
  readonly answer?: string
}

/** The journal's events; a torn last line (the process died inside its write) is dropped, as readers do. */
const events = (journal: string): Array<JournalLine> =>
  readLines(journal).flatMap((line) => {
    try {
      return [JSON.parse(line) as JournalLine]
    } catch {
      return []
    }
  })

/** The side-effect key of each step the journal has seen start. */
const keysByStep = (journal: string): Map<string, string> => {
  const keys = new Map<string, string>()
  for (const event of events(journal)) {
    if (event._tag === "StepStarted" && event.stepId !== undefined && typeof event.args?.key === "string") {
      keys.set(event.stepId, event.args.key)
    }
  }
  return keys
}

/** Keys of the calls whose outcome the journal holds. */
const completedKeys = (journal: string): Set<string> => {
  const keys = keysByStep(journal)
  const done = new Set<string>()
  for (const event of events(journal)) {
    if ((event._tag === "StepSucceeded" || event._tag === "StepFailed") && event.stepId !== undefined) {
      const key = keys.get(event.stepId)
      if (key !== undefined) done.add(key)
    }
  }
  return done
}

const countWords = (lines: ReadonlyArray<string>, kind: string): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const line of lines) {
    const [word, key] = line.split(" ")
    if (word === kind && key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return counts
}

const progressOf = (journal: string, log: string) => readLines(journal).length + readLines(log).length

/** Events of child runs (sub-agents: ids `<runId>/<stepId>`) in the journal. */
const childEventsOf = (journal: string) => events(journal).filter((event) => event.runId?.includes("/") === true).length

/** The answer the journal ended the run with, if it did: a process killed after its last line still finished the run. */
const completedAnswer = (journal: string): string | undefined => {
  // The root run's (a child run of a sub-agent, id `<runId>/<stepId>`, completes before it).
  return events(journal).find((event) => event._tag === "RunCompleted" && event.runId?.includes("/") !== true)?.answer
}

/** The last progress points of a run (the model's final call, the answer, RunCompleted): a kill there interrupts nothing. */
const endMargin = 3

interface Baseline {
  readonly answer: string
  readonly effects: ReadonlySet<string>
  readonly progress: number
  /** Events of its child runs (see {@link Options.within}). */
  readonly childEvents: number
}

/** How the processes run: no project store (the journal is the --record file), plus `env`. */
const environment = (log: string, env: Readonly<Record<string, string>> | undefined) => ({
  GRAPHENT_STORE: "memory",
  GRAPHENT_MODEL: undefined,
  SIDE_EFFECT_LOG: log,
  ...env
})

/** Runs the scenario once without interruption: its answer, its side effects, its total progress. */
export const baseline = async (
  scenario: Scenario,
  dir: string,
  env?: Readonly<Record<string, string>>,
  /** Run it in this process (nothing is killed: the same answer, for less CPU than a process). */
  inProcess = false
): Promise<Baseline> => {
  const journal = path.join(dir, `${scenario.name}-baseline.jsonl`)
  const log = path.join(dir, `${scenario.name}-baseline.log`)
  const args = ["run", scenario.agentFile, "--input", scenario.input ?? "", "--record", journal]
  const result = await (inProcess ? Cli.inProcess : Cli.run)(args, { env: environment(log, env) })
  if (result.code !== 0) throw new Error(`the uninterrupted ${scenario.name} run failed (${result.code}):\n${result.stderr}`)
  return {
    answer: result.stdout.trim(),
    effects: new Set(countWords(readLines(log), "effect").keys()),
    progress: progressOf(journal, log),
    childEvents: childEventsOf(journal)
  }
}

/** The steps a ResumeUnsafe message names (one, or all of those in flight: `step "C" (...); step "E" (...)`). */
const unsafeStepsOf = (stderr: string): ReadonlyArray<string> => {
  const line = stderr.split("\n").find((text) => text.includes("cannot resume: "))
  return line === undefined ? [] : Array.from(line.matchAll(/step "([^"]+)" \(tool/g), (match) => match[1]!)
}

/**
 * The flags of the next resume, as a user decides them: for each step resume reported as in flight that
 * still has no outcome in the journal, `--assume-done` if the side-effect log shows its effect happened,
 * `--retry` if not. Decided afresh before every resume: a retried call may have happened since.
 */
const decisions = (journal: string, log: string, unsafeSteps: ReadonlySet<string>): Array<string> => {
  const keys = keysByStep(journal)
  const done = completedKeys(journal)
  const effects = countWords(readLines(log), "effect")
  return [...unsafeSteps].flatMap((stepId) => {
    const key = keys.get(stepId)
    if (key === undefined || done.has(key)) return []
    return [(effects.get(key) ?? 0) > 0 ? "--assume-done" : "--retry", stepId]
  })
}

/** Options of one fuzzed run. */
export interface Options {
  readonly seed: number
  /** How many SIGKILLs to send before letting the run finish. */
  readonly kills: number
  /** The folder for the journal and the side-effect log (created by the caller). */
  readonly dir: string
  /** The uninterrupted run (see {@link baseline}); measured once, shared by many fuzzed runs. */
  readonly baseline: Baseline
  readonly env?: Readonly<Record<string, string>> | undefined
  /** The longest random delay after the progress target is reached, in ms (default 25). */
  readonly maxDelayMs?: number | undefined
  /**
   * Where kills land: anywhere in the run (default), or `child`: inside the child runs' steps (each kill once
   * the journal holds a random number of the child runs' events, then a random delay).
   */
  readonly within?: "child" | undefined
  /** Commands that will not be killed (once every kill is sent) run in this process: the same code, less CPU. */
  readonly finishInProcess?: boolean | undefined
}

const lastLines = (text: string) => text.trim().split("\n").slice(-3).join(" | ")

/** Kills, resumes and counts, for one run of `scenario` (see the module comment). */
export const fuzz = async (scenario: Scenario, options: Options): Promise<Report> => {
  const next = random(options.seed)
  const journal = path.join(options.dir, `${scenario.name}-${options.seed}.jsonl`)
  const log = path.join(options.dir, `${scenario.name}-${options.seed}.log`)
  const env = environment(log, options.env)
  const kills: Array<Kill> = []
  const commands: Array<string> = []
  const repeatedCompleted: Array<string> = []
  // Steps a resume reported as ResumeUnsafe; each resume passes a decision for those still without an outcome.
  const unsafeSteps = new Set<string>()
  let answer: string | undefined
  let failure: string | undefined
  /** What a command executed that its journal already held (a completed call must never run again). */
  const noteRepeats = (command: string, done: ReadonlySet<string>, logBefore: number) => {
    for (const line of readLines(log).slice(logBefore)) {
      const [word, key] = line.split(" ")
      if (word === "exec" && key !== undefined && done.has(key)) repeatedCompleted.push(`${key} (during ${command})`)
    }
  }
  /** A resume stopped by ResumeUnsafe on steps not seen before: the next resume decides them. */
  const noteUnsafe = (result: Cli.Result): boolean => {
    const unsafe = unsafeStepsOf(result.stderr).filter((stepId) => !unsafeSteps.has(stepId))
    if (result.code !== 1 || unsafe.length === 0) return false
    for (const stepId of unsafe) unsafeSteps.add(stepId)
    return true
  }

  // Each pass starts one process. A run killed before its RunStarted line left nothing to resume, so it runs
  // again, as a user would. The bound stops a runtime that never finishes.
  for (let pass = 0; pass < options.kills * 3 + 20 && answer === undefined && failure === undefined; pass++) {
    const started = events(journal).some((event) => event._tag === "RunStarted")
    // What a user sees in the journal (`graphent trace`) when the last process was killed after finishing.
    const finished = completedAnswer(journal)
    if (finished !== undefined) {
      answer = finished
      break
    }
    const flags = started ? decisions(journal, log, unsafeSteps) : []
    const args = started
      ? ["resume", journal, ...flags]
      : ["run", scenario.agentFile, "--input", scenario.input ?? "", "--record", journal]
    const command = started ? ["resume", ...flags].join(" ") : "run"
    commands.push(command)
    const done = started ? completedKeys(journal) : new Set<string>()
    const logBefore = readLines(log).length

    const child = options.within === "child"
    // What the kill's target counts, and where the work it is drawn over ends.
    const measure = child ? () => childEventsOf(journal) : () => progressOf(journal, log)
    const end = child ? options.baseline.childEvents - 1 : options.baseline.progress - endMargin
    // Inside the child runs only while they have work left; anywhere else, until every kill is sent.
    const killing = kills.length < options.kills && (!child || measure() < end)
    if (!killing && options.finishInProcess === true) {
      const result = await Cli.inProcess(args, { env })
      noteRepeats(command, done, logBefore)
      if (result.code === 0) answer = result.stdout.trim()
      else if (!noteUnsafe(result)) failure = `${command} exited ${result.code}: ${lastLines(result.stderr)}`
      continue
    }
    const running = Cli.start(args, { env })
    if (killing) {
      const now = measure()
      // Each kill is drawn from its share of the work left, so that the kills still to come have room before the end.
      const share = (end - now) / (options.kills - kills.length)
      const target = now + 1 + Math.floor(next() * Math.max(1, share))
      const delay = Math.floor(next() * (options.maxDelayMs ?? 25))
      const watch = setInterval(() => {
        if (measure() < target) return
        clearInterval(watch)
        setTimeout(() => {
          if (running.child.exitCode !== null || running.child.signalCode !== null) return
          if (completedAnswer(journal) !== undefined) return
          const tail = readLines(journal).slice(-4)
          if (running.child.kill("SIGKILL")) kills.push({ command, progress: progressOf(journal, log), journalTail: tail })
        }, delay)
      }, 2)
      void running.exited.then(() => clearInterval(watch))
    }
    const result = await running.exited
    noteRepeats(command, done, logBefore)

    if (result.signal === "SIGKILL") continue
    if (result.code === 0) {
      answer = result.stdout.trim()
      continue
    }
    if (noteUnsafe(result)) continue
    failure = `${command} exited ${result.code ?? result.signal}: ${lastLines(result.stderr)}`
  }

  const effects = countWords(readLines(log), "effect")
  const outcomes = new Map<string, number>()
  for (const event of events(journal)) {
    if ((event._tag === "StepSucceeded" || event._tag === "StepFailed") && event.stepId !== undefined) {
      outcomes.set(event.stepId, (outcomes.get(event.stepId) ?? 0) + 1)
    }
  }
  return {
    scenario: scenario.name,
    seed: options.seed,
    kills,
    killsDuringResume: kills.filter((kill) => kill.command !== "run").length,
    commands,
    duplicates: [...effects].filter(([, count]) => count > 1).map(([key, count]) => ({ key, count })),
    lost: [...options.baseline.effects].filter((key) => !effects.has(key)),
    repeatedCompleted,
    journalRepeats: [...outcomes].filter(([, count]) => count > 1).map(([stepId]) => stepId),
    answer: answer ?? failure ?? "did not finish",
    expected: options.baseline.answer,
    dir: options.dir
  }
}

/** A report as a few readable lines (what a failing test prints, and the soak script). */
export const describe = (report: Report): string =>
  [
    `${report.scenario} seed ${report.seed}: ${report.kills.length} kills (${report.killsDuringResume} during resume), ` +
    `${report.duplicates.length} duplicated, ${report.lost.length} lost, ${report.repeatedCompleted.length} completed calls re-run, ` +
    `${report.journalRepeats.length} steps journaled twice`,
    `  commands: ${report.commands.join(" → ")}`,
    ...(report.duplicates.length > 0
      ? [`  duplicated: ${report.duplicates.map(({ count, key }) => `${key}×${count}`).join(", ")}`]
      : []),
    ...(report.lost.length > 0 ? [`  lost: ${report.lost.join(", ")}`] : []),
    ...(report.repeatedCompleted.length > 0 ? [`  re-run although journaled: ${report.repeatedCompleted.join(", ")}`] : []),
    ...(report.journalRepeats.length > 0 ? [`  two outcomes in the journal: ${report.journalRepeats.join(", ")}`] : []),
    `  answer: ${report.answer}${report.answer === report.expected ? "" : ` (uninterrupted: ${report.expected})`}`,
    ...report.kills.map((kill, i) =>
      `  kill ${i + 1} during ${kill.command} at progress ${kill.progress}; journal tail:\n` +
      kill.journalTail.map((line) => `      ${line.length > 200 ? line.slice(0, 200) + "…" : line}`).join("\n")
    ),
    `  files: ${report.dir}`
  ].join("\n")
