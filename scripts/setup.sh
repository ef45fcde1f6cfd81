#!/usr/bin/env bash
# Installs everything the gateway needs and builds it: Debian packages (ffmpeg, espeak-ng; Chromium and
# redis-server with --with-test-deps), npm packages of the server and of the demo, then the compiled server and the demo page.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh "$@"

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error(`Node ${process.versions.node} is too old: the gateway needs Node 20.19 or newer (22 or 24 LTS recommended).`); process.exit(1); }'

npm ci --no-audit --no-fund --loglevel=error
npm ci --prefix frontend --no-audit --no-fund --loglevel=error
npm run build --silent
