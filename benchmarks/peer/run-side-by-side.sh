#!/usr/bin/env bash
# Side-by-side strategy benchmark against llama.cpp on the same model (the padded English target, f32), the same held-out
# prompts, the same number of greedy tokens and one thread. Builds the peer and converts the models first if needed.
#
#   benchmarks/peer/run-side-by-side.sh              # 48 tokens -> benchmarks/results/peer-llama-cpp.{md,json}
#   MAX_TOKENS=128 benchmarks/peer/run-side-by-side.sh   # -> benchmarks/results/peer-llama-cpp-128.{md,json}
#   DTYPE=bf16 benchmarks/peer/run-side-by-side.sh       # both engines in bf16 -> benchmarks/results/peer-llama-cpp-bf16.{md,json}
#
# Environment: PEER_DIR (default $HOME/.cache/pardec-peer), MAX_TOKENS (48), PROMPTS (3), EXTRAS ("--f16 --shipped":
# extra llama.cpp rows on the f16 padded target and the shipped 5M target; set EXTRAS= to skip), WAIT_LOAD (wait up to
# 10 minutes for the 1-minute load average to drop below this before starting; default 1.5, 0 = don't wait).
set -euo pipefail

export PEER_DIR="${PEER_DIR:-$HOME/.cache/pardec-peer}"
MAX_TOKENS="${MAX_TOKENS:-48}"
PROMPTS="${PROMPTS:-3}"
EXTRAS="${EXTRAS---f16 --shipped}"
WAIT_LOAD="${WAIT_LOAD:-1.5}"
DTYPE="${DTYPE:-f32}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

"$REPO/benchmarks/peer/build-llama-cpp.sh" "$PEER_DIR"
MAX_TOKENS_LIST="$MAX_TOKENS" PROMPTS="$PROMPTS" "$REPO/benchmarks/peer/convert.sh" "$PEER_DIR"
dotnet build -c Release "$REPO/benchmarks/Pardec.Benchmarks" -v q -nologo | tail -2

# One thread everywhere (llama.cpp's -t/-tb/-td/-tbd and Pardec's --threads are set by the driver too).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

if [[ "$WAIT_LOAD" != 0 ]]; then
  for _ in $(seq 60); do
    awk -v max="$WAIT_LOAD" '{ exit !($1 < max) }' /proc/loadavg && break
    echo "load $(cut -d' ' -f1-3 /proc/loadavg) >= $WAIT_LOAD, waiting..."; sleep 10
  done
fi

# shellcheck disable=SC2086
python3 "$REPO/benchmarks/peer/side_by_side.py" --peer-dir "$PEER_DIR" --max-tokens "$MAX_TOKENS" --prompts "$PROMPTS" --dtype "$DTYPE" $EXTRAS "$@"
