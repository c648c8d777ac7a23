import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { version } from "graphent"

const root = path.resolve(import.meta.dirname, "..")
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8")

describe("README", () => {
  it("shows examples/quickstart.ts verbatim as the quickstart", () => {
    const section = readme.slice(readme.indexOf("## Quickstart"))
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
    assert.isDefined(block)
    assert.strictEqual(block, fs.readFileSync(path.join(root, "examples/quickstart.ts"), "utf8"))
  })

  it("runs the quickstart (it is also typechecked by `tsc --noEmit`)", () => {
    const child = spawnSync(process.execPath, ["--import", "tsx", "examples/quickstart.ts"], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000
    })
    assert.strictEqual(child.status, 0, child.stderr)
    assert.strictEqual(child.stdout, "HELLO\n")
  })

  it("shows examples/plain-async.ts verbatim as the Promise API quickstart, and it runs", () => {
    const section = readme.slice(readme.indexOf("## Quickstart (Promise API)"))
    assert.strictEqual(/```ts\n([\s\S]*?)```/.exec(section)?.[1], fs.readFileSync(path.join(root, "examples/plain-async.ts"), "utf8"))
    const child = spawnSync(process.execPath, ["--import", "tsx", "examples/plain-async.ts"], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000
    })
    assert.strictEqual(child.status, 0, child.stderr)
    assert.strictEqual(child.stdout, "21\n26\nstep \"t\": tool \"temperature\" failed: no weather station in Atlantis\n")
  })

  it("names the test command that .ci/run calls", () => {
    assert.include(readme, "npm test")
    assert.include(fs.readFileSync(path.join(root, ".ci/run"), "utf8"), "npm test")
  })

  it("keeps the version equal to package.json", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
    assert.strictEqual(version, pkg.version)
  })
})
