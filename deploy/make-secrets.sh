#!/usr/bin/env bash
# Writes deploy/secrets/: one credentials file per woods role and per datanode (mode 0600) and the
# nats-server config shared by the three servers of docker-compose.yml (users, permissions, routes),
# with the code `woods cluster up` uses (cli/deploy-secrets.ts → cli/cluster/auth.ts).
# Existing passwords are kept. Options: deploy/make-secrets.sh --help.
#
# Runs with the host's Node when the project is built (npm ci && npm run build), else with tsx when the
# dev dependencies are installed, else inside the woods image (needs only Docker).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if command -v node >/dev/null 2>&1 && [ -f dist/cli/deploy-secrets.js ]; then
  exec node dist/cli/deploy-secrets.js "$@"
fi
if command -v node >/dev/null 2>&1 && [ -d node_modules/tsx ]; then
  exec node --import tsx cli/deploy-secrets.ts "$@"
fi
if command -v docker >/dev/null 2>&1; then
  # The image holds the compiled generator and the template; run it as root so it can hand the
  # credentials to the image's user (10001), writing into the host's deploy/secrets.
  docker build -q -t whispering-woods:latest . >/dev/null
  mkdir -p deploy/secrets
  exec docker run --rm --user 0 -v "$ROOT/deploy/secrets:/app/deploy/secrets" \
    --entrypoint node whispering-woods:latest dist/cli/deploy-secrets.js "$@"
fi
echo "make-secrets: needs Node 20 (npm ci && npm run build) or Docker" >&2
exit 1
