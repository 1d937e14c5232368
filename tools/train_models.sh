#!/usr/bin/env bash
# Trains every model Pardec ships, in priority order, one after another on ONE torch thread (the machine has two
# shared cores). These are the exact commands behind models/*/training.json. Run tools/build_corpus.sh first.
#
# A model whose training.json already exists is skipped, so an interrupted queue can simply be re-run.
# PARDEC_TRAIN overrides how the tool is started (e.g. `dotnet /tmp/snapshot/pardec-train.dll`, so that editing
# and rebuilding the source does not swap the binary under a running queue).
#
# --minutes sizes each cosine schedule from the pace of its first 10 steps; training.json records the resulting
# step count ("reproduce_with"), and replacing --minutes M by --steps N reproduces the weights bit for bit.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${PARDEC_TRAIN:-}" ]; then
  dotnet build -c Release src/Training >/dev/null
  PARDEC_TRAIN="dotnet src/Training/bin/Release/net10.0/linux-x64/pardec-train.dll"
fi

run() {  # run OUT_DIR ARGS...
  local out="$1"; shift
  if [ -f "$out/training.json" ]; then echo "skip $out (training.json exists)"; return; fi
  echo "=== $out: $*"
  $PARDEC_TRAIN "$@" --out "$out"
}

# Target shape: hidden 256, 4 layers, GQA 8/4, SwiGLU 688, context 256, untied head: 5.0M parameters.
TARGET=(--hidden 256 --layers 4 --heads 8 --kv-heads 4 --intermediate 688 --context 256)
# Draft shape: hidden 128, 2 layers, GQA 4/2, SwiGLU 344, tied head: 0.89M parameters (5.6x fewer).
DRAFT=(--hidden 128 --layers 2 --heads 4 --kv-heads 2 --intermediate 344 --context 256 --tie 1)
EN=(--corpus corpus/english.train.txt --valid corpus/english.valid.txt --eval-slice models/eval/english.valid.txt)
CODE=(--corpus corpus/code.train.txt --valid corpus/code.valid.txt --eval-slice models/eval/code.valid.txt)

run models/english/target    causal "${EN[@]}" "${TARGET[@]}" --batch 8 --lr 2.5e-3 --warmup 30 --seed 1 --minutes 20
run models/english/draft     causal "${EN[@]}" "${DRAFT[@]}" --batch 8 --lr 3e-3 --warmup 30 --seed 2 --minutes 5
run models/english/medusa    medusa --target models/english/target --heads 4 "${EN[@]}" --context 256 --batch 8 --lr 2e-3 --warmup 30 --seed 3 --minutes 4
# The diffusion LM is the target adapted into a denoiser (Dream / DiffuLLaMA): its weights, bidirectional attention,
# the masked-diffusion loss, shifted logits (row i predicts token i+1, as the causal head did). Needs english/target.
run models/english/diffusion masked "${EN[@]}" --init models/english/target --shift-logits 1 --batch 8 --lr 1e-3 --warmup 30 --seed 4 --minutes 30 --checkpoint-every 150 --valid-tokens 16384
run models/code/target       causal "${CODE[@]}" "${TARGET[@]}" --batch 8 --lr 2.5e-3 --warmup 30 --seed 5 --minutes 9
run models/code/draft        causal "${CODE[@]}" "${DRAFT[@]}" --batch 8 --lr 3e-3 --warmup 30 --seed 6 --minutes 4
run models/code/medusa       medusa --target models/code/target --heads 4 "${CODE[@]}" --context 256 --batch 8 --lr 2e-3 --warmup 30 --seed 7 --minutes 3
