#!/usr/bin/env bash
# Train one example and plot its run: scripts/run-example.sh NAME [extra train args]
# Writes out/NAME/loss.csv and out/NAME/loss.png under the repository root.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 NAME [extra faustdiff train args]" >&2
    exit 2
fi
name=$1
shift

# The repository root is the parent of this script's folder, wherever it is run from.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
example="$root/examples/$name"
if [[ ! -f "$example/gt.dsp" || ! -f "$example/diff.dsp" ]]; then
    echo "$0: no example '$name' (expected $example/gt.dsp and diff.dsp)" >&2
    exit 2
fi
out="$root/out/$name"
mkdir -p "$out"

faustdiff train --input "$root/examples/noise.dsp" --gt "$example/gt.dsp" \
    --diff "$example/diff.dsp" --csv "$out/loss.csv" "$@"
# PYTHON picks the interpreter that has faustdiff installed, if python3 is not it.
"${PYTHON:-python3}" "$root/scripts/plot.py" "$out/loss.csv" -o "$out/loss.png"
