/**
 * How a checkout of Graphent runs its TypeScript (bin/sources.js, instead of
 * tsx): one `graphent run` child process on an agent file that needs each of
 * its rules — `graphent/<entry>` names the entry's sources, `./x.js` names
 * `./x.ts`, an `enum` and a parameter property (syntax that type stripping
 * cannot erase) are transformed. The JavaScript made of a source is cached
 * under a digest of it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"

const scratch = Cli.scratch("checkout-loader")
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

const cache = path.join(Cli.root, "node_modules/.cache/graphent-ts")

describe("a checkout runs its sources through bin/sources.js", () => {
  it("graphent/<entry>, ./x.js for ./x.ts, enums and parameter properties; the cache filled", () => {
    // A marker that makes this source new to the cache: its digest is not there before the run.
    const marker = `${process.pid}-${Date.now()}`
    fs.writeFileSync(path.join(scratch, "shout.ts"), `export const marker = "${marker}"
export enum Volume { Quiet = "quiet", Loud = "loud" }
export class Shouter {
  constructor(private readonly volume: Volume) {}
  shout(text: string): string {
    return this.volume === Volume.Loud ? text.toUpperCase() + "!" : text
  }
}
`)
    fs.writeFileSync(path.join(scratch, "agent.ts"), `import { Effect, Schema } from "effect"
import { Agent, SequencePlanner, Tool } from "graphent"
import { directRunContext } from "graphent/testing"
import { Shouter, Volume } from "./shout.js"

const shout = Tool.make("shout", {
  description: "Shouts.", parameters: Schema.Struct({ text: Schema.String }), success: Schema.String,
  handler: ({ text }) => Effect.sync(() => new Shouter(Volume.Loud).shout(text))
})
export const context: unknown = directRunContext
export default Agent.make({ name: "shouter", tools: [shout],
  planner: SequencePlanner.rules([{ match: () => true, steps: (input) => [{ id: "s", tool: "shout", args: { text: input } }] }]) })
`)
    const before = new Set(fs.existsSync(cache) ? fs.readdirSync(cache) : [])
    const env = { GRAPHENT_STORE: "memory" }
    const shouted = Cli.graphent(["run", path.join(scratch, "agent.ts"), "--input", "hi"], { env })
    assert.strictEqual(shouted.code, 0, shouted.stderr)
    assert.strictEqual(shouted.stdout, "HI!\n")
    const added = fs.readdirSync(cache).filter((name) => !before.has(name))
    const stripped = added.map((name) => fs.readFileSync(path.join(cache, name), "utf8")).find((code) => code.includes(marker))
    assert.isDefined(stripped, "the stripped shout.ts is cached")
    assert.notInclude(stripped!, "private readonly")
  }, 120_000)
})
