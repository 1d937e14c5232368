#!/usr/bin/python3
"""Makes the llama.cpp references of the diffusion cross-check (tests/fixtures/peer-diffusion/<family>/reference.json).

    benchmarks/peer/make-diffusion-fixtures.py [FAMILY ...]      (default: every tests/fixtures/peer-diffusion/*/checkpoint.json)

Needs what make-peer-fixtures.py needs (benchmarks/peer/README.md) plus diffusion_dump (build-diffusion-dump.sh). For each
family (llada, dream):
  1. `Pardec.Benchmarks seeded-checkpoint` writes the seeded HF directory of checkpoint.json (the C# writer the test
     uses, so CI regenerates the same bytes);
  2. the tokenizer files are made (no LLaDA or Dream tokenizer data is reachable here, see stand_in_tokenizer);
  3. llama.cpp's convert_hf_to_gguf.py (its conversion/llada.py and dream.py) converts it to an f32 GGUF through
     shims/convert_diffusion.py;
  4. the prompt ids are Hugging Face's ids of prompts.json's texts through that tokenizer, made a multiple of the block
     length (block_ids), since llama.cpp's block schedule needs (prompt + generation) % block == 0;
  5. diffusion_dump runs llama.cpp's diffusion_generate (llama-diffusion-cli's sampler) greedy (--top-k 1 --temp 0),
     confidence-based (algorithm 4), block schedule, for each SETTINGS entry, and keeps the tokens and every step's canvas.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEER_DIR = Path(os.environ.get("PEER_DIR", Path.home() / ".cache" / "pardec-peer"))
LLAMA_CPP = PEER_DIR / "llama.cpp"
DIFFUSION_DUMP = PEER_DIR / "bin" / "diffusion_dump"
NODE_DIR = PEER_DIR / "node"
FIXTURES = REPO / "tests" / "fixtures" / "peer-diffusion"
PROMPTS = REPO / "tests" / "fixtures" / "peer-models" / "prompts.json"
TOKENIZERS = REPO / "artifacts" / "reference" / "tokenizers"
WORK = PEER_DIR / "models" / "diffusion-layouts"
GENERATION = 32
# (block length, steps per block): k = block / steps tokens per step, Pardec's `commit top k`.
SETTINGS = [(8, 4), (8, 8)]
# llama-diffusion-cli itself, once (Dream): it always wraps -p in the model's chat template (no GGUF template here, so
# llama.cpp's chatml fallback), tokenizes with parse_special, and prints text. These are the ids it decodes for this
# prompt (16, two blocks); its text must equal the decoded text of diffusion_dump's tokens for them.
CLI_PROMPT = "The capital of France is Paris, and"
CLI_CHATML = "<|im_start|>user\n" + CLI_PROMPT + "<|im_end|>\n<|im_start|>assistant\n"
CLI_GENERATION, CLI_BLOCK, CLI_STEPS_PER_BLOCK = 24, 8, 4


def run(cmd, **kwargs):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def node_env():
    if not (NODE_DIR / "node_modules" / "tokenizers").is_dir():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--prefix", NODE_DIR, "--no-save", "tokenizers@0.23.2"])
    return {**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")}


def hf_ids(tokenizer_json, texts, env):
    proc = subprocess.Popen(["node", REPO / "benchmarks/peer/shims/hf_tokenizer_server.js", tokenizer_json],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", env=env)
    out = []
    for text in texts:
        proc.stdin.write(json.dumps({"op": "encode", "text": text, "special": False}) + "\n")
        proc.stdin.flush()
        out.append(json.loads(proc.stdout.readline())["ids"])
    proc.stdin.close()
    proc.wait()
    return out


def stand_in_tokenizer(family, config, hf_dir):
    """Tokenizer files in the family's id layout, from the real tokenizer data we have.

    dream: Dream-v0's tokenizer is Qwen2.5's plus two added tokens, <|beginoftext|> (151665) and <|mask|> (151666):
           Qwen3's tokenizer.json (the same 151643 BPE pieces and the same added tokens up to 151664) with those two at
           their ids and Qwen3's later additions dropped.
    llada: LLaDA's own 126k BPE vocabulary is not reachable. The stand-in is Llama 3's byte-level BPE cut to its first
           126000 pieces (merges that need a dropped piece dropped too) with LLaDA's special ids: <|startoftext|> 126080,
           <|endoftext|> 126081, <|mdm_mask|> 126336 (config.mask_token_id), <|start_header_id|> 126346,
           <|end_header_id|> 126347, <|eot_id|> 126348. Ids without a piece convert as llama.cpp's [PAD] tokens.
           The cross-check decodes ids, so only the id layout matters to it."""
    def added(i, content):
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}

    if family == "dream":
        tok = json.loads((TOKENIZERS / "qwen3" / "tokenizer.json").read_text())
        cfg = json.loads((TOKENIZERS / "qwen3" / "tokenizer_config.json").read_text())
        tok["added_tokens"] = [a for a in tok["added_tokens"] if a["id"] < 151665] + [added(151665, "<|beginoftext|>"), added(151666, "<|mask|>")]
        specials = {"bos_token": "<|beginoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "mask_token": "<|mask|>"}
    else:
        tok = json.loads((TOKENIZERS / "llama3_1" / "tokenizer.json").read_text())
        cfg = json.loads((TOKENIZERS / "llama3_1" / "tokenizer_config.json").read_text())
        keep = 126000
        vocab = {t: i for t, i in tok["model"]["vocab"].items() if i < keep}
        merges = []
        for m in tok["model"]["merges"]:
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            if a in vocab and b in vocab and a + b in vocab:
                merges.append(m)
        tok["model"]["vocab"] = vocab
        tok["model"]["merges"] = merges
        names = {126080: "<|startoftext|>", 126081: "<|endoftext|>", 126336: "<|mdm_mask|>", 126346: "<|start_header_id|>",
                 126347: "<|end_header_id|>", 126348: "<|eot_id|>"}
        assert config["mask_token_id"] == 126336 and config["eos_token_id"] == 126081
        tok["added_tokens"] = [added(i, c) for i, c in names.items()]
        tok["post_processor"] = None
        specials = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "mask_token": "<|mdm_mask|>"}
    cfg["added_tokens_decoder"] = {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in tok["added_tokens"]}
    cfg.update(specials)
    cfg.pop("chat_template", None)
    (hf_dir / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
    (hf_dir / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2))


def hf_decode(tokenizer_json, ids, env):
    proc = subprocess.run(["node", REPO / "benchmarks/peer/shims/hf_tokenizer_server.js", tokenizer_json], check=True,
                          input=json.dumps({"op": "decode", "ids": ids, "skip": False}) + "\n", capture_output=True, text=True,
                          encoding="utf-8", env=env)
    return json.loads(proc.stdout.splitlines()[0])["text"]


def cli_check(gguf, hf_dir, env):
    """llama-diffusion-cli on CLI_PROMPT against diffusion_dump on the ids the CLI decodes. With flash attention (the
    CLI's default, auto = on here) ggml's CPU kernel rounds K/V to f16 and the last block comes out different; with
    -fa off the two are the same computation."""
    ids = hf_ids(hf_dir / "tokenizer.json", [CLI_CHATML], env)[0]
    assert len(ids) % CLI_BLOCK == 0, ids
    max_length = len(ids) + CLI_GENERATION
    steps = max_length // CLI_BLOCK * CLI_STEPS_PER_BLOCK
    cli = [LLAMA_CPP / "build-exact" / "bin" / "llama-diffusion-cli", "-m", gguf, "-p", CLI_PROMPT, "-ub", max_length, "-c", max_length,
           "-b", max_length, "--diffusion-block-length", CLI_BLOCK, "--diffusion-steps", steps, "--diffusion-algorithm", 4,
           "--top-k", 1, "--temp", 0, "--seed", 0, "-t", 1, "-fa", "off"]
    log = run(cli, capture_output=True, text=True, encoding="utf-8", errors="replace")
    lines = (log.stdout + log.stderr).splitlines()
    marker = next(i for i, l in enumerate(lines) if "sampling time per step" in l)
    cli_text = lines[marker + 2].strip() if lines[marker + 1].strip().endswith("I") else lines[marker + 1].strip()
    one = WORK / "cli.ids.txt"
    one.write_text(" ".join(map(str, ids)) + "\n")
    out = run([DIFFUSION_DUMP, gguf, one, CLI_GENERATION, CLI_BLOCK, steps], capture_output=True, text=True).stdout
    tokens = json.loads(out.splitlines()[0])["tokens"]
    dump_text = hf_decode(hf_dir / "tokenizer.json", tokens, env).strip()
    print(f"cli check: llama-diffusion-cli {cli_text!r}\n           diffusion_dump    {dump_text!r}", file=sys.stderr)
    return {"prompt": CLI_PROMPT, "ids": ids, "command": " ".join(str(c) for c in cli[1:]).replace(str(gguf), "MODEL.gguf"),
            "cli_text": cli_text, "diffusion_dump_tokens": tokens, "equal": cli_text == dump_text}


def block_ids(ids, block, bos):
    """The prompt as a whole number of blocks (1 or 2): BOS first when the family adds one, the text's ids repeated
    until there are enough, then cut."""
    out = ([bos] if bos is not None else []) + ids
    while len(out) < block:
        out += ids
    n = min(2 * block, len(out) // block * block)
    return out[:n]


def make(family, prompts, env):
    spec_path = FIXTURES / family / "checkpoint.json"
    spec = json.loads(spec_path.read_text())
    config = spec["config"]
    hf_dir = WORK / family
    gguf = WORK / f"{family}.f32.gguf"
    if hf_dir.exists():
        subprocess.run(["rm", "-rf", str(hf_dir)], check=True)
    writer = os.environ.get("PARDEC_SEEDED_CHECKPOINT")
    writer = [writer] if writer else ["dotnet", "run", "-c", "Release", "--no-build", "--project", REPO / "benchmarks/Pardec.Benchmarks", "--"]
    run(writer + ["seeded-checkpoint", spec_path, hf_dir])
    stand_in_tokenizer(family, config, hf_dir)
    with open(str(gguf) + ".log", "w") as log:
        run(["/usr/bin/python3", REPO / "benchmarks/peer/shims/convert_diffusion.py", LLAMA_CPP, hf_dir, "--outtype", "f32",
             "--outfile", gguf], stdout=log, stderr=subprocess.STDOUT, env=env)

    texts = [p["text"] for p in prompts]
    text_ids = hf_ids(hf_dir / "tokenizer.json", texts, env)
    bos = 126080 if family == "llada" else None  # LLaDA's converter sets add_bos_token; Dream (Qwen) adds none
    mask, eos = config["mask_token_id"], config["eos_token_id"]
    runs = []
    for block, steps_per_block in SETTINGS:
        ids = [block_ids(t, block, bos) for t in text_ids]
        ids_file = WORK / f"{family}.b{block}.ids.txt"
        ids_file.write_text("".join(" ".join(map(str, p)) + "\n" for p in ids))
        # diffusion_generate's block schedule counts (prompt + generation) / block blocks; every prompt here has the
        # same number of blocks only if the lengths agree, so run each length on its own.
        cases = []
        for name, text, p in zip([q["name"] for q in prompts], texts, ids):
            one = WORK / f"{family}.one.ids.txt"
            one.write_text(" ".join(map(str, p)) + "\n")
            blocks = (len(p) + GENERATION) // block
            out = run([DIFFUSION_DUMP, gguf, one, GENERATION, block, blocks * steps_per_block], capture_output=True, text=True).stdout
            r = json.loads(out.splitlines()[0])
            assert mask not in r["tokens"], f"{family} {name}: llama.cpp left a mask"
            cases.append({"name": name, "ids": p, "tokens": r["tokens"], "steps": r["steps"],
                          "eos_in_output": eos in r["tokens"]})
        runs.append({"block": block, "steps_per_block": steps_per_block, "tokens_per_step": block // steps_per_block, "prompts": cases})

    commit = subprocess.run(["git", "-C", str(LLAMA_CPP), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    reference = {
        "family": family,
        "published": spec["published"],
        "llama_cpp": f"{commit} (node-llama-cpp@3.21.1), convert_hf_to_gguf.py --outtype f32, diffusion_dump (diffusion_generate of "
                     "examples/diffusion, build-exact) with llama-diffusion-cli's parameters for --diffusion-block-length B "
                     "--diffusion-steps S --diffusion-algorithm 4 --top-k 1 --temp 0 --seed 0, f32 K/V, no flash attention, 1 thread",
        "generation": GENERATION,
        "runs": runs,
        **({"llama_diffusion_cli": cli_check(gguf, hf_dir, env)} if family == "dream" else {}),
    }
    out = FIXTURES / family / "reference.json"
    out.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{family}: wrote {out} ({out.stat().st_size} bytes)", file=sys.stderr)


def main():
    for path, what in [(DIFFUSION_DUMP, "benchmarks/peer/build-diffusion-dump.sh"), (LLAMA_CPP / "convert_hf_to_gguf.py", "benchmarks/peer/build-llama-cpp.sh")]:
        if not path.exists():
            raise SystemExit(f"missing {path}: run {what}")
    WORK.mkdir(parents=True, exist_ok=True)
    env = node_env()
    prompts = json.loads(PROMPTS.read_text())
    families = sys.argv[1:] or sorted(p.parent.name for p in FIXTURES.glob("*/checkpoint.json"))
    for family in families:
        make(family, prompts, env)


if __name__ == "__main__":
    main()
