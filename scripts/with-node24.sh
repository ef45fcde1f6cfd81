#!/usr/bin/env bash
# Runs a command with Node 24 LTS first on PATH. Node 24 comes from the npm registry's `node@24` package,
# installed once into .node24/ (git-ignored); nothing else on the machine changes.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.node24
if [[ ! -x "$dir/node_modules/.bin/node" ]]; then
  mkdir -p "$dir"
  [[ -f "$dir/package.json" ]] || echo '{ "private": true }' > "$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error node@24 >/dev/null
fi
export PATH="$PWD/$dir/node_modules/.bin:$PATH"
echo "with-node24: $(node --version)" >&2
exec "$@"
