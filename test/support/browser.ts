/**
 * A headless Chromium for the browser tests, found on this machine, in this order:
 *
 * 1. `GRAPHENT_CHROMIUM`: a Chromium executable you name (it must work).
 * 2. `@sparticuz/chromium`, a devDependency that ships the binary inside its npm tarball (no download at run
 *    time): `npm ci` brings it; it is unpacked once into the temp folder.
 * 3. `/usr/bin/chromium` (Debian's package, `apt-get install chromium`), `/usr/bin/chromium-browser`.
 * 4. Playwright's browser cache (`~/.cache/ms-playwright`, or `PLAYWRIGHT_BROWSERS_PATH`).
 *
 * A candidate counts when `<executable> --version` runs: a binary whose shared libraries are missing is
 * passed over, with the reason kept for the notice. With `GRAPHENT_REQUIRE_BROWSER=1` (set by .ci/run) the
 * browser is mandatory: finding none fails the test instead of skipping it.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/** A browser that runs, and where it was found. */
export interface Browser {
  readonly executablePath: string
  readonly source: string
  /** Extra command-line switches this build needs. */
  readonly args: ReadonlyArray<string>
}

/** The outcome of the search: a browser, or why there is none (one line each). */
export type Found =
  | { readonly _tag: "Found"; readonly browser: Browser }
  | { readonly _tag: "Missing"; readonly reasons: ReadonlyArray<string> }

/** Whether the tests must have a browser (`GRAPHENT_REQUIRE_BROWSER=1`, as in CI). */
export const browserRequired = (): boolean => process.env.GRAPHENT_REQUIRE_BROWSER === "1"

/** How to get a browser, for the skip notice and the failure. */
export const howToEnable =
  "run `npm ci` (it installs @sparticuz/chromium), `apt-get install chromium`, or set GRAPHENT_CHROMIUM=/path/to/chromium"

const runs = (executable: string): string | undefined => {
  if (!fs.existsSync(executable)) return `${executable}: no such file`
  const probe = spawnSync(executable, ["--headless", "--no-sandbox", "--version"], { encoding: "utf8", timeout: 30_000 })
  if (probe.status === 0) return undefined
  const why = (probe.error?.message ?? probe.stderr ?? "").trim().split("\n")[0]
  return `${executable}: does not start (${why || `exit ${probe.status}`})`
}

const playwrightCache = (): ReadonlyArray<string> => {
  const cache = process.env.PLAYWRIGHT_BROWSERS_PATH ?? path.join(os.homedir(), ".cache", "ms-playwright")
  if (!fs.existsSync(cache)) return []
  return fs.readdirSync(cache).sort().reverse().flatMap((entry) =>
    [
      path.join(cache, entry, "chrome-linux64", "chrome"),
      path.join(cache, entry, "chrome-linux", "chrome"),
      path.join(cache, entry, "chrome-headless-shell-linux64", "chrome-headless-shell"),
      path.join(cache, entry, "chrome-linux", "headless_shell")
    ].filter((file) => fs.existsSync(file))
  )
}

/** The registry package's binary, unpacked on first use; `undefined` when the package is not installed. */
const sparticuz = async (): Promise<{ readonly path: string; readonly args: ReadonlyArray<string> } | string> => {
  try {
    const { default: Chromium } = await import("@sparticuz/chromium")
    Chromium.setGraphicsMode = false
    // Its other switches are for serverless sandboxes (single process, no zygote); playwright-core adds the rest.
    return { path: await Chromium.executablePath(), args: [] }
  } catch (error) {
    return `@sparticuz/chromium: ${(error as Error).message.split("\n")[0]}`
  }
}

/** Finds a Chromium that runs here (see the module's comment for the order). */
export const findChromium = async (): Promise<Found> => {
  const reasons: Array<string> = []
  const named = process.env.GRAPHENT_CHROMIUM
  if (named !== undefined && named !== "") {
    const problem = runs(named)
    return problem === undefined
      ? { _tag: "Found", browser: { executablePath: named, source: "GRAPHENT_CHROMIUM", args: [] } }
      : { _tag: "Missing", reasons: [`GRAPHENT_CHROMIUM=${problem}`] }
  }
  const packaged = await sparticuz()
  if (typeof packaged === "string") reasons.push(packaged)
  else {
    const problem = runs(packaged.path)
    if (problem === undefined) {
      return { _tag: "Found", browser: { executablePath: packaged.path, source: "@sparticuz/chromium", args: packaged.args } }
    }
    reasons.push(`@sparticuz/chromium: ${problem}`)
  }
  for (const candidate of ["/usr/bin/chromium", "/usr/bin/chromium-browser", ...playwrightCache()]) {
    const problem = runs(candidate)
    if (problem === undefined) return { _tag: "Found", browser: { executablePath: candidate, source: candidate, args: [] } }
    reasons.push(problem)
  }
  return { _tag: "Missing", reasons }
}
