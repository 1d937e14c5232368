#!/usr/bin/python3
"""Makes the llama.cpp references of the grammar cross-check (tests/fixtures/peer-grammar/reference.json).

    benchmarks/peer/make-grammar-fixtures.py

Needs (benchmarks/peer/README.md): llama.cpp's source (build-llama-cpp.sh, SKIP_BUILD=1 is enough) and greedy_dump
(build-greedy-dump.sh) in PEER_DIR (default ~/.cache/pardec-peer), Debian's python3-torch for the converter.
  1. The shipped English target (models/english/target) is converted to an f32 GGUF by llama.cpp's converter
     (shims/convert.py), as convert.sh does: PEER_DIR/models/english-target.f32.gguf.
  2. Every JSON Schema in schemas/*.json is converted to GBNF by llama.cpp's own converter
     (examples/json_schema_to_grammar.py) into schemas/<name>.llama.gbnf, which is committed: the grammar both engines
     then follow.
  3. llama.cpp tokenizes prompts.json (greedy_dump tokenize): the ids both engines decode from.
  4. For every grammar (grammars/*.gbnf, schemas/*.llama.gbnf) and prompt, `greedy_dump grammar` decodes at most
     NEW_TOKENS tokens greedily through llama.cpp's grammar sampler (llama_sampler_init_grammar), keeping how many
     tokens the grammar allowed and the masked top-2 logits at every step.
GrammarCrossCheckTests (tests/Pardec.Constraints.Tests) decodes the same ids under the same grammar files with Pardec's
constrained greedy and compares token for token; CI needs none of llama.cpp.
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
FIXTURES = REPO / "tests" / "fixtures" / "peer-grammar"
TARGET = REPO / "models" / "english" / "target"
GGUF = PEER_DIR / "models" / "english-target.f32.gguf"
NEW_TOKENS = 64


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def convert_target():
    shims = REPO / "benchmarks" / "peer" / "shims"
    if GGUF.exists() and GGUF.stat().st_mtime > (TARGET / "model.safetensors").stat().st_mtime:
        return
    GGUF.parent.mkdir(parents=True, exist_ok=True)
    with open(str(GGUF) + ".log", "w") as log:
        run(["/usr/bin/python3", shims / "convert.py", LLAMA_CPP, TARGET, "--outtype", "f32", "--outfile", str(GGUF) + ".tmp"],
            stdout=log, stderr=subprocess.STDOUT)
    os.replace(str(GGUF) + ".tmp", GGUF)


def main():
    for tool in (GREEDY_DUMP, LLAMA_CPP / "examples" / "json_schema_to_grammar.py"):
        if not tool.exists():
            sys.exit(f"missing {tool}: run benchmarks/peer/build-llama-cpp.sh (SKIP_BUILD=1) and build-greedy-dump.sh")
    convert_target()
    grammars = [f"grammars/{p.name}" for p in sorted((FIXTURES / "grammars").glob("*.gbnf"))]
    for schema in sorted((FIXTURES / "schemas").glob("*.json")):
        out = schema.with_suffix(".llama.gbnf")
        text = run([sys.executable, LLAMA_CPP / "examples" / "json_schema_to_grammar.py", schema],
                   capture_output=True, text=True).stdout
        out.write_text(text)
        grammars.append(f"schemas/{out.name}")

    prompts = json.loads((FIXTURES / "prompts.json").read_text())
    blob = PEER_DIR / "grammar-prompts.bin"
    blob.write_bytes("\0".join(prompts).encode("utf-8"))
    lines = run([GREEDY_DUMP, "tokenize", GGUF, blob], capture_output=True, text=True).stdout.splitlines()
    ids = [json.loads(line)["ids"] for line in lines]
    ids_file = PEER_DIR / "grammar-prompts.ids"
    ids_file.write_text("\n".join(" ".join(map(str, p)) for p in ids) + "\n")

    cases = []
    for grammar in grammars:
        out = run([GREEDY_DUMP, "grammar", GGUF, ids_file, NEW_TOKENS, FIXTURES / grammar],
                  capture_output=True, text=True).stdout.splitlines()
        results = []
        for line in out:
            r = json.loads(line)
            results.append({"tokens": r["tokens"], "stop": r["stop"], "allowed": r["allowed"], "allowed_text": r["allowed_text"], "top2": [step[:2] for step in r["top"]]})
        cases.append({"grammar": grammar, "results": results})
        print(f"{grammar}: " + ", ".join(f"{len(r['tokens'])} tokens ({r['stop']})" for r in results), file=sys.stderr)

    commit = subprocess.run(["git", "-C", LLAMA_CPP, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    reference = {
        "llama_cpp": commit,
        "model": "models/english/target as an f32 GGUF (benchmarks/peer/shims/convert.py)",
        "new_tokens": NEW_TOKENS,
        "prompts": [{"text": t, "ids": i} for t, i in zip(prompts, ids)],
        "cases": cases,
    }
    (FIXTURES / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {FIXTURES / 'reference.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
