#!/usr/bin/python3
"""Makes the llama.cpp references of the real-layout cross-check (tests/fixtures/peer-models/<family>/reference.json).

    benchmarks/peer/make-peer-fixtures.py [FAMILY ...]      (default: every tests/fixtures/peer-models/*/checkpoint.json)

Needs (benchmarks/peer/README.md): llama.cpp's source (build-llama-cpp.sh) and greedy_dump (build-greedy-dump.sh) in
PEER_DIR (default ~/.cache/pardec-peer), Debian's python3-torch for the converter, node + the npm package `tokenizers`
(Hugging Face's Rust tokenizers; installed into PEER_DIR/node here) for the converter's AutoTokenizer shim, and the
tokenizer data of tools/fetch-tokenizers.sh. For each family:
  1. `Pardec.Benchmarks seeded-checkpoint` writes the seeded HF directory of checkpoint.json (the C# writer the tests
     use too, so CI regenerates the same bytes),
  2. llama.cpp's convert_hf_to_gguf.py converts it to an f32 GGUF (benchmarks/peer/shims/convert.py),
  3. llama.cpp tokenizes the 10 prompts of prompts.json (the ids both engines then decode; Hugging Face's tokenizer's
     ids are recorded beside them, so tokenizer agreement is a separate, visible question),
  4. greedy_dump decodes 64 greedy tokens per prompt and keeps, per step, the top-1 and top-2 logits, and the top-5
     ids and logits at a few steps.
A family with "reference": "<other>" in its checkpoint.json (llama3_sharded) is converted and decoded too, and must give
exactly the other family's tokens; it gets no reference.json of its own. A family with "llama_cpp_as": "granite_swa"
(mistral_swa16) is converted through an equivalent GraniteSWA directory, since llama.cpp's Mistral has no sliding
window (granite_swa_copy).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEER_DIR = Path(os.environ.get("PEER_DIR", Path.home() / ".cache" / "pardec-peer"))
LLAMA_CPP = PEER_DIR / "llama.cpp"
GREEDY_DUMP = PEER_DIR / "bin" / "greedy_dump"
NODE_DIR = PEER_DIR / "node"
FIXTURES = REPO / "tests" / "fixtures" / "peer-models"
TOKENIZERS = REPO / "artifacts" / "reference" / "tokenizers"
WORK = PEER_DIR / "models" / "real-layouts"
NEW_TOKENS = 64
TOP_STEPS = [0, 1, 2, 3, 7, 15, 31, 47, 63]
TOKENIZERS_NPM = "tokenizers@0.23.2"


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def node_env():
    if not (NODE_DIR / "node_modules" / "tokenizers").is_dir():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--prefix", NODE_DIR, "--no-save", TOKENIZERS_NPM])
    return {**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")}


def hf_ids(tokenizer_json, texts, env):
    """Hugging Face's own ids (add_special_tokens=True), through the shim's server."""
    proc = subprocess.Popen(["node", REPO / "benchmarks/peer/shims/hf_tokenizer_server.js", tokenizer_json],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", env=env)
    out = []
    for text in texts:
        proc.stdin.write(json.dumps({"op": "encode", "text": text, "special": True}) + "\n")
        proc.stdin.flush()
        out.append(json.loads(proc.stdout.readline())["ids"])
    proc.stdin.close()
    proc.wait()
    return out


def granite_swa_copy(hf_dir, out_dir):
    """The same model as a GraniteSWAForCausalLM directory: llama.cpp's `llama` architecture (which Mistral converts
    to) has no sliding window, but its `granite_swa` one is Llama's math plus a standard sliding window on the layers
    layer_types marks. With Granite's multipliers left out (llama.cpp's defaults: no embedding/residual scale,
    1/sqrt(head_dim) for attention), logits_scaling 1 and attention sinks of -1e9 (exp underflows to exactly 0, so the
    softmax is unchanged), it computes what HF's MistralForCausalLM computes with its sliding_window."""
    import shutil
    import struct
    out_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((hf_dir / "config.json").read_text())
    config["architectures"] = ["GraniteSWAForCausalLM"]
    config["layer_types"] = ["sliding_attention"] * config["num_hidden_layers"]
    config["logits_scaling"] = 1.0
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (hf_dir / name).is_file():
            shutil.copy(hf_dir / name, out_dir / name)
    raw = (hf_dir / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    header.pop("__metadata__", None)
    end = max(v["data_offsets"][1] for v in header.values())
    sink = struct.pack(f"<{config['num_attention_heads']}f", *([-1e9] * config["num_attention_heads"]))
    extra = b""
    for i in range(config["num_hidden_layers"]):
        header[f"model.layers.{i}.self_attn.sinks"] = {"dtype": "F32", "shape": [config["num_attention_heads"]],
                                                       "data_offsets": [end + len(extra), end + len(extra) + len(sink)]}
        extra += sink
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    (out_dir / "model.safetensors").write_bytes(struct.pack("<Q", len(blob)) + blob + data[:end] + extra)


def make(family, prompts, env):
    spec_path = FIXTURES / family / "checkpoint.json"
    spec = json.loads(spec_path.read_text())
    hf_dir = WORK / family
    gguf = WORK / f"{family}.f32.gguf"
    if hf_dir.exists():
        subprocess.run(["rm", "-rf", str(hf_dir)], check=True)
    # Not built here (build it first, under the build lock): --no-build. PARDEC_SEEDED_CHECKPOINT: an already built
    # executable taking the same arguments (any build of the command).
    writer = os.environ.get("PARDEC_SEEDED_CHECKPOINT")
    writer = [writer] if writer else ["dotnet", "run", "-c", "Release", "--no-build", "--project", REPO / "benchmarks/Pardec.Benchmarks", "--"]
    run(writer + ["seeded-checkpoint", spec_path, hf_dir, "--tokenizers", TOKENIZERS])
    convert_dir = hf_dir
    if spec.get("llama_cpp_as") == "granite_swa":
        convert_dir = WORK / f"{family}-as-granite-swa"
        granite_swa_copy(hf_dir, convert_dir)
    with open(str(gguf) + ".log", "w") as log:
        run(["/usr/bin/python3", REPO / "benchmarks/peer/shims/convert.py", LLAMA_CPP, convert_dir, "--outtype", "f32",
             "--outfile", gguf], stdout=log, stderr=subprocess.STDOUT, env=env)

    texts = [p["text"] for p in prompts]
    prompts_file = WORK / "prompts.bin"
    prompts_file.write_bytes(b"\0".join(t.encode("utf-8") for t in texts))
    tokenized = run([GREEDY_DUMP, "tokenize", gguf, prompts_file], capture_output=True, text=True).stdout
    ids = [json.loads(line)["ids"] for line in tokenized.splitlines()]
    assert len(ids) == len(texts), (len(ids), len(texts))
    reference_ids = hf_ids(hf_dir / "tokenizer.json", texts, env)

    ids_file = WORK / f"{family}.ids.txt"
    ids_file.write_text("".join(" ".join(map(str, p)) + "\n" for p in ids))
    generated = run([GREEDY_DUMP, "generate", gguf, ids_file, NEW_TOKENS, 5], capture_output=True, text=True).stdout
    runs = [json.loads(line) for line in generated.splitlines()]

    cases = []
    for prompt, p_ids, h_ids, r in zip(prompts, ids, reference_ids, runs):
        top = r["top"]
        cases.append({
            "name": prompt["name"],
            "text": prompt["text"],
            "ids": p_ids,
            "hf_tokenizer_ids_equal": p_ids == h_ids,
            **({} if p_ids == h_ids else {"hf_tokenizer_ids": h_ids}),
            "tokens": r["tokens"],
            "top1_logit": [round(s[0][1], 5) for s in top],
            "top2_logit": [round(s[1][1], 5) for s in top],
            "top5": {str(step): [[i, round(v, 5)] for i, v in top[step]] for step in TOP_STEPS if step < len(top)},
        })

    commit = subprocess.run(["git", "-C", str(LLAMA_CPP), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if "reference" in spec:
        other = json.loads((FIXTURES / spec["reference"] / "reference.json").read_text())
        same = [a["tokens"] == b["tokens"] and a["ids"] == b["ids"] for a, b in zip(other["prompts"], cases)]
        print(f"{family}: llama.cpp tokens equal {spec['reference']}'s on {sum(same)}/{len(same)} prompts", file=sys.stderr)
        if not all(same):
            raise SystemExit(f"{family} differs from {spec['reference']}")
        return
    reference = {
        "family": family,
        "published": spec["published"],
        "llama_cpp": f"{commit} (node-llama-cpp@3.21.1), convert_hf_to_gguf.py --outtype f32, greedy_dump (build-exact: f32 GELU) with an f32 KV cache, no flash attention, 1 thread"
                     + (f"; converted as {spec['llama_cpp_as']} (see make-peer-fixtures.py)" if "llama_cpp_as" in spec else ""),
        "new_tokens": NEW_TOKENS,
        "top5_steps": TOP_STEPS,
        "prompts": cases,
    }
    out = FIXTURES / family / "reference.json"
    out.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    agree = sum(c["hf_tokenizer_ids_equal"] for c in cases)
    print(f"{family}: wrote {out} ({out.stat().st_size} bytes); llama.cpp's prompt ids equal Hugging Face's on {agree}/{len(cases)}", file=sys.stderr)


def main():
    for path, what in [(GREEDY_DUMP, "benchmarks/peer/build-greedy-dump.sh"), (LLAMA_CPP / "convert_hf_to_gguf.py", "benchmarks/peer/build-llama-cpp.sh")]:
        if not path.exists():
            raise SystemExit(f"missing {path}: run {what}")
    WORK.mkdir(parents=True, exist_ok=True)
    env = node_env()
    prompts = json.loads((FIXTURES / "prompts.json").read_text())
    families = sys.argv[1:] or sorted(p.parent.name for p in FIXTURES.glob("*/checkpoint.json"))
    # Families that reuse another's reference come after it.
    families.sort(key=lambda f: "reference" in json.loads((FIXTURES / f / "checkpoint.json").read_text()))
    for family in families:
        make(family, prompts, env)


if __name__ == "__main__":
    main()
