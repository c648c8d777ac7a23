/** The test process's own client of a cluster made by the cluster tests (see clusterDb.ts and clusterProcs.ts). */
import { Layer, Redacted } from "effect"
import { ClusterRuntime } from "graphent/cluster"
import { JournalPg } from "graphent/postgres"
import { layer as sfxLayer } from "../fixtures/cluster/sfxAgent.js"

/**
 * A client of the cluster on `url` (submit, status, events, cancel, approve), with its journal and the
 * side-effect agent's database, for the test process itself.
 */
export const clusterClient = (url: string) => {
  const pg = { url: Redacted.make(url) }
  return ClusterRuntime.layerClient({ pg }).pipe(
    Layer.provideMerge(JournalPg.layerPg({ pg })),
    Layer.provideMerge(sfxLayer)
  )
}
