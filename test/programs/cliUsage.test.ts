/**
 * The CLI's small promises — in this process (the CLI program itself), and through the real
 * executable where being a process matters (standard input, npm, signals): usage errors are one
 * line on stderr (for every kind of bad invocation listed here), `--help`
 * lists exit codes and environment variables, bad ports and missing audit
 * logs are usage errors (exit 2, no stack), the audit log's default is the
 * project's wherever the command runs, long inputs come from a file or
 * stdin, and `npm run graphent -- …` runs the CLI.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Cli from "../support/cli.js"

const { root } = Cli
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-usage-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const baseEnv = { GRAPHENT_STORE: "memory", GRAPHENT_AUDIT: "" }

/** The CLI program in this process. */
const graphent = (args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string> } = {}) =>
  Cli.inProcess(args, { cwd: options.cwd, env: { ...baseEnv, ...options.env } })

describe("usage errors and help", () => {
  const invalid: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
    [["run", "--bogus"], "graphent run"],
    [["bogus"], "graphent"],
    [["run"], "graphent run"],
    [["trace", "list", "--limit", "many"], "graphent trace list"],
    [["dev", "--port", "99999"], ""],
    [["audit", "--log", path.join(dir, "nonexistent.jsonl")], ""],
    [["run", "examples/echo.ts", "--input", "a", "--input-file", "b"], ""]
  ]
  for (const [args, helpFor] of invalid) {
    it(`graphent ${args.join(" ")}: one line on stderr${helpFor === "" ? "" : " and a pointer to --help"}, exit 2`, async () => {
      // The first through the executable too: what the process prints is what the program wrote.
      const result = args[0] === "bogus" ? Cli.graphent(args, { env: baseEnv }) : await graphent(args)
      assert.strictEqual(result.code, 2, result.stderr)
      assert.strictEqual(result.stdout, "")
      const lines = result.stderr.trimEnd().split("\n")
      assert.match(lines[0]!, /^error: \S/)
      assert.notMatch(result.stderr, /\n\s+at /, "no stack trace")
      if (helpFor === "") assert.strictEqual(lines.length, 1, result.stderr)
      else assert.deepStrictEqual(lines.slice(1), [`run "${helpFor} --help" for usage`])
    })
  }

  it("--help lists the exit codes (130 included) and the environment variables", async () => {
    const result = await graphent(["--help"])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.include(result.stdout, "EXIT CODES")
    for (const code of ["0", "1", "2", "3", "130", "143"]) assert.match(result.stdout, new RegExp(`\\n  ${code} +\\S`))
    assert.include(result.stdout, "ENVIRONMENT")
    for (const name of ["GRAPHENT_HOME", "GRAPHENT_STORE", "GRAPHENT_DATABASE_URL", "GRAPHENT_MODEL", "GRAPHENT_POLICY", "GRAPHENT_AUDIT"]) {
      assert.include(result.stdout, `  ${name} `)
    }
  })
})

describe("the audit log's default", () => {
  it("is the project's .graphent/audit.jsonl, also from a subfolder", async () => {
    const project = path.join(dir, "project")
    fs.mkdirSync(path.join(project, ".graphent"), { recursive: true })
    fs.mkdirSync(path.join(project, "src", "deep"), { recursive: true })
    fs.writeFileSync(path.join(project, "package.json"), "{}")
    const entry = {
      at: 1_800_000_000_000, runId: "r-1", stepId: "s1", agent: "a", principal: "alice", roles: [], tool: "echo",
      argsHash: "ab".repeat(32), capabilities: [], decision: "allow", rule: "default", outcome: "succeeded", durationMs: 3
    }
    const header = { _tag: "AuditHeader", format: "graphent-audit", version: 1, createdAt: entry.at }
    fs.writeFileSync(path.join(project, ".graphent", "audit.jsonl"), `${JSON.stringify(header)}\n${JSON.stringify(entry)}\n`)
    for (const cwd of [project, path.join(project, "src", "deep")]) {
      const result = await graphent(["audit", "--json"], { cwd })
      assert.strictEqual(result.code, 0, result.stderr)
      assert.deepStrictEqual(JSON.parse(result.stdout), entry)
    }
    assert.isFalse(fs.existsSync(path.join(project, "src", "deep", ".graphent")), "nothing written under the cwd")
  })
})

describe("inputs longer than a command line", () => {
  // 300 KB: more than Linux's 128 KB limit for one argument.
  const long = "word ".repeat(60_000).trim()

  it("--input-file PATH", async () => {
    const file = path.join(dir, "input.txt")
    fs.writeFileSync(file, long)
    const result = await graphent(["run", "examples/echo.ts", "--input-file", file])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout, long + "\n")
  })

  it("--input - reads standard input (of the process: a pipe)", () => {
    const result = Cli.graphent(["run", "examples/echo.ts", "--input", "-"], { env: baseEnv, stdin: long })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout, long + "\n")
  })

  it("a missing --input-file is a usage error naming it", async () => {
    const result = await graphent(["run", "examples/echo.ts", "--input-file", path.join(dir, "missing.txt")])
    assert.strictEqual(result.code, 2)
    assert.include(result.stderr, "missing.txt")
  })
})

describe("npm run graphent -- …", () => {
  it("runs the CLI from source (the module calls runMain when it is the program)", () => {
    const result = spawnSync("npm", ["run", "-s", "graphent", "--", "run", "examples/echo.ts", "--input", "via npm"], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000,
      env: { ...process.env, GRAPHENT_STORE: "memory" }
    })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.strictEqual(result.stdout, "via npm\n")
  })
})

