/**
 * The embedded PostgreSQL (PGlite, compiled to WebAssembly) as an effect/sql `SqlClient`: the
 * PostgreSQL backends (`graphent/postgres`) with no server to run: `import { Pglite } from "graphent/pglite"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as Pglite from "./layers/Pglite.js"
