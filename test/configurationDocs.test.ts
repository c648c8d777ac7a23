/**
 * docs/configuration.md lists every environment variable the code reads, with its default, and none it no longer
 * reads. The class: every name `src/` and `bin/` read through `Config.*("NAME")`, `process.env.NAME` /
 * `process.env["NAME"]`, or name as a `"GRAPHENT_…"` / `"OTEL_…"` string (the `GraphentConfig.variables` registry,
 * helpers such as `limitConfig("GRAPHENT_API_MAX_HEADERS", …)`), comments left out; against every variable in the
 * first cell of a row of the page's tables that have a Default column. Other sessions add variables: the failure
 * message gives the row to add, or the row to remove.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"

const root = path.resolve(import.meta.dirname, "..")

/** Names the code reads, each with the files that read it. */
export const variablesRead = (folders: ReadonlyArray<string>): Map<string, Set<string>> => {
  const reads = [
    /\bConfig\.\w+\(\s*"([A-Z][A-Z0-9_]*)"/g,
    /\bprocess\.env\.([A-Z][A-Z0-9_]*)\b/g,
    /\bprocess\.env\[\s*"([A-Z][A-Z0-9_]*)"\s*\]/g,
    // A name handed to a helper or listed in the registry; ending in `_` it is a family's prefix (GRAPHENT_SECRET_).
    /"((?:GRAPHENT|OTEL)_[A-Z0-9_]*[A-Z0-9])"/g
  ]
  const found = new Map<string, Set<string>>()
  const walk = (folder: string): void => {
    for (const entry of fs.readdirSync(path.join(root, folder), { withFileTypes: true })) {
      const file = `${folder}/${entry.name}`
      if (entry.isDirectory()) walk(file)
      else if (/\.(ts|js|mjs)$/.test(entry.name)) {
        const code = fs.readFileSync(path.join(root, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")
        for (const read of reads) {
          for (const match of code.matchAll(read)) found.set(match[1]!, (found.get(match[1]!) ?? new Set()).add(file))
        }
      }
    }
  }
  folders.forEach(walk)
  return found
}

/** The variables of the page's tables with a Default column: name → default cell (families like `X_<NAME>` left out). */
export const variablesDocumented = (markdown: string): Map<string, string> => {
  const documented = new Map<string, string>()
  let defaultColumn = -1
  for (const line of markdown.split("\n")) {
    if (!line.startsWith("|")) {
      defaultColumn = -1
      continue
    }
    const cells = line.split("|").slice(1, -1).map((cell) => cell.trim())
    if (defaultColumn === -1) {
      defaultColumn = cells.indexOf("Default")
      continue
    }
    for (const name of cells[0]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) documented.set(name[1]!, cells[defaultColumn] ?? "")
  }
  return documented
}

describe("docs/configuration.md", () => {
  it("has a row, with a default, for every variable src/ and bin/ read, and none for a variable nothing reads", () => {
    const read = variablesRead(["src", "bin"])
    const documented = variablesDocumented(fs.readFileSync(path.join(root, "docs/configuration.md"), "utf8"))
    const problems: Array<string> = []
    for (const [name, files] of read) {
      if (!documented.has(name)) {
        problems.push(
          `${name} is read by ${[...files].join(", ")} but has no row: add ` +
            `"| \`${name}\` | <setting or reader> | <default, or unset: what happens> | <what it does> |" to docs/configuration.md`
        )
      }
    }
    for (const [name, defaultValue] of documented) {
      if (!read.has(name)) problems.push(`${name} has a row in docs/configuration.md but nothing in src/ or bin/ reads it: remove the row`)
      else if (defaultValue === "" || defaultValue === "—") problems.push(`${name}: its row in docs/configuration.md gives no default`)
    }
    assert.deepStrictEqual(problems, [])
    // The scan finds each way of reading: a miss in any one would hide that family of variables.
    for (const name of ["GRAPHENT_ROLES", "GRAPHENT_API_MAX_HEADERS", "OPENAI_API_KEY", "OTEL_SDK_DISABLED", "NO_COLOR"]) {
      assert.isTrue(read.has(name), `the scan no longer finds ${name}`)
    }
  })

  it("reads tables with a Default column only, every name of a row's first cell, families left out", () => {
    const documented = variablesDocumented([
      "| Variable | Default | What |",
      "|---|---|---|",
      "| `A_ONE`, `A_TWO` | `1` | x |",
      "| `A_SECRET_<NAME>` | — | a family |",
      "",
      "| Variable | What |",
      "|---|---|",
      "| `B_NOT_A_REFERENCE` | y |"
    ].join("\n"))
    assert.deepStrictEqual([...documented], [["A_ONE", "`1`"], ["A_TWO", "`1`"]])
  })
})
