#!/usr/bin/env bash
# Checks the package as a user installs it: `npm pack`, then a consumer project outside this repo
# installs the tarball from the registry's point of view (its peer dependencies `effect`, `@effect/*`
# come from the registry), once beside the NEWEST releases of the peers and once beside the OLDEST
# the peer ranges allow. Each time it
#   - typechecks the README's Quickstart (skipLibCheck off) and runs it,
#   - typechecks and imports every entry point the manifest exports (`graphent`, `graphent/postgres`, ...),
#   - runs `npx graphent run` on the DEFAULT store (no GRAPHENT_STORE), with an agent that uses memory
#     (the embedded database) and one that does not, then `graphent trace list`, `graphent replay`
#     of a recorded run, and `graphent dev` (start, GET /healthz, stop), all from the installed copy.
# Before that it scans dist/ for imports of Node builtins without `node:` (a bundler that strips the
# prefix breaks `node:sqlite`, which has no other name) and for packages the manifest does not declare.
# Run after `npm run build`. Needs the npm registry.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node="$root/node_modules/.bin/node"
work="$(mktemp -d)"
dev_pid=""
cleanup() {
  if [ -n "$dev_pid" ]; then kill "$dev_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "check-package: $*" >&2; exit 1; }

# The package's Node.js (graphent needs >= 22.19) first on PATH, for npx and the bin's `#!/usr/bin/env node`.
mkdir -p "$work/bin"
ln -s "$(readlink -f "$node")" "$work/bin/node"
export PATH="$work/bin:$PATH"

# --- dist/ imports: builtins keep `node:`, every package is declared -----------------------------------
"$node" --input-type=module - "$root" <<'JS'
import * as fs from "node:fs"
import * as path from "node:path"
import { builtinModules } from "node:module"
const root = process.argv[2]
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})])
const problems = []
const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith(".js") ? [path.join(dir, e.name)] : [])
for (const file of walk(path.join(root, "dist"))) {
  const text = fs.readFileSync(file, "utf8")
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s*)["']([^"'./\s][^"'\s]*)["']/gm)) {
    const spec = m[1]
    if (spec.startsWith("node:")) continue
    const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]
    if (builtinModules.includes(name)) problems.push(`${path.relative(root, file)}: imports builtin "${spec}" without node:`)
    else if (!declared.has(name)) problems.push(`${path.relative(root, file)}: imports "${spec}", not a dependency or peer`)
  }
}
if (problems.length > 0) { console.error(problems.join("\n")); process.exit(1) }
JS
echo "check-package: dist/ imports builtins as node:*, and only declared packages"

(cd "$root" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/graphent-*.tgz)"

# The peers at the newest release, or at the lowest version their range allows (`^4.1.0` -> 4.1.0).
peers() {
  "$node" -e '
    const pkg = require(process.argv[1]); const which = process.argv[2]
    for (const [name, range] of Object.entries(pkg.peerDependencies))
      console.log(`${name}@${which === "newest" ? "latest" : range.replace(/^[\^~>=]+/, "")}`)
  ' "$root/package.json" "$1"
}

