/**
 * Where a project's own files go, found from any folder inside it.
 */
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * `.graphent` in the nearest folder up from `cwd` that holds a
 * `package.json`, else in `cwd`.
 */
export const projectHome = (cwd: string = process.cwd()): string => {
  let dir = path.resolve(cwd)
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return path.join(dir, ".graphent")
    const parent = path.dirname(dir)
    if (parent === dir) return path.join(path.resolve(cwd), ".graphent")
    dir = parent
  }
}
