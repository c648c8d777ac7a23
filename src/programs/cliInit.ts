/**
 * `graphent init <dir> [--template …]`: writes a project that installs and
 * passes its own tests at once — `package.json` (graphent, and `effect` as the
 * project's own dependency), `tsconfig.json`, an agent and its tool, tests on
 * Graphent's test layers (a scripted model, a committed golden journal
 * replayed), `.gitignore` and a README with the commands.
 *
 * The templates are the folders of `templates/` in this package (shared files
 * in `templates/common/`); their golden journals are recordings of their own
 * agents (`scripts/record-templates.sh`).
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Effect from "effect/Effect"
import { version } from "../version.js"
import { usageError, writeLine } from "./cliSupport.js"

/**
 * The templates, with what each one makes and the example command its README shows.
 *
 * @since 0.1.0
 * @category models
 */
export const templates: Record<"minimal" | "tools" | "llm" | "db", {
  readonly summary: string
  readonly example: string
  /** Packages the template's code imports besides graphent and effect (at graphent's own versions). */
  readonly dependencies: ReadonlyArray<string>
  /** What its README says beyond the common part. */
  readonly notes?: string | undefined
}> = {
  minimal: {
    summary: "one agent with one tool, on a rule-based planner",
    example: "npx graphent run src/agent.ts --input Ada",
    dependencies: []
  },
  tools: {
    summary: "an agent with a shell tool and an HTTP tool under a policy file (policy.json)",
    example: "GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=me npx graphent run src/agent.ts --input \"count test/fixtures/poem.txt\"",
    dependencies: ["@effect/platform-node"]
  },
  llm: {
    summary: "an assistant planned by a language model: a scripted model offline, live with GRAPHENT_MODEL",
    example: "npx graphent run src/agent.ts --input \"what is (2 + 3) * 4?\"",
    dependencies: []
  },
  db: {
    summary: "an agent whose notes are memory on PostgreSQL with pgvector (embedded PGlite when GRAPHENT_DATABASE_URL is not set)",
    example: "npx graphent run src/agent.ts --input \"remember the deploy key is in the vault; recall where is the deploy key?\"",
    dependencies: [],
    notes: `The notes outlive the run: \`npx graphent run src/agent.ts --input "recall where is the deploy key?"\` finds them later.
With no \`GRAPHENT_DATABASE_URL\` they are kept in the embedded PostgreSQL (PGlite, with pgvector) under \`.graphent/\`;
with \`GRAPHENT_DATABASE_URL=postgres://user@host:5432/db\` in that server (memory and journals; pgvector when the
server has it), and \`npm test\` then runs its memory test there too (tables \`notes_test_…\`).
`
  }
}

type TemplateName = keyof typeof templates
const templateNames = Object.keys(templates) as Array<TemplateName>

/** The first of `candidates` (relative to this module, in a checkout or in dist/) that exists. */
const packageFile = (candidates: ReadonlyArray<string>): string | undefined =>
  candidates.map((candidate) => fileURLToPath(new URL(candidate, import.meta.url))).find((file) => fs.existsSync(file))

/** The versions this package was built and tested with: the generated project asks for the same. */
const ownVersions = (): Readonly<Record<string, string>> => {
  const file = packageFile(["../../package.json", "../package.json"])
  if (file === undefined) return {}
  const manifest = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, Record<string, string> | undefined>
  return { ...manifest.devDependencies, ...manifest.dependencies, ...manifest.peerDependencies }
}

const projectManifest = (name: string, template: TemplateName) => {
  const versions = ownVersions()
  const pick = (dependency: string, fallback: string) => versions[dependency] ?? fallback
  return {
    name,
    version: "0.1.0",
    private: true,
    // Graphent is ES modules only; agent files are loaded with `import`.
    type: "module",
    scripts: { test: "tsc --noEmit && vitest run", typecheck: "tsc --noEmit" },
    dependencies: {
      ...Object.fromEntries(templates[template].dependencies.map((dependency) => [dependency, pick(dependency, "*")])),
      effect: pick("effect", "^4.1.0"),
      graphent: `^${version}`
    },
    devDependencies: {
      "@effect/vitest": pick("@effect/vitest", "^4.0.5"),
      "@types/node": pick("@types/node", "^24.0.0"),
      typescript: pick("typescript", "^5.9.3"),
      vitest: pick("vitest", "^5.1.2")
    }
  }
}