quickstart() {
  "$node" -e '
    const readme = require("fs").readFileSync(process.argv[1], "utf8")
    process.stdout.write(/```ts\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("## Quickstart")))[1])
  ' "$root/README.md"
}

check() {
  local which="$1" consumer="$work/consumer-$1"
  mkdir -p "$consumer"
  cd "$consumer"
  echo '{ "name": "consumer", "private": true, "type": "module" }' > package.json
  # shellcheck disable=SC2046
  npm install --no-audit --no-fund --loglevel=error "$tarball" $(peers "$which") "@types/node@^24" >/dev/null
  local installed
  installed="$("$node" -p 'require("effect/package.json").version')"
  [ "$(find node_modules -path '*node_modules/effect/package.json' | wc -l)" = 1 ] ||
    fail "[$which] more than one copy of effect installed: $(find node_modules -path '*node_modules/effect/package.json')"

  cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2023", "lib": ["ES2023", "DOM"], "module": "NodeNext", "moduleResolution": "NodeNext",
    "strict": true, "noEmit": true, "skipLibCheck": false, "types": ["node"]
  },
  "include": ["*.ts"]
}
JSON
  quickstart > quickstart.ts
  # Every entry point the manifest exports, typechecked (its .d.ts, skipLibCheck off) and imported at run time.
  local entries
  entries="$("$node" -p 'Object.keys(require(process.argv[1]).exports).filter((k) => k !== "./package.json").map((k) => k === "." ? "graphent" : `graphent/${k.slice(2)}`).join(" ")' "$root/package.json")"
  {
    local i=0
    for entry in $entries; do
      echo "import * as entry$i from \"$entry\""
      echo "export const names$i: ReadonlyArray<string> = Object.keys(entry$i)"
      i=$((i + 1))
    done
    echo 'import * as Testing from "graphent/testing"'
    echo 'import { JournalFile, Replay } from "graphent"'
    echo 'export const check: [typeof Testing.layer, typeof Replay.replay, typeof JournalFile.readFile] = [Testing.layer, Replay.replay, JournalFile.readFile]'
  } > imports.ts
  cp "$root/examples/echo.ts" "$root/examples/todo.ts" .
  "$root/node_modules/.bin/tsc" -p . || fail "[$which] the Quickstart does not typecheck against effect $installed"
  [ "$(node quickstart.ts)" = "HELLO" ] || fail "[$which] the Quickstart did not print HELLO"
  for entry in $entries; do
    node --input-type=module -e "const m = await import('$entry'); if (Object.keys(m).length === 0) throw new Error('exports nothing')" ||
      fail "[$which] import \"$entry\" fails at run time"
  done
  echo "check-package: [$which] every entry point typechecks and imports: $entries"

  # `--help` / `--version` print the text the built CLI printed at build time: the same as the CLI prints now.
  for flag in --help --version; do
    [ "$(npx graphent $flag)" = "$(node node_modules/graphent/dist/programs/cli.js $flag)" ] ||
      fail "[$which] graphent $flag differs from what the CLI prints"
  done

  # The default store: nothing configured.
  unset GRAPHENT_STORE GRAPHENT_HOME GRAPHENT_DATABASE_URL GRAPHENT_REDIS_URL
  [ "$(npx graphent run echo.ts --input hi)" = "hi" ] || fail "[$which] graphent run echo.ts"
  npx graphent run todo.ts --input "add buy milk" >/dev/null || fail "[$which] graphent run todo.ts (memory in the embedded store)"
  npx graphent run todo.ts --input "list" | grep -q "buy milk" || fail "[$which] todo.ts did not remember across runs"
  npx graphent run echo.ts --input again --record run.jsonl >/dev/null
  local listed
  listed="$(npx graphent trace list)"
  [ "$(grep -c . <<<"$listed")" -ge 4 ] || fail "[$which] graphent trace list shows the 4 runs, got: $listed"
  npx graphent replay run.jsonl | grep -q "^identical" || fail "[$which] graphent replay run.jsonl"

  # The bin itself, not npx: `kill` then reaches the server, not a wrapper.
  node_modules/.bin/graphent dev --port 0 --agents echo.ts > dev.out 2>&1 &
  dev_pid=$!
  local url=""
  for _ in $(seq 1 150); do
    url="$(sed -n 's/^graphent dev: serving on //p' dev.out)"
    [ -n "$url" ] && break
    kill -0 "$dev_pid" 2>/dev/null || fail "[$which] graphent dev exited: $(cat dev.out)"
    sleep 0.2
  done
  [ -n "$url" ] || fail "[$which] graphent dev did not start: $(cat dev.out)"
  node -e 'fetch(process.argv[1]).then(async (r) => { if (!r.ok) throw new Error(`${r.status} ${await r.text()}`) })' "$url/healthz" ||
    fail "[$which] GET $url/healthz"
  kill "$dev_pid"
  wait "$dev_pid" 2>/dev/null || true
  dev_pid=""
  echo "check-package: [$which peers, effect $installed] Quickstart typechecks and runs; run (default store), trace list, replay, dev work"
}

check newest
check oldest
"$root/scripts/check-plain-js.sh" "$tarball"
