// The Graphent trace viewer: plain JavaScript, no framework, no network but
// this server's API. It lists the runs (refreshed every second), shows a run
// as a timeline of nested spans built from its events (followed live over
// server-sent events, resuming with Last-Event-ID after a dropped
// connection), the details of a span, and downloads the run's journal.
"use strict"
;(() => {
  // ---------------------------------------------------------------------------
  // small helpers
  // ---------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id)

  /** Creates an element: h("div", { class: "x", onclick: f }, child, "text", ...). Text is never parsed as HTML. */
  const h = (tag, attrs, ...children) => {
    const el = document.createElement(tag)
    for (const [key, value] of Object.entries(attrs ?? {})) {
      if (value === undefined || value === null || value === false) continue
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value)
      else if (key === "class") el.className = value
      else el.setAttribute(key, value === true ? "" : String(value))
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue
      el.append(child instanceof Node ? child : document.createTextNode(String(child)))
    }
    return el
  }

  const ms = (value) => {
    if (value === undefined) return ""
    if (value < 1000) return `${Math.round(value)} ms`
    if (value < 60_000) return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`
    return `${Math.floor(value / 60_000)} min ${Math.round((value % 60_000) / 1000)} s`
  }
  const ago = (at) => {
    const s = Math.max(0, (Date.now() - at) / 1000)
    if (s < 60) return `${Math.floor(s)} s ago`
    if (s < 3600) return `${Math.floor(s / 60)} min ago`
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`
    return new Date(at).toLocaleString()
  }
  const clip = (text, max) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)
  const short = (value, max = 60) => {
    const text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? "undefined"
    return clip(text, max)
  }
  const cost = (value) => (value === undefined ? "" : `$${value < 0.01 ? value.toPrecision(2) : value.toFixed(4)}`)
  /** The prompt cache's share of input tokens, e.g. " · 75% cached"; empty when nothing was cached. */
  const cached = (input, cachedInput) => (!cachedInput || !input ? "" : ` · ${Math.round(100 * cachedInput / input)}% cached`)

  /** Pretty JSON in a <pre>, with redacted secrets marked. */
  const json = (value) => {
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2) ?? "undefined"
    const pre = h("pre", {})
    const parts = text.split(/(<redacted>|"\[redacted\]")/)
    for (const part of parts) {
      if (part === "<redacted>" || part === '"[redacted]"') pre.append(h("span", { class: "redacted", title: "a secret, redacted" }, "redacted"))
      else if (part !== "") pre.append(document.createTextNode(part))
    }
    return pre
  }

  // ---------------------------------------------------------------------------
  // the API
  // ---------------------------------------------------------------------------

  const keyStore = "graphent.apiKey"
  let apiKey = localStorage.getItem(keyStore) ?? ""

  const headers = (extra) => ({ ...(apiKey === "" ? {} : { authorization: `Bearer ${apiKey}` }), ...extra })

  class ApiError extends Error {
    constructor(status, body) {
      super(body?.message ?? `HTTP ${status}`)
      this.status = status
      this.body = body
    }
  }

  const api = async (path, init = {}) => {
    const response = await fetch(path, { ...init, headers: headers(init.headers) })
    if (response.status === 401) showKeyForm()
    const text = await response.text()
    let body
    try {
      body = text === "" ? undefined : JSON.parse(text)
    } catch {
      body = text
    }
    if (!response.ok) throw new ApiError(response.status, typeof body === "object" ? body : { message: String(body ?? "") })
    return body
  }

  const showKeyForm = () => {
    $("key-form").hidden = false
  }
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault()
    apiKey = $("key-input").value.trim()
    localStorage.setItem(keyStore, apiKey)
    $("key-form").hidden = true
    refreshAll()
  })

  // ---------------------------------------------------------------------------
  // agents, the start form, health
  // ---------------------------------------------------------------------------

  let agents = []

  const loadAgents = async () => {
    agents = await api("/v1/agents")
    const start = $("start-agent")
    const filter = $("filter-agent")
    const current = start.value
    start.replaceChildren(...agents.map((a) => h("option", { value: a.name, title: a.description }, a.name)))
    if (current !== "") start.value = current
    const chosen = filter.value
    filter.replaceChildren(h("option", { value: "" }, "all agents"), ...agents.map((a) => h("option", { value: a.name }, a.name)))
    filter.value = chosen
  }

  const loadHealth = async () => {
    try {
      const health = await api("/healthz")
      $("health").textContent = `v${health.version} · ${health.running} running · ${health.queued} queued`
    } catch {
      $("health").textContent = "server unreachable"
    }
  }

  $("start-form").addEventListener("submit", async (e) => {
    e.preventDefault()
    const error = $("start-error")
    error.hidden = true
    try {
      const run = await api("/v1/runs", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ agent: $("start-agent").value, input: $("start-input").value })
      })
      select(run.id)
      refreshRuns()
    } catch (err) {
      error.textContent = err.message
      error.hidden = false
    }
  })

  // ---------------------------------------------------------------------------
  // the runs list
  // ---------------------------------------------------------------------------

  let selectedRun = undefined

  const statusBadge = (status) => h("span", { class: `status s-${status}` }, status)

  /** The child runs a run started (sub-agents, handoffs; the listing counts them), when it has any. */
  const childrenBadge = (count) =>
    count > 0 &&
    h(
      "span",
      { class: "children", title: "child runs (sub-agents, handoffs): shown under the steps that started them" },
      `${count} child run${count === 1 ? "" : "s"}`
    )

  const refreshRuns = async () => {
    const params = new URLSearchParams({ limit: "100" })
    if ($("filter-agent").value !== "") params.set("agent", $("filter-agent").value)
    if ($("filter-status").value !== "") params.set("status", $("filter-status").value)
    let page
    try {
      page = await api(`/v1/runs?${params}`)
    } catch {
      return
    }
    $("runs-empty").hidden = page.runs.length > 0
    $("runs").replaceChildren(
      ...page.runs.map((run) =>
        h(
          "li",
          {
            class: run.id === selectedRun ? "selected" : "",
            "data-run": run.id,
            onclick: () => select(run.id)
          },
          h(
            "div",
            { class: "row1" },
            statusBadge(run.status),
            h("span", { class: "agent" }, run.agent),
            childrenBadge(run.children ?? 0),
            h("span", { class: "when muted" }, ago(run.createdAt))
          ),
          h("div", { class: "input" }, run.input === "" ? "(no input)" : run.input)
        )
      )
    )
  }
  $("filter-agent").addEventListener("change", refreshRuns)
  $("filter-status").addEventListener("change", refreshRuns)

  // ---------------------------------------------------------------------------
  // a run: events → spans
  // ---------------------------------------------------------------------------

  /**
   * The span tree of a run, rebuilt from its events: the run, its turns
   * (planner decisions, with their model calls), the steps of each turn, and
   * any other event as a point. Unknown event tags are shown as they are.
   */
  const buildSpans = (events) => {
    const spans = []
    const byKey = new Map()
    const add = (span) => {
      spans.push(span)
      byKey.set(span.key, span)
      return span
    }
    let run
    let currentTurn
    const turn = (n, at) => {
      let span = byKey.get(`turn:${n}`)
      if (span === undefined) {
        span = add({ key: `turn:${n}`, kind: "turn", depth: 1, label: `turn ${n}`, start: at, end: undefined, state: "running", events: [], children: 0 })
      }
      currentTurn = span
      return span
    }
    for (const event of events) {
      switch (event._tag) {
        case "RunStarted":
          run = add({ key: "run", kind: "run", depth: 0, label: `run · ${event.agent}`, start: event.at, end: undefined, state: "running", events: [event] })
          break
        case "ModelCalled": {
          const t = turn(event.turn, event.at - event.durationMs)
          t.start = Math.min(t.start, event.at - event.durationMs)
          t.events.push(event)
          const tokens = event.response?.usage
          add({
            key: `model:${event.call}`,
            kind: "model",
            depth: 2,
            label: `model ${event.model}`,
            extra: tokens === undefined ? "" : `${tokens.inputTokens}→${tokens.outputTokens} tok${cached(tokens.inputTokens, tokens.cachedInputTokens)}${event.cost === undefined ? "" : ` · ${cost(event.cost)}`}`,
            start: event.at - event.durationMs,
            end: event.at,
            state: "ok",
            turn: t,
            events: [event]
          })
          t.streamText = undefined
          break
        }
        case "TextDelta": {
          const t = turn(event.turn, event.at)
          t.streamText = (t.streamText ?? "") + event.text
          break
        }
        case "ToolCallDelta":
          turn(event.turn, event.at).events.push(event)
          break
        case "DecisionMade": {
          const t = turn(event.turn, event.at)
          t.events.push(event)
          const d = event.decision
          t.label = `turn ${event.turn}: ${d._tag === "RunSteps" ? `run ${d.steps.length} step${d.steps.length === 1 ? "" : "s"}` : d._tag === "Answer" ? "answer" : d._tag === "Fail" ? `give up: ${d.reason}` : d._tag}`
          if (d._tag !== "RunSteps") {
            t.end = event.at
            t.state = d._tag === "Fail" ? "failed" : "ok"
          }
          break
        }
        case "StepStarted":
          add({
            key: `step:${event.stepId}`,
            kind: "step",
            depth: 2,
            label: `${event.stepId} · ${event.tool}`,
            extra: short(event.args, 48),
            start: event.at,
            end: undefined,
            state: "running",
            turn: currentTurn,
            events: [event]
          })
          break
        case "StepSucceeded":
        case "StepFailed": {
          const span = byKey.get(`step:${event.stepId}`)
          if (span === undefined) break
          span.end = event.at
          span.state = event._tag === "StepSucceeded" ? "ok" : "failed"
          if (event._tag === "StepFailed") span.extra = `${event.error._tag}: ${event.error.message}`
          span.events.push(event)
          if (span.turn !== undefined) span.turn.end = Math.max(span.turn.end ?? 0, event.at)
          break
        }
        case "StepSkipped":
          add({ key: `step:${event.stepId}`, kind: "step", depth: 2, label: `${event.stepId} · ${event.tool}`, extra: `skipped: ${event.blockedBy} did not succeed`, start: event.at, end: event.at, state: "skipped", events: [event] })
          break
        case "RunCompleted":
        case "RunFailed":
        case "RunInterrupted":
          if (run !== undefined) {
            run.end = event.at
            run.state = event._tag === "RunCompleted" ? "ok" : event._tag === "RunFailed" ? "failed" : "skipped"
            run.events.push(event)
          }
          for (const span of spans) if (span.end === undefined) span.end = event.at
          break
        case "ContextCompacted":
          add({
            key: `compaction:${event.call}`,
            kind: "event",
            depth: 2,
            turn: turn(event.turn, event.at),
            label: "context compacted",
            extra: `${event.policy} · ${event.removed} messages${event.summary === undefined ? " dropped" : " summarized"} · ~${event.tokensBefore}→~${event.tokensAfter} of ${event.limit} tok`,
            start: event.at,
            end: event.at,
            state: "ok",
            events: [event]
          })
          break
        default:
          // RunResumed, ValueRecorded, approvals, and tags this viewer does not know yet.
          add({
            key: `event:${spans.length}`,
            kind: "event",
            depth: "turn" in event ? 2 : 1,
            turn: "turn" in event ? turn(event.turn, event.at) : undefined,
            label: event._tag,
            extra: "stepId" in event ? String(event.stepId) : "key" in event ? String(event.key) : "",
            start: event.at,
            end: event.at,
            state: /Reject|Denied|Fail/.test(event._tag) ? "failed" : "ok",
            events: [event]
          })
      }
    }
    // What belongs to a turn (its model calls, its steps, its events) is shown under it, in the order it started.
    const ordered = []
    const children = new Map()
    for (const span of spans) {
      if (span.turn === undefined) continue
      const list = children.get(span.turn) ?? []
      list.push(span)
      children.set(span.turn, list)
    }
    for (const span of spans) {
      if (span.turn !== undefined) continue
      ordered.push(span)
      if (span.kind === "turn") ordered.push(...(children.get(span) ?? []).sort((a, b) => a.start - b.start))
    }
    return ordered
  }

  const icons = { run: "▶", turn: "◆", step: "⚙", model: "✦", event: "•" }
  const stateIcon = { ok: "✓", failed: "✗", running: "…", skipped: "⊘" }

  // ---------------------------------------------------------------------------
  // a run: rendering
  // ---------------------------------------------------------------------------

  const view = { id: undefined, info: undefined, events: [], lastIndex: -1, selectedKey: undefined, follow: undefined }
  let renderQueued = false

  const scheduleRender = () => {
    if (renderQueued) return
    renderQueued = true
    requestAnimationFrame(() => {
      renderQueued = false
      render()
    })
  }

  const fact = (label, value) => (value === undefined || value === "" ? null : h("span", {}, `${label} `, h("b", {}, value)))

  /** A forked run: its parent (a link that opens it) and the fork point. */
  const lineage = () => {
    const started = view.events.find((e) => e._tag === "RunStarted")
    const from = started?.forkedFrom
    if (from === undefined) return null
    const link = h("a", { href: `#run=${encodeURIComponent(from.runId)}`, onclick: (e) => (e.preventDefault(), select(from.runId)) }, from.runId)
    return h("span", { "data-testid": "lineage" }, "forked from ", link, ` at ${from.at}`)
  }

  const renderHead = () => {
    const info = view.info
    if (info === undefined) return
    const usage = info.usage ?? {}
    const end = view.events.find((e) => e._tag === "RunCompleted" || e._tag === "RunFailed" || e._tag === "RunInterrupted")
    const answer = info.answer ?? (end?._tag === "RunCompleted" ? end.answer : undefined)
    const error = info.error ?? (end?._tag === "RunFailed" ? end.error : undefined)
    $("run-head").replaceChildren(
      h("h2", {}, `${info.agent} `, statusBadge(info.status)),
      h(
        "div",
        { class: "facts" },
        fact("run", info.id),
        lineage(),
        fact("input", clip(JSON.stringify(info.input), 120)),
        info.threadId === undefined ? null : fact("thread", info.threadId),
        info.startedBy === undefined ? null : fact("by", info.startedBy),
        fact("started", info.startedAt === undefined ? undefined : new Date(info.startedAt).toLocaleTimeString()),
        fact("duration", ms(info.durationMs)),
        fact("turns", usage.turns),
        fact("steps", usage.steps),
        fact("model calls", usage.modelCalls),
        usage.inputTokens === undefined ? null : fact("tokens", `${usage.inputTokens} in / ${usage.outputTokens ?? 0} out`),
        usage.cachedInputTokens === undefined || !usage.inputTokens ? null : fact("cache hits", `${Math.round(100 * usage.cachedInputTokens / usage.inputTokens)}% of input tokens`),
        fact("cost", cost(usage.cost)),
        fact("events", view.events.length)
      ),
      ...(info.status === "paused" && info.awaiting !== undefined ? [approvalBox(info)] : []),
      ...(info.status === "needs-attention" && info.attention !== undefined ? [attentionBox(info)] : []),
      ...(answer === undefined ? [] : [h("div", { class: "answer", "data-testid": "answer" }, answer)]),
      ...(error === undefined ? [] : [h("div", { class: "answer failed", "data-testid": "error" }, `${error._tag}: ${error.message}`)])
    )
    $("cancel").hidden = !(info.status === "running" || info.status === "queued")
  }

  /** Posts a human's word on a step; the run may go on: follow it from the last event seen. */
  const postDecision = (info, path, init, message) => async () => {
    message.textContent = ""
    try {
      view.info = await api(`/v1/runs/${encodeURIComponent(info.id)}/${path}`, { method: "POST", ...init })
      scheduleRender()
      if (view.follow !== undefined) view.follow.abort()
      view.follow = follow(info.id)
    } catch (err) {
      message.textContent = err.message
    }
  }

  /** A paused run: each step waiting for a human, with Approve / Reject (the policy decides who may). */
  const approvalBox = (info) =>
    h(
      "div",
      { class: "approval", "data-testid": "approval" },
      ...info.awaiting.map((step) => {
        const reason = h("input", { type: "text", placeholder: "reason (optional)", "aria-label": "reason" })
        const message = h("span", { class: "error" })
        const decide = (approved) => () =>
          postDecision(info, `approvals/${encodeURIComponent(step.stepId)}`, {
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ approved, ...(reason.value.trim() === "" ? {} : { reason: reason.value.trim() }) })
          }, message)()
        return h(
          "div",
          { class: "approval-step" },
          h("div", {}, "Step ", h("b", {}, step.stepId), ` (${step.tool}) waits for approval: ${step.capability}, for ${step.principal}`),
          h(
            "div",
            { class: "approval-actions" },
            reason,
            h("button", { type: "button", onclick: decide(true) }, "Approve"),
            h("button", { type: "button", onclick: decide(false) }, "Reject"),
            message
          )
        )
      })
    )

  /**
   * A run that needs attention: each step that was in flight when its process died, with Retry (its effect did
   * not happen) / Assume done (it did); the run goes on once every step is resolved.
   */
  const attentionBox = (info) =>
    h(
      "div",
      { class: "approval", "data-testid": "attention" },
      ...info.attention.map((step) => {
        const message = h("span", { class: "error" })
        const resolve = (resolution) => postDecision(info, `steps/${encodeURIComponent(step.stepId)}/${resolution}`, {}, message)
        return h(
          "div",
          { class: "approval-step" },
          h("div", {}, "Step ", h("b", {}, step.stepId), ` (${step.tool}, args ${step.args}) was in flight when the server stopped: did its effect happen?`),
          h(
            "div",
            { class: "approval-actions" },
            h("button", { type: "button", onclick: resolve("retry") }, "Retry (it did not)"),
            h("button", { type: "button", onclick: resolve("assume-done") }, "Assume done (it did)"),
            message
          )
        )
      })
    )

  /** Child runs (sub-agents, handoffs) by id: a step's child run's journal is fetched once, when the step is shown. */
  const childJournals = new Map()

  const fetchChild = (childId) => {
    childJournals.set(childId, "loading")
    fetch(`/v1/runs/${encodeURIComponent(childId)}/journal`, { headers: headers() })
      .then(async (response) => {
        if (!response.ok) return null
        const text = await response.text()
        return text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line)).filter((e) => e.runId === childId)
      })
      .catch(() => null)
      .then((events) => {
        childJournals.set(childId, events !== null && events.length > 0 ? events : null)
        if (events !== null && events.length > 0) scheduleRender()
      })
  }

  /** The spans of a run with each finished step's child run nested under it (recursively). */
  const spansWithChildren = (events, depth, prefix) => {
    const out = []
    for (const span of buildSpans(events)) {
      out.push({ ...span, key: prefix + span.key, depth: span.depth + depth })
      // A sub-agent's step names the child run it started (StepStarted.childRunId).
      const childId = span.kind === "step" ? span.events[0]?.childRunId : undefined
      if (childId === undefined || span.state === "running") continue
      const child = childJournals.get(childId)
      if (child === undefined) fetchChild(childId)
      else if (Array.isArray(child)) out.push(...spansWithChildren(child, span.depth + depth + 1, `${prefix}${childId}|`))
    }
    return out
  }

  const renderTimeline = () => {
    const spans = spansWithChildren(view.events, 0, "")
    const t0 = spans[0]?.start ?? 0
    const now = Date.now()
    const t1 = Math.max(t0 + 1, ...spans.map((s) => s.end ?? now))
    const scale = (t) => (100 * (t - t0)) / (t1 - t0)
    $("timeline").replaceChildren(
      ...spans.map((span) => {
        const end = span.end ?? now
        const row = h(
          "div",
          {
            class: `span k-${span.kind} st-${span.state}${span.key === view.selectedKey ? " selected" : ""}`,
            role: "treeitem",
            "data-key": span.key,
            "data-kind": span.kind,
            "data-state": span.state,
            onclick: () => {
              view.selectedKey = span.key
              renderTimeline()
              showDetail(span)
            }
          },
          h(
            "div",
            { class: "label", style: `padding-left:${span.depth * 18}px`, title: span.label },
            h("span", { class: "icon" }, span.kind === "step" || span.kind === "run" ? stateIcon[span.state] : icons[span.kind]),
            " ",
            span.label,
            span.extra ? h("span", { class: span.kind === "model" ? "tokens" : "muted" }, ` ${span.extra}`) : null,
            span.streamText ? h("span", { class: "muted" }, ` “${clip(span.streamText, 60)}”`) : null
          ),
          h("div", { class: "dur" }, span.kind === "event" ? "" : ms(end - span.start)),
          h("div", { class: "track" }, h("div", { class: "bar", style: `left:${scale(span.start)}%;width:${Math.max(0.3, scale(end) - scale(span.start))}%` }))
        )
        return row
      })
    )
    if (view.selectedKey !== undefined) {
      const span = spans.find((s) => s.key === view.selectedKey)
      if (span !== undefined) showDetail(span)
    }
  }

  const render = () => {
    if (view.id === undefined) return
    renderHead()
    renderTimeline()
  }

  // ---------------------------------------------------------------------------
  // span details
  // ---------------------------------------------------------------------------

  const showDetail = (span) => {
    $("detail-pane").hidden = false
    $("detail-title").textContent = span.label
    const body = []
    const rows = [
      ["kind", span.kind],
      ["state", span.state],
      ["started", span.start === undefined ? undefined : new Date(span.start).toISOString()],
      ["duration", span.end === undefined ? "running" : ms(span.end - span.start)]
    ]
    const started = span.events.find((e) => e._tag === "StepStarted")
    const done = span.events.find((e) => e._tag === "StepSucceeded" || e._tag === "StepFailed" || e._tag === "StepSkipped")
    const model = span.events.find((e) => e._tag === "ModelCalled")
    if (started !== undefined) rows.push(["tool", started.tool], ["step", started.stepId])
    if (model !== undefined) {
      rows.push(["model", model.model], ["call", model.call])
      const usage = model.response?.usage
      if (usage !== undefined) rows.push(["tokens", `${usage.inputTokens} in / ${usage.outputTokens} out${cached(usage.inputTokens, usage.cachedInputTokens)}`])
      if (model.cost !== undefined) rows.push(["cost", cost(model.cost)])
      rows.push(["finish", model.response?.finishReason])
    }
    body.push(h("dl", {}, rows.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])))
    if (started !== undefined) body.push(h("h3", {}, "arguments"), json(started.args))
    if (done?._tag === "StepSucceeded") body.push(h("h3", {}, "result"), json(done.result === undefined ? "(no value)" : done.result))
    if (done?._tag === "StepFailed") body.push(h("h3", {}, "error"), json(done.error))
    if (model !== undefined) {
      if (model.response?.text) body.push(h("h3", {}, "response"), json(model.response.text))
      if (model.response?.toolCalls?.length) body.push(h("h3", {}, "tool calls"), json(model.response.toolCalls))
      body.push(h("h3", {}, "request"), json(model.request))
    }
    const decision = span.events.find((e) => e._tag === "DecisionMade")
    if (decision !== undefined) body.push(h("h3", {}, "decision"), json(decision.decision))
    const fork = forkBox(started, done, model)
    if (fork !== undefined) body.push(fork)
    if (span.streamText) body.push(h("h3", {}, "streaming"), json(span.streamText))
    body.push(h("h3", {}, `events (${span.events.length})`), json(span.events))
    $("detail").replaceChildren(...body)
  }
  /**
   * "Fork from here" on a step (edit its result) or a model call (edit the message it answers, or set its reply)
   * of a run that ended: POST /v1/runs/:id/fork, then the new run is shown. Without the edit, the fork runs live
   * from there.
   */
  /** The text of a prompt message as journaled: a user's content, or the last of a tool message's results. */
  const lastMessageText = (message) => {
    if (message === undefined || message === null) return ""
    if (typeof message.content === "string") return message.content
    const result = message.results?.at(-1)?.result
    return result === undefined ? "" : typeof result === "string" ? result : JSON.stringify(result)
  }
  const forkBox = (started, done, model) => {
    const info = view.info
    if (info === undefined || !["completed", "failed", "interrupted"].includes(info.status)) return undefined
    let at, edit, initial, label, choice
    if (started !== undefined) {
      at = started.stepId
      initial = JSON.stringify(done?._tag === "StepSucceeded" ? done.result ?? null : null, null, 2)
      label = "result (JSON)"
      edit = (text) => ({ _tag: "SetResult", stepId: started.stepId, result: JSON.parse(text) })
    } else if (model !== undefined) {
      at = model.turn
      const answered = lastMessageText(model.request?.messages?.at(-1))
      initial = answered
      label = "text"
      // The message the call answers (the model answers the edit live), or the model's reply itself.
      choice = h(
        "select",
        { "aria-label": "what to edit", "data-action": "fork-what" },
        h("option", { value: "EditMessage" }, "the message it answers"),
        h("option", { value: "SetReply" }, "the model's reply")
      )
      choice.onchange = () => {
        text.value = choice.value === "SetReply" ? model.response?.text ?? "" : answered
      }
      edit = (value) => ({ _tag: choice.value, call: model.call, text: value })
    } else {
      return undefined
    }
    const text = h("textarea", { rows: 4, "aria-label": label })
    text.value = initial
    const message = h("p", { class: "error" })
    const go = (withEdit) => async () => {
      message.textContent = ""
      try {
        const body = withEdit ? { at, edit: edit(text.value) } : { at }
        const run = await api(`/v1/runs/${encodeURIComponent(info.id)}/fork`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body)
        })
        select(run.id)
        refreshRuns()
      } catch (err) {
        message.textContent = err.message
      }
    }
    return h(
      "div",
      { class: "fork", "data-testid": "fork" },
      h("h3", {}, "fork from here"),
      ...(choice === undefined ? [] : [h("label", {}, "edit ", choice)]),
      h("label", {}, label, text),
      h("button", { type: "button", "data-action": "fork-edit", onclick: go(true) }, "Fork with this edit"),
      h("button", { type: "button", "data-action": "fork-live", onclick: go(false) }, "Fork here, live"),
      message
    )
  }

  $("detail-close").addEventListener("click", () => {
    $("detail-pane").hidden = true
    view.selectedKey = undefined
    renderTimeline()
  })

  // ---------------------------------------------------------------------------
  // following a run: server-sent events over fetch (so the key can be a header)
  // ---------------------------------------------------------------------------

  /** Reads `GET /v1/runs/:id/events` from the event after `view.lastIndex`, reconnecting with Last-Event-ID. */
  const follow = (id) => {
    const controller = new AbortController()
    let attempts = 0
    const connect = async () => {
      while (!controller.signal.aborted) {
        try {
          $("live").textContent = "live"
          const response = await fetch(`/v1/runs/${encodeURIComponent(id)}/events`, {
            headers: headers({ accept: "text/event-stream", "last-event-id": String(view.lastIndex) }),
            signal: controller.signal
          })
          if (!response.ok) throw new ApiError(response.status, undefined)
          attempts = 0
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
          let buffer = ""
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            buffer += value
            let end
            while ((end = buffer.indexOf("\n\n")) !== -1) {
              const block = buffer.slice(0, end)
              buffer = buffer.slice(end + 2)
              receive(id, block)
            }
          }
          // The stream ended: the run is over.
          $("live").textContent = ""
          if (view.id === id) view.info = await api(`/v1/runs/${encodeURIComponent(id)}`)
          scheduleRender()
          refreshRuns()
          return
        } catch (err) {
          if (controller.signal.aborted) return
          if (err instanceof ApiError && err.status !== 503) {
            $("live").textContent = `events: HTTP ${err.status}`
            return
          }
          attempts++
          $("live").textContent = `reconnecting (${attempts})…`
          await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempts)))
        }
      }
    }
    connect()
    return controller
  }

  const receive = (id, block) => {
    if (view.id !== id) return
    let eventId
    const data = []
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue
      const colon = line.indexOf(":")
      const field = colon === -1 ? line : line.slice(0, colon)
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "")
      if (field === "id") eventId = value
      else if (field === "data") data.push(value)
    }
    if (data.length === 0) return
    const event = JSON.parse(data.join("\n"))
    if (eventId !== undefined) {
      const index = Number(eventId)
      if (index <= view.lastIndex) return
      view.lastIndex = index
    }
    view.events.push(event)
    if (view.info !== undefined) {
      // Replayed history must not undo what the server said (e.g. a paused run): only a queued run starts here.
      if (event._tag === "RunStarted" && view.info.status === "queued") view.info = { ...view.info, status: "running", startedAt: event.at }
      if (event._tag === "RunCompleted") view.info = { ...view.info, status: "completed", answer: event.answer, usage: event.usage, durationMs: event.durationMs }
      if (event._tag === "RunFailed") view.info = { ...view.info, status: "failed", error: event.error, usage: event.usage, durationMs: event.durationMs }
      if (event._tag === "RunInterrupted") view.info = { ...view.info, status: "interrupted", usage: event.usage, durationMs: event.durationMs }
    }
    scheduleRender()
  }

  // ---------------------------------------------------------------------------
  // selecting a run
  // ---------------------------------------------------------------------------

  const select = async (id) => {
    if (view.follow !== undefined) view.follow.abort()
    selectedRun = id
    Object.assign(view, { id, info: undefined, events: [], lastIndex: -1, selectedKey: undefined, follow: undefined })
    history.replaceState(null, "", `#run=${encodeURIComponent(id)}`)
    for (const li of document.querySelectorAll("#runs li")) li.classList.toggle("selected", li.dataset.run === id)
    $("run-placeholder").hidden = true
    $("experiment").hidden = true
    $("run").hidden = false
    $("detail-pane").hidden = true
    $("timeline").replaceChildren()
    try {
      view.info = await api(`/v1/runs/${encodeURIComponent(id)}`)
    } catch (err) {
      $("run-head").replaceChildren(h("p", { class: "error" }, err.message))
      return
    }
    render()
    view.follow = follow(id)
  }

  $("download").addEventListener("click", async () => {
    if (view.id === undefined) return
    const response = await fetch(`/v1/runs/${encodeURIComponent(view.id)}/journal`, { headers: headers() })
    if (!response.ok) return
    const url = URL.createObjectURL(await response.blob())
    const link = h("a", { href: url, download: `run-${view.id}.jsonl` })
    document.body.append(link)
    link.click()
    link.remove()
    setTimeout(() => URL.revokeObjectURL(url), 10_000)
  })

  $("cancel").addEventListener("click", async () => {
    if (view.id === undefined) return
    try {
      view.info = await api(`/v1/runs/${encodeURIComponent(view.id)}/cancel`, { method: "POST" })
      scheduleRender()
      refreshRuns()
    } catch (err) {
      $("live").textContent = err.message
    }
  })

  // ---------------------------------------------------------------------------
  // experiments: the reports graphent eval run kept (GET /v1/evals)
  // ---------------------------------------------------------------------------

  let selectedEval = undefined
  const pct = (value) => `${(100 * value).toFixed(1)}%`
  const signed = (value, format) => `${value > 0 ? "+" : value < 0 ? "−" : "±"}${format(Math.abs(value))}`
  const dollars = (value) => cost(value) || "$0"
  const rowsOf = (rows) =>
    h("dl", {}, rows.filter(([, v]) => v !== undefined && v !== "").flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]))

  const showTab = (name) => {
    $("runs-list").hidden = name !== "runs"
    $("evals-list").hidden = name !== "evals"
    $("tab-runs").setAttribute("aria-selected", String(name === "runs"))
    $("tab-evals").setAttribute("aria-selected", String(name === "evals"))
    if (name === "evals") refreshEvals()
  }
  $("tab-runs").addEventListener("click", () => showTab("runs"))
  $("tab-evals").addEventListener("click", () => showTab("evals"))

  const refreshEvals = async () => {
    let list
    try {
      list = await api("/v1/evals")
    } catch {
      return
    }
    $("evals-empty").hidden = list.length > 0
    $("evals").replaceChildren(
      ...list.map((item) =>
        h(
          "li",
          { class: item.id === selectedEval ? "selected" : "", "data-eval": item.id, onclick: () => selectEval(item.id) },
          h(
            "div",
            { class: "row1" },
            h("span", { class: `status ${item.totals.failed === 0 ? "s-completed" : "s-failed"}` }, pct(item.totals.passRate)),
            h("span", { class: "agent" }, item.agent),
            h("span", { class: "when muted" }, ago(item.startedAt))
          ),
          h(
            "div",
            { class: "input" },
            `${item.totals.passed}/${item.totals.cases} passed${item.dataset ? ` · ${item.dataset}` : ""}${item.compared ? " · vs baseline" : ""}`
          )
        )
      )
    )
  }

  /** The baseline comparison: deltas, and which cases got worse or better. */
  const comparisonOf = (comparison) => {
    const change = (item) =>
      `${item.id} (${item.before.pass ? "pass" : "fail"} ${item.before.score.toFixed(2)} → ${item.after.pass ? "pass" : "fail"} ${item.after.score.toFixed(2)})`
    return h(
      "section",
      { class: "comparison", "data-testid": "comparison" },
      h("h3", {}, "against the baseline"),
      rowsOf([
        ["pass rate", signed(comparison.passRateDelta, pct)],
        ...Object.entries(comparison.scoreDeltas).map(([name, delta]) => [`score ${name}`, signed(delta, (v) => v.toFixed(3))]),
        ["cost", signed(comparison.costDelta, dollars)],
        ["mean latency", signed(comparison.latencyDeltaMs, ms)],
        ["worse", comparison.worse.map(change).join(", ") || "none"],
        ["better", comparison.better.map(change).join(", ") || "none"],
        ["unchanged", comparison.unchanged],
        ["added", comparison.added.join(", ")],
        ["removed", comparison.removed.join(", ")]
      ])
    )
  }

  /** One row per case: verdict, scores (reasons on hover), cost, latency, and a link to its run. */
  const caseRow = (item) =>
    h(
      "tr",
      { class: item.pass ? "pass" : "fail", "data-case": item.id },
      h("td", {}, item.id, h("div", { class: "muted" }, clip(item.input, 80))),
      h("td", {}, item.pass ? "pass" : item.error === undefined ? "FAIL" : `FAIL (${item.error._tag})`),
      h("td", {}, Object.entries(item.scores).map(([name, score]) =>
        h("div", { title: score.reason ?? "" }, `${name} ${score.skipped ? "skipped" : score.value.toFixed(2)}${score.pass ? "" : " ✗"}`))),
      h("td", {}, dollars(item.cost)),
      h("td", {}, ms(item.latencyMs)),
      h("td", {}, item.runId === "" ? "" : h("a", {
        href: `#run=${encodeURIComponent(item.runId)}`,
        "data-run-link": item.runId,
        onclick: (e) => {
          e.preventDefault()
          showTab("runs")
          select(item.runId)
        }
      }, "open run"))
    )

  const selectEval = async (id) => {
    selectedEval = id
    history.replaceState(null, "", `#eval=${encodeURIComponent(id)}`)
    for (const li of document.querySelectorAll("#evals li")) li.classList.toggle("selected", li.dataset.eval === id)
    $("run-placeholder").hidden = true
    $("run").hidden = true
    $("detail-pane").hidden = true
    const pane = $("experiment")
    pane.hidden = false
    let report
    try {
      report = await api(`/v1/evals/${encodeURIComponent(id)}`)
    } catch (err) {
      pane.replaceChildren(h("p", { class: "error" }, err.message))
      return
    }
    const t = report.totals
    pane.replaceChildren(
      h("h2", {}, `experiment · ${report.agent}`),
      rowsOf([
        ["id", id],
        ["dataset", report.dataset],
        ["started", new Date(report.startedAt).toISOString()],
        ["duration", ms(report.durationMs)],
        ["cases", `${t.cases}: ${t.passed} passed, ${t.failed} failed (${pct(t.passRate)})${t.errors > 0 ? `, ${t.errors} errors` : ""}`],
        ...Object.entries(t.scores).map(([name, mean]) => [`score ${name}`, mean.toFixed(3)]),
        ["cost", `${dollars(t.cost)} (spent ${dollars(t.spent)})`],
        ["tokens", `${t.inputTokens} in / ${t.outputTokens} out`],
        ["model calls", `${t.liveModelCalls} live, ${t.recordedModelCalls} from recordings`],
        ["latency", `mean ${ms(t.latencyMs.mean)} · p50 ${ms(t.latencyMs.p50)} · p95 ${ms(t.latencyMs.p95)} · max ${ms(t.latencyMs.max)}`]
      ]),
      report.comparison === undefined ? "" : comparisonOf(report.comparison),
      h(
        "table",
        { class: "cases" },
        h("thead", {}, h("tr", {}, ["case", "result", "scores", "cost", "latency", "run"].map((name) => h("th", {}, name)))),
        h("tbody", {}, report.cases.map(caseRow))
      )
    )
  }

  // ---------------------------------------------------------------------------
  // start
  // ---------------------------------------------------------------------------

  const refreshAll = () => {
    loadHealth()
    loadAgents().catch(() => {})
    refreshRuns()
  }

  refreshAll()
  setInterval(() => {
    if (document.hidden) return
    refreshRuns()
    loadHealth()
    // A running run's bars grow with the clock.
    if (view.info?.status === "running") scheduleRender()
  }, 1000)
  const fromHash = /^#run=(.+)$/.exec(location.hash)
  if (fromHash !== null) select(decodeURIComponent(fromHash[1]))
  const evalFromHash = /^#eval=(.+)$/.exec(location.hash)
  if (evalFromHash !== null) {
    showTab("evals")
    selectEval(decodeURIComponent(evalFromHash[1]))
  }
})()
