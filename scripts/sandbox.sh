#!/usr/bin/env bash
# Command 1 of the README: set everything up, then open the TUI on the local sandbox stack.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mlopstui --sandbox "$@"
