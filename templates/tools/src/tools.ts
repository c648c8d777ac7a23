/**
 * Tools that reach outside the process, each declaring what it needs: the
 * shell tool runs `wc` jailed in the project folder (`shell:wc`), the HTTP
 * tool may only reach the npm registry (`net:registry.npmjs.org`). The policy
 * file (policy.json, named by GRAPHENT_POLICY) says which principal may use
 * which.
 */
import { Schema } from "effect"
import { ShellTool } from "graphent"
import { HttpTool } from "graphent/http-tool"

export const countWords = ShellTool.make("count_words", {
  description: "Counts the lines, words and bytes of a file in the project.",
  command: "wc",
  args: ["{file}"],
  parameters: Schema.Struct({ file: Schema.String }),
  paths: ["file"],
  root: process.cwd()
})

export const latestVersion = HttpTool.make("latest_version", {
  description: "Reads the latest version of a package from the npm registry.",
  url: "https://registry.npmjs.org/{name}/latest",
  hosts: ["registry.npmjs.org"],
  parameters: Schema.Struct({ name: Schema.String }),
  success: Schema.Struct({ name: Schema.String, version: Schema.String })
})
