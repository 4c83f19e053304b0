#!/usr/bin/env bash
# Regenerate template/ (hand.npz, hand.json, hand.ply, preview.png) from the open hand model.
# Deterministic: rerunning gives byte-identical hand.npz / hand.json / hand.ply.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m cmr template "$@"
