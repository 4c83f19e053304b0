#!/usr/bin/env bash
# Render the synthetic FreiHAND-layout dataset (default: data/FreiHAND_synth, a small set).
# Options go to `python -m cmr synth` (see --help): --training N --evaluation M --workers W ...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python -m cmr synth "$@"
