/**
 * The arithmetic of keeping a conversation within a context window: token
 * estimates, truncated tool results, and how many of the oldest turns a
 * compaction removes. Pure functions; the LLM planner applies them.
 */

/**
 * Estimated tokens of a message in its JSON form: a token is about 4
 * characters, and the JSON (keys, quotes) is longer than the text a
 * provider tokenizes, so the estimate errs on the safe side.
 */
export const estimateTokens = (json: unknown): number => Math.ceil((JSON.stringify(json)?.length ?? 4) / 4) + 4

/** The marker that ends a tool result cut short in the prompt. */
export const truncationMarker = (shown: number, total: number): string =>
  `… [truncated by Graphent: ${shown} of ${total} characters shown; the whole result is in the run's journal]`

/**
 * A tool result as the prompt shows it: whole when its JSON has at most
 * `maxChars` characters, else the first `maxChars` of them and a marker.
 */
export const truncateResult = (result: unknown, maxChars: number | undefined): unknown => {
  if (maxChars === undefined) return result
  const text = typeof result === "string" ? result : JSON.stringify(result) ?? "null"
  if (text.length <= maxChars) return result
  return text.slice(0, maxChars) + truncationMarker(maxChars, text.length)
}

/** The conversation's messages after its opening, as a compaction sees them. */
export interface Body {
  /** Estimated tokens of each message after the opening (and after any earlier summary), oldest first. */
  readonly sizes: ReadonlyArray<number>
  /** Estimated tokens of everything that stays: the opening, tools, an earlier summary. */
  readonly fixed: number
  /** The most tokens the prompt may have. */
  readonly budget: number
}

/**
 * How many of the oldest messages to remove, in whole turns of `turnSize`
 * messages (a tool call and its results stay together), beyond `atLeast`,
 * until the rest fits in `budget - reserved`; `undefined` when even removing
 * every turn does not make it fit.
 */
export const removalToFit = (
  body: Body,
  atLeast: number,
  reserved: number,
  most = body.sizes.length,
  turnSize = 2
): number | undefined => {
  let total = body.fixed + reserved
  for (const size of body.sizes) total += size
  let removed = 0
  for (; removed < atLeast && removed < body.sizes.length; removed++) total -= body.sizes[removed]!
  while (total > body.budget) {
    if (removed >= most) return undefined
    for (let i = 0; i < turnSize && removed < body.sizes.length; i++, removed++) total -= body.sizes[removed]!
  }
  return removed
}

/**
 * With a summary, compacting just enough to fit would compact again a turn or
 * two later (a model call each time, and a prompt cache lost): this removes
 * turns until the prompt is down to `low` (a share of the budget), keeping
 * the latest turn, and otherwise just enough to fit.
 */
export const removalWithSlack = (body: Body, atLeast: number, reserved: number, low: number): number | undefined =>
  removalToFit({ ...body, budget: Math.floor(body.budget * low) }, atLeast, reserved, body.sizes.length - 2) ??
    removalToFit(body, atLeast, reserved)

/** The tokens the body's first `removed` messages take. */
export const tokensOf = (sizes: ReadonlyArray<number>, removed: number): number => {
  let total = 0
  for (let i = 0; i < removed; i++) total += sizes[i]!
  return total
}
