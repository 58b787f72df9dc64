#!/usr/bin/env bash
# Reproduce the shipped default model (models/default) from the Debian-packaged drum sources:
#   1. install the sources (as root, unless GESAM_NO_APT=1) and build the corpus (gesam corpus build:
#      one-shots, deduplicated by content, split by kit family; docs/corpus.md),
#   2. train on its training split (gesam train, settings in scripts/default_model.toml),
#   3. evaluate on its validation kits (gesam evaluate, no --train: the model records its corpus),
#   4. bake a small grid for instant triggers into the model (gesam bake --grid 8: 64 sounds keep it under 60 MB),
#   5. draw the maps from a 64 x 64 bake kept outside the model (gesam maps, 8 iterations as the engine).
# Usage: scripts/train_default_model.sh [OUT]   (default OUT: models/default; GESAM=path/to/gesam)
# A stopped run continues where it stopped: RESUME=1 scripts/train_default_model.sh
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-models/default}
GESAM=${GESAM:-.venv/bin/gesam}
WORK=${WORK:-build/default}
CORPUS=${CORPUS:-build/corpus}
PACKAGES=(hydrogen-drumkits avldrums.lv2-soundfont fluid-soundfont-gm fluid-soundfont-gs csound-soundfont fluidsynth)

missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && [ "${GESAM_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "missing Debian packages: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

mkdir -p "$WORK"
start=$(date +%s)
[ -f "$CORPUS/manifest.json" ] || "$GESAM" corpus build --out "$CORPUS" --config scripts/default_model.toml
if [ "${RESUME:-0}" = 1 ]; then
  "$GESAM" train --data "$CORPUS/train" -o "$OUT" --config scripts/default_model.toml --cache "$WORK/cache" --resume --force
else
  "$GESAM" train --data "$CORPUS/train" -o "$OUT" --config scripts/default_model.toml --cache "$WORK/cache" --force
fi
"$GESAM" evaluate --model "$OUT" --val "$CORPUS/val" --cache "$WORK/cache" --write --json "$WORK/evaluation.json"
"$GESAM" bake --model "$OUT" --grid 8
"$GESAM" maps --model "$OUT" --bake "$WORK/maps-bake" --grid 64 --iters 8  # as the engine plays
echo "done in $(( $(date +%s) - start )) s: $OUT ($(du -sh "$OUT" | cut -f1))"
