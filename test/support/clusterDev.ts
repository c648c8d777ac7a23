/** `graphent dev --cluster` for the cluster tests: the server `CliDev.prepare` builds, in the test process, and its HTTP client. */
import * as path from "node:path"
import { ConfigProvider, Context, Effect, Layer, type Scope } from "effect"
import * as HttpServer from "effect/http/HttpServer"
import * as CliDev from "../../src/programs/cliDev.js"
import * as RunEventsBus from "../../src/services/RunEventsBus.js"

/** The API keys of {@link devServer}: an `admin` (ana) and a `runner` (bob). */
export const keys = { admin: "admin-secret", runner: "runner-secret" }

/**
 * `graphent dev --cluster --agents <agentFile>` on a free port over the cluster database `url`, with {@link keys}
 * and no `GRAPHENT_RUN_EVENTS_URL` (the bus is on by default, on the cluster's database): its URL and bus.
 */
export const devServer = (options: { readonly url: string; readonly agentFile: string; readonly scope: Scope.Scope }) =>
  Effect.gen(function*() {
    const prepared = yield* CliDev.prepare({
      port: 0,
      host: "127.0.0.1",
      agents: [path.resolve(options.agentFile)],
      maxConcurrent: 4,
      maxQueued: 16,
      logRequests: false,
      cluster: true
    })
    const context = yield* Layer.buildWithScope(prepared.layer, options.scope)
    return {
      url: HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address),
      bus: Context.get(context, RunEventsBus.RunEventsBus).backend
    }
  }).pipe(
    Effect.provideService(
      ConfigProvider.ConfigProvider,
      ConfigProvider.fromEnv({
        env: {
          GRAPHENT_DATABASE_URL: options.url,
          GRAPHENT_API_KEYS: `${keys.admin}:admin:ana,${keys.runner}:runner:bob`
        }
      })
    )
  )

/** A JSON client of the server at `url` with the API key `key`: status and body of each request. */
export const api = (url: string, key: string) => async (method: string, route: string, body?: unknown) => {
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, body: await response.json() as Record<string, any> }
}
