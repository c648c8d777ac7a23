/**
 * Memory on Redis (`ioredis`): `import { MemoryRedis } from "graphent/redis"`.
 *
 * A sub-path of its own, so that `import "graphent"` does not load it.
 *
 * @since 0.2.0
 */

/** @since 0.1.0 */
export * as MemoryRedis from "./layers/MemoryRedis.js"
/** @since 0.3.0 */
export * as RateLimitsRedis from "./layers/RateLimitsRedis.js"
