/**
 * Every `graphent …` command README.md and docs/ show is run, or marked as needing what a test cannot give it.
 * The class: each command line of each shell block (test/support/docCommands.ts says which lines count and how a
 * block is marked). Each page runs in a folder of its own (in test/.scratch, so agent files there resolve "effect"
 * and "graphent" as in an installed project; the project's examples/ linked into it, so paths read as in the docs)
 * against one fresh embedded store (`GRAPHENT_HOME` in a temp dir), its commands in page order, so a command may
 * use what an earlier one of the same page made; a `cd DIR` line moves the page into DIR. Placeholders are filled
 * from what the page made first: `<run-id>` / `<run id>` with the id of the page's latest run (`trace list --db`). Globs
 * (`run-*.jsonl`) are expanded in the page's folder, and left as they are when nothing matches (as a shell does).
 * The CLI runs in-process (src/programs/cli.ts's `main`, as `bin/graphent.js` starts it) to stay within the test's
 * CPU budget.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { inProcess, root, scratch } from "./support/cli.js"
import { commandsIn, documentFiles, shellWords, type ShownCommand, shownCommands } from "./support/docCommands.js"

/** Commands that serve until stopped: run in-process they would never return, so the docs must mark them. */
const serves = (words: ReadonlyArray<string>) =>
  words.includes("&") || ["dev", "worker"].includes(words[0]!) || words.slice(0, 2).join(" ") === "mcp serve"

/** The words to run: placeholders filled, globs expanded in `cwd`; a string says why it cannot be run. */
const resolveWords = async (shown: ShownCommand, cwd: string, env: Record<string, string>): Promise<Array<string> | string> => {
  if (serves(shown.words)) return "serves until stopped: mark its block <!-- docs:needs long-running: … -->"
  const words: Array<string> = []
  for (const word of shown.words) {
    if (/^<run[- ]id>$/.test(word) || word === "<run") {
      const listed = await inProcess(["trace", "list", "--db", "--limit", "1", "--json"], { cwd, env })
      const runId = /"runId":\s*"([^"]+)"/.exec(listed.stdout)?.[1]
      if (runId === undefined) return `no run to fill ${word} with: ${listed.stdout}${listed.stderr}`
      words.push(runId)
    } else if (word === "id>") {
      continue // the second half of `<run id>`
    } else if (/[<>]/.test(word)) {
      return `placeholder ${word} has no rule: mark the block <!-- docs:needs … --> or use <run-id>`
    } else if (word.includes("*")) {
      // As a shell does: the matching paths, or the word itself when nothing matches (or it was quoted text).
      const matches = fs.globSync(word, { cwd }).sort()
      words.push(...(matches.length > 0 ? matches : [word]))
    } else {
      words.push(word)
    }
  }
  return words
}

describe("commands shown in the docs are run", () => {
  it("runs every unmarked command of README.md and docs/ and gets the exit code the docs state", { timeout: 300_000 }, async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-docs-home-"))
    const env = { GRAPHENT_HOME: home, NO_COLOR: "1" }
    const failures: Array<string> = []
    let ran = 0
    for (const file of documentFiles(root)) {
      const shown = shownCommands(root, [file])
      for (const marked of shown.filter((command) => command.needs === "")) {
        failures.push(`${marked.where}: its block's <!-- docs:needs … --> gives no reason`)
      }
      const commands = shown.filter((command) => command.needs === undefined)
      if (commands.length === 0) continue
      const page = scratch("docs-page")
      fs.symlinkSync(path.join(root, "examples"), path.join(page, "examples"))
      let cwd = page
      for (const command of commands) {
        if (command.program === "cd") {
          cwd = path.resolve(cwd, command.words[0]!)
          continue
        }
        const commandEnv = { ...env, ...command.env }
        const words = await resolveWords(command, cwd, commandEnv)
        if (typeof words === "string") {
          failures.push(`${command.where}: ${words}`)
          continue
        }
        const result = await inProcess(words, { cwd, env: commandEnv })
        ran++
        if (result.code !== command.exitCode) {
          failures.push(
            `${command.where}: graphent ${words.join(" ")} exited ${result.code} (the docs state ${command.exitCode}): ` +
              `${result.stderr.trim().split("\n").slice(-3).join(" / ")}`
          )
        }
      }
      fs.rmSync(page, { recursive: true, force: true })
    }
    fs.rmSync(home, { recursive: true, force: true })
    assert.deepStrictEqual(failures, [])
    assert.isAtLeast(ran, 15)
  })
})

describe("test/support/docCommands.ts", () => {
  it("reads commands, their environment, stated exit codes and markers the way a shell and the docs mean them", () => {
    const markdown = [
      "```sh",
      "$ GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=alice npx graphent run deploy.ts --input 'two words' # exit 3: paused",
      "graphent eval run a.ts --dataset cases.jsonl \\",
      "  --report \"new report.json\"",
      "echo graphentless",
      "cd my-agent",
      "```",
      "<!-- docs:needs live-service: PostgreSQL -->",
      "```bash",
      "graphent worker --agents a.ts",
      "```",
      "```ts",
      "// graphent run not-a-shell-block.ts",
      "```"
    ].join("\n")
    const commands = commandsIn("guide.md", markdown)
    assert.deepStrictEqual(commands, [
      {
        program: "graphent",
        where: "guide.md:2",
        words: ["run", "deploy.ts", "--input", "two words"],
        env: { GRAPHENT_POLICY: "policy.json", GRAPHENT_PRINCIPAL: "alice" },
        exitCode: 3,
        needs: undefined
      },
      {
        program: "graphent",
        where: "guide.md:3",
        words: ["eval", "run", "a.ts", "--dataset", "cases.jsonl", "--report", "new report.json"],
        env: {},
        exitCode: 0,
        needs: undefined
      },
      { program: "cd", where: "guide.md:6", words: ["my-agent"], env: {}, exitCode: 0, needs: undefined },
      { program: "graphent", where: "guide.md:10", words: ["worker", "--agents", "a.ts"], env: {}, exitCode: 0, needs: "live-service: PostgreSQL" }
    ])
    assert.deepStrictEqual(shellWords(`a "b \\"c\\"" 'd e' f\\ g`), ["a", "b \"c\"", "d e", "f g"])
    // Servers left unmarked are reported, not run (in-process they would never return).
    assert.deepStrictEqual(
      [["dev"], ["run", "a.ts", "&"], ["mcp", "serve", "a.ts"], ["worker", "--agents", "a.ts"], ["mcp", "list", "m.json"]].map(serves),
      [true, true, true, true, false]
    )
  })
})