const readme = (name: string, template: TemplateName) =>
  `# ${name}

An agent project made with \`graphent init --template ${template}\`: ${templates[template].summary}.

\`\`\`sh
npm install
npm test
\`\`\`

\`npm test\` typechecks, runs the agent on Graphent's test layers, and replays the golden journal
\`test/fixtures/agent.jsonl\` (a recorded run: no side effects, no network).

Run it:

\`\`\`sh
${templates[template].example}
\`\`\`
${templates[template].notes === undefined ? "" : `\n${templates[template].notes}`}
- \`src/agent.ts\` — the agent (its default export); \`src/tools.ts\` — its tools.
- \`npx graphent run src/agent.ts --input … --record test/fixtures/agent.jsonl\` records a new golden journal;
  \`npx graphent replay test/fixtures/agent.jsonl --update\` re-records it after an intended change.
- \`npx graphent dev --agents src/agent.ts\` serves the HTTP API and the trace viewer.
- Runs and memory are kept in \`.graphent/\` (git-ignored); \`npx graphent trace list --db\` lists them.
`

/** Copies the files of `from` into `to`, `gitignore` as `.gitignore` (npm does not pack a `.gitignore`). */
const copyTree = (from: string, to: string) => {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name)
    const target = path.join(to, entry.name === "gitignore" ? ".gitignore" : entry.name)
    if (entry.isDirectory()) {
      fs.mkdirSync(target, { recursive: true })
      copyTree(source, target)
    } else {
      fs.copyFileSync(source, target)
    }
  }
}

/**
 * `graphent init <dir> [--template minimal|tools|llm|db] [--force]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const init = Command.make(
  "init",
  {
    dir: Argument.String("dir").pipe(Argument.withDescription("The folder of the new project (created if missing)")),
    template: Flag.Literals("template", templateNames).pipe(
      Flag.withDescription(templateNames.map((name) => `${name}: ${templates[name].summary}`).join("; ")),
      Flag.withDefault("minimal" as TemplateName)
    ),
    force: Flag.Boolean("force").pipe(
      Flag.withDescription("Write into a folder that is not empty (files of the template are replaced)"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("graphent.cli.init")(function*({ dir, force, template }) {
    const root = packageFile(["../../templates/", "../templates/"])
    if (root === undefined) return yield* usageError("this copy of graphent has no templates/ folder")
    const target = path.resolve(dir)
    if (fs.existsSync(target)) {
      if (!fs.statSync(target).isDirectory()) return yield* usageError(`${dir} exists and is not a folder`)
      if (fs.readdirSync(target).length > 0 && !force) {
        return yield* usageError(`${dir} is not empty: choose a new folder, or pass --force to write into it`)
      }
    }
    const name = path.basename(target).toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[._-]+/, "") || "agent"
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(target, { recursive: true })
        copyTree(path.join(root, "common"), target)
        copyTree(path.join(root, template), target)
        fs.writeFileSync(path.join(target, "package.json"), JSON.stringify(projectManifest(name, template), null, 2) + "\n")
        fs.writeFileSync(path.join(target, "README.md"), readme(name, template))
      },
      catch: (error) => usageError(`cannot write ${dir}: ${(error as Error).message}`)
    })
    yield* writeLine(`created ${dir} (template ${template}): ${templates[template].summary}`)
    yield* writeLine(`next:\n  cd ${dir}\n  npm install\n  npm test\n  ${templates[template].example}`)
  })
).pipe(
  Command.withDescription(
    `Create an agent project that installs and passes its tests at once; templates: ${templateNames.join(", ")}`
  ),
  Command.withExamples([
    { command: "graphent init my-agent", description: "One agent with one tool" },
    { command: "graphent init my-assistant --template llm", description: "An LLM-planned assistant" },
    { command: "graphent init my-notes --template db", description: "Memory on PostgreSQL/pgvector (embedded without a URL)" }
  ])
)
