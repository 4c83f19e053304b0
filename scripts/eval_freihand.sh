#!/usr/bin/env bash
# Evaluate a run on FreiHAND's evaluation split (default: CMR-SG's config; its best checkpoint).
#   ./scripts/eval_freihand.sh --config configs/compact_synth.yaml
#   ./scripts/eval_freihand.sh --config configs/cmr_sg_freihand.yaml --checkpoint path/to/cmr_sg_res18_freihand.pt
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ] || [ "$1" != "--config" ]; then
    set -- --config configs/cmr_sg_freihand.yaml "$@"
fi
exec python -m cmr eval "$@"
