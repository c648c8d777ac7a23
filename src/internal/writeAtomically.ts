/**
 * One file write, atomic: shared by the folder stores (accepted runs, experiments).
 */
import * as fs from "node:fs"

/** Writes `contents` to `file` so that readers see the old file, or the whole new one (also after a crash). */
export const writeAtomically = (file: string, contents: string): void => {
  const temporary = `${file}.${process.pid}.tmp`
  const fd = fs.openSync(temporary, "w")
  try {
    fs.writeSync(fd, contents)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(temporary, file)
}
