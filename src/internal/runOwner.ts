/**
 * Which process runs a run: `graphent run` records its pid and host in the
 * run's `RunStarted` metadata, and every resume (`graphent resume`, `approve`,
 * a dev server's) in its `RunResumed`, so that another process reading the
 * same journal (`graphent dev` beside the CLI, `graphent trace list`) can tell
 * a run still going in its process from one whose process died before its end.
 */
import { createHash } from "node:crypto"
import * as os from "node:os"
import type { RunEvent } from "../services/RunEvent.js"

/** This machine, as runs name it: a digest of its host name (journals are shared and committed; the name stays here). */
const host = createHash("sha256").update(os.hostname()).digest("hex").slice(0, 12)

/** The metadata that names this process as the run's owner. */
export const metadata = (): Readonly<Record<string, string>> => ({ pid: String(process.pid), host })

/** The metadata of the process that runs the latest part of the run: its last `RunResumed`, else its `RunStarted`. */
const ownerOf = (events: ReadonlyArray<RunEvent>): Readonly<Record<string, string>> | undefined => {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i]!
    if (event._tag === "RunResumed" || event._tag === "RunStarted") return event.metadata
  }
  return undefined
}

/**
 * Whether the process that runs the run of `events` now (the one that
 * resumed it last, else the one that started it) is `alive` on this host,
 * `gone`, or `unknown`: no owner metadata (a program that does not record
 * one, a journal older than 0.2), or another host.
 */
export const state = (events: ReadonlyArray<RunEvent>): "alive" | "gone" | "unknown" => {
  const owner = ownerOf(events)
  const pid = Number(owner?.pid)
  if (owner?.host !== host || !Number.isInteger(pid) || pid <= 0) return "unknown"
  if (pid === process.pid) return "alive"
  try {
    process.kill(pid, 0)
    return "alive"
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM" ? "alive" : "gone"
  }
}
