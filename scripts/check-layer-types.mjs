#!/usr/bin/env node
/**
 * Lists the exported layers of the public entries (`src/index.ts` and its
 * namespaces, `src/testing.ts`) whose type provides nothing (`Layer<never, …>`,
 * or a function returning one): such a type hides what the layer wires in
 * (see `src/services/Wired.ts`). Exits 1 when it lists any.
 */
import * as path from "node:path"
import ts from "typescript"

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..")
const entries = ["src/index.ts", "src/testing.ts"].map((file) => path.join(root, file))
const program = ts.createProgram(entries, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2023,
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: true,
  noEmit: true
})
const checker = program.getTypeChecker()

const found = []
const seen = new Set()
const checkModule = (moduleSymbol, prefix) => {
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported
    const declaration = target.valueDeclaration ?? target.declarations?.[0]
    if (declaration === undefined) continue
    if (ts.isSourceFile(declaration)) {
      if (!seen.has(declaration.fileName)) {
        seen.add(declaration.fileName)
        checkModule(target, `${prefix}${exported.name}.`)
      }
      continue
    }
    if (target.valueDeclaration === undefined) continue
    const type = checker.getTypeOfSymbolAtLocation(target, declaration)
    const signatures = type.getCallSignatures()
    const result = signatures.length > 0 ? signatures[0].getReturnType() : type
    const text = checker.typeToString(result, undefined, ts.TypeFormatFlags.NoTruncation)
    if (/^Layer<never\b/.test(text)) {
      const file = declaration.getSourceFile()
      const { line } = file.getLineAndCharacterOfPosition(declaration.getStart())
      found.push(`${prefix}${exported.name}${signatures.length > 0 ? "()" : ""}: ${text}  (${path.relative(root, file.fileName)}:${line + 1})`)
    }
  }
}
for (const entry of entries) {
  checkModule(checker.getSymbolAtLocation(program.getSourceFile(entry)), entry.endsWith("testing.ts") ? "Testing." : "")
}
for (const line of found) console.log(`provides nothing  ${line}`)
console.log(`check-layer-types: ${found.length} exported layers typed as providing nothing`)
process.exit(found.length === 0 ? 0 : 1)
