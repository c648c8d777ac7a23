#!/usr/bin/env node
/**
 * Lists the exported symbols of the public entries (every entry of package.json `exports`: `src/index.ts` and its
 * namespaces, `src/testing.ts`, `src/postgres.ts`, …) that have no doc comment with a sentence of
 * text (tags such as `@since` alone do not count), and the central service
 * tags whose doc comment has no `**Example**`. Exits 1 when it lists any.
 *
 *   node scripts/check-docs.mjs            # the report
 *   node scripts/check-docs.mjs --summary  # counts only
 */
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
// Every entry point of the package: "." is src/index.ts, "./<name>" src/<name>.ts.
const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
const entryNames = Object.keys(manifest.exports).filter((key) => !key.endsWith(".json"))
  .map((key) => key === "." ? "index" : key.slice(2))
const entries = entryNames.map((name) => path.join(root, "src", `${name}.ts`))
const central = { Journal: "Journal", Memory: "Memory", AgentRuntime: "AgentRuntime", Planner: "Planner", Tools: "Tools" }

const program = ts.createProgram(entries, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2023,
  strict: true,
  skipLibCheck: true,
  noEmit: true
})
const checker = program.getTypeChecker()

/** A sentence: two words or more of prose, once tags are left out. */
const isSentence = (text) => /[A-Za-z`'"]+[\s,]+[A-Za-z`'"(]+/.test(text.trim())

const docOf = (symbol) => ts.displayPartsToString(symbol.getDocumentationComment(checker))

/** The leading doc comment of a module file (its first statement's, when it precedes the imports). */
const moduleDoc = (file) => {
  const text = file.getFullText()
  const ranges = ts.getLeadingCommentRanges(text, 0) ?? []
  return ranges
    .map((range) => text.slice(range.pos, range.end))
    .filter((comment) => comment.startsWith("/**"))
    .map((comment) => comment.replace(/^\/\*\*|\*\/$/g, "").split("\n").map((line) => line.replace(/^\s*\* ?/, "")).filter((line) => !line.startsWith("@")).join(" "))
    .join(" ")
}

const where = (declaration) => {
  const file = declaration.getSourceFile()
  const { line } = file.getLineAndCharacterOfPosition(declaration.getStart())
  return `${path.relative(root, file.fileName)}:${line + 1}`
}

const missing = []
const noExample = []
let total = 0
const seen = new Set()

const checkModule = (moduleSymbol, prefix) => {
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const name = `${prefix}${exported.name}`
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
    const declaration = target.declarations?.[0]
    if (declaration === undefined) continue
    if (ts.isSourceFile(declaration)) {
      // `export * as Name from "./Module.js"`: the namespace's doc is the comment on the line or the module's own.
      total++
      if (!isSentence(docOf(exported)) && !isSentence(moduleDoc(declaration))) missing.push([name, where(declaration)])
      if (!seen.has(declaration.fileName)) {
        seen.add(declaration.fileName)
        checkModule(target, `${name}.`)
      }
      continue
    }
    // A value and a type of one name (a Schema and its type): one symbol, documented once.
    total++
    const documented = isSentence(docOf(target)) || isSentence(docOf(exported))
    if (!documented) missing.push([name, where(declaration)])
    if (central[prefix.slice(0, -1)] === exported.name) {
      const comments = ts.getJSDocCommentsAndTags(declaration).map((doc) => doc.getText()).join("\n")
      if (!/\*\*Example\*\*/.test(comments)) noExample.push([name, where(declaration)])
    }
  }
}

for (const entry of entries) {
  const file = program.getSourceFile(entry)
  const symbol = checker.getSymbolAtLocation(file)
  const name = path.basename(entry, ".ts")
  const prefix = name === "index" ? "" : name === "testing" ? "Testing." : `${name}/`
  checkModule(symbol, prefix)
}

const summary = process.argv.includes("--summary")
if (!summary) {
  for (const [name, at] of missing) console.log(`no doc comment  ${name}  (${at})`)
  for (const [name, at] of noExample) console.log(`no **Example**  ${name}  (${at})`)
}
const documented = total - missing.length
console.log(
  `check-docs: ${documented} of ${total} public exports documented (${((100 * documented) / total).toFixed(1)}%); ` +
    `${missing.length} without a doc comment, ${noExample.length} central service tags without an example`
)
process.exit(missing.length + noExample.length === 0 ? 0 : 1)
