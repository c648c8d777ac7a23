#!/usr/bin/env bash
# Checks the built package as a consumer sees it: a project outside this repo
# imports "graphent" and "graphent/testing" from dist/ (through package.json
# "exports"), typechecks with skipLibCheck off, and runs the quickstart.
# Run after `npm run build`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
consumer="$(mktemp -d)"
trap 'rm -rf "$consumer"' EXIT

mkdir -p "$consumer/node_modules"
ln -s "$root" "$consumer/node_modules/graphent"
for dep in effect @effect @types tsx; do ln -s "$root/node_modules/$dep" "$consumer/node_modules/$dep"; done
echo '{ "type": "module" }' > "$consumer/package.json"
cat > "$consumer/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2023", "lib": ["ES2023", "DOM"], "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "noEmit": true, "skipLibCheck": false, "types": ["node"]
  },
  "include": ["main.ts"]
}
JSON
cp "$root/examples/quickstart.ts" "$consumer/main.ts"
cat >> "$consumer/main.ts" <<'TS'

import * as Testing from "graphent/testing"
import { JournalFile, Replay } from "graphent"
export const check: [typeof Testing.layer, typeof Replay.replay, typeof JournalFile.readFile] = [Testing.layer, Replay.replay, JournalFile.readFile]
TS
"$root/node_modules/.bin/tsc" -p "$consumer"
output="$(cd "$consumer" && "$root/node_modules/.bin/node" main.ts)"
if [ "$output" != "HELLO" ]; then
  echo "check-package: the quickstart printed '$output', expected HELLO" >&2
  exit 1
fi
echo "check-package: dist typechecks and runs for a consumer"
