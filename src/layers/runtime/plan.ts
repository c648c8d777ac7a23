/**
 * Plans as graphs: checking a decision's steps against the run so far (ids,
 * dependencies, cycles) and resolving the references in a step's arguments
 * to the outputs of the steps they point at.
 */
import { isRef, PlanInvalid, type PlanStep, type Ref, type StepOutcome } from "../../services/Planner.js"

/** Adds the step ids that `value` references to `into`, which is created on the first one. */
const collectRefs = (value: unknown, into: Set<string> | undefined): Set<string> | undefined => {
  if (typeof value !== "object" || value === null) return into
  if (isRef(value)) return (into ?? new Set()).add(value.$ref)
  if (Array.isArray(value)) {
    for (const item of value) into = collectRefs(item, into)
    return into
  }
  for (const key in value) into = collectRefs((value as Record<string, unknown>)[key], into)
  return into
}

const noDependencies: ReadonlySet<string> = new Set()

/** A step's dependencies: explicit `dependsOn` plus every step its arguments reference. */
export const dependenciesOf = (step: PlanStep): ReadonlySet<string> => {
  const explicit = step.dependsOn === undefined || step.dependsOn.length === 0 ? undefined : new Set(step.dependsOn)
  return collectRefs(step.args, explicit) ?? noDependencies
}

/**
 * Checks a plan against the run so far; returns each step's dependencies on
 * steps of this same plan.
 */
export const validatePlan = (
  steps: ReadonlyArray<PlanStep>,
  outcomes: ReadonlyMap<string, StepOutcome>
): ReadonlyMap<string, ReadonlyArray<string>> | PlanInvalid => {
  const local = new Map<string, ReadonlyArray<string>>()
  for (const step of steps) {
    if (step.id === "") return new PlanInvalid({ reason: "a step has an empty id" })
    if (local.has(step.id)) return new PlanInvalid({ reason: "two steps share this id", stepId: step.id })
    if (outcomes.has(step.id)) {
      return new PlanInvalid({ reason: "an earlier step of this run already used this id", stepId: step.id })
    }
    local.set(step.id, [])
  }
  for (const step of steps) {
    const deps: Array<string> = []
    for (const dep of dependenciesOf(step)) {
      if (dep === step.id) return new PlanInvalid({ reason: "the step depends on itself", stepId: step.id })
      if (local.has(dep)) deps.push(dep)
      else if (!outcomes.has(dep)) return new PlanInvalid({ reason: `depends on unknown step "${dep}"`, stepId: step.id })
    }
    local.set(step.id, deps)
  }
  const cycle = findCycle(local)
  return cycle === undefined
    ? local
    : new PlanInvalid({ reason: `dependency cycle ${cycle.join(" -> ")}`, stepId: cycle[0]! })
}

/**
 * {@link validatePlan} for a plan of one step, the common case: the same
 * checks, in the same order, without the graph. Returns the step's
 * dependencies (all on earlier turns).
 */
export const validateStep = (step: PlanStep, outcomes: ReadonlyMap<string, StepOutcome>): ReadonlySet<string> | PlanInvalid => {
  if (step.id === "") return new PlanInvalid({ reason: "a step has an empty id" })
  if (outcomes.has(step.id)) {
    return new PlanInvalid({ reason: "an earlier step of this run already used this id", stepId: step.id })
  }
  const deps = dependenciesOf(step)
  for (const dep of deps) {
    if (dep === step.id) return new PlanInvalid({ reason: "the step depends on itself", stepId: step.id })
    if (!outcomes.has(dep)) return new PlanInvalid({ reason: `depends on unknown step "${dep}"`, stepId: step.id })
  }
  return deps
}

const findCycle = (deps: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<string> | undefined => {
  const state = new Map<string, "visiting" | "done">()
  const path: Array<string> = []
  const visit = (id: string): ReadonlyArray<string> | undefined => {
    const mark = state.get(id)
    if (mark === "done") return undefined
    if (mark === "visiting") return [...path.slice(path.indexOf(id)), id]
    state.set(id, "visiting")
    path.push(id)
    for (const dep of deps.get(id) ?? []) {
      const cycle = visit(dep)
      if (cycle !== undefined) return cycle
    }
    path.pop()
    state.set(id, "done")
    return undefined
  }
  for (const id of deps.keys()) {
    const cycle = visit(id)
    if (cycle !== undefined) return cycle
  }
  return undefined
}

export class MissingPath {
  constructor(readonly ref: Ref) {}
}

/** Replaces every reference in `args` with the (encoded) output it points at. */
export const resolveRefs = (value: unknown, outcomes: ReadonlyMap<string, StepOutcome>): unknown => {
  if (typeof value !== "object" || value === null) return value
  if (isRef(value)) {
    const outcome = outcomes.get(value.$ref)
    let current: unknown = outcome?._tag === "Succeeded" ? outcome.result : undefined
    for (const segment of value.path ?? []) {
      if (typeof current !== "object" || current === null || !(segment in current)) throw new MissingPath(value)
      current = (current as Record<string | number, unknown>)[segment]
    }
    return current
  }
  if (Array.isArray(value)) return value.map((item) => resolveRefs(item, outcomes))
  const out: Record<string, unknown> = {}
  for (const key in value) out[key] = resolveRefs((value as Record<string, unknown>)[key], outcomes)
  return out
}
