#!/usr/bin/env bash
# Regenerate template/ (hand.npz, hand.json, hand.ply, preview.png) from the open hand model.
# Deterministic on any machine: every run gives byte-identical hand.npz / hand.json / hand.ply
# (see cmr/tools/hand_template.py; tests/test_template.py checks the committed files).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python -m cmr template "$@"
