/**
 * ShellTool's jail against symbolic links, the class of attack: a link (or a
 * chain of links, relative or absolute, with `..` in targets or through a
 * link to a parent) whose final target is outside the jail — existing or not
 * (dangling) — must be refused with a typed error and an audit entry, and the
 * program must create nothing outside; links that end inside keep working.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer, Schema } from "effect"
import { Credentials } from "graphent"
import * as ShellTool from "../../src/tools/ShellTool.js"
import { guardedCall, random, toolCause } from "../support/security.js"

const layer = Layer.mergeAll(NodeServices.layer, Credentials.layerTest({}))

/** Everything under `dir`, as relative paths (links not followed). */
const listing = (dir: string): Array<string> =>
  (fs.readdirSync(dir, { recursive: true }) as Array<string>).sort()

const makeArea = () => {
  const base = fs.mkdtempSync(path.join(path.resolve("test/.scratch"), "jail-"))
  const jail = path.join(base, "jail")
  const outside = path.join(base, "outside")
  fs.mkdirSync(path.join(jail, "sub", "deeper"), { recursive: true })
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(outside, "existing.txt"), "outside")
  // A link to the jail's parent: `up/outside/...` climbs out through it.
  fs.symlinkSync("..", path.join(jail, "up"))
  return { base, jail, outside, cleanup: () => fs.rmSync(base, { recursive: true, force: true }) }
}

/** A tool that creates (writes) the file it is given. */
const writer = (jail: string) =>
  ShellTool.make("write_file", {
    description: "Writes a file",
    command: process.execPath,
    args: ["-e", "require('fs').writeFileSync(process.argv[1], 'written')", "{file}"],
    parameters: Schema.Struct({ file: Schema.String }),
    paths: ["file"],
    root: jail,
    timeout: "10 seconds"
  })

interface Final {
  readonly label: string
  /** The link target, written from the directory `dir` the last link is in. */
  readonly target: (dir: string, n: number) => string
  /** Where the file ends up (for targets inside the jail). */
  readonly lands?: (n: number) => string
}

describe("ShellTool jail: symbolic links are resolved component by component", () => {
  it.live("generated link chains: a target outside the jail (existing or dangling) is refused, nothing is created outside; inside targets work", () => {
    const area = makeArea()
    const { jail, outside } = area
    const finals: ReadonlyArray<Final> = [
      { label: "absolute, dangling, outside", target: (_, n) => path.join(outside, `abs-${n}`) },
      { label: "relative, dangling, outside", target: (dir, n) => path.relative(dir, path.join(outside, `rel-${n}`)) },
      { label: "absolute, existing, outside", target: () => path.join(outside, "existing.txt") },
      { label: "into a missing folder outside", target: (dir, n) => path.relative(dir, path.join(outside, `missing-${n}`, "f")) },
      { label: ".. inside the target", target: (dir, n) => `${path.relative(dir, path.join(jail, "sub"))}/../../outside/dots-${n}` },
      { label: "through a link to the parent", target: (dir, n) => `${path.relative(dir, jail) || "."}/up/outside/up-${n}` },
      { label: "to the jail's parent itself", target: (dir) => path.relative(dir, path.dirname(jail)) },
      { label: "absolute, inside", target: (_, n) => path.join(jail, `in-abs-${n}`), lands: (n) => path.join(jail, `in-abs-${n}`) },
      {
        label: "relative, inside",
        target: (dir, n) => path.relative(dir, path.join(jail, "sub", "deeper", `in-rel-${n}`)),
        lands: (n) => path.join(jail, "sub", "deeper", `in-rel-${n}`)
      },
      {
        label: "out and back in",
        target: (dir, n) => `${path.relative(dir, jail) || "."}/up/jail/in-back-${n}`,
        lands: (n) => path.join(jail, `in-back-${n}`)
      }
    ]
    const dirs = [jail, path.join(jail, "sub"), path.join(jail, "sub", "deeper")]
    const next = random(7)
    const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!
    const outsideBefore = listing(outside)
    return Effect.gen(function*() {
      const tool = writer(jail)
      let refused = 0
      for (let n = 0; n < 60; n++) {
        const final = finals[n % finals.length]!
        // A chain of 1 to 4 links in random folders of the jail, each pointing at the next, relative or absolute.
        const chain = Array.from({ length: 1 + Math.floor(next() * 4) }, (_, i) => path.join(pick(dirs), `link-${n}-${i}`))
        chain.forEach((link, i) => {
          const dir = path.dirname(link)
          const following = chain[i + 1]
          const target = following === undefined
            ? final.target(dir, n)
            : next() < 0.5
            ? following
            : path.relative(dir, following)
          fs.symlinkSync(target, link)
        })
        const file = path.relative(jail, chain[0]!)
        const label = `${final.label}: ${chain.map((link) => `${path.relative(jail, link)} -> ${fs.readlinkSync(link)}`).join(", ")}`
        const out = yield* guardedCall(tool, { file })
        if (final.lands === undefined) {
          const cause = toolCause(out)
          assert.strictEqual(cause._tag, "ShellArgumentRejected", label)
          assert.strictEqual(cause.reason, "outside-jail", label)
          assert.strictEqual(out.audit[0]!.outcome, "failed", label)
          refused++
        } else {
          assert.strictEqual(out.exit._tag, "Success", label)
          assert.strictEqual(fs.readFileSync(final.lands(n), "utf8"), "written", label)
        }
        assert.deepStrictEqual(listing(outside), outsideBefore, label)
      }
      assert.strictEqual(fs.readFileSync(path.join(outside, "existing.txt"), "utf8"), "outside")
      assert.isAbove(refused, 30)
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  }, 60_000)

  it.live("link loops, a dangling link as the working directory, and a path under a dangling link are refused", () => {
    const area = makeArea()
    const { jail, outside } = area
    fs.symlinkSync("b", path.join(jail, "a"))
    fs.symlinkSync("a", path.join(jail, "b"))
    fs.symlinkSync("self", path.join(jail, "self"))
    fs.symlinkSync(path.join(outside, "newdir"), path.join(jail, "dangling-dir"))
    fs.symlinkSync(outside, path.join(jail, "outdir"))
    return Effect.gen(function*() {
      const tool = writer(jail)
      for (const file of ["a", "b/x", "self", "dangling-dir/f", "outdir/new.txt", "sub/../up/outside/x"]) {
        const out = yield* guardedCall(tool, { file })
        assert.strictEqual(toolCause(out)._tag, "ShellArgumentRejected", file)
      }
      const inCwd = ShellTool.make("write_in", {
        description: "",
        command: process.execPath,
        args: ["-e", "require('fs').writeFileSync('made.txt', 'x')"],
        parameters: Schema.Struct({ dir: Schema.String }),
        cwd: "dir",
        root: jail
      })
      for (const dir of ["dangling-dir", "outdir", "up", "a"]) {
        const cause = toolCause(yield* guardedCall(inCwd, { dir }))
        assert.strictEqual(cause._tag, "ShellArgumentRejected", dir)
        assert.strictEqual(cause.reason, "outside-jail", dir)
      }
      assert.deepStrictEqual(listing(outside), ["existing.txt"])
    }).pipe(Effect.ensuring(Effect.sync(area.cleanup)), Effect.provide(layer))
  })
})
