#!/usr/bin/env node
/**
 * Fails when a module of src/ imports itself back through other modules.
 * Every relative import counts, `import type` included: a cycle closed by
 * types still means the modules cannot be read one after the other.
 *
 *   node scripts/check-cycles.mjs [dir]     (default: src)
 */
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(process.argv[2] ?? "src")

const modules = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return modules(full)
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [full] : []
  })

// `import ... from "./x.js"`, `export ... from "./x.js"`, `import("./x.js")`
const importPattern = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm

const resolve = (from, specifier) => {
  const base = path.resolve(path.dirname(from), specifier)
  for (const candidate of [base.replace(/\.js$/, ".ts"), base.replace(/\.js$/, ".tsx"), `${base}.ts`, path.join(base, "index.ts")]) {
    if (fs.existsSync(candidate)) return candidate
  }
  return undefined
}

const files = modules(root)
const graph = new Map(files.map((file) => {
  const source = fs.readFileSync(file, "utf8")
  const targets = new Set()
  for (const match of source.matchAll(importPattern)) {
    const target = resolve(file, match[1])
    if (target !== undefined) targets.add(target)
  }
  return [file, [...targets]]
}))

// Tarjan's strongly connected components: every component of two or more modules is a cycle.
let index = 0
const indices = new Map()
const low = new Map()
const stack = []
const onStack = new Set()
const cycles = []
const connect = (file) => {
  indices.set(file, index)
  low.set(file, index++)
  stack.push(file)
  onStack.add(file)
  for (const target of graph.get(file) ?? []) {
    if (!indices.has(target)) {
      connect(target)
      low.set(file, Math.min(low.get(file), low.get(target)))
    } else if (onStack.has(target)) low.set(file, Math.min(low.get(file), indices.get(target)))
  }
  if (low.get(file) === indices.get(file)) {
    const component = []
    let member
    do {
      member = stack.pop()
      onStack.delete(member)
      component.push(member)
    } while (member !== file)
    const selfImport = component.length === 1 && (graph.get(file) ?? []).includes(file)
    if (component.length > 1 || selfImport) cycles.push(component)
  }
}
for (const file of files) if (!indices.has(file)) connect(file)

if (cycles.length === 0) {
  console.log(`check-cycles: no import cycle among ${files.length} modules of ${path.relative(process.cwd(), root) || "."}`)
} else {
  for (const cycle of cycles) {
    console.error(`import cycle among ${cycle.length} modules:`)
    for (const file of cycle.sort()) {
      const inCycle = (graph.get(file) ?? []).filter((target) => cycle.includes(target))
      console.error(`  ${path.relative(process.cwd(), file)} -> ${inCycle.map((t) => path.relative(process.cwd(), t)).join(", ")}`)
    }
  }
  process.exit(1)
}
