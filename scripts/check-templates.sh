#!/usr/bin/env bash
# Every `graphent init` template, from the packed package as users install it: pack graphent, install the tarball
# into a scratch folder, run that copy's `graphent init` for each template, install the generated project (the
# tarball for graphent, the rest from the npm registry), then run its `npm test` and the example its README shows.
# Run after `npm run build` (CI: .ci/run). Takes a few minutes: one `npm install` per template.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The generated projects' tests run on this repository's Node (24), as npm scripts here do.
export PATH="$root/node_modules/.bin:$PATH"
export GRAPHENT_MODEL= GRAPHENT_STORE=memory GRAPHENT_DATABASE_URL= GRAPHENT_REDIS_URL= GRAPHENT_HOME= npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

tarball="$work/$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -1)"
mkdir "$work/cli" && (cd "$work/cli" && echo '{ "type": "module", "private": true }' > package.json && npm install --silent "$tarball")
graphent="$work/cli/node_modules/.bin/graphent"

check() {
  local template=$1 input=$2 expected=$3
  local project="$work/$template-project"
  "$graphent" init "$project" --template "$template" >/dev/null
  (cd "$project" && npm install --silent "$tarball" && npm test --silent)
  local answer
  answer="$(cd "$project" && npx --offline graphent run src/agent.ts --input "$input")"
  if [ "$answer" != "$expected" ]; then
    echo "check-templates: $template answered '$answer', expected '$expected'" >&2
    exit 1
  fi
  echo "check-templates: $template installs from the tarball, passes its tests, runs its example"
}

check minimal "Ada" "Hello, Ada!"
check llm "what is (2 + 3) * 4?" "The answer is 20."
# db: its example on the default store (embedded PGlite with pgvector, in the project's .graphent/), its tests on
# PGlite in memory; a second process recalls what the first one remembered.
GRAPHENT_STORE=auto check db "remember the deploy key is in the vault; recall where is the deploy key?" \
  "$(printf 'Remembered: the deploy key is in the vault\n0.73  the deploy key is in the vault')"
recalled="$(cd "$work/db-project" && GRAPHENT_STORE=auto npx --offline graphent run src/agent.ts --input "recall the vault")"
case "$recalled" in *"the deploy key is in the vault"*) echo "check-templates: db keeps its notes across processes" ;;
  *) echo "check-templates: db: a new process did not recall the note: $recalled" >&2; exit 1 ;; esac
GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=me check tools "count test/fixtures/poem.txt" "15 words in 2 lines"
# The policy at work from the installed CLI: a guest may not reach the network; the call is denied before any request.
if denied="$(cd "$work/tools-project" && GRAPHENT_POLICY=policy.json GRAPHENT_PRINCIPAL=guest \
  npx --offline graphent run src/agent.ts --input "latest effect" 2>&1)"; then
  echo "check-templates: tools: a guest's HTTP call was not denied" >&2
  exit 1
fi
case "$denied" in *ToolDenied*|*denied*) echo "check-templates: tools denies a guest the HTTP tool" ;;
  *) echo "check-templates: tools: unexpected failure: $denied" >&2; exit 1 ;; esac
