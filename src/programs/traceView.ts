/**
 * Renders a run's events as a tree in the terminal (`graphent trace show`).
 *
 * @since 0.1.0
 */
import type { ForkedFrom, RunEvent, Usage } from "../services/RunEvent.js"

const clip = (value: unknown, max = 80): string => {
  const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? "undefined"
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

const iso = (at: number) => new Date(at).toISOString()

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/**
 * The prompt cache's share of input tokens, e.g. " (75% cached)"; empty when
 * nothing came from a cache.
 *
 * @since 0.2.0
 * @category rendering
 */
export const cacheText = (inputTokens: number | undefined, cachedInputTokens: number | undefined): string =>
  cachedInputTokens === undefined || cachedInputTokens === 0 || inputTokens === undefined || inputTokens === 0
    ? ""
    : ` (${Math.round(100 * cachedInputTokens / inputTokens)}% cached)`

/** "2 turns, 3 steps" and, for runs that called models, their calls, tokens and cost. */
const usageText = (usage: Usage): string => {
  const parts = [plural(usage.turns, "turn"), plural(usage.steps, "step")]
  if (usage.modelCalls !== undefined) {
    parts.push(
      plural(usage.modelCalls, "model call"),
      `${usage.inputTokens ?? 0} in${cacheText(usage.inputTokens, usage.cachedInputTokens)} / ${usage.outputTokens ?? 0} out tokens`
    )
  }
  if (usage.cost !== undefined) parts.push(`cost ${usage.cost.toFixed(6)}`)
  return parts.join(", ")
}

/**
 * The lineage of a forked run, in one line: `forked from run X at step:Y,
 * with step Y's result set to …` (`graphent trace show`, the viewer).
 *
 * @since 0.2.0
 * @category rendering
 */
export const forkLine = (forkedFrom: ForkedFrom): string => {
  const { at, edit, runId } = forkedFrom
  const what = edit === undefined
    ? ""
    : edit._tag === "SetResult"
    ? `, with step ${edit.stepId}'s result set to ${clip(edit.result, 60)}`
    : edit._tag === "SetInput"
    ? `, with the input ${clip(edit.input, 60)}`
    : edit._tag === "EditMessage"
    ? `, with the message model call ${edit.call} answers edited to ${clip(edit.text, 60)}`
    : `, with the model's reply to call ${edit.call} set to ${clip(edit.text, 60)}`
  return `forked from run ${runId} at ${at}${what}`
}

/**
 * One line per event, indented by nesting: the run, its turns (planner
 * decisions), their steps (tool calls with arguments, results, durations,
 * errors), and how the run ended.
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (events: ReadonlyArray<RunEvent>): string => {
  const byRun = new Map<string, Array<RunEvent>>()
  for (const event of events) {
    const own = byRun.get(event.runId)
    if (own === undefined) byRun.set(event.runId, [event])
    else own.push(event)
  }
  if (byRun.size <= 1) return renderRun(events, undefined).join("\n")
  // A run and its child runs (sub-agents, handoffs): each child nested under the parent's step that started it.
  const children = new Map<string, Map<string, string>>()
  let root: string | undefined
  for (const [runId, own] of byRun) {
    const first = own[0]
    const parent = first?._tag === "RunStarted" ? first.parentRunId : undefined
    if (first?._tag === "RunStarted" && parent !== undefined && first.parentStepId !== undefined && byRun.has(parent)) {
      const steps = children.get(parent) ?? new Map<string, string>()
      steps.set(first.parentStepId, runId)
      children.set(parent, steps)
    } else {
      root ??= runId
    }
  }
  return renderRun(byRun.get(root ?? events[0]!.runId)!, { byRun, children }).join("\n")
}

/** The runs of a tree, and each run's children by the step that started them. */
interface Tree {
  readonly byRun: ReadonlyMap<string, ReadonlyArray<RunEvent>>
  readonly children: ReadonlyMap<string, ReadonlyMap<string, string>>
}

const renderRun = (events: ReadonlyArray<RunEvent>, tree: Tree | undefined): Array<string> => {
  const lines: Array<string> = []
  const started = new Map<string, { tool: string; args: unknown }>()
  const runId = events[0]?.runId ?? ""
  const childRuns = tree?.children.get(runId)
  const shown = new Set<string>()
  /** The child run that step `stepId` started, nested under the step's line. */
  const nest = (stepId: string) => {
    const child = childRuns?.get(stepId)
    if (child === undefined || shown.has(child)) return
    shown.add(child)
    for (const line of renderRun(tree!.byRun.get(child)!, tree)) lines.push(`│  │  ${line}`)
  }
  for (const event of events) {
    switch (event._tag) {
      case "RunStarted":
        lines.push(
          `run ${event.runId}  agent ${event.agent}  started ${iso(event.at)}` +
            (event.parentRunId === undefined ? "" : `  (child of ${event.parentRunId}, step ${event.parentStepId ?? "?"})`)
        )
        lines.push(`│ input ${clip(event.input, 100)}${event.threadId === undefined ? "" : `  thread ${event.threadId}`}`)
        if (event.principal !== undefined) {
          lines.push(`│ for ${event.principal.id}${event.principal.roles.length === 0 ? "" : ` (${event.principal.roles.join(", ")})`}`)
        }
        if (event.forkedFrom !== undefined) lines.push(`│ ${forkLine(event.forkedFrom)}`)
        break
      case "RunResumed":
        lines.push(`├─ resumed ${iso(event.at)}`)
        break
      case "DecisionMade": {
        const decision = event.decision
        const what = decision._tag === "RunSteps"
          ? `run ${decision.steps.length} step${decision.steps.length === 1 ? "" : "s"}`
          : decision._tag === "Answer"
          ? "answer"
          : decision._tag === "Handoff"
          ? `hand over to ${decision.agent}`
          : `give up: ${decision.reason}`
        lines.push(`├─ turn ${event.turn}: ${what}`)
        break
      }
      case "StepStarted":
        started.set(event.stepId, { tool: event.tool, args: event.args })
        break
      case "StepSucceeded": {
        const args = started.get(event.stepId)?.args
        lines.push(`│  ├─ ✓ ${event.stepId} ${event.tool} ${clip(args, 50)} → ${clip(event.result, 60)}  ${event.durationMs} ms`)
        nest(event.stepId)
        break
      }
      case "StepFailed": {
        const args = started.get(event.stepId)?.args
        lines.push(`│  ├─ ✗ ${event.stepId} ${event.tool} ${clip(args, 50)}  ${event.durationMs} ms`)
        lines.push(`│  │    ${event.error._tag}: ${event.error.message}`)
        nest(event.stepId)
        break
      }
      case "StepSkipped":
        lines.push(`│  ├─ ⊘ ${event.stepId} ${event.tool} skipped: step ${event.blockedBy} did not succeed`)
        break
      case "ApprovalRequested":
        lines.push(
          `│  ├─ ⏸ ${event.stepId} ${event.tool} waits for approval (${event.capability}, for ${event.principal})`
        )
        nest(event.stepId)
        break
      case "ApprovalDecided":
        lines.push(
          `├─ ${event.approved ? "approved" : "rejected"} ${event.stepId} by ${event.by}` +
            `${event.reason === undefined ? "" : `: ${event.reason}`}  ${iso(event.at)}`
        )
        break
      case "ModelCalled": {
        const { response } = event
        const said = response.toolCalls.length > 0
          ? `${plural(response.toolCalls.length, "tool call")}: ${response.toolCalls.map((call) => call.name).join(", ")}`
          : clip(response.text, 60)
        const cost = event.cost === undefined ? "" : `, cost ${event.cost.toFixed(6)}`
        lines.push(
          `├─ model ${event.model} (turn ${event.turn}): ${said}  ` +
            `${response.usage.inputTokens} in${cacheText(response.usage.inputTokens, response.usage.cachedInputTokens)} / ` +
            `${response.usage.outputTokens} out tokens${cost}  ${event.durationMs} ms`
        )
        break
      }
      case "ContextCompacted": {
        const by = event.summary === undefined ? "dropped" : `summarized${event.model === undefined ? "" : ` by ${event.model}`}`
        lines.push(
          `├─ ${event.history === true ? "thread history" : "context"} compacted (${event.policy}) before model call ` +
            `${event.call}: ${plural(event.removed, "message")} ${by}, ` +
            `~${event.tokensBefore} → ~${event.tokensAfter} of ${event.limit} tokens`
        )
        break
      }
      case "ValueRecorded":
        lines.push(`│  · ${event.key}${event.value === undefined ? "" : ` = ${clip(event.value, 60)}`}`)
        break
      case "RunCompleted":
        lines.push(`└─ ✓ completed in ${event.durationMs} ms (${usageText(event.usage)})`)
        lines.push(...event.answer.split("\n").map((line) => `   ${line}`))
        break
      case "RunFailed":
        lines.push(`└─ ✗ failed after ${event.durationMs} ms (${usageText(event.usage)})`)
        lines.push(`   ${event.error._tag}: ${event.error.message}`)
        break
      case "RunInterrupted":
        lines.push(`└─ ■ interrupted after ${event.durationMs} ms (${usageText(event.usage)})`)
        break
    }
  }
  // Child runs of steps still in flight (a crash, an interruption).
  for (const stepId of childRuns?.keys() ?? []) nest(stepId)
  const last = events.at(-1)
  if (last !== undefined && last._tag !== "RunCompleted" && last._tag !== "RunFailed" && last._tag !== "RunInterrupted") {
    const pending = [...started.keys()].filter((id) =>
      !events.some((e) => (e._tag === "StepSucceeded" || e._tag === "StepFailed") && e.stepId === id)
    )
    lines.push(`└─ … unfinished${pending.length === 0 ? "" : ` (in flight: ${pending.join(", ")})`}`)
  }
  return lines
}

/**
 * Runs in listing order with each child run (a sub-agent's call, a handoff)
 * right after its parent (children in the listing's order), and its depth in the tree: 0 for a run whose parent
 * is not in `runs`.
 *
 * @since 0.3.0
 * @category rendering
 */
export const nestRuns = <T extends { readonly runId: string; readonly parentRunId?: string | undefined }>(
  runs: ReadonlyArray<T>
): Array<{ readonly run: T; readonly depth: number }> => {
  const ids = new Set(runs.map((run) => run.runId))
  const children = new Map<string, Array<T>>()
  for (const run of runs) {
    if (run.parentRunId === undefined || !ids.has(run.parentRunId)) continue
    const siblings = children.get(run.parentRunId) ?? []
    siblings.push(run)
    children.set(run.parentRunId, siblings)
  }
  const out: Array<{ readonly run: T; readonly depth: number }> = []
  const visit = (run: T, depth: number) => {
    out.push({ run, depth })
    for (const child of children.get(run.runId) ?? []) visit(child, depth + 1)
  }
  for (const run of runs) {
    if (run.parentRunId === undefined || !ids.has(run.parentRunId)) visit(run, 0)
  }
  return out
}

/**
 * The indentation of a run at `depth` in a listing (`nestRuns`).
 *
 * @since 0.3.0
 * @category rendering
 */
export const nestPrefix = (depth: number): string => depth === 0 ? "" : `${"   ".repeat(depth - 1)} └ `

/**
 * One line per run: id, agent, status, duration. Child runs (sub-agents,
 * handoffs) are left out unless `all`, which nests them under their parent.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderList = (events: ReadonlyArray<RunEvent>, options?: { readonly all?: boolean }): string => {
  const runs = new Map<string, { runId: string; parentRunId: string | undefined; agent: string; at: number; status: string }>()
  for (const event of events) {
    if (event._tag === "RunStarted" && (event.parentRunId === undefined || options?.all === true)) {
      runs.set(event.runId, { runId: event.runId, parentRunId: event.parentRunId, agent: event.agent, at: event.at, status: "unfinished" })
    }
    const run = runs.get(event.runId)
    if (run === undefined) continue
    if (event._tag === "RunCompleted") run.status = `completed in ${event.durationMs} ms`
    if (event._tag === "RunFailed") run.status = `failed (${event.error._tag}) after ${event.durationMs} ms`
    if (event._tag === "RunInterrupted") run.status = `interrupted after ${event.durationMs} ms`
  }
  return nestRuns([...runs.values()]).map(({ depth, run }) =>
    `${nestPrefix(depth)}${run.runId}  ${run.agent}  ${iso(run.at)}  ${run.status}`
  ).join("\n")
}
