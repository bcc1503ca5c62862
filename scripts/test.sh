#!/usr/bin/env bash
# The README's test command: set up what is missing, then run unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node test/run-all.mjs "$@"
