/**
 * Documentation that cannot rot: the generated references (CLI, troubleshooting) match the code, every error says
 * what to do about it, and the checkers `npm test` runs over the Markdown (links, TypeScript blocks) catch what they
 * claim to catch — tried on small projects of broken Markdown, since a checker that finds nothing proves nothing.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { cliReference, errorEntries, troubleshooting, withoutRemedy } from "../scripts/docsReference.js"
import { inProcess } from "./support/cli.js"
import { documentFiles, shownCommands } from "./support/docCommands.js"

const root = path.resolve(import.meta.dirname, "..")
const committed = (file: string) => fs.readFileSync(path.join(root, file), "utf8")
const regenerate = "regenerate it with `npm run docs:reference`"

const project = (files: Record<string, string>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-docs-"))
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), text)
  }
  return dir
}
const script = (name: string, dir: string) =>
  spawnSync(process.execPath, [path.join(root, "scripts", name), dir], { encoding: "utf8", timeout: 30_000 })

describe("generated references", () => {
  it("docs/cli.md is what every command's --help prints", async () => {
    const help = async (args: ReadonlyArray<string>) => {
      const result = await inProcess(args, { env: { NO_COLOR: "1" } })
      assert.strictEqual(result.code, 0, `graphent ${args.join(" ")}: ${result.stderr}`)
      return result.stdout
    }
    const generated = await cliReference(help)
    // Every command of the root's list has its own section: a walk that stopped early would pass otherwise.
    for (const command of ["init", "run", "replay", "resume", "trace show", "trace list", "dev", "mcp serve"]) {
      assert.include(generated, `\`graphent ${command}\``)
    }
    assert.strictEqual(committed("docs/cli.md"), generated, `docs/cli.md is out of date: ${regenerate}`)
  })

  it("docs/troubleshooting.md lists every exported error with its outcome and what to do", async () => {
    const errors = await errorEntries()
    assert.isAtLeast(errors.length, 50)
    assert.deepStrictEqual(withoutRemedy(errors), [], "errors whose doc comment has no \"What to do:\" paragraph")
    const timeout = errors.find((entry) => entry.tag === "ToolTimeout")
    assert.deepStrictEqual([timeout?.qualified, timeout?.outcome.exitCode, timeout?.outcome.httpStatus], ["Tool.ToolTimeout", 1, 504])
    assert.strictEqual(committed("docs/troubleshooting.md"), troubleshooting(errors), `docs/troubleshooting.md is out of date: ${regenerate}`)
  })
})

describe("docs/README.md", () => {
  it("links every page of docs/ (the index a reader starts from; TypeDoc builds the same pages)", () => {
    const index = committed("docs/README.md")
    const linked = new Set([...index.matchAll(/\]\(([^)#\s]+\.md)(?:#[^)]*)?\)/g)].map((match) => path.posix.join("docs", match[1]!)))
    const pages = documentFiles(root).filter((file) => file.startsWith("docs/") && file !== "docs/README.md")
    assert.isAtLeast(pages.length, 20)
    assert.deepStrictEqual(pages.filter((page) => !linked.has(page)), [], "pages docs/README.md does not link")
  })
})

describe("scripts/check-links.mjs", () => {
  it("passes on this repository's Markdown", () => {
    const result = script("check-links.mjs", root)
    assert.strictEqual(result.status, 0, result.stderr)
  })

  it("reports missing files and missing anchors, and accepts GitHub's anchors for headings with code and punctuation", () => {
    const dir = project({
      "README.md": [
        "# Project",
        "See [the guide](docs/guide.md#set-up-graphent-dev), [again](docs/guide.md#set-up-graphent-dev-1),",
        "[a typo](docs/guide.md#setup), [gone](docs/gone.md), [here](#project) and [the web](https://example.com/x).",
        "```md",
        "[inside code](docs/not-checked.md)",
        "```"
      ].join("\n"),
      "docs/guide.md": "# Guide\n## Set up `graphent dev`!\n## Set up `graphent dev`!\n"
    })
    const result = script("check-links.mjs", dir)
    assert.strictEqual(result.status, 1)
    assert.include(result.stderr, "2 broken link(s)")
    assert.include(result.stderr, "README.md:3: docs/guide.md#setup — no heading with anchor #setup")
    assert.include(result.stderr, "README.md:3: docs/gone.md — no such file")
  })
})

describe("scripts/check-doc-blocks.mjs", () => {
  it("writes each TypeScript block as a module for tsc, with its prelude, skipping fragments", () => {
    const dir = project({
      "README.md": [
        "```ts",
        "const a: number = 1",
        "```",
        "<!-- docs:prelude",
        "import { helper } from \"../lib/helper.js\"",
        "-->",
        "```ts",
        "helper()",
        "```",
        "<!-- docs:fragment -->",
        "```ts",
        "not: compiled",
        "```",
        "<!-- docs:same-as lib/helper.ts -->",
        "```ts",
        "export const helper = () => 1",
        "```",
        "```sh",
        "echo not typescript",
        "```"
      ].join("\n"),
      "docs/guide.md": "```typescript\nconst b = 2\n```\n",
      "lib/helper.ts": "export const helper = () => 1\n"
    })
    const result = script("check-doc-blocks.mjs", dir)
    assert.strictEqual(result.status, 0, result.stderr)
    assert.include(result.stdout, "3 TypeScript blocks written to test/doc-blocks for tsc, 1 checked verbatim against their files, 1 marked as fragments")
    // A block that no longer matches its file fails the check, naming both.
    fs.writeFileSync(path.join(dir, "lib/helper.ts"), "export const helper = () => 2\n")
    const stale = script("check-doc-blocks.mjs", dir)
    assert.strictEqual(stale.status, 1)
    assert.include(stale.stderr, "README.md:15: the block is not lib/helper.ts verbatim")
    const written = (name: string) => fs.readFileSync(path.join(dir, "test/doc-blocks", name), "utf8")
    assert.strictEqual(written("README_md_L1.ts"), "// README.md:1\n\nconst a: number = 1\nexport {}\n")
    // Relative imports are as from a test in test/: one more level up from test/doc-blocks.
    assert.strictEqual(written("README_md_L7.ts"), "// README.md:7\nimport { helper } from \"../../lib/helper.js\"\nhelper()\nexport {}\n")
    assert.strictEqual(written("docs_guide_md_L1.ts"), "// docs/guide.md:1\n\nconst b = 2\nexport {}\n")
  })
})

describe("commands shown in the docs", () => {
  // Each command's flags as docs/cli.md (checked above against the CLI itself) lists them, by command path.
  const reference = committed("docs/cli.md")
  const flagsByCommand = new Map<string, Set<string>>()
  for (const match of reference.matchAll(/^#+ `graphent ?([^`]*)`\n\n```text\n([\s\S]*?)```/gm)) {
    const flags = new Set<string>()
    for (const flag of match[2]!.matchAll(/^ {2}((?:--?[\w-]+(?:, )?)+)/gm)) {
      for (const name of flag[1]!.split(", ")) flags.add(name)
    }
    flagsByCommand.set(match[1]!, flags)
  }
  const globalFlags = flagsByCommand.get("")!

  /** Every `graphent …` command line in the shell blocks of README.md, docs/ and the reference apps' READMEs. */
  const apps = fs.readdirSync(path.join(root, "examples/apps")).map((app) => `examples/apps/${app}/README.md`)
  const commands = shownCommands(root, [...documentFiles(root), ...apps.filter((file) => fs.existsSync(path.join(root, file)))])
    .filter((command) => command.program === "graphent")

  it("name commands and flags the CLI has (the class: every `graphent …` line of every shell block)", () => {
    assert.isAtLeast(commands.length, 20)
    const wrong: Array<string> = []
    for (const { where, words } of commands) {
      // The longest command path the reference knows: `eval dataset add`, `trace list`, `run`.
      const lengths = [3, 2, 1].filter((n) => flagsByCommand.has(words.slice(0, n).join(" ")))
      const commandPath = words.slice(0, lengths[0] ?? 1).join(" ")
      const flags = flagsByCommand.get(commandPath)
      if (flags === undefined) {
        wrong.push(`${where}: no command "graphent ${commandPath}"`)
        continue
      }
      for (const word of words) {
        const flag = /^(--?[a-z][\w-]*)/.exec(word.replace(/^[[(|]+/, ""))?.[1]
        if (flag !== undefined && !flags.has(flag) && !globalFlags.has(flag)) wrong.push(`${where}: "graphent ${commandPath}" has no flag ${flag}`)
      }
    }
    assert.deepStrictEqual(wrong, [])
  })
})
