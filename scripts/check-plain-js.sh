#!/usr/bin/env bash
# Checks the Promise API as a plain JavaScript application uses it: the packed package installed in a consumer
# project (its peers, effect included, from the registry), then a `.mjs` file with no TypeScript and no import of
# `effect` — only `graphent` — that declares a tool as an async function, runs an agent, streams a run, catches a
# failed run by its error class, replays a run, and closes. The process must exit by itself (no handle left open).
# Usage: scripts/check-plain-js.sh [graphent-x.y.z.tgz]   (without one, `npm pack`s this checkout; run
# `npm run build` first). check-package.sh calls it with its own tarball. Needs the npm registry.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node="$root/node_modules/.bin/node"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "check-plain-js: $*" >&2; exit 1; }

tarball="${1:-}"
if [ -z "$tarball" ]; then
  (cd "$root" && npm pack --silent --pack-destination "$work" >/dev/null)
  tarball="$(ls "$work"/graphent-*.tgz)"
fi
mkdir -p "$work/bin" "$work/consumer"
ln -s "$(readlink -f "$node")" "$work/bin/node"
export PATH="$work/bin:$PATH"
cd "$work/consumer"
echo '{ "name": "plain-js-consumer", "private": true, "type": "module" }' > package.json
npm install --no-audit --no-fund --loglevel=error "$tarball" >/dev/null

cat > main.mjs <<'JS'
import { Agent, Graphent, SequencePlanner } from "graphent"

const { Schema } = Graphent
const temperature = Graphent.tool("temperature", {
  description: "The temperature in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Number,
  handler: async ({ city }) => {
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (city === "Atlantis") throw new Error("no weather station in Atlantis")
    return city.length
  }
})
const agent = Agent.make({
  name: "weather",
  tools: [temperature],
  planner: SequencePlanner.rules([{ match: /.+/, steps: (input) => [{ id: "t", tool: "temperature", args: { city: input } }] }])
})
const graphent = Graphent.create({ agents: [agent] })

const result = await graphent.run(agent, "Paris")
console.log(`run: ${result.answer}`)
const tags = []
for await (const event of graphent.stream("weather", "Rome")) tags.push(event._tag)
console.log(`stream: ${tags.join(",")}`)
try {
  await graphent.run(agent, "Atlantis")
  console.log("error: none")
} catch (error) {
  console.log(`error: ${error instanceof Graphent.ToolFailed} ${error instanceof Error} ${error.message}`)
}
const report = await graphent.replay(result)
console.log(`replay: ${report.outcome.answer}`)
await graphent.close()
JS
grep -q 'from "effect' main.mjs && fail "main.mjs must not import effect"

expected='run: 5
stream: RunStarted,DecisionMade,StepStarted,StepSucceeded,DecisionMade,RunCompleted
error: true true step "t": tool "temperature" failed: no weather station in Atlantis
replay: 5'
# `timeout`: a process kept alive by a handle Graphent left open would never exit by itself.
output="$(timeout 60 node main.mjs)" || fail "node main.mjs failed or did not exit by itself (status $?)"
[ "$output" = "$expected" ] || fail "unexpected output:
$output
expected:
$expected"
echo "check-plain-js: a plain .mjs application (no TypeScript, no effect import) runs, streams, catches ToolFailed, replays, closes and exits"
