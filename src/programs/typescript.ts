/**
 * The TypeScript loader for agent files in the `graphent` executable: tsx,
 * registered just before the first agent module is imported. Registering it
 * later than start-up keeps it out of the CLI's own start: every module
 * imported after registration goes through the loader's hooks (on a separate
 * thread), which doubled the CPU time of a CLI start when it came first.
 *
 * Only the executable asks for it (bin/graphent.js marks the process); a
 * program that imports Graphent as a library keeps its own loader.
 *
 * @since 0.1.0
 */

const state = Symbol.for("graphent/typescript-loader")

type State = "on-demand" | "registered"

/**
 * Registers tsx's ESM loader when the process asked for it on demand and has
 * not registered it yet.
 *
 * @since 0.1.0
 * @category loading
 */
export const registerTypeScript = async (): Promise<void> => {
  const global = globalThis as { [state]?: State }
  if (global[state] !== "on-demand") return
  global[state] = "registered"
  const { register } = await import("tsx/esm/api")
  register()
}
