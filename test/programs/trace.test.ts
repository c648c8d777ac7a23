/**
 * `graphent trace list|show --db`: runs read back from a journal database,
 * the embedded store or PostgreSQL.
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

/** Runs the CLI program in this process, with `env` added to the environment. */
const graphent = (args: ReadonlyArray<string>, env: Record<string, string>) => Cli.inProcess(args, { env })

const todo = (input: string, env: Record<string, string>) => graphent(["run", "examples/todo.ts", "--input", input], env)

describe("graphent trace on a journal database", () => {
  it("--record writes the file and the store; trace list/show --db read the run back as the file has it", async () => {
    const settings = { GRAPHENT_HOME: home, GRAPHENT_STORE_PREFIX: prefix() }
    const file = path.join(stores.dir("trace"), "run.jsonl")
    const ran = await graphent(["run", "examples/todo.ts", "--input", "add tea; list", "--record", file], settings)
    assert.strictEqual(ran.code, 0, ran.stderr)
    const started = JSON.parse(fs.readFileSync(file, "utf8").split("\n")[1]!) as { _tag: string; runId: string }
    assert.strictEqual(started._tag, "RunStarted")

    const listed = await graphent(["trace", "list", "--db"], settings)
    assert.strictEqual(listed.code, 0, listed.stderr)
    assert.match(
      listed.stdout,
      new RegExp(`^${started.runId}  todo  \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  completed in \\d+ ms  "add tea; list"\\n$`)
    )

    const json = await graphent(["trace", "list", "--db", "--json"], settings)
    const summaries = json.stdout.trim().split("\n").map((line) => JSON.parse(line))
    assert.strictEqual(summaries.length, 1)
    assert.deepInclude(summaries[0], { runId: started.runId, agent: "todo", status: "completed", answer: "Added #1: tea\n[ ] #1 tea" })

    // A unique prefix of the id is enough; the tree is the file's.
    const fromDb = await graphent(["trace", "show", started.runId.slice(0, 8), "--db"], settings)
    assert.strictEqual(fromDb.code, 0, fromDb.stderr)
    const fromFile = await graphent(["trace", "show", file], settings)
    // The same tree; jsonb keeps object keys in its own order, so compare each object's characters, not their order.
    const unordered = (text: string) => text.replace(/\{[^{}]*\}/g, (object) => [...object].sort().join(""))
    assert.strictEqual(unordered(fromDb.stdout), unordered(fromFile.stdout))
    assert.include(fromDb.stdout, "└─ ✓ completed in")
    // Without --db, an id that is no journal file names a run of the project's store, as bare --db does.
    const fromStore = await graphent(["trace", "show", started.runId.slice(0, 8)], settings)
    assert.strictEqual(fromStore.code, 0, fromStore.stderr)
    assert.strictEqual(fromStore.stdout, fromDb.stdout)

    // --db=FOLDER names an embedded store explicitly.
    const explicit = await graphent(["trace", "list", `--db=${home}`], { GRAPHENT_STORE_PREFIX: settings.GRAPHENT_STORE_PREFIX })
    assert.strictEqual(explicit.stdout, listed.stdout)
  }, 90_000)

  it("on PostgreSQL: --db=URL and --db URL, with --agent and --status filters", async () => {
    const settings = { GRAPHENT_DATABASE_URL: pgUrl, GRAPHENT_STORE_PREFIX: prefix() }
    assert.strictEqual((await todo("add tea", settings)).code, 0)
    const failed = await todo("done 9", settings)
    assert.strictEqual(failed.code, 1)

    const only = { GRAPHENT_STORE_PREFIX: settings.GRAPHENT_STORE_PREFIX }
    const listed = await graphent(["trace", "list", `--db=${pgUrl}`], only)
    assert.strictEqual(listed.code, 0, listed.stderr)
    const lines = listed.stdout.trim().split("\n")
    assert.strictEqual(lines.length, 2)
    assert.include(lines[0], "failed (ToolFailed) after")
    assert.include(lines[0], `"done 9"`)
    assert.include(lines[1], "completed in")

    const failedOnly = await graphent(["trace", "list", "--db", pgUrl, "--status", "failed"], only)
    assert.strictEqual(failedOnly.stdout, `${lines[0]}\n`)
    assert.strictEqual((await graphent(["trace", "list", "--db", pgUrl, "--agent", "echo"], only)).stdout, "")

    const runId = lines[0]!.split("  ")[0]!
    const shown = await graphent(["trace", "show", runId, "--db", pgUrl], only)
    assert.strictEqual(shown.code, 0, shown.stderr)
    assert.include(shown.stdout, "there is no todo #9")
    // The project's store is this database (GRAPHENT_DATABASE_URL): no --db needed.
    assert.strictEqual((await graphent(["trace", "show", runId], settings)).stdout, shown.stdout)
  }, 90_000)

  it("child runs (sub-agents): listed under their parent only with --all; trace show --db nests them", async () => {
    const folderHome = await Store.makeHome()
    const stores = [
      { name: "PostgreSQL", env: { GRAPHENT_DATABASE_URL: pgUrl, GRAPHENT_STORE_PREFIX: prefix() } },
      { name: "folder store", env: { GRAPHENT_HOME: folderHome, GRAPHENT_STORE_PREFIX: prefix() } }
    ]
    try {
      for (const { env, name } of stores) {
        const ran = await graphent(["run", "examples/research.ts", "--input", "effect"], env)
        assert.strictEqual(ran.code, 0, `${name}: ${ran.stderr}`)
        // Top-level runs only: the coordinator, not its two child runs.
        const listed = await graphent(["trace", "list", "--db"], env)
        const lines = listed.stdout.trim().split("\n")
        assert.strictEqual(lines.length, 1, `${name}: ${listed.stdout}`)
        const runId = lines[0]!.split("  ")[0]!
        assert.match(lines[0]!, / coordinator /)
        // --all: each child on the line after its parent, indented, with the parent's id as its prefix.
        const all = (await graphent(["trace", "list", "--db", "--all"], env)).stdout.trim().split("\n")
        assert.strictEqual(all.length, 3, `${name}: ${all.join("\n")}`)
        assert.strictEqual(all[0], lines[0])
        for (const line of all.slice(1)) assert.match(line, new RegExp(`^ └ ${runId}/\\S+  (searcher|writer) `), name)
        const json = (await graphent(["trace", "list", "--db", "--all", "--json"], env)).stdout.trim().split("\n")
        assert.deepStrictEqual(json.map((line) => JSON.parse(line).parentRunId).sort(), [runId, runId, undefined].sort())
        // The tree, from the store as from a journal file: each child under the coordinator's step.
        const shown = await graphent(["trace", "show", runId, "--db"], env)
        assert.strictEqual(shown.code, 0, shown.stderr)
        assert.match(shown.stdout, /^│  │  run \S+\/\S+  agent searcher .*\(child of /m, name)
        assert.match(shown.stdout, /^│  │  run \S+\/\S+  agent writer .*\(child of /m, name)
        // A prefix of the parent's id names the parent, not one of its children.
        const byPrefix = await graphent(["trace", "show", runId.slice(0, 8), "--db"], env)
        assert.strictEqual(byPrefix.stdout, shown.stdout, name)
        // A child run named in full (its id has a "/", as a path has) without --db: the project's store shows it alone.
        const childId = all[1]!.split("  ")[0]!.replace(/^ └ /, "")
        const child = await graphent(["trace", "show", childId], env)
        assert.strictEqual(child.code, 0, `${name}: ${child.stderr}`)
        assert.isTrue(child.stdout.startsWith(`run ${childId}  agent `), `${name}: ${child.stdout}`)
        assert.match(child.stdout, /^run \S+  agent (searcher|writer) /, name)
      }
    } finally {
      Store.removeHome(folderHome)
    }
  }, 120_000)

  it("bad input exits 2 with a message", async () => {
    const settings = { GRAPHENT_HOME: home, GRAPHENT_STORE_PREFIX: prefix() }
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, string]> = [
      [["trace", "list", "--db=/nonexistent/store"], settings, "neither a postgres:// URL nor an embedded store"],
      [["trace", "show", "no-such-run", "--db"], settings, "no run no-such-run in"],
      // Without --db: where it looked (the store, then a file of that name), and how to name another store.
      [["trace", "show", "no-such-run"], settings, `no run no-such-run in ${home}`],
      [["trace", "show", "no-such-run"], settings, `no journal file ${path.resolve("no-such-run")}`],
      [["trace", "show", "no-such-run"], settings, "graphent trace show no-such-run --db URL|FOLDER"],
      [["trace", "show", "no-such-run", "--run", "r"], settings, "--run picks a run of a journal file"],
      [["trace", "show", "missing.jsonl"], settings, "missing.jsonl: ENOENT"],
      [["trace", "show", "x.jsonl", "--db", "--run", "r"], settings, "not with --run"],
      [["run", "examples/echo.ts"], { GRAPHENT_DATABASE_URL: "postgres://ada:pw-s3cret@127.0.0.1:1/x" }, "storage (postgres) open failed"],
      [["run", "examples/echo.ts"], { GRAPHENT_STORE: "disk" }, "GRAPHENT_STORE"],
      [["run", "examples/echo.ts"], { GRAPHENT_STORE_PREFIX: "Bad-Prefix" }, "GRAPHENT_STORE_PREFIX"]
    ]
    for (const [args, env, expected] of cases) {
      const result = await graphent(args, env)
      assert.strictEqual(result.code, 2, `${args.join(" ")}: ${result.stderr}`)
      assert.include(result.stderr, expected)
      assert.notInclude(result.stderr, "pw-s3cret")
      assert.notInclude(result.stderr, "    at ")
    }
  }, 90_000)
})
