#!/usr/bin/env bash
# The experiments of the README ("Learning without 3-D labels", "Training speed"):
#   ./scripts/experiments.sh all        # or selfsup | real | depth | texture | speed | pseudo | finetune (bundled: the recipe)
# Needs the synthetic set (./scripts/make_synthetic.sh), for finetune the bundled recipe's data/FreiHAND_synth_large, and, for real / texture, ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m cmr experiment "${1:-all}"
