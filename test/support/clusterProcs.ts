/**
 * Runner processes for the cluster tests and the cluster soak: `graphent worker` children
 * on one database, each on its own port, with the side-effect agent of
 * test/fixtures/cluster/sfxAgent.ts. A runner is ready once it printed its banner.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const cli = path.join(root, "src/programs/cli.ts")
export const sfxAgentFile = path.join(root, "test/fixtures/cluster/sfxAgent.ts")

/** A runner child process. */
export interface Runner {
  readonly port: number
  readonly child: ChildProcess
  /** Everything it wrote (stdout and stderr). */
  output: string
  /** Resolves with its exit code (or signal) once it exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>
}

/** Starts `graphent worker` on `port`; resolves once it is ready (its banner). */
export const startRunner = (options: {
  readonly url: string
  readonly port: number
  readonly table: string
  /** The agent file the runner loads (default: the side-effect agent). */
  readonly agentFile?: string
  readonly maxRuns?: number
  /** Seconds before a dead runner's shards move (`--failover-after`; default 4 here). */
  readonly failoverAfter?: number
  readonly env?: Record<string, string>
}): Promise<Runner> =>
  new Promise((resolve, reject) => {
    // Node itself with tsx's loader (not the `tsx` wrapper): a signal reaches the runner, not a parent of it.
    const child = spawn(process.execPath, ["--import", "tsx", cli, "worker", "--agents", options.agentFile ?? sfxAgentFile, "--port", String(options.port),
      "--failover-after", String(options.failoverAfter ?? 4),
      ...(options.maxRuns === undefined ? [] : ["--max-runs", String(options.maxRuns)])], {
      cwd: root,
      env: {
        ...process.env,
        GRAPHENT_DATABASE_URL: options.url,
        SFX_DATABASE_URL: options.url,
        SFX_TABLE: options.table,
        NO_COLOR: "1",
        ...options.env
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    const exited = new Promise<number | NodeJS.Signals | null>((done) =>
      child.once("exit", (code, signal) => done(code ?? signal))
    )
    const runner: Runner = { port: options.port, child, output: "", exited }
    let ready = false
    const onData = (chunk: Buffer) => {
      runner.output += chunk.toString()
      if (!ready && runner.output.includes("graphent worker: runner")) {
        ready = true
        resolve(runner)
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    void exited.then((code) => {
      if (!ready) reject(new Error(`runner on port ${options.port} exited (${code}) before it was ready:\n${runner.output}`))
    })
  })

/** Sends `signal` to a runner and waits for it to exit. */
export const stopRunner = async (runner: Runner, signal: NodeJS.Signals): Promise<number | NodeJS.Signals | null> => {
  if (runner.child.exitCode === null && runner.child.signalCode === null) runner.child.kill(signal)
  return runner.exited
}

/**
 * A port no one listens on now, from the system (a fixed range would overlap the ephemeral ports,
 * 32768–60999 on Linux, that the tests' own outgoing connections take).
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
