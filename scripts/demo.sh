#!/usr/bin/env bash
# Camera-space meshes of every hand in a folder of photos; see `python -m cmr demo --help`.
# Example: scripts/demo.sh --checkpoint out/FreiHAND/cmr_sg/checkpoint_best.pt --input data/demo
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python -m cmr demo "$@"
