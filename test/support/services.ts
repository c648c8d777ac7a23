/**
 * The PostgreSQL and Redis servers the tests use, and a check (vitest's globalSetup) that
 * they answer before any test starts: a missing server fails the run at once with one line
 * naming it and the variable that points at it, instead of tests timing out one by one.
 *
 * - `GRAPHENT_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`):
 *   a database where the tests may create and drop tables (each run uses its own prefix).
 * - `GRAPHENT_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).
 */
import * as net from "node:net"

/** The test database's URL. */
export const pgUrl = process.env.GRAPHENT_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** The test Redis server's URL. */
export const redisUrl = process.env.GRAPHENT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"

const parsedPg = new URL(pgUrl)

/** {@link pgUrl} as `PgClient.layer` options. */
export const pgConfig = {
  host: parsedPg.hostname,
  port: Number(parsedPg.port || 5432),
  database: decodeURIComponent(parsedPg.pathname.slice(1)) || "postgres",
  username: decodeURIComponent(parsedPg.username) || "postgres"
} as const

interface Service {
  readonly name: string
  readonly variable: string
  readonly url: string
  readonly defaultPort: number
}

const services: ReadonlyArray<Service> = [
  { name: "PostgreSQL", variable: "GRAPHENT_TEST_DATABASE_URL", url: pgUrl, defaultPort: 5432 },
  { name: "Redis", variable: "GRAPHENT_TEST_REDIS_URL", url: redisUrl, defaultPort: 6379 }
]

/** Why `service` cannot be reached (one line), or `undefined` when it accepts a connection. */
const unreachable = (service: Service): Promise<string | undefined> => {
  const url = new URL(service.url)
  const host = url.hostname.replace(/^\[|\]$/g, "")
  const port = Number(url.port || service.defaultPort)
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (problem: string | undefined) => {
      socket.destroy()
      resolve(problem)
    }
    socket.setTimeout(3_000, () => done("no answer within 3 s"))
    socket.once("connect", () => done(undefined))
    socket.once("error", (error) => done(error.message))
  }).then((problem) =>
    problem === undefined
      ? undefined
      : `${service.name} is not reachable at ${host}:${port} (${problem}): start it, or set ${service.variable}`
  )
}

/** vitest globalSetup: fails the run before any test when a server is missing. */
export default async function checkServices(): Promise<void> {
  const problems = (await Promise.all(services.map(unreachable))).filter((problem) => problem !== undefined)
  if (problems.length > 0) throw new Error(`the tests need these servers: ${problems.join("; ")}`)
}
