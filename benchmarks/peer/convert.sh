#!/usr/bin/env bash
# Exports the models the side-by-side run needs and converts them to GGUF for llama.cpp. Idempotent.
#
#   benchmarks/peer/convert.sh [PEER_DIR]     (default: ${PEER_DIR:-$HOME/.cache/pardec-peer}; run build-llama-cpp.sh first)
#
# Writes PEER_DIR/models/:
#   english-padded/          the padded target of `strategies --pad-layers 12 --pad-mlp 8192` as an HF directory (f32),
#                            written by `Pardec.Benchmarks pad-export`, which also checks it reproduces the shipped
#                            target's greedy tokens and writes reference.<N>.json (prompt ids + greedy continuation;
#                            --keep-bos: a prompt cut to fit the context keeps BOS, as llama.cpp's will)
#   english-padded.f32.gguf  the primary model of the comparison (f32 on both sides: Pardec runs f32 on this CPU)
#   english-padded.f16.gguf  extra: what llama.cpp would normally run
#   english-padded.bf16.gguf the bf16 comparison (DTYPE=bf16 run-side-by-side.sh): the trained weights exactly
#   english-draft.bf16.gguf  its draft
#   english-padded.q8_0.gguf the Q8_0 comparison (DTYPE=q8_0): convert_hf_to_gguf.py --outtype q8_0 (norms stay F32)
#   english-padded.q4_0.gguf the Q4_0 comparison (DTYPE=q4_0): llama-quantize --pure of the f32 file, so every matrix,
#                            the embedding and the head included, is Q4_0 (without --pure the head becomes Q6_K, a type
#                            Pardec's GGUF loader does not read)
#   english-target.f32.gguf  the shipped 5M target (bf16 weights widened to f32, as Pardec loads them)
#   english-draft.f32.gguf   the shipped 0.89M draft
set -euo pipefail

PEER_DIR="${1:-${PEER_DIR:-$HOME/.cache/pardec-peer}}"
PAD_LAYERS="${PAD_LAYERS:-12}"
PAD_MLP="${PAD_MLP:-8192}"
MAX_TOKENS_LIST="${MAX_TOKENS_LIST:-48,128}"
PROMPTS="${PROMPTS:-3}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LLAMA_CPP="$PEER_DIR/llama.cpp"
MODELS="$PEER_DIR/models"
SHIMS="$REPO/benchmarks/peer/shims"
test -f "$LLAMA_CPP/convert_hf_to_gguf.py" || { echo "no llama.cpp in $LLAMA_CPP: run benchmarks/peer/build-llama-cpp.sh" >&2; exit 1; }
mkdir -p "$MODELS"

# 1. The padded target as an HF directory (+ greedy references), unless every requested reference is already there
#    and newer than the shipped target.
padded="$MODELS/english-padded"
need_export=0
IFS=',' read -ra max_tokens <<< "$MAX_TOKENS_LIST"
for n in "${max_tokens[@]}"; do
  [[ "$padded/reference.$n.json" -nt "$REPO/models/english/target/model.safetensors" ]] || need_export=1
  grep -q '"keepBos": true' "$padded/reference.$n.json" 2>/dev/null || need_export=1
  grep -q '"greedyTextBf16"' "$padded/reference.$n.json" 2>/dev/null || need_export=1
done
for n in "${max_tokens[@]}"; do
  [[ "${PROMPT_SET:-in}" != ood || "$padded/reference.$n.ood.json" -nt "$REPO/models/english/target/model.safetensors" ]] || need_ood=1
done
if ((need_export)); then
  OMP_NUM_THREADS=1 dotnet run -c Release --project "$REPO/benchmarks/Pardec.Benchmarks" -- pad-export \
    --domain english --pad-layers "$PAD_LAYERS" --pad-mlp "$PAD_MLP" --max-tokens "$MAX_TOKENS_LIST" --prompts "$PROMPTS" --keep-bos --out "$padded"
fi

# The out-of-domain references (PROMPT_SET=ood): the same directory, only the references.
if ((${need_ood:-0})); then
  OMP_NUM_THREADS=1 dotnet run -c Release --project "$REPO/benchmarks/Pardec.Benchmarks" -- pad-export --reference-only --prompt-set ood \
    --domain english --pad-layers "$PAD_LAYERS" --pad-mlp "$PAD_MLP" --max-tokens "$MAX_TOKENS_LIST" --prompts "$PROMPTS" --keep-bos --out "$padded"
fi

# 2. GGUF conversions (Debian's /usr/bin/python3 with torch 1.13 + the shims; not the pyenv python3 first on PATH).
convert() { # hf_dir outtype out.gguf
  if [[ "$3" -nt "$1/model.safetensors" && "$3" -nt "$SHIMS/convert.py" ]]; then echo "up to date: $3"; return; fi
  /usr/bin/python3 "$SHIMS/convert.py" "$LLAMA_CPP" "$1" --outtype "$2" --outfile "$3.tmp" > "$3.log" 2>&1 \
    || { echo "conversion failed, see $3.log" >&2; tail -20 "$3.log" >&2; exit 1; }
  mv "$3.tmp" "$3"
  echo "wrote $3"
}
convert "$padded" f32 "$MODELS/english-padded.f32.gguf"
convert "$padded" f16 "$MODELS/english-padded.f16.gguf"
convert "$padded" bf16 "$MODELS/english-padded.bf16.gguf"
convert "$padded" q8_0 "$MODELS/english-padded.q8_0.gguf"
if [[ "$MODELS/english-padded.q4_0.gguf" -nt "$MODELS/english-padded.f32.gguf" ]]; then echo "up to date: $MODELS/english-padded.q4_0.gguf"
else
  "$LLAMA_CPP/build/bin/llama-quantize" --pure "$MODELS/english-padded.f32.gguf" "$MODELS/english-padded.q4_0.gguf.tmp" Q4_0 \
    > "$MODELS/english-padded.q4_0.gguf.log" 2>&1 || { echo "llama-quantize failed, see $MODELS/english-padded.q4_0.gguf.log" >&2; exit 1; }
  mv "$MODELS/english-padded.q4_0.gguf.tmp" "$MODELS/english-padded.q4_0.gguf"; echo "wrote $MODELS/english-padded.q4_0.gguf"
fi
# Pardec reads a GGUF's tokenizer from its metadata for byte-level BPE only; for this SentencePiece vocabulary it takes
# the tokenizer.model beside the file (the strategy benchmark encodes with the shipped one anyway).
cp "$padded/tokenizer.model" "$MODELS/tokenizer.model"
convert "$REPO/models/english/target" f32 "$MODELS/english-target.f32.gguf"
convert "$REPO/models/english/draft" f32 "$MODELS/english-draft.f32.gguf"
convert "$REPO/models/english/draft" bf16 "$MODELS/english-draft.bf16.gguf"
