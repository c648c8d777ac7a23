/**
 * What every AcceptedRuns backend must do (memory, folder of files, PostgreSQL):
 * record once per id, list pending runs oldest first, settle once, and — for the
 * durable backends — keep all of it for the next process that opens the store.
 * Ids of every shape (slashes, dots, percent signs, unicode) stay apart; a
 * corrupt record is a typed JournalError, not a crash.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import { AcceptedRunsFolder, AcceptedRunsMemory, type AcceptedRuns } from "graphent"
import { AcceptedRunsSql } from "graphent/postgres"
import { pgConfig } from "../support/services.js"
import { uniquePrefix } from "../support/store.js"

type Shape = AcceptedRuns.AcceptedRunsShape

const run = (runId: string, acceptedAt: number): AcceptedRuns.AcceptedRun => ({
  runId,
  agent: "echo",
  input: `input of ${runId}`,
  metadata: { k: "v" },
  principal: { id: "alice", roles: ["runner"] },
  acceptedAt
})

const ids = ["r-1", "a/b", "../up", "100%", "ünï cødé", ".hidden"]

/** The contract, on stores opened by `open` (each call a new "process" over the same data). */
const contract = (
  name: string,
  open: () => Effect.Effect<Shape, unknown, SqlClient>,
  durable: boolean,
  services: Layer.Layer<SqlClient> | undefined = undefined
) =>
  describe(name, () => {
    it.effect("records once per id, lists pending oldest first, settles once", () =>
      Effect.gen(function*() {
        const store = yield* open()
        for (const [i, id] of ids.entries()) yield* store.accept(run(id, 1000 + i))
        // A second accept of an id keeps the first record.
        yield* store.accept({ ...run(ids[0]!, 1), input: "changed" })
        const pending = yield* store.pending
        assert.deepStrictEqual(pending.map((r) => r.runId), ids)
        assert.strictEqual((yield* store.get(ids[0]!))?.run.input, `input of ${ids[0]}`)
        yield* store.settle("a/b", "ended")
        yield* store.settle("a/b", "cancelled")
        yield* store.settle("never-accepted", "ended")
        assert.strictEqual((yield* store.get("a/b"))?.settled, "ended")
        assert.strictEqual(yield* store.get("never-accepted"), undefined)
        assert.notInclude((yield* store.pending).map((r) => r.runId), "a/b")
        if (durable) {
          const reopened = yield* open()
          assert.deepStrictEqual(yield* reopened.get("../up"), { run: run("../up", 1002), settled: undefined })
          assert.deepStrictEqual(
            (yield* reopened.pending).map((r) => r.runId),
            ids.filter((id) => id !== "a/b")
          )
        }
      }).pipe(Effect.provide(services ?? Layer.empty as Layer.Layer<never>)) as Effect.Effect<void, unknown>)
  })

contract("AcceptedRunsMemory", () => Effect.succeed(AcceptedRunsMemory.make()), false)

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-accepted-"))
contract("AcceptedRunsFolder", () => Effect.succeed(AcceptedRunsFolder.make(folder)), true)

const tablePrefix = `${uniquePrefix()}_`
contract(
  "AcceptedRunsSql on PostgreSQL",
  () => AcceptedRunsSql.make({ tablePrefix }),
  true,
  PgClient.layer(pgConfig).pipe(Layer.orDie)
)

describe("AcceptedRunsFolder on bad files", () => {
  it.effect("a corrupt record is a typed JournalError naming the run; a missing folder holds nothing", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-accepted-bad-"))
      const store = AcceptedRunsFolder.make(dir)
      yield* store.accept(run("ok", 1))
      fs.writeFileSync(path.join(dir, "torn.json"), "{\"runId\":\"torn\",\"ag")
      const error = yield* Effect.flip(store.pending)
      assert.strictEqual(error._tag, "JournalError")
      assert.include(error.message, "torn")
      assert.deepStrictEqual(yield* AcceptedRunsFolder.make(path.join(dir, "missing")).pending, [])
      // The good record is still there.
      assert.strictEqual((yield* store.get("ok"))?.run.runId, "ok")
    }))
})
