/**
 * `graphent run` keeps memory and journals in the configured store, across
 * processes: the embedded default, Redis, PostgreSQL (a table and key prefix
 * of its own per test), and nothing with GRAPHENT_STORE=memory.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { Redis } from "ioredis"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Store from "../support/store.js"
import { pgUrl, redisUrl } from "../support/services.js"

const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/graphent.js")

const prefixes: Array<string> = []
const prefix = () => {
  const name = `${Store.uniquePrefix()}_cli`
  prefixes.push(name)
  return name
}

let home = ""
beforeAll(async () => {
  home = await Store.makeHome()
}, 120_000)

afterAll(async () => {
  Store.removeHome(home)
  await Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const name of prefixes) {
      const tables = yield* sql<{ readonly name: string }>`
        SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, ${name})`
      for (const table of tables) yield* sql`DROP TABLE IF EXISTS ${sql(table.name)} CASCADE`
      yield* sql`DROP SEQUENCE IF EXISTS ${sql(`${name}_history_seq`)}`
    }
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl) })), Effect.runPromise)
  const redis = new Redis(redisUrl, { lazyConnect: true, commandTimeout: 5_000 })
  for (const name of prefixes) {
    const keys = await redis.keys(`${name}:*`)
    if (keys.length > 0) await redis.unlink(...keys)
  }
  await redis.quit()
}, 60_000)

/** Runs the real executable, the way a user does, with `env` added to the environment. */
const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) => {
  const child = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, ...env }
  })
  return { code: child.status, stdout: child.stdout, stderr: child.stderr }
}

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
    const nowhere = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "graphent-none-")), ".graphent")
    const settings = { GRAPHENT_STORE: "memory", GRAPHENT_HOME: nowhere }
    assert.strictEqual(todo("add buy milk", settings).stdout, "Added #1: buy milk\n")
    assert.strictEqual(todo("list", settings).stdout, "No todos.\n")
    assert.isFalse(fs.existsSync(nowhere))
  }, 60_000)
})
