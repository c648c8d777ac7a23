/**
 * The metrics of a runner's run slots: how many runs execute and how many
 * wait for a slot. `RunsLocal` limits the runs of one process
 * (`maxConcurrent` slots, `maxQueued` waiting, then `RunsOverloaded`, outcome
 * `overloaded`: HTTP 429) and reports both numbers here; a cluster runner
 * reports its own the same way. The `Telemetry` layers export them with the
 * other metrics (`GET /metrics`, OTLP).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Metric from "effect/Metric"

/**
 * The metrics, by name (Prometheus style).
 *
 * @since 0.3.0
 * @category metrics
 */
export const metrics = {
  running: { name: "graphent_runs_running", description: "Runs executing in this process (holding a slot)." },
  queued: { name: "graphent_runs_queued", description: "Runs waiting for a slot in this process (queue depth)." }
} as const

/**
 * The gauges of {@link metrics}.
 *
 * @since 0.3.0
 * @category metrics
 */
export const gauges = {
  running: Metric.gauge(metrics.running.name, { description: metrics.running.description }),
  queued: Metric.gauge(metrics.queued.name, { description: metrics.queued.description })
} as const

const empty = Context.empty()

/**
 * Records how many runs execute and how many wait (called on every change).
 *
 * @since 0.3.0
 * @category metrics
 */
export const observe = (runs: number, waiting: number): void => {
  gauges.running.updateUnsafe(runs, empty)
  gauges.queued.updateUnsafe(waiting, empty)
}
