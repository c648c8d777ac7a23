/**
 * `graphent fork`, run in this process (`Cli.inProcess`): a recorded chain forked at each step, with
 * and without `--set-result` — its tool logs every execution, so the steps before the fork point
 * provably did not run again and the steps after it ran live; each fork replays (`graphent replay`,
 * exit 0) and `trace show` names its parent. The example journals of test/fixtures fork too (old
 * journals stay forkable), an LLM run forks offline with `--model scripted:FILE`, a run of the store
 * forks by id, and every bad fork point, edit or script is exit 2.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"
import * as Store from "../support/store.js"

const tracker = Store.tracker()
const dir = Cli.scratch("fork")
afterAll(async () => {
  await tracker.cleanUp()
  fs.rmSync(dir, { recursive: true, force: true })
})

const chain = "test/fixtures/agents/forkChain.ts"
const fixture = (name: string) => `test/fixtures/journals/${name}.jsonl`
const log = path.join(dir, "effects.log")
const memory = { GRAPHENT_STORE: "memory", FORK_LOG: log }

const graphent = (args: ReadonlyArray<string>, env: Record<string, string> = memory) => Cli.inProcess(args, { env })

/** The steps that ran since the last call, from the tool's log. */
const ran = () => {
  const lines = fs.existsSync(log) ? Cli.lines(log).map((line) => line.replace(/^exec /, "")) : []
  fs.rmSync(log, { force: true })
  return lines
}

const journalOf = (file: string) =>
  Cli.lines(file).map((line) => JSON.parse(line) as { _tag: string; runId?: string; at?: number; forkedFrom?: unknown; stepId?: string })

