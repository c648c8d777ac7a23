/**
 * Embedded stores (`GRAPHENT_HOME`) for tests that run the CLI. Creating one
 * takes seconds (PGlite's initdb), so a test file creates one store and its
 * tests keep apart by table prefix (`GRAPHENT_STORE_PREFIX`): a new prefix is
 * a new, empty set of tables in the same database.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { EmbeddingLocal, Storage } from "graphent"

/** Creates an embedded store in a new temporary folder (call it in `beforeAll`, with a long timeout). */
export const makeHome = async (): Promise<string> => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "graphent-home-"))
  await Effect.runPromise(
    Layer.build(Storage.layer({ home }).pipe(Layer.provide(EmbeddingLocal.layer))).pipe(Effect.scoped)
  )
  return home
}

let prefixes = 0

/** A table prefix no other test of this process uses. */
export const uniquePrefix = (): string => `t${process.pid}_${++prefixes}`

export const removeHome = (home: string): void => fs.rmSync(home, { recursive: true, force: true })