describe("signals through npx", () => {
  /**
   * `npx graphent run …` as a user starts it: npm → sh → node. `group` sends
   * the signal to the whole process group, as a terminal's Ctrl-C does;
   * otherwise to the npx process alone, as a supervisor does.
   */
  const interruptThroughNpx = async (signal: NodeJS.Signals, group: boolean) => {
    const ledger = path.join(dir, `npx-${signal}-${group}.txt`)
    const marker = `npx-marker-${process.pid}-${signal}-${group}`
    const child = spawn("npx", ["--offline", "graphent", "run", "test/fixtures/agents/ledger.ts", "--thread", marker], {
      cwd: root,
      detached: group,
      env: {
        ...process.env,
        PATH: `${path.join(root, "node_modules/.bin")}${path.delimiter}${process.env.PATH}`,
        GRAPHENT_STORE: "memory",
        LEDGER_FILE: ledger
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr!.on("data", (chunk) => stderr += chunk)
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("close", (code, received) => resolve({ code, signal: received }))
    )
    const deadline = Date.now() + 90_000
    while (!(fs.existsSync(ledger) && fs.readFileSync(ledger, "utf8") !== "")) {
      if (Date.now() > deadline) throw new Error(`the run did not start: ${stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    if (group) process.kill(-child.pid!, signal)
    else child.kill(signal)
    const exit = await closed
    await new Promise((resolve) => setTimeout(resolve, 500))
    const left = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout.split("\n").filter((line) => line.includes(marker))
    return { exit, stderr, left, entries: fs.readFileSync(ledger, "utf8").trim().split("\n").length }
  }

  it("Ctrl-C (SIGINT to the process group): graphent prints the interrupted line; npx ends with it; nothing left", async () => {
    const { exit, stderr, left, entries } = await interruptThroughNpx("SIGINT", true)
    assert.match(stderr, /interrupted: run [0-9a-f-]{36}; it was kept nowhere/)
    assert.isTrue(exit.code === 130 || exit.signal === "SIGINT", JSON.stringify(exit))
    assert.deepStrictEqual(left, [])
    assert.isBelow(entries, 8, "the run stopped before its end")
  }, 120_000)

  it("SIGTERM to the npx process alone reaches graphent (its shell dies; graphent notices): interrupted, nothing left", async () => {
    const { exit, stderr, left, entries } = await interruptThroughNpx("SIGTERM", false)
    assert.match(stderr, /interrupted: run [0-9a-f-]{36}; it was kept nowhere/)
    assert.isTrue(exit.code === 143 || exit.signal === "SIGTERM", JSON.stringify(exit))
    assert.deepStrictEqual(left, [])
    assert.isBelow(entries, 8, "the run stopped before its end")
  }, 120_000)
})

describe("graphent init", () => {
  // Installing a generated project and running its tests takes minutes: scripts/check-templates.sh (run by .ci/run).
  it("writes a project: package.json (graphent, effect, type module), tsconfig, agent, tool, tests, golden journal", async () => {
    for (const template of ["minimal", "tools", "llm", "db"]) {
      const project = path.join(dir, `init-${template}`)
      const result = await graphent(["init", project, "--template", template])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.include(result.stdout, "npm install\n  npm test")
      const manifest = JSON.parse(fs.readFileSync(path.join(project, "package.json"), "utf8"))
      assert.strictEqual(manifest.type, "module")
      assert.includeMembers(Object.keys(manifest.dependencies), ["graphent", "effect"])
      assert.strictEqual(manifest.name, `init-${template}`)
      for (const file of [".gitignore", "tsconfig.json", "README.md", "src/agent.ts", "src/tools.ts", "test/agent.test.ts"]) {
        assert.isTrue(fs.existsSync(path.join(project, file)), `${template}: ${file}`)
      }
      const journal = fs.readFileSync(path.join(project, "test/fixtures/agent.jsonl"), "utf8").split("\n")
      assert.include(journal[1], `"agentFile":"src/agent.ts"`)
    }
  })

  it("refuses a folder that is not empty (exit 2, nothing written) unless --force", async () => {
    const project = path.join(dir, "init-busy")
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, "notes.txt"), "mine")
    const refused = await graphent(["init", project])
    assert.strictEqual(refused.code, 2)
    assert.match(refused.stderr, /^error: .*init-busy is not empty: choose a new folder, or pass --force/)
    assert.deepStrictEqual(fs.readdirSync(project), ["notes.txt"])
    const forced = await graphent(["init", project, "--force"])
    assert.strictEqual(forced.code, 0, forced.stderr)
    assert.strictEqual(fs.readFileSync(path.join(project, "notes.txt"), "utf8"), "mine")
    assert.isTrue(fs.existsSync(path.join(project, "src/agent.ts")))
  })

  it("an unknown template is a usage error; --help lists the templates", async () => {
    const unknown = await graphent(["init", path.join(dir, "init-x"), "--template", "nope"])
    assert.strictEqual(unknown.code, 2)
    assert.isFalse(fs.existsSync(path.join(dir, "init-x")))
    const help = await graphent(["init", "--help"])
    assert.strictEqual(help.code, 0, help.stderr)
    assert.include(help.stdout, "minimal: one agent")
    assert.include(help.stdout, "llm: an assistant planned by a language model")
    assert.include(help.stdout, "db: an agent whose notes are memory on PostgreSQL with pgvector")
  })
})
