#!/usr/bin/env bash
# Builds benchmarks/peer/greedy-dump/greedy_dump.cpp (llama.cpp's tokenizer + greedy decoding dumped as JSON) against
# the libllama of build-llama-cpp.sh. Idempotent; run under the build lock on shared machines:
#
#   flock /tmp/build.lock nice -n 10 benchmarks/peer/build-greedy-dump.sh [PEER_DIR]   (default $HOME/.cache/pardec-peer)
#
# Builds llama.cpp's `llama` target (the shared libraries only, ~4 min on 2 cores) in PEER_DIR/llama.cpp/build-exact.
set -euo pipefail
PEER_DIR="${1:-${PEER_DIR:-$HOME/.cache/pardec-peer}}"
JOBS="${JOBS:-2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LLAMA_CPP="$PEER_DIR/llama.cpp"
test -d "$LLAMA_CPP/.git" || { echo "no llama.cpp in $LLAMA_CPP: run benchmarks/peer/build-llama-cpp.sh (or SKIP_BUILD=1 for the source only)" >&2; exit 1; }
# ggml's CPU GELU (Gemma's MLP) rounds its input to f16 and reads a 65536-entry table (#define GGML_GELU_FP16 in
# ggml-cpu/vec.h): ~1e-3 off in the logits, as large as the difference between GELU's tanh and erf forms, so a
# reference made with it could not tell them apart. The patch only makes the define conditional; the reference build
# (build-exact, its own directory: the benchmark build of build-llama-cpp.sh keeps llama.cpp's defaults) defines
# PARDEC_GELU_EXACT and gets ggml's own f32 formula, ggml_gelu_f32 (the tanh form of gelu_pytorch_tanh).
vec="$LLAMA_CPP/ggml/src/ggml-cpu/vec.h"
if ! grep -q PARDEC_GELU_EXACT "$vec"; then
  sed -i 's|^#define GGML_GELU_FP16$|#ifndef PARDEC_GELU_EXACT\n#define GGML_GELU_FP16\n#endif|' "$vec"
  grep -q PARDEC_GELU_EXACT "$vec" || { echo "patching $vec failed" >&2; exit 1; }
fi
BUILD="$LLAMA_CPP/build-exact"
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$LLAMA_CPP" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-DPARDEC_GELU_EXACT -DCMAKE_CXX_FLAGS=-DPARDEC_GELU_EXACT \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF
fi
cmake --build "$BUILD" --config Release -j "$JOBS" --target llama
out="$PEER_DIR/bin/greedy_dump"
src="$HERE/greedy-dump/greedy_dump.cpp"
mkdir -p "$PEER_DIR/bin"
if [[ ! "$out" -nt "$src" || ! "$out" -nt "$BUILD/bin/libllama.so" || ! "$out" -nt "$BUILD/bin/libggml-cpu.so" ]]; then
  g++ -std=c++17 -O2 -o "$out" "$src" -I "$LLAMA_CPP/include" -I "$LLAMA_CPP/ggml/include" \
    -L "$BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$BUILD/bin"
fi
echo "built: $out"