describe("graphent fork", () => {
  it("forks a chain at each step, with and without --set-result: before the fork point nothing runs again", async () => {
    const recorded = path.join(dir, "chain.jsonl")
    const run = await graphent(["run", chain, "--input", "go", "--record", recorded])
    assert.strictEqual(run.code, 0, run.stderr)
    assert.strictEqual(run.stdout.trim(), "total 10")
    assert.deepStrictEqual(ran(), ["s1", "s2", "s3", "s4"])
    const parent = journalOf(recorded)[1]!.runId
    const steps = ["s1", "s2", "s3", "s4"]
    for (const [index, step] of steps.entries()) {
      for (const edit of [false, true]) {
        const forked = path.join(dir, `fork-${step}-${edit}.jsonl`)
        const result = await graphent([
          "fork",
          recorded,
          "--at",
          step,
          ...(edit ? ["--set-result", `${step}=100`] : []),
          "--record",
          forked
        ])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.deepStrictEqual(ran(), steps.slice(edit ? index + 1 : index), `${step} ${edit}`)
        // 1+2+3+4 = 10; a step set to 100 makes the total 100 plus the amounts after it.
        const total = edit ? 100 + steps.slice(index + 1).reduce((sum, s) => sum + Number(s.slice(1)), 0) : 10
        assert.strictEqual(result.stdout.trim(), `total ${total}`)
        assert.match(result.stderr, new RegExp(`forked run \\S+ from run ${parent} at step:${step}`))
        const events = journalOf(forked)
        const started = events.find((event) => event._tag === "RunStarted")!
        assert.deepStrictEqual(started.forkedFrom, {
          runId: parent,
          at: `step:${step}`,
          ...(edit ? { edit: { _tag: "SetResult", stepId: step, result: 100 } } : {})
        })
        assert.notStrictEqual(started.runId, parent)
        const replay = await graphent(["replay", forked])
        assert.strictEqual(replay.code, 0, replay.stderr)
        assert.deepStrictEqual(ran(), [])
        const shown = await graphent(["trace", "show", forked])
        assert.include(shown.stdout, `forked from run ${parent} at step:${step}`)
      }
    }
  })

  it("forks the fixture journals at every turn and step (old journals fork); pure tools give the same answer", async () => {
    for (const name of ["wordstats", "todo"]) {
      const events = journalOf(fixture(name))
      const answer = events.find((event) => event._tag === "RunCompleted") as { answer?: string } | undefined
      const points = [
        ...events.flatMap((event) => event._tag === "StepStarted" ? [`step:${event.stepId}`] : []),
        "turn:1",
        "turn:2"
      ]
      for (const at of points) {
        const result = await graphent(["fork", fixture(name), "--at", at])
        if (name === "todo" && at === "step:3") {
          // "done 1" runs live in this empty store: "add buy milk" was replayed, not run again.
          assert.strictEqual(result.code, 1, result.stderr)
          assert.include(result.stderr, "there is no todo #1")
          continue
        }
        assert.strictEqual(result.code, 0, `${name} ${at}: ${result.stderr}`)
        if (name === "wordstats") assert.strictEqual(result.stdout.trim(), answer?.answer)
        assert.include(result.stderr, `at ${at} (no edit)`)
      }
    }
  })

  it("forks an LLM run offline: --model scripted:FILE answers the live calls, --set-reply replaces a reply, --edit-message a question", async () => {
    const script = path.join(dir, "replies.jsonl")
    fs.writeFileSync(script, `"Tea at 5, and 42."\n`)
    const forked = path.join(dir, "assistant-fork.jsonl")
    const result = await graphent(["fork", fixture("assistant"), "--at", "2", "--model", `scripted:${script}`, "--record", forked])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), "Tea at 5, and 42.")
    // The first model call and both tool calls came from the journal, at their recorded times.
    const parent = journalOf(fixture("assistant"))
    const events = journalOf(forked)
    const called = events.filter((event) => event._tag === "ModelCalled")
    assert.strictEqual(called.length, 2)
    assert.strictEqual(called[0]!.at, parent.find((event) => event._tag === "ModelCalled")!.at)
    assert.deepStrictEqual(
      events.filter((event) => event._tag === "StepSucceeded").map((event) => event.at),
      parent.filter((event) => event._tag === "StepSucceeded").map((event) => event.at)
    )
    const replay = await graphent(["replay", forked])
    assert.strictEqual(replay.code, 0, replay.stderr)
    // The model's first reply set: nothing else is called (an empty script would fail a live call).
    fs.writeFileSync(script, "[]")
    const edited = await graphent(["fork", fixture("assistant"), "--set-reply", "1=No tools today.", "--model", `scripted:${script}`])
    assert.strictEqual(edited.code, 0, edited.stderr)
    assert.strictEqual(edited.stdout.trim(), "No tools today.")
    // The user's message edited: the agent's own (offline) model answers the new question, the calculator runs live.
    const asked = path.join(dir, "assistant-asked.jsonl")
    const question = await graphent(["fork", fixture("assistant"), "--edit-message", "1=what is 6 * 7?", "--record", asked])
    assert.strictEqual(question.code, 0, question.stderr)
    assert.strictEqual(question.stdout.trim(), "The answer is 42.")
    assert.include(question.stderr, `the message model call 1 answers says "what is 6 * 7?"`)
    const again = await graphent(["replay", asked])
    assert.strictEqual(again.code, 0, again.stderr)
    const shown = await graphent(["trace", "show", forked])
    assert.match(shown.stdout, /│ forked from run 37bfbda6-\S+ at turn:2\n/)
  })

  it("forks a run of the project's store by id (prefix), into the store", async () => {
    const env = { GRAPHENT_DATABASE_URL: Store.pgUrl, GRAPHENT_STORE_PREFIX: tracker.prefix("fork"), FORK_LOG: log }
    const run = await graphent(["run", chain, "--input", "go", "--json"], env)
    assert.strictEqual(run.code, 0, run.stderr)
    ran()
    const runId = (JSON.parse(run.stdout.split("\n")[0]!) as { runId: string }).runId
    const result = await graphent(["fork", runId.slice(0, 8), "--set-result", "s3=50"], env)
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), "total 54")
    assert.deepStrictEqual(ran(), ["s4"])
    const forkId = /forked run (\S+)/.exec(result.stderr)![1]!
    const shown = await graphent(["trace", "show", forkId, "--db"], env)
    assert.strictEqual(shown.code, 0, shown.stderr)
    assert.include(shown.stdout, `forked from run ${runId} at step:s3, with step s3's result set to 50`)
  })

  it("a replayed prefix that differs from the recording is a divergence (exit 1), unless --ignore names the field", async () => {
    const recorded = path.join(dir, "chain-ignore.jsonl")
    assert.strictEqual((await graphent(["run", chain, "--input", "go", "--record", recorded])).code, 0)
    ran()
    // The recording says s1 was asked for amount 7 (the agent asks for 1): as if the agent's code had changed.
    const tampered = Cli.lines(recorded).map((line) =>
      line.replace(/"amount":1([,}])/g, `"amount":7$1`)
    )
    fs.writeFileSync(recorded, tampered.join("\n") + "\n")
    const diverged = await graphent(["fork", recorded, "--at", "s3"])
    assert.strictEqual(diverged.code, 1, diverged.stderr)
    assert.include(diverged.stderr, "diverged")
    assert.deepStrictEqual(ran(), [])
    const ignored = await graphent(["fork", recorded, "--at", "s3", "--ignore", "**.amount"])
    assert.strictEqual(ignored.code, 0, ignored.stderr)
    assert.deepStrictEqual(ran(), ["s3", "s4"])
  })

  it("a bad fork point, edit, script or journal is exit 2 with a clear message, and runs nothing", async () => {
    fs.writeFileSync(path.join(dir, "bad-script.json"), `[{"txt": "hi"}]`)
    fs.writeFileSync(path.join(dir, "not-json.json"), `{oops`)
    const wordstats = fixture("wordstats")
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
      [["--at", "nope"], /has no step "nope" \(its steps: words, longest, distinct, summary\)/],
      [["--at", "3"], /turn 3 is past the end of run \S+: it has 2 turns/],
      [["--at", "turn:9"], /turn 9 is past the end/],
      [["--at", "turn:x"], /is not a turn number/],
      [["--at", "step:7"], /has no step "7"/],
      [[], /no fork point/],
      [["--set-result", "words={bad"], /the result is not JSON/],
      [["--set-result", "words"], /--set-result takes STEP=VALUE/],
      [["--set-result", `words="many"`], /does not match the success schema of tool "count_words"/],
      [["--at", "longest", "--set-result", "words=3"], /sets the result of step "words", so the fork starts there/],
      [["--set-input", "x", "--set-result", "words=3"], /give one edit/],
      [["--edit-message", "0=hi"], /N is a model call number/],
      [["--edit-message", "1=hi"], /made no model call 1 \(it made 0\)/],
      [["--set-reply", "x=hi"], /N is a model call number/],
      [["--at", "1", "--model", "openai:gpt-4o"], /--model takes scripted:FILE/],
      [["--at", "1", "--model", `scripted:${path.join(dir, "missing.json")}`], /cannot read/],
      [["--at", "1", "--model", `scripted:${path.join(dir, "bad-script.json")}`], /reply 1: a reply is/],
      [["--at", "1", "--model", `scripted:${path.join(dir, "not-json.json")}`], /not a JSON array or JSON Lines/]
    ]
    for (const [args, message] of cases) {
      const result = await graphent(["fork", wordstats, ...args])
      assert.strictEqual(result.code, 2, `${args.join(" ")}: ${result.stderr}`)
      assert.match(result.stderr, message, args.join(" "))
      assert.strictEqual(result.stdout, "")
    }
    const missing = await graphent(["fork", path.join(dir, "none.jsonl"), "--at", "1"])
    assert.strictEqual(missing.code, 2)
    const otherAgent = await graphent(["fork", wordstats, "--at", "1", "--agent", "examples/todo.ts"])
    assert.strictEqual(otherAgent.code, 2)
    assert.match(otherAgent.stderr, /recorded for agent "wordstats"/)
  })
})
