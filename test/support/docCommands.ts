/**
 * The `graphent …` commands the Markdown docs show, as test/docs.test.ts checks them (real commands and flags) and
 * test/docsCommands.test.ts runs them. A command is a line of a shell block (```sh, ```bash, ```console or an
 * unlabelled fence) that calls `graphent` or `npx graphent`, after an optional `$ ` prompt and `NAME=value`
 * environment assignments; a line ending in `\` continues on the next. A trailing `# … exit N …` comment states the
 * exit code the docs promise (0 otherwise). A `cd DIR` line of such a block is kept too: the commands after it run
 * in that folder.
 *
 * A block the test must not run carries, in an HTML comment right before its opening fence, the reason:
 * `<!-- docs:needs live-service: PostgreSQL -->`, `<!-- docs:needs long-running: a server -->`,
 * `<!-- docs:needs synopsis -->` (a grammar, not a command). Its commands are still checked for names and flags.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** One command line shown in a shell block. */
export interface ShownCommand {
  /** `graphent`, or `cd` (`words` is then the folder). */
  readonly program: "graphent" | "cd"
  /** `file:line` of the command's first line. */
  readonly where: string
  /** The words after `graphent`, unquoted as a shell would. */
  readonly words: ReadonlyArray<string>
  /** `NAME=value` assignments written before it. */
  readonly env: Readonly<Record<string, string>>
  /** The exit code its comment states (`# exit 3: paused`), or 0. */
  readonly exitCode: number
  /** Why it is not run (the block's `docs:needs` reason), or undefined when the test runs it. */
  readonly needs: string | undefined
}

/** The Markdown files whose commands are shown to users: README.md and docs/ (with its sub-folders), sorted. */
export const documentFiles = (root: string): Array<string> => {
  const walk = (dir: string): Array<string> =>
    fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(`${dir}/${entry.name}`) : entry.name.endsWith(".md") ? [`${dir}/${entry.name}`] : []
    )
  return ["README.md", ...walk("docs").sort()]
}

/** Splits a command line into words as a POSIX shell would: quotes and backslashes, no expansion. */
export const shellWords = (line: string): Array<string> => {
  const words: Array<string> = []
  let word = ""
  let started = false
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!
    if (quote !== undefined) {
      if (char === quote) quote = undefined
      else if (char === "\\" && quote === "\"" && i + 1 < line.length) word += line[++i]
      else word += char
    } else if (char === "'" || char === "\"") {
      quote = char
      started = true
    } else if (char === "\\" && i + 1 < line.length) {
      word += line[++i]
      started = true
    } else if (/\s/.test(char)) {
      if (started) words.push(word)
      word = ""
      started = false
    } else {
      word += char
      started = true
    }
  }
  if (started) words.push(word)
  return words
}

const command = /(?:^|\s|\$ )((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)(?:npx )?graphent (.*)$/

/** The commands of one Markdown text, `file` naming it in `where`. */
export const commandsIn = (file: string, markdown: string): Array<ShownCommand> => {
  const found: Array<ShownCommand> = []
  const lines = markdown.split("\n")
  let inBlock = false
  let fenced = false
  let needs: string | undefined
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!
    if (/^```/.test(line)) {
      fenced = !inBlock && /^```(sh|bash|console)?\s*$/.test(line)
      needs = fenced ? /<!--\s*docs:needs\s+(.*?)\s*-->/.exec(lines[index - 1] ?? "")?.[1] : undefined
      inBlock = !inBlock
      continue
    }
    if (!fenced || /\bnpm (i|install)\b/.test(line)) continue
    const start = index
    let full = line
    while (/\\\s*$/.test(full) && index + 1 < lines.length) full = full.replace(/\\\s*$/, " ") + lines[++index]!
    const comment = /\s#\s(.*)$/.exec(full)?.[1] ?? ""
    const cd = /^\s*(?:\$ )?cd (\S+)\s*$/.exec(full)
    if (cd !== null) found.push({ program: "cd", where: `${file}:${start + 1}`, words: [cd[1]!], env: {}, exitCode: 0, needs })
    const match = command.exec(full.replace(/\s+#\s.*$/, ""))
    if (match === null) continue
    const env = Object.fromEntries(shellWords(match[1]!).map((word) => [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]))
    const exitCode = Number(/\bexit (\d+)\b/.exec(comment)?.[1] ?? 0)
    found.push({ program: "graphent", where: `${file}:${start + 1}`, words: shellWords(match[2]!), env, exitCode, needs })
  }
  return found
}

/** Every command of README.md and docs/, in document order. */
export const shownCommands = (root: string, files: ReadonlyArray<string> = documentFiles(root)): Array<ShownCommand> =>
  files.flatMap((file) => commandsIn(file, fs.readFileSync(path.join(root, file), "utf8")))
