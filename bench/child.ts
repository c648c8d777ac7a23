/**
 * Child-process entry of `runInChild`:
 *   child.ts <module url> <task name> <params as JSON>
 * imports the module, runs its exported task, and sends back the result plus
 * the process's peak RSS.
 */
import { peakRssMb } from "./harness.js"

const [module, name, params] = process.argv.slice(2)

const main = async () => {
  const exports = (await import(module!)) as Record<string, unknown>
  const task = exports[name!]
  if (typeof task !== "function") throw new Error(`${module} exports no task named ${name}`)
  const value = (await task(JSON.parse(params!))) as object
  return { ...value, peakRssMb: peakRssMb() }
}

main().then(
  (value) => process.send!({ ok: true, value }, () => process.exit(0)),
  (error: unknown) =>
    process.send!({ ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) }, () =>
      process.exit(1))
)
