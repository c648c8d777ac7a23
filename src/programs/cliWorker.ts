/**
 * `graphent worker`: a runner of a Graphent cluster (see `ClusterRuntime` and
 * docs/scaling.md). It joins the cluster whose storage is the PostgreSQL
 * database `GRAPHENT_DATABASE_URL`, takes its share of the shards and
 * executes the runs of the agents it loads (`--agents`, files as for
 * `graphent run`; every runner of a cluster loads the same agents). The
 * run's journal goes to the same database (`JournalPg`), so `graphent trace`
 * and `graphent replay` read it.
 *
 * Flow control as for `graphent run` (`FlowConfig`): the runner's model and
 * tool calls wait for the rate limits `GRAPHENT_RATE_LIMITS` names (shared by
 * every runner through `GRAPHENT_RATE_LIMITS_REDIS`; a store that is down,
 * also when the runner starts, makes calls wait, not fail), its journal
 * announces every append on the bus `GRAPHENT_RUN_EVENTS_URL` names (unset:
 * `LISTEN`/`NOTIFY` on the cluster's database; `off`: none), so a server
 * follows the run at once, and its run slots are the `RunSlots` metrics.
 *
 * SIGTERM (or SIGINT) hands the runner's runs over: its shards are released
 * and another runner replays each run from the storage, re-executing nothing
 * that was recorded.
 *
 * @since 0.3.0
 */
import * as os from "node:os"
import * as path from "node:path"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ClusterRuntime from "../layers/ClusterRuntime.js"
import * as FlowConfig from "../layers/FlowConfig.js"
import * as JournalPg from "../layers/JournalPg.js"
import { Exit, usageError, writeLine } from "./cliSupport.js"
import { loadAgent } from "./loadAgent.js"

/**
 * The `graphent worker` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const worker = Command.make(
  "worker",
  {
    agents: Flag.String("agents").pipe(
      Flag.withDescription("An agent file this runner executes (repeat the flag for more)"),
      Flag.atLeast(1)
    ),
    host: Flag.String("host").pipe(
      Flag.withDescription("The address other runners reach this one at (default 127.0.0.1)"),
      Flag.withDefault("127.0.0.1")
    ),
    port: Flag.Int("port").pipe(Flag.withDescription("The runner's port (default 34431)"), Flag.withDefault(34431)),
    maxRuns: Flag.Int("max-runs").pipe(
      Flag.withDescription("Runs this runner executes at once (default: 4 per core)"),
      Flag.optional
    ),
    failoverAfter: Flag.Int("failover-after").pipe(
      Flag.withDescription(
        "Seconds after which the shards of a runner that stopped answering (a crash) move to the others (default 35)"
      ),
      Flag.withDefault(35)
    ),
    tablePrefix: Flag.String("table-prefix").pipe(
      Flag.withDescription("The prefix of the journal's tables (default graphent_)"),
      Flag.withDefault("graphent_")
    )
  },
  Effect.fn("graphent.cli.worker")(function*({ agents, failoverAfter, host, maxRuns, port, tablePrefix }) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return yield* usageError(`--port must be 1 to 65535, got ${port}`)
    const limit = maxRuns._tag === "Some" ? maxRuns.value : 4 * os.availableParallelism()
    if (limit < 1) return yield* usageError(`--max-runs must be at least 1, got ${limit}`)
    if (failoverAfter < 2) return yield* usageError(`--failover-after must be at least 2 seconds, got ${failoverAfter}`)
    const url = yield* Config.Redacted("GRAPHENT_DATABASE_URL").pipe(
      Effect.mapError(() => usageError("set GRAPHENT_DATABASE_URL to the cluster's PostgreSQL database"))
    )
    const modules = yield* Effect.forEach(agents, (file) =>
      Effect.mapError(loadAgent(file), (error) => usageError(error.message)))
    const pg = { url: url as Redacted.Redacted<string> }
    const registered = Layer.effect(
      ClusterRuntime.ClusterAgents,
      Effect.gen(function*() {
        const map = new Map<string, ClusterRuntime.RegisteredAgent>()
        for (const module of modules) {
          const context = module.layer === undefined
            ? Context.empty()
            : yield* Layer.build(module.layer).pipe(
              Effect.mapError((error) =>
                new Exit({ code: 1, reason: `the layer of ${module.file} does not build: ${String(error)}` })
              )
            )
          map.set(module.agent.name, { agent: module.agent, context: context as Context.Context<never> })
        }
        return map
      })
    )
    const sharding = ClusterRuntime.failover(failoverAfter)
    const runner = ClusterRuntime.layerRunner({ pg, host, port, maxConcurrentRuns: limit, tablePrefix, sharding }).pipe(
      // Rate limits and run notices (GRAPHENT_RATE_LIMITS*, GRAPHENT_RUN_EVENTS_URL), as for `graphent run`, except:
      // the runner starts while the limits' Redis is down (its calls wait for it), and its notices go to the
      // cluster's own database unless GRAPHENT_RUN_EVENTS_URL says otherwise.
      Layer.provideMerge(FlowConfig.withFlow(JournalPg.layerPg({ pg, tablePrefix, cluster: true }), {
        rateLimitsConnect: "background",
        defaultBus: pg.url
      })),
      Layer.provideMerge(registered)
    )
    yield* Effect.gen(function*() {
      yield* writeLine(
        `graphent worker: runner ${host}:${port} (pid ${process.pid}), up to ${limit} runs at once; agents ` +
          modules.map((m) => `${m.agent.name} (${path.relative(process.cwd(), m.file)})`).join(", ")
      )
      return yield* Effect.never
    }).pipe(
      Effect.provide(runner),
      Effect.mapError((error) =>
        error instanceof Exit ? error : new Exit({ code: 1, reason: error instanceof Error ? error.message : String(error) })
      )
    )
  })
).pipe(
  Command.withDescription("Run a runner of a Graphent cluster (GRAPHENT_DATABASE_URL)"),
  Command.withExamples([
    {
      command: "GRAPHENT_DATABASE_URL=postgres://… graphent worker --agents agents/support.ts --port 34431",
      description: "A runner for one agent"
    }
  ])
)
