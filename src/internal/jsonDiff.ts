/**
 * Structural comparison of JSON-like values, with paths to ignore and a
 * readable line-per-difference diff.
 */

export type Path = ReadonlyArray<string | number>

/**
 * A pattern: dot-separated keys, `*` matches any one key or index. It matches
 * a path that ends with it, so `args.timestamp` names that argument both in a
 * tool call (`args.timestamp`) and in the plan that asked for it
 * (`steps.0.args.timestamp`).
 */
export const parsePattern = (pattern: string): ReadonlyArray<string> => pattern.split(".").filter((s) => s !== "")

const matches = (path: Path, pattern: ReadonlyArray<string>): boolean => {
  const offset = path.length - pattern.length
  return offset >= 0 && pattern.every((segment, i) => segment === "*" || segment === String(path[offset + i]))
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
