#!/usr/bin/env node
// Every TypeScript block in README.md and docs/**/*.md is compiled: this writes each one to test/doc-blocks/ as a
// module of its own, so the `tsc --noEmit` that `npm test` runs next typechecks them with the project's strict
// settings. Conventions, in HTML comments (invisible on GitHub) right before a block's opening fence:
// - `<!-- docs:prelude … -->` holds code prepended to the block, e.g. the imports or a `declare const agent` a
//   reader does not need to see every time (like rustdoc's hidden lines);
// - `<!-- docs:same-as <path> -->` says the block is that file of the project, verbatim (the whole file, or its
//   beginning): it is compared with the file, which tsc compiles where it lives, with its own relative imports;
// - `<!-- docs:fragment -->` marks a block shown for its shape only (not compiled); use it rarely.
// Relative imports are written as from a file in test/ (where a user keeps such a test), so `../examples/x.js`
// means the project's examples. Run this script alone to (re)generate the folder.
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

// The project folder: this script's, or the one named as its argument (how test/docs.test.ts tries it).
const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), ".."))
const outDir = path.join(root, "test", "doc-blocks")

/** The Markdown files whose blocks are compiled: README.md and docs/ with its sub-folders (docs/concepts/). */
const documents = () => [
  "README.md",
  ...fs.readdirSync(path.join(root, "docs"), { recursive: true }).filter((name) => name.endsWith(".md")).sort()
    .map((name) => `docs/${name.split(path.sep).join("/")}`)
]

// The code of a `<!-- docs:prelude … -->` comment that ends on the line before `fence`, or "".
const preludeBefore = (lines, fence) => {
  if (fence === 0 || !/-->\s*$/.test(lines[fence - 1])) return ""
  for (let j = fence - 1; j >= 0; j--) {
    const opening = /^<!--\s*docs:prelude\b(.*)$/.exec(lines[j])
    if (opening !== null) {
      return [opening[1], ...lines.slice(j + 1, fence)].join("\n").replace(/-->\s*$/, "").trim()
    }
    if (/<!--/.test(lines[j])) return ""
  }
  return ""
}

/** The TypeScript blocks of one Markdown text: `{ line, code, prelude, fragment, sameAs }`, `line` 1-based at the opening fence. */
const tsBlocks = (text) => {
  const lines = text.split("\n")
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue
    const fragment = i > 0 && /<!--\s*docs:fragment\b/.test(lines[i - 1])
    const sameAs = i > 0 ? /<!--\s*docs:same-as\s+(\S+)\s*-->/.exec(lines[i - 1])?.[1] : undefined
    const prelude = preludeBefore(lines, i)
    const start = i
    const body = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i])
    blocks.push({ line: start + 1, code: body.join("\n"), prelude, fragment, sameAs })
  }
  return blocks
}

const main = () => {
  fs.rmSync(outDir, { recursive: true, force: true })
  fs.mkdirSync(outDir, { recursive: true })
  let compiled = 0
  let fragments = 0
  let copies = 0
  for (const doc of documents()) {
    for (const block of tsBlocks(fs.readFileSync(path.join(root, doc), "utf8"))) {
      if (block.fragment) {
        fragments++
        continue
      }
      if (block.sameAs !== undefined) {
        const file = path.join(root, block.sameAs)
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined
        if (text === undefined || !text.startsWith(block.code.trimEnd())) {
          console.error(`${doc}:${block.line}: the block is not ${block.sameAs} verbatim${text === undefined ? " (no such file)" : ""}`)
          process.exitCode = 1
        }
        copies++
        continue
      }
      const name = `${doc.replace(/[/.]/g, "_")}_L${block.line}.ts`
      // The header points tsc's messages back at the Markdown line; `export {}` keeps each block a module of its own.
      const code = `${block.prelude}\n${block.code}`.replace(/(from\s+["'])\.\.\//g, "$1../../")
      fs.writeFileSync(path.join(outDir, name), `// ${doc}:${block.line}\n${code}\nexport {}\n`)
      compiled++
    }
  }
  fs.writeFileSync(path.join(outDir, ".gitignore"), "*\n")
  console.log(
    `doc blocks: ${compiled} TypeScript blocks written to test/doc-blocks for tsc, ${copies} checked verbatim against ` +
      `their files, ${fragments} marked as fragments`
  )
}

main()
