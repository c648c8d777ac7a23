/**
 * The trace viewer in a real browser: a headless Chromium (test/support/browser.ts:
 * GRAPHENT_CHROMIUM, the @sparticuz/chromium devDependency, Debian's package, Playwright's
 * cache) driven by playwright-core. Loads the viewer, starts a run through the API, watches
 * its steps appear live, opens a step, downloads the journal, and saves a screenshot to
 * test-artifacts/viewer.png. With no browser on the machine it is skipped with a notice,
 * unless GRAPHENT_REQUIRE_BROWSER=1 (CI), where that is a failure.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer, ManagedRuntime } from "effect"
import { HttpServer } from "effect/http"
import { AuditMemory, JournalFile, Policy, Pricing, Replay, RunsLocal, ToolGuard } from "graphent"
import { Eval, Experiments, ExperimentsFolder } from "graphent/eval"
import { ApiAuth, Server } from "graphent/server"
import * as Testing from "graphent/testing"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import assistant, { layer as assistantModel } from "../../examples/assistant.js"
import echo from "../../examples/echo.js"
import research, { layer as researchModel } from "../../examples/research.js"
import wordstats from "../../examples/wordstats.js"
import { browserRequired, findChromium, howToEnable } from "../support/browser.js"
import * as Gated from "../support/gatedAgent.js"

const root = path.resolve(import.meta.dirname, "../..")
const artifacts = path.join(root, "test-artifacts")
const found = await findChromium()
const browser = found._tag === "Found" ? found.browser : undefined
if (found._tag === "Missing" && !browserRequired()) {
  process.stderr.write(`viewer.test.ts: skipped, no headless Chromium here: ${howToEnable}\n`)
}

// Tool calls are checked: the assistant's calculator waits for approval (which the runner may give itself here).
const guarded = ToolGuard.layer().pipe(Layer.provideMerge(Layer.mergeAll(
  Policy.layer({
    version: 1,
    selfApproval: true,
    roles: { runner: { allow: ["tool:**", "memory:**", "model:**", "approval:*"], approve: ["tool:calculator"] } }
  }),
  AuditMemory.layer()
)))

const experiments = ExperimentsFolder.make(fs.mkdtempSync(path.join(os.tmpdir(), "graphent-experiments-")))

const server = ManagedRuntime.make(
  Server.layer({ viewer: true }).pipe(
    Layer.provide(Layer.succeed(Experiments.Experiments, experiments)),
    Layer.provide(RunsLocal.layer({
      agents: [echo, Gated.gated, wordstats, { agent: assistant, layer: assistantModel }, { agent: research, layer: researchModel }]
    })),
    Layer.provide(Layer.unwrap(Effect.map(Effect.orDie(ApiAuth.parse("viewer-test-key:runner:tester", "test")), ApiAuth.layer))),
    Layer.provide(Layer.mergeAll(guarded, Pricing.layer({ scripted: { input: 3, output: 15 } }))),
    Layer.provide(Testing.layer)
  )
)

let baseUrl = ""
let context: BrowserContext
let page: Page
let userDataDir = ""
const requests: Array<string> = []
const problems: Array<string> = []

beforeAll(async () => {
  if (browser === undefined) return
  baseUrl = await server.runPromise(Effect.map(HttpServer.HttpServer, (s) => HttpServer.formatAddress(s.address)))
  userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-chromium-"))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: browser.executablePath,
    headless: true,
    acceptDownloads: true,
    viewport: { width: 1400, height: 820 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...browser.args
    ]
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.on("request", (request) => requests.push(request.url()))
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("console", (message) => {
    // A 401 before the key is entered is expected; anything else logged as an error is a problem.
    if (message.type() === "error" && !message.text().includes("401")) problems.push(`console: ${message.text()}`)
  })
}, 60_000)

afterAll(async () => {
  await context?.close()
  await server.dispose()
  if (userDataDir !== "") fs.rmSync(userDataDir, { recursive: true, force: true })
})

const startRun = async (agent: string, input: string): Promise<string> => {
  const response = await fetch(`${baseUrl}/v1/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer viewer-test-key" },
    body: JSON.stringify({ agent, input })
  })
  assert.strictEqual(response.status, 202)
  return ((await response.json()) as { id: string }).id
}

const span = (key: string) => page.locator(`#timeline .span[data-key="${key}"]`)

describe("a browser for the viewer test", () => {
  // In CI (GRAPHENT_REQUIRE_BROWSER=1) a missing browser fails here instead of skipping the viewer test.
  it.runIf(browserRequired())("is found, as GRAPHENT_REQUIRE_BROWSER=1 demands", () => {
    assert.strictEqual(found._tag, "Found", found._tag === "Missing" ? `${howToEnable}; ${found.reasons.join("; ")}` : "")
  })
})

describe.skipIf(browser === undefined)("trace viewer in Chromium", () => {
  it("asks for the API key, shows a run's steps live, opens a step, downloads the journal", async () => {
    await page.goto(baseUrl + "/")
    // The server wants a key: the viewer asks for it.
    await page.locator("#key-form").waitFor({ state: "visible" })
    await page.fill("#key-input", "viewer-test-key")
    await page.click("#key-form button")
    await page.locator("#start-agent option[value=gated]").waitFor({ state: "attached" })

    // A run started through the API appears in the list (refreshed every second).
    const runId = await startRun("gated", "first-gate,second-gate")
    await page.locator(`#runs li[data-run="${runId}"]`).click()
    await span("step:first-gate").waitFor()
    assert.strictEqual(await span("step:first-gate").getAttribute("data-state"), "running")
    assert.strictEqual(await span("run").getAttribute("data-state"), "running")
    assert.include(await page.locator("#run-head").innerText(), "running")

    // The run moves on: the viewer follows it live over server-sent events.
    await Effect.runPromise(Gated.open("first-gate"))
    await page.locator(`#timeline .span[data-key="step:first-gate"][data-state="ok"]`).waitFor()
    await page.locator(`#timeline .span[data-key="step:second-gate"][data-state="running"]`).waitFor()
    assert.deepStrictEqual(
      await page.locator("#timeline .span").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-key"))),
      ["run", "turn:1", "step:first-gate", "turn:2", "step:second-gate"]
    )

    // Open a step: its arguments and result.
    await span("step:first-gate").click()
    await page.locator("#detail-pane").waitFor({ state: "visible" })
    const detail = await page.locator("#detail").innerText()
    assert.include(detail, "tool")
    assert.include(detail, "wait")
    assert.include(detail, `"gate": "first-gate"`)
    assert.include(detail, `"passed first-gate"`)

    await Effect.runPromise(Gated.open("second-gate"))
    await page.locator(`#timeline .span[data-key="run"][data-state="ok"]`).waitFor()
    await page.locator("[data-testid=answer]").waitFor()
    assert.strictEqual(await page.locator("[data-testid=answer]").innerText(), "passed first-gate,second-gate")
    assert.strictEqual(await page.locator(`#runs li[data-run="${runId}"] .status`).innerText(), "completed")

    // The journal, downloaded from the page, replays.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")])
    assert.strictEqual(download.suggestedFilename(), `run-${runId}.jsonl`)
    const saved = path.join(userDataDir, "download.jsonl")
    await download.saveAs(saved)
    const contents = await Effect.runPromise(JournalFile.readFile(saved))
    assert.strictEqual(contents.events.length, 9)
    assert.strictEqual(contents.events[0]!._tag, "RunStarted")
    const report = await Effect.runPromise(Replay.replay(Gated.gated, contents.events).pipe(Effect.provide(Testing.layer)))
    assert.strictEqual(report.identical, 9)

    fs.mkdirSync(artifacts, { recursive: true })
    await page.screenshot({ path: path.join(artifacts, "viewer.png") })
    assert.isTrue(fs.statSync(path.join(artifacts, "viewer.png")).size > 10_000)
  })

  it("starts a run from its own form and shows concurrent steps", async () => {
    await page.selectOption("#start-agent", "wordstats")
    await page.fill("#start-input", "the quick brown fox jumps over the lazy dog")
    await page.click("#start-form button")
    await page.locator("#run-head h2", { hasText: "wordstats" }).waitFor()
    await page.locator(`#timeline .span[data-key="step:summary"][data-state="ok"]`).waitFor()
    const keys = await page.locator("#timeline .span").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-key")))
    assert.includeMembers(keys, ["step:words", "step:longest", "step:distinct", "step:summary"])
    assert.strictEqual(
      await page.locator("[data-testid=answer]").innerText(),
      `9 words (8 distinct); the longest is "quick".`
    )
    await page.screenshot({ path: path.join(artifacts, "viewer-wordstats.png") })
  })

  it("shows model calls with tokens and cost; a step waits for approval and is approved from the page", async () => {
    await page.selectOption("#start-agent", "assistant")
    await page.fill("#start-input", "what is (2 + 3) * 4?")
    await page.click("#start-form button")
    // The model asked for the calculator, which the policy sends for approval: the run pauses.
    await page.locator("[data-testid=approval]").waitFor()
    assert.include(await page.locator("[data-testid=approval]").innerText(), "waits for approval: tool:calculator, for tester")
    assert.include(await page.locator("#run-head").innerText(), "paused")
    const model = page.locator(`#timeline .span[data-key="model:1"]`)
    assert.match(await model.innerText(), /model scripted\s+\d+→\d+ tok · \$0\.000\d+/)
    await model.click()
    const detail = await page.locator("#detail").innerText()
    assert.include(detail, "tokens")
    assert.include(detail, "tool calls")
    assert.include(detail, "calculator")

    await page.fill("[data-testid=approval] input", "arithmetic is fine")
    await page.click("[data-testid=approval] button:text('Approve')")
    await page.locator(`#timeline .span[data-key="run"][data-state="ok"]`).waitFor()
    assert.include(await page.locator("[data-testid=answer]").innerText(), "20")
    await page.locator(`#timeline .span[data-key="model:2"]`).waitFor()
    const keys = await page.locator("#timeline .span").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-key")))
    assert.includeMembers(keys, ["run", "turn:1", "model:1", "turn:2", "model:2"])
    // The approval events are shown as they are (generic rows).
    const labels = await page.locator("#timeline .span .label").allInnerTexts()
    assert.isTrue(labels.some((label) => label.includes("ApprovalRequested")))
    assert.isTrue(labels.some((label) => label.includes("ApprovalDecided")))
    assert.include(await page.locator("#run-head").innerText(), "cost")
    await page.screenshot({ path: path.join(artifacts, "viewer-model.png") })
  })

  it("forks a finished run from a step with an edited result, and shows the fork's lineage", async () => {
    const runId = await startRun("wordstats", "one two three")
    await page.locator(`#runs li[data-run="${runId}"]`).click()
    await page.locator(`#timeline .span[data-key="run"][data-state="ok"]`).waitFor()
    await span("step:longest").click()
    const fork = page.locator("#detail [data-testid=fork]")
    await fork.waitFor()
    assert.strictEqual(await fork.locator("textarea").inputValue(), `"three"`)
    // Not JSON: the error is shown, nothing is forked.
    await fork.locator("textarea").fill("{oops")
    await fork.locator("[data-action=fork-edit]").click()
    await fork.locator(".error", { hasText: "JSON" }).waitFor()
    await fork.locator("textarea").fill(`"EDITED"`)
    await fork.locator("[data-action=fork-edit]").click()
    await page.locator("[data-testid=lineage]", { hasText: `forked from ${runId} at step:longest` }).waitFor()
    await page.locator("[data-testid=answer]", { hasText: `the longest is "EDITED"` }).waitFor()
    // The lineage links back to the parent.
    await page.locator("[data-testid=lineage] a").click()
    await page.locator(`#run-head .facts`, { hasText: runId }).waitFor()
    // The parent has no lineage (waited for: the header of the fork may still be on the page for a moment).
    await page.locator("[data-testid=lineage]").waitFor({ state: "detached" })
  })

  it("forks a model call with the message it answers edited: the model answers the edit", async () => {
    const runId = await startRun("assistant", "my name is Ada")
    await page.locator(`#runs li[data-run="${runId}"]`).click()
    await page.locator(`#timeline .span[data-key="run"][data-state="ok"]`).waitFor()
    await span("model:1").click()
    const fork = page.locator("#detail [data-testid=fork]")
    await fork.waitFor()
    // The form starts on the message the call answered; the reply is the other choice.
    assert.strictEqual(await fork.locator("textarea").inputValue(), "my name is Ada")
    await fork.locator("[data-action=fork-what]").selectOption("SetReply")
    assert.strictEqual(await fork.locator("textarea").inputValue(), "Nice to meet you, Ada.")
    await fork.locator("[data-action=fork-what]").selectOption("EditMessage")
    await fork.locator("textarea").fill("my name is Bob")
    await fork.locator("[data-action=fork-edit]").click()
    await page.locator("[data-testid=lineage]", { hasText: `forked from ${runId} at turn:1` }).waitFor()
    await page.locator("[data-testid=answer]", { hasText: "Nice to meet you, Bob." }).waitFor()
  })

  it("badges a run in the list with the number of its child runs; a run without any has no badge", async () => {
    const parentId = await startRun("coordinator", "effect")
    const aloneId = await startRun("echo", "no children")
    const badge = (runId: string) => page.locator(`#runs li[data-run="${runId}"] .children`)
    await page.locator(`#runs li[data-run="${parentId}"] .status`, { hasText: "completed" }).waitFor()
    await badge(parentId).waitFor()
    assert.strictEqual(await badge(parentId).innerText(), "2 child runs")
    await page.locator(`#runs li[data-run="${aloneId}"] .status`, { hasText: "completed" }).waitFor()
    assert.strictEqual(await badge(aloneId).count(), 0)
    // The child runs themselves are not listed: they are under their parent's steps.
    assert.strictEqual(await page.locator(`#runs li[data-run^="${parentId}/"]`).count(), 0)
    await page.locator(`#runs li[data-run="${parentId}"]`).screenshot({ path: path.join(artifacts, "viewer-children.png") })
  })

  it("lists the kept experiments and shows one: totals, the baseline comparison, each case linked to its run", async () => {
    const runId = await startRun("echo", "hello")
    const caseOf = (id: string, pass: boolean, value: number): Eval.CaseReport => ({
      id, input: `input of ${id}`, tags: [], pass, runId: id === "echoed" ? runId : "", scores: { exact: { value, pass } },
      cost: 0.25, spent: 0, inputTokens: 10, outputTokens: 5, liveModelCalls: 0, recordedModelCalls: 1, latencyMs: 120, judges: []
    })
    const common = { agent: "echo", scorers: ["exact"], startedAt: Date.now(), durationMs: 900 }
    const baseline = Eval.report({ ...common, cases: [caseOf("echoed", true, 1), caseOf("regressed", true, 1)] })
    const report = Eval.report({ ...common, cases: [caseOf("echoed", true, 1), caseOf("regressed", false, 0)], baseline })
    const id = await Effect.runPromise(experiments.save(report))
    await page.locator("#tab-evals").click()
    await page.locator(`#evals li[data-eval="${id}"]`, { hasText: "1/2 passed · vs baseline" }).click()
    await page.locator("#experiment dd", { hasText: "2: 1 passed, 1 failed (50.0%)" }).waitFor()
    await page.locator("[data-testid=comparison] dd", { hasText: "regressed (pass 1.00 → fail 0.00)" }).waitFor()
    assert.strictEqual(await page.locator(`#experiment tr[data-case="regressed"] td`).nth(1).textContent(), "FAIL")
    assert.include(await page.locator(`#experiment tr[data-case="echoed"]`).textContent(), "$0.25")
    await page.locator(`#experiment [data-run-link="${runId}"]`).click()
    await page.locator(`#run-head .facts`, { hasText: runId }).waitFor()
    assert.isTrue(await page.locator("#experiment").isHidden())
  })

  it("loads nothing from outside the server and logs no errors", () => {
    assert.isAbove(requests.length, 5)
    assert.deepStrictEqual(requests.filter((url) => !url.startsWith(baseUrl)), [])
    assert.deepStrictEqual(problems, [])
  })
})
