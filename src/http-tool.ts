/**
 * The guarded HTTP tool: allow-listed hosts, no private addresses, size and time limits: `import { HttpTool } from "graphent/http-tool"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as HttpTool from "./tools/HttpTool.js"
