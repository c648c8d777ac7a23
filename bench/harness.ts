/**
 * Benchmark plumbing shared by every workload: child processes, timing
 * batches, statistics and memory probes. No Effect and no Graphent here, so a
 * floor's child process loads neither.
 */
import * as Effect from "effect/Effect"
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"

/** How `timeBatches` is run by every workload's floor and Graphent side alike. */
export const batchTiming = { warmupMs: 1000, batchMs: 250, batches: 7 } as const

/** How many rounds a concurrent workload of `runs` runs is timed (fewer when large, to bound the bench's time). */
export const concurrentRounds = (runs: number) => ({ warmupRounds: 5, rounds: runs >= 10_000 ? 2 : 5 })

/** What every child reports besides its task's own result. */
export interface ChildStats {
  /** Peak resident set size of the whole child process (MB). */
  readonly peakRssMb: number
}

/** A message from `child.ts`. */
type ChildMessage = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string }

const childEntry = fileURLToPath(new URL("./child.ts", import.meta.url))

/** A task: a function a module exports, run in a child process by {@link runInChild}. */
export type Task = (params: never) => Promise<object>

/**
 * Runs `module`'s exported task `name` (of type `T`) with `params` in a fresh
 * Node process (with `--expose-gc`), so that its peak RSS and its heap are its
 * own. `module` is the `import.meta.url` of the file that exports the task.
 */
export const runInChild = <T extends Task>(
  module: string,
  name: string,
  params: Parameters<T>[0]
): Promise<Awaited<ReturnType<T>> & ChildStats> =>
  new Promise((resolve, reject) => {
    const child = fork(childEntry, [module, name, JSON.stringify(params)], {
      execArgv: [...process.execArgv, "--expose-gc"]
    })
    let message: ChildMessage | undefined
    child.on("message", (received) => {
      message = received as ChildMessage
    })
    child.on("error", reject)
    child.on("exit", (code) => {
      if (message?.ok === true) resolve(message.value as Awaited<ReturnType<T>> & ChildStats)
      else reject(new Error(`bench task ${name} (${module}) failed: ${message?.ok === false ? message.error : `exit ${code}`}`))
    })
  })

/** Runs a full GC; needs `--expose-gc`, which `runInChild` passes. */
const forceGc = (): void => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("bench: global.gc is missing; run the task through runInChild")
  gc()
  gc()
}

const heapUsedBytes = (): number => process.memoryUsage().heapUsed

/** Peak RSS of this process so far (MB); `maxRSS` is in KiB. */
export const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Resolves when `done()` holds, checking every millisecond. */
const until = (done: () => boolean): Promise<void> =>
  new Promise((resolve) => {
    const check = () => (done() ? resolve() : setTimeout(check, 1))
    check()
  })

/**
 * Runs `batch(reps)` (which returns the milliseconds it took for `reps`
 * repetitions) until warmed up, with `reps` doubled until one batch lasts at
 * least `batchMs`, then `batches` more times, each after a full GC. Returns
 * the median milliseconds per repetition and the batches it came from.
 */
export const timeBatches = async (
  batch: (reps: number) => Promise<number>,
  options: { readonly warmupMs: number; readonly batchMs: number; readonly batches: number }
): Promise<{ readonly msPerRep: number; readonly reps: number; readonly batchMsPerRep: ReadonlyArray<number> }> => {
  let reps = 1
  let warmedUp = 0
  for (;;) {
    const elapsed = await batch(reps)
    warmedUp += elapsed
    if (elapsed < options.batchMs) reps *= 2
    else if (warmedUp >= options.warmupMs) break
  }
  const batchMsPerRep: Array<number> = []
  for (let i = 0; i < options.batches; i++) {
    forceGc()
    batchMsPerRep.push((await batch(reps)) / reps)
  }
  return { msPerRep: median(batchMsPerRep), reps, batchMsPerRep }
}

/**
 * {@link timeBatches} of an effect run back to back on `runtime`, with
 * {@link batchTiming}: the median milliseconds per run.
 */
export const timeRuns = <R>(
  runtime: { readonly runPromise: <A, E>(effect: Effect.Effect<A, E, R>) => Promise<A> },
  once: Effect.Effect<void, unknown, R>
) =>
  timeBatches((runs) =>
    runtime.runPromise(Effect.gen(function*() {
      const startedAt = performance.now()
      for (let i = 0; i < runs; i++) yield* once
      return performance.now() - startedAt
    })), batchTiming)

/** Starts `runs` concurrent runs; each calls `onStep(k)` as it enters step k (1-based). Resolves when all are done. */
export type StartRuns = (runs: number, onStep: (step: number) => void) => Promise<void>

/**
 * Measures a concurrent workload: after `warmupRounds` rounds of at most 1,000
 * runs, the median wall time of `rounds` rounds (each after a full GC), then
 * the heap per live run — the heap-used growth (after full GCs) at the moment
 * every run has entered step `probeStep`. `fresh` returns the starter to use,
 * a new one (new runtime, empty journal) per call when the starter holds
 * state, so the heap probe starts from nothing.
 */
export const measureConcurrent = async (
  fresh: () => Promise<StartRuns>,
  options: { readonly runs: number; readonly warmupRounds: number; readonly rounds: number; readonly probeStep: number }
): Promise<{ readonly wallMs: number; readonly roundsMs: ReadonlyArray<number>; readonly heapPerRunKb: number }> => {
  const { probeStep, runs } = options
  const ignore = () => {}
  let start = await fresh()
  for (let i = 0; i < options.warmupRounds; i++) await start(Math.min(runs, 1_000), ignore)
  const roundsMs: Array<number> = []
  for (let i = 0; i < options.rounds; i++) {
    forceGc()
    const startedAt = performance.now()
    await start(runs, ignore)
    roundsMs.push(performance.now() - startedAt)
  }

  start = await fresh()
  forceGc()
  const before = heapUsedBytes()
  let probed = 0
  const all = start(runs, (step) => {
    if (step === probeStep) probed++
  })
  await until(() => probed === runs)
  forceGc()
  const live = heapUsedBytes()
  await all
  return { wallMs: median(roundsMs), roundsMs, heapPerRunKb: (live - before) / runs / 1024 }
}
