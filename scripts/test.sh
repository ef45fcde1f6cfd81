#!/usr/bin/env bash
# The project's whole test suite, as CI runs it (.ci/run calls this and nothing else):
#   1. install and build (scripts/setup.sh)
#   2. type check (server and demo) and lint
#   3. server unit + e2e specs (Jest) on this machine's Node
#   4. the same specs on Node 24 LTS, installed from the npm registry's `node@24` package into .node24/
#      (skip with TEST_NODE24=0)
#   5. the demo page's unit tests (Vitest)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh --with-test-deps

echo "== type check and lint"
npm run --silent typecheck
npm --prefix frontend run --silent typecheck
npm run --silent lint
npm run --silent format:check

echo "== server specs on Node $(node --version)"
npx jest --config jest.config.js --ci

if [[ "${TEST_NODE24:-1}" != "0" ]]; then
  echo "== server specs on Node 24"
  bash scripts/with-node24.sh npx jest --config jest.config.js --ci
fi

echo "== demo page specs"
npm --prefix frontend test --silent
