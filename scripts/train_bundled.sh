#!/usr/bin/env bash
# The bundled default, cmr/assets/lite_real.pt, from nothing: the large synthetic set; the real
# photos of ../shared/data/real_unlabeled with their detections and pseudo-labels (and their
# figure); the lite CMR-G trained 11 epochs (configs/lite_real.yaml), then 18 more from those
# weights (configs/lite_real_continued.yaml), then 20 more with a moving average of the weights
# (configs/lite_real_averaged.yaml), then 16 more on a second synthetic set of new renders
# (configs/lite_real_fresh.yaml), then 22 more back on the first set (configs/lite_real_longer.yaml),
# about 7 hours on 2 CPU cores, each stage resumed when
# interrupted; the export, the training curves and the scores on the synthetic evaluation split
# and Ge et al.'s real dev crops (out/experiments/bundled/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/make_synthetic.sh --root data/FreiHAND_synth_large --training 6000
./scripts/make_synthetic.sh --root data/FreiHAND_synth_large_b --training 6000 --seed 1
python -m cmr experiment pseudo
python -m cmr experiment bundled
