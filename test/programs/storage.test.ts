/**
 * `graphent run` keeps memory and journals in the configured store, across
 * processes: the embedded default, Redis, PostgreSQL (a table and key prefix
 * of its own per test), and nothing with GRAPHENT_STORE=memory.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"

const { pgUrl, redisUrl } = Store

// Tables and keys under prefixes of this file's own, in the shared PostgreSQL and Redis; removed afterwards.
const stores = Store.tracker()
const prefix = () => stores.prefix("_cli")

let home = ""
beforeAll(async () => {
  home = await Store.makeHome()
}, 120_000)

afterAll(async () => {
  Store.removeHome(home)
  await stores.cleanUp()
}, 60_000)

/** Runs the real executable, the way a user does, with `env` added to the environment. */
const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) => Cli.graphent(args, { env })

const todo = (input: string, env: Record<string, string>) => graphent(["run", "examples/todo.ts", "--input", input], env)

describe("examples/todo.ts keeps its list across graphent run processes", () => {
  const backends: ReadonlyArray<readonly [string, () => Record<string, string>]> = [
    ["the embedded default (.graphent)", () => ({ GRAPHENT_HOME: home, GRAPHENT_STORE_PREFIX: prefix() })],
    ["GRAPHENT_REDIS_URL", () => ({ GRAPHENT_HOME: home, GRAPHENT_REDIS_URL: redisUrl, GRAPHENT_STORE_PREFIX: prefix() })],
    ["GRAPHENT_DATABASE_URL", () => ({ GRAPHENT_DATABASE_URL: pgUrl, GRAPHENT_STORE_PREFIX: prefix() })]
  ]
  for (const [name, env] of backends) {
    it(`${name}: add buy milk, then list in the next process`, () => {
      const settings = env()
      const added = todo("add buy milk", settings)
      assert.strictEqual(added.code, 0, added.stderr)
      assert.strictEqual(added.stdout, "Added #1: buy milk\n")
      const listed = todo("list", settings)
      assert.strictEqual(listed.code, 0, listed.stderr)
      assert.strictEqual(listed.stdout, "[ ] #1 buy milk\n")
    }, 120_000)
  }

  it("GRAPHENT_STORE=memory keeps nothing, and creates no store", () => {
    const nowhere = path.join(stores.dir("none"), ".graphent")
    const settings = { GRAPHENT_STORE: "memory", GRAPHENT_HOME: nowhere }
    assert.strictEqual(todo("add buy milk", settings).stdout, "Added #1: buy milk\n")
    assert.strictEqual(todo("list", settings).stdout, "No todos.\n")
    assert.isFalse(fs.existsSync(nowhere))
  }, 60_000)
})
