#!/usr/bin/env bash
# `npm start`: set up what is missing, then run a local cluster in the foreground
# (nats-server + namenode + 3 datanodes in ./data). Extra args go to `woods cluster up`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
exec node "$ROOT/bin/woods.js" cluster up "$@"
