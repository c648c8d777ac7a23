/**
 * The HTTP API and its server: the API's definition (the published contract), API-key auth, the
 * request edge, and the server that serves runs and the trace viewer: `import { Server } from "graphent/server"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as Api from "./api/Api.js"
/** @since 0.1.0 */
export * as ApiAuth from "./api/Auth.js"
/** @since 0.1.0 */
export * as ApiEdge from "./api/Edge.js"
/** @since 0.1.0 */
export * as Server from "./programs/server.js"
