#!/usr/bin/env bash
# The experiments of learning without 3-D labels (README, "Learning without 3-D labels"):
#   ./scripts/experiments.sh all        # or selfsup | real | depth | texture
# Needs the synthetic set (./scripts/make_synthetic.sh) and, for real / texture, ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m cmr experiment "${1:-all}"
