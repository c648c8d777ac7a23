#!/usr/bin/env bash
# Re-records the golden journal of every `graphent init` template (templates/<name>/test/fixtures/agent.jsonl)
# by running the template's own agent with this checkout's graphent: the journals are real recordings, and the
# agent file they name is the one the generated project has (src/agent.ts). Run it after changing a template.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# The db template's run keeps its notes in an embedded store (PGlite with pgvector) of its own, as a project does;
# the others need no store.
home="$(mktemp -d)"
trap 'rm -rf "$home"' EXIT
record() {
  local template=$1 input=$2 store=${3-memory}
  (cd "templates/$template" && GRAPHENT_STORE=$store GRAPHENT_HOME="$home/$template" GRAPHENT_MODEL= \
    GRAPHENT_DATABASE_URL= GRAPHENT_REDIS_URL= TSX_TSCONFIG_PATH="$root/tsconfig.json" \
    GRAPHENT_POLICY="$(test -f policy.json && echo policy.json)" GRAPHENT_PRINCIPAL="$(test -f policy.json && echo me)" \
    "$root/node_modules/.bin/node" "$root/bin/graphent.js" run src/agent.ts --input "$input" --record test/fixtures/agent.jsonl)
}
record minimal "Ada"
record llm "what is (2 + 3) * 4?"
record tools "count test/fixtures/poem.txt"
record db "remember the deploy key is in the vault; remember lunch is at noon; recall where is the deploy key?" auto
