#!/usr/bin/env bash
# Idempotent setup used by `npm start`, `npm test` and `npm run bench`:
# installs node modules when missing, compiles the TypeScript, finds or fetches nats-server >= 2.10.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "woods: installing node modules (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
./node_modules/.bin/tsc -p . >&2
bash scripts/ensure-nats-server.sh >/dev/null
