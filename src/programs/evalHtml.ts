/**
 * An experiment's report as one self-contained HTML page (`graphent eval run
 * --html`): the totals, the comparison with the baseline, a chart of each
 * case's mean score and cost (inline SVG, no script, no network), and a table
 * of the cases.
 *
 * @since 0.3.0
 */
import * as Eval from "../services/Eval.js"

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[char]!)

const figure = (value: number, digits = 3) => Number.isInteger(value) ? String(value) : value.toFixed(digits)
const signed = (value: number, digits = 3) => (value > 0 ? "+" : "") + figure(value, digits)

/** One bar pair per case: the mean score (green: passed, red: failed) above, the cost (share of the highest) below. */
const chart = (report: Eval.Report): string => {
  const cases = report.cases
  const barWidth = 14
  const gap = 6
  const height = 120
  const width = Math.max(200, cases.length * (barWidth + gap) + 60)
  const maxCost = Math.max(0, ...cases.map((item) => item.cost))
  const bars = cases.map((item, index) => {
    const x = 50 + index * (barWidth + gap)
    const score = Eval.meanScore(item)
    const scoreHeight = Math.round(score * height)
    const costHeight = maxCost === 0 ? 0 : Math.round((item.cost / maxCost) * (height / 2))
    const title = `${item.id}: score ${figure(score)}, cost ${figure(item.cost, 6)}, ${item.pass ? "passed" : "failed"}`
    return `<g><title>${escape(title)}</title>` +
      `<rect x="${x}" y="${10 + height - scoreHeight}" width="${barWidth}" height="${scoreHeight}" fill="${item.pass ? "#2e7d32" : "#c62828"}"/>` +
      `<rect x="${x}" y="${height + 30}" width="${barWidth}" height="${costHeight}" fill="#1565c0"/></g>`
  }).join("")
  const total = height * 1.5 + 50
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" role="img" aria-label="scores and cost per case">` +
    `<text x="0" y="20" font-size="11">score 1</text><text x="0" y="${10 + height}" font-size="11">0</text>` +
    `<text x="0" y="${height + 42}" font-size="11">cost</text>` +
    `<line x1="48" y1="${10 + height}" x2="${width}" y2="${10 + height}" stroke="#999"/>${bars}</svg>`
}

const comparison = (report: Eval.Report): string => {
  const compared = report.comparison
  if (compared === undefined) return ""
  const list = (changes: ReadonlyArray<Eval.CaseChange>) =>
    changes.length === 0
      ? "none"
      : changes.map((change) => `${escape(change.id)} (${figure(change.before.score)} → ${figure(change.after.score)})`).join(", ")
  return `<h2>Against the baseline</h2><ul>` +
    `<li class="worse">worse: ${compared.worse.length} — ${list(compared.worse)}</li>` +
    `<li class="better">better: ${compared.better.length} — ${list(compared.better)}</li>` +
    `<li>unchanged: ${compared.unchanged}; added: ${compared.added.length}; removed: ${compared.removed.length}</li>` +
    `<li>pass rate ${signed(compared.passRateDelta * 100, 1)} points; cost ${signed(compared.costDelta, 6)}; ` +
    `mean latency ${signed(compared.latencyDeltaMs, 1)} ms</li>` +
    Object.entries(compared.scoreDeltas).map(([name, delta]) => `<li>${escape(name)} ${signed(delta)}</li>`).join("") +
    `</ul>`
}

/**
 * The HTML page of a report.
 *
 * @since 0.3.0
 * @category rendering
 */
export const render = (
  report: Eval.Report,
  options?: {
    /** The href of a case's journal (default: its path as the report has it). */
    readonly link?: ((journal: string) => string) | undefined
  }
): string => {
  const link = options?.link ?? ((journal: string) => journal)
  const totals = report.totals
  const names = report.scorers
  const rows = report.cases.map((item) =>
    `<tr class="${item.pass ? "pass" : "fail"}"><td>${escape(item.id)}</td><td>${item.pass ? "pass" : "FAIL"}</td>` +
    names.map((name) => {
      const score = item.scores[name]
      if (score === undefined) return "<td></td>"
      const text = score.skipped === true ? "–" : figure(score.value)
      return `<td title="${escape(score.reason ?? "")}">${text}</td>`
    }).join("") +
    `<td>${figure(item.cost, 6)}</td><td>${item.inputTokens}/${item.outputTokens}</td><td>${item.latencyMs}</td>` +
    `<td>${item.liveModelCalls}/${item.recordedModelCalls}</td>` +
    `<td>${escape(item.input)}</td><td>${escape(item.answer ?? item.error?.message ?? "")}</td>` +
    `<td>${item.journal === undefined ? escape(item.runId) : `<a href="${escape(link(item.journal))}">${escape(item.runId)}</a>`}</td></tr>`
  ).join("\n")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment: ${escape(report.agent)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
tr.fail td:nth-child(2){color:#c62828;font-weight:bold}li.worse{color:#c62828}li.better{color:#2e7d32}
</style></head><body>
<h1>Experiment: ${escape(report.agent)}</h1>
<p>${report.dataset === undefined ? "" : `dataset ${escape(report.dataset)} · `}${totals.cases} cases · ` +
    `<strong>${totals.passed} passed</strong>, ${totals.failed} failed (${figure(totals.passRate * 100, 1)}%) · ` +
    `${totals.errors} errors · cost ${figure(totals.cost, 6)} (spent ${figure(totals.spent, 6)}) · tokens ${totals.inputTokens} in / ${totals.outputTokens} out · ` +
    `latency mean ${figure(totals.latencyMs.mean, 1)} ms, p95 ${totals.latencyMs.p95} ms · ` +
    `model calls ${totals.liveModelCalls} live, ${totals.recordedModelCalls} from recordings</p>
<p>${Object.entries(totals.scores).map(([name, value]) => `${escape(name)} <strong>${figure(value)}</strong>`).join(" · ")}</p>
${comparison(report)}
<h2>Score and cost per case</h2>
${chart(report)}
<h2>Cases</h2>
<table><thead><tr><th>case</th><th>verdict</th>${names.map((name) => `<th>${escape(name)}</th>`).join("")}` +
    `<th>cost</th><th>tokens in/out</th><th>ms</th><th>calls live/recorded</th><th>input</th><th>answer</th><th>run</th></tr></thead>
<tbody>
${rows}
</tbody></table>
</body></html>
`
}
