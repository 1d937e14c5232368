#!/usr/bin/env bash
# Fetches and builds the peer engine (and llama-quantize, which makes the Q4_0 file of the quantized comparison) (llama.cpp, C++, CPU) that benchmarks/peer/run-side-by-side.sh measures
# Pardec against. Idempotent: each step is skipped when its output already exists.
#
#   benchmarks/peer/build-llama-cpp.sh [PEER_DIR]     (default: ${PEER_DIR:-$HOME/.cache/pardec-peer}; SKIP_BUILD=1: source only)
#
# Why npm: the machines Pardec is built on reach only the Debian/NuGet/npm registries, and the npm package
# node-llama-cpp ships llama.cpp's full git history squashed into package/llama/gitRelease.bundle.
# Also installs (apt-get, when missing) what convert.sh needs: Debian's python3-torch, numpy and sentencepiece
# (PyPI is unreachable; the pyenv python3 first on PATH has none of them, so the scripts use /usr/bin/python3).
set -euo pipefail

NODE_LLAMA_CPP_VERSION="${NODE_LLAMA_CPP_VERSION:-3.21.1}"
PEER_DIR="${1:-${PEER_DIR:-$HOME/.cache/pardec-peer}}"
JOBS="${JOBS:-2}"
TARGETS=(llama-completion llama-speculative llama-speculative-simple llama-lookahead llama-lookup llama-quantize)

mkdir -p "$PEER_DIR"
cd "$PEER_DIR"

# 1. Python side of the GGUF conversion (Debian packages; torch 1.13 there, hence the shims in benchmarks/peer/shims).
missing=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || missing+=(python3-torch libopenblas0-pthread)
/usr/bin/python3 -c 'import numpy' 2>/dev/null || missing+=(python3-numpy)
/usr/bin/python3 -c 'import sentencepiece' 2>/dev/null || missing+=(python3-sentencepiece)
/usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
/usr/bin/python3 -c 'import tqdm' 2>/dev/null || missing+=(python3-tqdm)
if ((${#missing[@]})); then
  echo "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# 2. Source: npm pack -> untar the bundle -> git clone.
if [[ ! -f "node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" ]]; then
  npm pack "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null
fi
if [[ ! -f package/llama/gitRelease.bundle ]]; then
  tar xzf "node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" package/llama/gitRelease.bundle
fi
if [[ ! -d llama.cpp/.git ]]; then
  git -c advice.detachedHead=false clone -q package/llama/gitRelease.bundle llama.cpp
fi
echo "llama.cpp commit: $(git -C llama.cpp rev-parse HEAD) (node-llama-cpp@$NODE_LLAMA_CPP_VERSION)"

# llama-lookahead hard-codes its window W=15, n-gram size N=5 and guesses G=15. Let environment variables override
# them (defaults unchanged), so the side-by-side run can also measure it with Pardec's Lookahead parameters.
lookahead=llama.cpp/examples/lookahead/lookahead.cpp
if ! grep -q PARDEC_LOOKAHEAD_W "$lookahead"; then
  sed -i \
    -e 's|#include <clocale>|#include <clocale>\n#include <cstdlib>|' \
    -e 's|const int W = 15; // lookahead window|const int W = getenv("PARDEC_LOOKAHEAD_W") ? atoi(getenv("PARDEC_LOOKAHEAD_W")) : 15; // lookahead window|' \
    -e 's|const int N = 5;  // n-gram size|const int N = getenv("PARDEC_LOOKAHEAD_N") ? atoi(getenv("PARDEC_LOOKAHEAD_N")) : 5;  // n-gram size|' \
    -e 's|const int G = 15; // max verification n-grams|const int G = getenv("PARDEC_LOOKAHEAD_G") ? atoi(getenv("PARDEC_LOOKAHEAD_G")) : 15; // max verification n-grams|' \
    "$lookahead"
  grep -c PARDEC_LOOKAHEAD_ "$lookahead" | grep -qx 3 || { echo "patching $lookahead failed" >&2; exit 1; }
fi

# SKIP_BUILD=1: stop after the source and the Python packages (the real-layout cross-check builds only what it needs,
# in its own directory: build-greedy-dump.sh).
if [[ "${SKIP_BUILD:-0}" == 1 ]]; then echo "SKIP_BUILD=1: source in $PEER_DIR/llama.cpp, not built"; exit 0; fi

# 3. Configure + build (CPU only, native ISA, no tests/server/OpenSSL).
if [[ ! -f llama.cpp/build/CMakeCache.txt ]]; then
  cmake -S llama.cpp -B llama.cpp/build -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF
fi
cmake --build llama.cpp/build --config Release -j "$JOBS" --target "${TARGETS[@]}"

for t in "${TARGETS[@]}"; do test -x "llama.cpp/build/bin/$t" || { echo "missing $t" >&2; exit 1; }; done
echo "built: $PEER_DIR/llama.cpp/build/bin/{$(IFS=,; echo "${TARGETS[*]}")}"
