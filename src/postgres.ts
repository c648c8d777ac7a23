/**
 * PostgreSQL backends: journals, memory (with pgvector recall), the audit log and accepted runs on a
 * PostgreSQL server through `@effect/sql-pg`: `import { JournalPg, MemoryPg } from "graphent/postgres"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as AuditPg from "./layers/AuditPg.js"
/** @since 0.1.0 */
export * as JournalPg from "./layers/JournalPg.js"
/** @since 0.1.0 */
export * as MemoryPg from "./layers/MemoryPg.js"
/** @since 0.1.0 */
export * as AcceptedRunsSql from "./layers/AcceptedRunsSql.js"
/** @since 0.3.0 */
export * as RunEventsBusPg from "./layers/RunEventsBusPg.js"
