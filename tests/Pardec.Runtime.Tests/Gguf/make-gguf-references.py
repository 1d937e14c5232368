#!/usr/bin/python3
"""llama.cpp's greedy decoding of quantized GGUF files of the seeded real-layout checkpoints, for GgufLlamaCppTests.

    tests/Pardec.Runtime.Tests/Gguf/make-gguf-references.py [FAMILY ...]     (default: qwen3 tinyllama)

Run benchmarks/peer/make-peer-fixtures.py for the families first (it writes PEER_DIR/models/real-layouts/<family>/,
<family>.f32.gguf and <family>.ids.txt, llama.cpp's tokenization of the 10 prompts). Then, per family:
  Q8_0: llama.cpp's converter, convert_hf_to_gguf.py --outtype q8_0 (benchmarks/peer/shims/convert.py);
  Q4_0: llama-quantize --pure <family>.f32.gguf Q4_0 (every matrix Q4_0, the embedding too; build the target with
        `flock /tmp/build.lock nice cmake --build PEER_DIR/llama.cpp/build-exact --target llama-quantize`);
and greedy_dump decodes 64 greedy tokens per prompt from llama.cpp's ids, as make-peer-fixtures.py does for f32. The
SHA-256 of every tensor's data (in name order, read with llama.cpp's gguf-py) is recorded, so the test can prove that
the file its own C# writer makes from the same seeded weights holds the same bytes as llama.cpp's.
Writes tests/fixtures/peer-models/<family>/reference.<type>.json.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PEER_DIR = Path(os.environ.get("PEER_DIR", Path.home() / ".cache" / "pardec-peer"))
LLAMA_CPP = PEER_DIR / "llama.cpp"
GREEDY_DUMP = PEER_DIR / "bin" / "greedy_dump"
QUANTIZE = LLAMA_CPP / "build-exact" / "bin" / "llama-quantize"
WORK = PEER_DIR / "models" / "real-layouts"
FIXTURES = REPO / "tests" / "fixtures" / "peer-models"
NEW_TOKENS = 64
sys.path.insert(0, str(LLAMA_CPP / "gguf-py"))


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def tensor_hash(path):
    from gguf import GGUFReader
    h = hashlib.sha256()
    reader = GGUFReader(str(path))
    for t in sorted(reader.tensors, key=lambda t: t.name):
        h.update(t.name.encode())
        h.update(t.data.tobytes())
    return h.hexdigest(), {t.name: t.tensor_type.name for t in reader.tensors}


def make(family, qtype):
    gguf = WORK / f"{family}.{qtype}.gguf"
    if qtype == "q8_0":
        env = {**os.environ, "NODE_PATH": str(PEER_DIR / "node" / "node_modules")}
        with open(str(gguf) + ".log", "w") as log:
            run(["/usr/bin/python3", REPO / "benchmarks/peer/shims/convert.py", LLAMA_CPP, WORK / family, "--outtype", "q8_0",
                 "--outfile", gguf], stdout=log, stderr=subprocess.STDOUT, env=env)
    else:
        with open(str(gguf) + ".log", "w") as log:
            run([QUANTIZE, "--pure", WORK / f"{family}.f32.gguf", gguf, "Q4_0"], stdout=log, stderr=subprocess.STDOUT)
    ids_file = WORK / f"{family}.ids.txt"
    generated = run([GREEDY_DUMP, "generate", gguf, ids_file, NEW_TOKENS, 2], capture_output=True, text=True).stdout
    runs = [json.loads(line) for line in generated.splitlines()]
    prompts = json.loads((FIXTURES / "prompts.json").read_text())
    ids = [list(map(int, line.split())) for line in ids_file.read_text().splitlines()]
    digest, types = tensor_hash(gguf)
    commit = subprocess.run(["git", "-C", str(LLAMA_CPP), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    reference = {
        "family": family,
        "type": qtype.upper(),
        "llama_cpp": f"{commit} (node-llama-cpp@3.21.1), "
                     + ("convert_hf_to_gguf.py --outtype q8_0" if qtype == "q8_0" else "llama-quantize --pure Q4_0 of the f32 conversion")
                     + ", greedy_dump (build-exact) with an f32 KV cache, 1 thread",
        "tensor_data_sha256": digest,
        "tensor_types": dict(sorted(types.items())),
        "new_tokens": NEW_TOKENS,
        "prompts": [{"name": p["name"], "ids": i, "tokens": r["tokens"],
                     "top1_logit": [round(s[0][1], 5) for s in r["top"]],
                     "top2_logit": [round(s[1][1], 5) for s in r["top"]]} for p, i, r in zip(prompts, ids, runs)],
    }
    out = FIXTURES / family / f"reference.{qtype}.json"
    out.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{family} {qtype}: wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)


def main():
    for family in sys.argv[1:] or ["qwen3", "tinyllama"]:
        for qtype in ["q8_0", "q4_0"]:
            make(family, qtype)


if __name__ == "__main__":
    main()
