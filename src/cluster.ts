/**
 * Scale-out: durable agent runs sharded over runner processes on Effect's
 * `effect/cluster` + `effect/workflow`, stored in PostgreSQL:
 * `import { ClusterRuntime } from "graphent/cluster"`; `RunsCluster` serves a cluster's runs over the
 * HTTP API (`graphent dev --cluster`). See docs/scaling.md.
 *
 * A sub-path of its own, so that `import "graphent"` does not load the cluster.
 *
 * @since 0.3.0
 */

/** @since 0.3.0 */
export * as ClusterRuntime from "./layers/ClusterRuntime.js"

/** @since 0.3.0 */
export * as RunsCluster from "./layers/RunsCluster.js"
