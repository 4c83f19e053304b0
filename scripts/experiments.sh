#!/usr/bin/env bash
# The experiments of the README ("Learning without 3-D labels", "Training speed"):
#   ./scripts/experiments.sh all        # or selfsup | real | depth | texture | speed | pseudo (bundled: the recipe)
# Needs the synthetic set (./scripts/make_synthetic.sh) and, for real / texture, ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m cmr experiment "${1:-all}"
