#!/usr/bin/env bash
# Builds llama.cpp's llama-diffusion-cli and benchmarks/peer/diffusion-dump/diffusion_dump.cpp (its diffusion_generate,
# linked from the llama-diffusion static library, on token ids) in PEER_DIR/llama.cpp/build-exact, the f32-GELU build of
# build-greedy-dump.sh (run that first). Idempotent; under the build lock on shared machines:
#
#   flock /tmp/build.lock nice -n 10 benchmarks/peer/build-diffusion-dump.sh [PEER_DIR]   (default $HOME/.cache/pardec-peer)
set -euo pipefail
PEER_DIR="${1:-${PEER_DIR:-$HOME/.cache/pardec-peer}}"
JOBS="${JOBS:-2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LLAMA_CPP="$PEER_DIR/llama.cpp"
BUILD="$LLAMA_CPP/build-exact"
test -f "$BUILD/CMakeCache.txt" || { echo "no $BUILD: run benchmarks/peer/build-greedy-dump.sh first" >&2; exit 1; }
cmake --build "$BUILD" --config Release -j "$JOBS" --target llama-diffusion-cli
out="$PEER_DIR/bin/diffusion_dump"
src="$HERE/diffusion-dump/diffusion_dump.cpp"
lib="$BUILD/examples/diffusion/libllama-diffusion.a"
mkdir -p "$PEER_DIR/bin"
if [[ ! "$out" -nt "$src" || ! "$out" -nt "$lib" || ! "$out" -nt "$BUILD/bin/libllama.so" ]]; then
  g++ -std=c++17 -O2 -o "$out" "$src" -I "$LLAMA_CPP/include" -I "$LLAMA_CPP/ggml/include" -I "$LLAMA_CPP/common" \
    -I "$LLAMA_CPP/examples/diffusion" "$lib" -L "$BUILD/bin" -lllama-common -lllama -lggml -lggml-base -Wl,-rpath,"$BUILD/bin"
fi
echo "built: $out"
