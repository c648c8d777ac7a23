/**
 * Structural comparison of JSON-like values, with paths to ignore and a
 * readable line-per-difference diff.
 */

export type Path = ReadonlyArray<string | number>

/**
 * A pattern: dot-separated keys naming one field by its exact path from the
 * root of the compared value — `args.timestamp` is that argument of a tool
 * call (`{ tool, args }`) and nothing else; the plan that asked for it is
 * `steps.*.args.timestamp`. `*` matches any one key or index; `**` any number
 * of them (zero included), so `**.timestamp` is every field named
 * `timestamp`, at any depth — only when written so.
 */
export const parsePattern = (pattern: string): ReadonlyArray<string> => pattern.split(".").filter((s) => s !== "")

const matches = (path: Path, pattern: ReadonlyArray<string>, at = 0, from = 0): boolean => {
  if (from === pattern.length) return at === path.length
  const segment = pattern[from]!
  if (segment === "**") {
    for (let skip = at; skip <= path.length; skip++) if (matches(path, pattern, skip, from + 1)) return true
    return false
  }
  return at < path.length && (segment === "*" || segment === String(path[at])) && matches(path, pattern, at + 1, from + 1)
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const render = (value: unknown): string => value === undefined ? "(absent)" : JSON.stringify(value)

const renderPath = (path: Path): string =>
  path.length === 0
    ? "(root)"
    : path.map((segment, i) => typeof segment === "number" ? `[${segment}]` : i === 0 ? segment : `.${segment}`).join("")

/**
 * The differences between `recorded` and `requested`, one line each
 * (`path: recorded → requested`); empty when they are equal outside the ignored paths.
 */
export const diff = (
  recorded: unknown,
  requested: unknown,
  ignore: ReadonlyArray<ReadonlyArray<string>> = []
): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const walk = (a: unknown, b: unknown, path: Array<string | number>) => {
    if (ignore.some((pattern) => matches(path, pattern))) return
    if (Object.is(a, b)) return
    if (Array.isArray(a) && Array.isArray(b)) {
      const length = Math.max(a.length, b.length)
      for (let i = 0; i < length; i++) {
        path.push(i)
        walk(a[i], b[i], path)
        path.pop()
      }
      return
    }
    if (isObject(a) && isObject(b)) {
      const keys = new Set([...Object.keys(a), ...Object.keys(b)])
      for (const key of keys) {
        path.push(key)
        walk(a[key], b[key], path)
        path.pop()
      }
      return
    }
    lines.push(`${renderPath(path)}: ${render(a)} → ${render(b)}`)
  }
  walk(recorded, requested, [])
  return lines
}
