#!/usr/bin/env bash
# Train on FreiHAND (default: CMR-SG, the reference schedule). Any config and overrides:
#   ./scripts/train_freihand.sh --config configs/compact_synth.yaml TRAIN.EPOCHS 3
# Several GPUs on this machine: NPROC=4 ./scripts/train_freihand.sh ...  (torchrun + DDP)
# Resume an interrupted run: add TRAIN.RESUME last.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -eq 0 ] || [ "$1" != "--config" ]; then
    set -- --config configs/cmr_sg_freihand.yaml "$@"
fi
if [ "${NPROC:-1}" -gt 1 ]; then
    exec torchrun --standalone --nproc_per_node "$NPROC" -m cmr train "$@"
fi
exec python -m cmr train "$@"
