#!/usr/bin/env node
// Link checker for the Markdown docs (README.md, docs/**/*.md, examples/**/README.md): every relative link must
// name a file that exists and, with a `#fragment`, a heading that exists in it (GitHub's anchor rules). External
// links (http:, https:, mailto:) are not fetched: the build has no network. Exits 1 listing each broken link.
//   node scripts/check-links.mjs [root]    # root: the project folder (default: this script's project)
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), ".."))

const markdownFiles = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) return entry.name === "node_modules" || entry.name.startsWith(".") ? [] : markdownFiles(full)
      return entry.name.endsWith(".md") ? [full] : []
    })
    : []

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
const anchorsOf = (markdown) => {
  const anchors = new Set()
  const seen = new Map()
  let fenced = false
  for (const line of markdown.split("\n")) {
    if (/^\s*```/.test(line)) fenced = !fenced
    if (fenced) continue
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (heading === null) continue
    const text = heading[1].replace(/<[^>]+>/g, "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/`/g, "")
    const base = text.toLowerCase().trim().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-")
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  for (const match of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(match[1])
  return anchors
}

/** The `[text](target)` links of a Markdown text outside code, with their line numbers. */
const linksOf = (markdown) => {
  const links = []
  let fenced = false
  markdown.split("\n").forEach((line, index) => {
    if (/^\s*```/.test(line)) fenced = !fenced
    if (fenced) return
    const prose = line.replace(/`[^`]*`/g, "")
    for (const match of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      links.push({ target: match[1], line: index + 1 })
    }
  })
  return links
}

const check = () => {
  const files = [path.join(root, "README.md"), ...markdownFiles(path.join(root, "docs")), ...markdownFiles(path.join(root, "examples"))]
  const anchorCache = new Map()
  const anchors = (file) => {
    if (!anchorCache.has(file)) anchorCache.set(file, anchorsOf(fs.readFileSync(file, "utf8")))
    return anchorCache.get(file)
  }
  const broken = []
  let checked = 0
  for (const file of files) {
    for (const { target, line } of linksOf(fs.readFileSync(file, "utf8"))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
      checked++
      const [pathPart, fragment] = target.split("#", 2)
      const resolved = pathPart === "" ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart))
      const where = `${path.relative(root, file)}:${line}`
      if (!fs.existsSync(resolved)) {
        broken.push(`${where}: ${target} — no such file`)
        continue
      }
      if (fragment !== undefined && fragment !== "" && resolved.endsWith(".md") && !anchors(resolved).has(decodeURIComponent(fragment))) {
        broken.push(`${where}: ${target} — no heading with anchor #${fragment} in ${path.relative(root, resolved)}`)
      }
    }
  }
  if (broken.length > 0) {
    console.error(`check-links: ${broken.length} broken link(s):\n  ${broken.join("\n  ")}`)
    process.exit(1)
  }
  console.log(`links: ${checked} relative links in ${files.length} Markdown files resolve`)
}

check()
