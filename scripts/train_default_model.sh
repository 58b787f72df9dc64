#!/usr/bin/env bash
# Reproduce the shipped default model (models/default) from Debian's Hydrogen drum kits:
#   1. install hydrogen-drumkits and hydrogen-drumkits-effects (as root, unless GESAM_NO_APT=1),
#   2. train on 10 kits (gesam train, settings in scripts/default_model.toml),
#   3. evaluate on 3 held-out kits (gesam evaluate: the paper's table, stored in model.json),
#   4. bake a small grid for instant triggers into the model (gesam bake --grid 10),
#   5. draw the maps from a 64 x 64 bake kept outside the model (gesam maps).
# Usage: scripts/train_default_model.sh [OUT]   (default OUT: models/default; GESAM=path/to/gesam)
# Guitar strums (belofilms_GuitarStrums) and beat loops (rumpf_kit_z01_h2) are left out: not drum one-shots.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-models/default}
GESAM=${GESAM:-.venv/bin/gesam}
KITS=/usr/share/hydrogen/data/drumkits
WORK=${WORK:-build/default}
TRAIN=(Audiophob BJA_Pacific ElectricEmpireKit ForzeeStereo "Gimme A Hand 1.0" Millo-Drums_v.1
       Millo_MultiLayered3 "The Black Pearl 1.0" VariBreaks "circAfrique v4")
VAL=(ColomboAcousticDrumkit Millo_MultiLayered2 HardElectro1)

if [ ! -d "$KITS/The Black Pearl 1.0" ]; then
  if [ "$(id -u)" = 0 ] && [ "${GESAM_NO_APT:-0}" != 1 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hydrogen-drumkits hydrogen-drumkits-effects
  else
    echo "the Hydrogen kits are not installed: run 'sudo apt-get install hydrogen-drumkits hydrogen-drumkits-effects'" >&2
    exit 1
  fi
fi
# Debian 12's hydrogen-drumkits-effects installs no kit folders of its own; the split above names every kit used.
train_dirs=(); val_dirs=()
for k in "${TRAIN[@]}"; do train_dirs+=("$KITS/$k"); done
for k in "${VAL[@]}"; do val_dirs+=("$KITS/$k"); done

mkdir -p "$WORK"
start=$(date +%s)
"$GESAM" train --data "${train_dirs[@]}" -o "$OUT" --config scripts/default_model.toml --cache "$WORK/cache" --force
"$GESAM" evaluate --model "$OUT" --train "${train_dirs[@]}" --val "${val_dirs[@]}" --cache "$WORK/cache" \
  --write --json "$WORK/evaluation.json"
"$GESAM" bake --model "$OUT" --grid 10
"$GESAM" maps --model "$OUT" --bake "$WORK/maps-bake" --grid 64
echo "done in $(( $(date +%s) - start )) s: $OUT ($(du -sh "$OUT" | cut -f1))"
