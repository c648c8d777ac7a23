/**
 * `--ignore` patterns name exact paths: for every pattern form (a plain path,
 * `*`, `**` at the start, middle and end) and every path in a generated set,
 * the matcher agrees with a regular-expression reading of the pattern, and a
 * plain path never matches a longer or shorter path that merely ends with it.
 */
import { assert, describe, it } from "@effect/vitest"
import { diff, parsePattern } from "../../src/internal/jsonDiff.js"

const ignored = (pattern: string, path: ReadonlyArray<string | number>) => {
  // A value that differs only at `path`: the pattern hides that difference or it does not.
  const build = (leaf: unknown) =>
    path.reduceRight<unknown>((inner, key) => typeof key === "number" ? Object.assign([], { [key]: inner }) : { [key]: inner }, leaf)
  return diff(build(1), build(2), [parsePattern(pattern)]).length === 0
}

/** The reference reading: `*` is one segment, `**` any number of segments (zero or more); a field's subtree belongs to it. */
const reference = (pattern: string, path: ReadonlyArray<string | number>) => {
  const source = parsePattern(pattern).map((segment) =>
    segment === "**" ? "(?:[^.]+\\.)*" : segment === "*" ? "[^.]+\\." : `${segment.replace(/[$()*+?[\\\]^{|}]/g, "\\$&")}\\.`
  ).join("")
  return new RegExp(`^${source}(?:[^.]+\\.)*$`).test(path.map(String).join(".") + ".")
}

describe("jsonDiff ignore patterns", () => {
  it("args.text matches exactly that field: not steps.0.args.text, not text, not args.text.x", () => {
    assert.isTrue(ignored("args.text", ["args", "text"]))
    assert.isFalse(ignored("args.text", ["steps", 0, "args", "text"]))
    assert.isFalse(ignored("text", ["args", "text"]))
    assert.isFalse(ignored("args.text", ["text"]))
    assert.isFalse(ignored("args", ["other"]))
    assert.isTrue(ignored("args", ["args", "deep", "x"]), "a field's subtree belongs to it")
  })

  it("* is one key or index; ** any number, asked for explicitly", () => {
    assert.isTrue(ignored("steps.*.args.at", ["steps", 3, "args", "at"]))
    assert.isFalse(ignored("steps.*.args.at", ["steps", 3, 4, "args", "at"]))
    assert.isTrue(ignored("**.text", ["text"]))
    assert.isTrue(ignored("**.text", ["steps", 0, "args", "text"]))
    assert.isFalse(ignored("**.text", ["steps", 0, "args", "context"]))
    assert.isTrue(ignored("steps.**.at", ["steps", "at"]))
    assert.isTrue(ignored("steps.**", ["steps", 1, "x"]))
  })

  it("agrees with the reference reading on every generated pattern and path", () => {
    const keys = ["args", "text", "steps", 0, 1, "at"] as const
    const paths: Array<Array<string | number>> = [[]]
    for (let length = 1; length <= 4; length++) {
      for (const prefix of paths.filter((p) => p.length === length - 1)) for (const key of keys) paths.push([...prefix, key])
    }
    const segments = ["args", "text", "steps", "0", "*", "**"]
    const patterns: Array<string> = []
    for (const a of segments) {
      patterns.push(a)
      for (const b of segments) {
        patterns.push(`${a}.${b}`)
        for (const c of ["text", "*", "**"]) patterns.push(`${a}.${b}.${c}`)
      }
    }
    let checked = 0
    for (const pattern of patterns) {
      for (const path of paths.filter((p) => p.length > 0)) {
        assert.strictEqual(ignored(pattern, path), reference(pattern, path), `${pattern} on ${path.join(".")}`)
        checked++
      }
    }
    assert.isAbove(checked, 100_000)
  })
})
