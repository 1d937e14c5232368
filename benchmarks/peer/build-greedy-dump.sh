#!/usr/bin/env bash
# Builds benchmarks/peer/greedy-dump/greedy_dump.cpp (llama.cpp's tokenizer + greedy decoding dumped as JSON) against
# the libllama of build-llama-cpp.sh. Idempotent; run under the build lock on shared machines:
#
#   flock /tmp/build.lock nice -n 10 benchmarks/peer/build-greedy-dump.sh [PEER_DIR]   (default $HOME/.cache/pardec-peer)
#
# Builds llama.cpp's `llama` target (the shared libraries only, ~3 min on 2 cores) if build-llama-cpp.sh has not run.
set -euo pipefail
PEER_DIR="${1:-${PEER_DIR:-$HOME/.cache/pardec-peer}}"
JOBS="${JOBS:-2}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LLAMA_CPP="$PEER_DIR/llama.cpp"
test -d "$LLAMA_CPP/.git" || { echo "no llama.cpp in $LLAMA_CPP: run benchmarks/peer/build-llama-cpp.sh (or SKIP_BUILD=1 for the source only)" >&2; exit 1; }
if [[ ! -f "$LLAMA_CPP/build/CMakeCache.txt" ]]; then
  cmake -S "$LLAMA_CPP" -B "$LLAMA_CPP/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF
fi
cmake --build "$LLAMA_CPP/build" --config Release -j "$JOBS" --target llama
out="$PEER_DIR/bin/greedy_dump"
src="$HERE/greedy-dump/greedy_dump.cpp"
mkdir -p "$PEER_DIR/bin"
if [[ ! "$out" -nt "$src" || ! "$out" -nt "$LLAMA_CPP/build/bin/libllama.so" ]]; then
  g++ -std=c++17 -O2 -o "$out" "$src" -I "$LLAMA_CPP/include" -I "$LLAMA_CPP/ggml/include" \
    -L "$LLAMA_CPP/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA_CPP/build/bin"
fi
echo "built: $out"
