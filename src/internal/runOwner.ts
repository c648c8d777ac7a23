/**
 * Which process runs a run: `graphent run` records its pid and host in the
 * run's `RunStarted` metadata, so that another process reading the same
 * journal (`graphent dev` beside the CLI) can tell a run still going in its
 * process from one whose process died before its end.
 */
import { createHash } from "node:crypto"
import * as os from "node:os"
import type { RunEvent } from "../services/RunEvent.js"

/** This machine, as runs name it: a digest of its host name (journals are shared and committed; the name stays here). */
const host = createHash("sha256").update(os.hostname()).digest("hex").slice(0, 12)

/** The metadata that names this process as the run's owner. */
export const metadata = (): Readonly<Record<string, string>> => ({ pid: String(process.pid), host })

/**
 * Whether the process that started the run of `events` is `alive` on this
 * host, `gone`, or `unknown`: a run started without owner metadata (by a
 * program that does not record one, or on another host).
 */
export const state = (events: ReadonlyArray<RunEvent>): "alive" | "gone" | "unknown" => {
  const started = events.find((event) => event._tag === "RunStarted")
  if (started?._tag !== "RunStarted") return "unknown"
  const pid = Number(started.metadata?.pid)
  if (started.metadata?.host !== host || !Number.isInteger(pid) || pid <= 0) return "unknown"
  if (pid === process.pid) return "alive"
  try {
    process.kill(pid, 0)
    return "alive"
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM" ? "alive" : "gone"
  }
}
