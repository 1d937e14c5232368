#!/usr/bin/env python3
"""Side-by-side strategy benchmark: llama.cpp (the peer) and Pardec on the same model, prompts, tokens and thread count.

Run through benchmarks/peer/run-side-by-side.sh (which builds, converts and sets the thread variables); stdlib only.

Each engine is timed against its own plain decoding in the same run, plain measured first and again last.
Timings are generation only (prompt prefill and model load excluded), summed over the prompts, tok/s = tokens / seconds:
  * llama.cpp speculative/lookup/lookahead: the tools' own "decoded N tokens in T seconds" (wall clock from after the
    prompt to the last token: drafting, verification, sampling and bookkeeping all inside);
  * llama.cpp plain (llama-completion): llama_perf's eval time + sampling time for its n_eval single-token decodes (the
    tool prints no wall clock of its own); llama-lookup with a draft of 0 tokens is a second plain decode timed exactly
    like the speculative tools, shown as a cross-check;
  * Pardec: Stats.DecodeTime from StrategyBenchmark (same span: after the prompt, every step's work included).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sh(cmd, env=None, cwd=None):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)


def loadavg():
    return Path("/proc/loadavg").read_text().strip()


def params_of(gguf_log):
    """Parameter count as llama.cpp reports it ("model params = 105.91 M")."""
    m = re.search(r"model params\s*=\s*([\d.]+) ([KMB])", gguf_log)
    return float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)] if m else None


class Peer:
    def __init__(self, a, reference):
        self.a = a
        self.bin = Path(a.peer_dir) / "llama.cpp" / "build" / "bin"
        self.models = Path(a.peer_dir) / "models"
        self.reference = reference
        self.env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.checks = []

    def common(self, model):
        # One thread for everything (decode, batch/prompt, draft); greedy; EOS ignored as Pardec's benchmark does;
        # a 512-cell cache so lookahead's parallel sequences fit (the positions used stay inside the model's 256).
        return ["-m", str(self.models / model), "-t", "1", "-tb", "1", "-c", "512", "-n", str(self.a.max_tokens),
                "--temp", "0", "--top-k", "1", "--repeat-penalty", "1.0", "--seed", "1", "--ignore-eos", "--no-escape", "--color", "off"]

    def run(self, name, tool, args, model, family, note, env_extra=None, primary=False):
        row = dict(engine="llama.cpp", name=name, family=family, tool=tool, model=model, note=note, primary=primary,
                   tokens=0, seconds=0.0, drafted=0, accepted=0, steps=0, outputs=[], identical=True, pure_eval_seconds=0.0)
        env = dict(self.env, **(env_extra or {}))
        command = None
        for i, p in enumerate(self.reference["prompts"]):
            prompt = p["peerPrompt"]
            cmd = [str(self.bin / tool)] + self.common(model) + args + ["-p", prompt]
            if tool == "llama-completion":
                cmd += ["-no-cnv", "--verbose-prompt"]
            command = command or " ".join(
                ([f"{k}={v}" for k, v in (env_extra or {}).items()]) + [tool] + [c if c != prompt else "<prompt>" for c in cmd[1:]])
            r = sh(cmd, env=env)
            if r.returncode != 0:
                raise SystemExit(f"{tool} failed ({r.returncode}):\n{r.stderr[-3000:]}")
            err, out = r.stderr, ANSI.sub("", r.stdout)
            if tool == "llama-completion":
                ev = re.search(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs", err)
                sm = re.search(r"sampling time =\s*([\d.]+) ms", err)
                n_eval, eval_ms, sample_ms = int(ev.group(2)), float(ev.group(1)), float(sm.group(1))
                row["tokens"] += n_eval
                row["seconds"] += (eval_ms + sample_ms) / 1e3
                row["pure_eval_seconds"] += eval_ms / 1e3
                row["steps"] += n_eval
                self.check_prompt_tokens(err, p, i)
                generated = out[out.find(prompt) + len(prompt):] if prompt in out else out
            else:
                dec = re.search(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds", err)
                row["tokens"] += int(dec.group(1))
                row["seconds"] += float(dec.group(2))
                acc = re.search(r"n_accept\s*=\s*(\d+)", err)
                drafted = re.search(r"n_drafted\s*=\s*(\d+)", err)
                row["accepted"] += int(acc.group(1)) if acc else 0
                row["drafted"] += int(drafted.group(1)) if drafted else 0
                # Every step ends with exactly one token the target chose itself; the rest were accepted drafts.
                row["steps"] += int(dec.group(1)) - (int(acc.group(1)) if acc else 0)
                generated = out[out.find(prompt) + len(prompt):] if prompt in out else out
            generated = generated.replace("\r", "")
            ref = p["greedyText"]
            same = generated.startswith(ref) or ref.startswith(generated.rstrip("\n")) and len(generated.strip()) > 0
            row["identical"] &= bool(same)
            row["outputs"].append(generated[: len(ref) + 40])
        row["command"] = command
        row["tok_s"] = row["tokens"] / row["seconds"]
        row["tokens_per_step"] = row["tokens"] / max(row["steps"], 1)
        row["accept_rate"] = row["accepted"] / row["drafted"] if row["drafted"] else None
        if tool == "llama-completion":
            row["pure_eval_tok_s"] = row["tokens"] / row["pure_eval_seconds"]
        print(f"  llama.cpp {name:<38} {row['tok_s']:7.1f} tok/s  {row['tokens_per_step']:.2f} tok/step"
              f"  {'identical' if row['identical'] else 'DIFFERS'} to Pardec's greedy  load {loadavg().split()[0]}", flush=True)
        return row

    def check_prompt_tokens(self, err, p, i):
        # --verbose-prompt lists the prompt as "   id -> 'piece'" lines.
        ids = [int(m) for m in re.findall(r"^(?:[\d.]+ I)?\s*(\d+) -> '", err, re.M)]
        ours = p["promptIds"]
        self.checks.append(dict(prompt=i, ours=len(ours), peer=len(ids), identical=ids == ours,
                                first_difference=next((k for k, (x, y) in enumerate(zip(ids, ours)) if x != y), None)))


def run_peer(a, reference):
    peer = Peer(a, reference)
    T, D = "english-padded.f32.gguf", "english-draft.f32.gguf"
    d = ["-md", str(peer.models / D), "-td", "1", "-tbd", "1"]
    ds = d + ["--spec-type", "draft-simple"]
    rows = []
    print(f"llama.cpp, {a.max_tokens} tokens, load {loadavg()}", flush=True)
    rows.append(peer.run("plain (llama-completion)", "llama-completion", [], T, "plain", "", primary=True))
    rows.append(peer.run("plain (llama-lookup, draft 0)", "llama-lookup", ["--spec-draft-n-max", "0"], T, "plain",
                         "cross-check: plain decode timed like the speculative tools"))
    rows.append(peer.run("speculative-simple, draft 4", "llama-speculative-simple", ds + ["--spec-draft-n-max", "4"], T,
                         "speculative", "draft length 4 = Pardec's gamma", primary=True))
    rows.append(peer.run("speculative-simple, draft 3 (default)", "llama-speculative-simple", ds, T, "speculative",
                         "llama.cpp's default draft length"))
    rows.append(peer.run("speculative-simple, draft 8", "llama-speculative-simple", ds + ["--spec-draft-n-max", "8"], T,
                         "speculative", ""))
    rows.append(peer.run("speculative, draft 4", "llama-speculative", d + ["--spec-draft-n-max", "4"], T, "speculative",
                         "the older example (one draft sequence, its own draft loop)", primary=True))
    rows.append(peer.run("lookup, draft 10", "llama-lookup", ["--spec-draft-n-max", "10"], T, "prompt lookup",
                         "draft length 10 = Pardec's PromptLookup length; n-grams 1..4 (LLAMA_NGRAM_MIN/MAX)", primary=True))
    rows.append(peer.run("lookup, draft 3 (default)", "llama-lookup", [], T, "prompt lookup", "llama.cpp's default draft length"))
    rows.append(peer.run("lookahead W15 N5 G15 (default)", "llama-lookahead", [], T, "lookahead",
                         "llama.cpp's hard-coded parameters", primary=True))
    rows.append(peer.run("lookahead W5 N3 G5", "llama-lookahead", [], T, "lookahead",
                         "Pardec's Lookahead parameters (window 5, n-gram 3, guesses 5) via PARDEC_LOOKAHEAD_*",
                         env_extra=dict(PARDEC_LOOKAHEAD_W="5", PARDEC_LOOKAHEAD_N="3", PARDEC_LOOKAHEAD_G="5")))
    rows.append(peer.run("plain (llama-completion), again last", "llama-completion", [], T, "plain", "", primary=True))
    if a.f16:
        rows.append(peer.run("plain f16 (llama-completion)", "llama-completion", [], "english-padded.f16.gguf", "extra: f16", "f16 weights"))
        rows.append(peer.run("speculative-simple f16, draft 4", "llama-speculative-simple", ds + ["--spec-draft-n-max", "4"],
                             "english-padded.f16.gguf", "extra: f16", "f16 target, f32 draft"))
        rows.append(peer.run("plain f16 (llama-completion), again last", "llama-completion", [], "english-padded.f16.gguf", "extra: f16", "f16 weights"))
    if a.shipped:
        rows.append(peer.run("plain, shipped 5M target", "llama-completion", [], "english-target.f32.gguf", "extra: shipped target", ""))
        rows.append(peer.run("speculative-simple, shipped target, draft 4", "llama-speculative-simple",
                             ds + ["--spec-draft-n-max", "4"], "english-target.f32.gguf", "extra: shipped target", ""))
        rows.append(peer.run("lookup, shipped target, draft 10", "llama-lookup", ["--spec-draft-n-max", "10"],
                             "english-target.f32.gguf", "extra: shipped target", ""))
    return rows, peer.checks


def run_pardec(a):
    out = Path(a.work) / f"pardec-{a.max_tokens}"
    out.mkdir(parents=True, exist_ok=True)
    args = ["strategies", "--domain", "english", "--pad-layers", "12", "--pad-mlp", "8192", "--max-tokens", str(a.max_tokens),
            "--prompts", str(a.prompts), "--strategies", "SpeculativeGreedy,PromptLookup,AdaptiveNgram,Lookahead",
            "--threads", "1", "--keep-bos", "--out", str(out)]
    cmd = ["dotnet", "run", "-c", "Release", "--no-build", "--project", str(REPO / "benchmarks/Pardec.Benchmarks"), "--"] + args
    print(f"Pardec, {a.max_tokens} tokens, load {loadavg()}", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(r.stdout, flush=True)
    if r.returncode != 0:
        raise SystemExit("Pardec benchmark failed")
    result = json.loads((out / "strategies-english-padded.json").read_text())
    result["command_line"] = "dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- " + " ".join(args)
    return result


FAMILIES = [("plain", ["Greedy"]), ("speculative", ["SpeculativeGreedy"]), ("prompt lookup", ["PromptLookup", "AdaptiveNgram"]),
            ("lookahead", ["Lookahead"])]


def write(a, reference, peer_rows, checks, pardec, meta):
    plain = [r for r in peer_rows if r["tool"] == "llama-completion" and r["family"] == "plain"]
    peer_plain = sum(r["tok_s"] for r in plain) / len(plain)
    for r in peer_rows:
        base = peer_plain
        if r["family"] == "extra: f16":
            f16 = [x for x in peer_rows if x["family"] == "extra: f16" and x["tool"] == "llama-completion"]
            base = sum(x["tok_s"] for x in f16) / len(f16)
        if r["family"] == "extra: shipped target":
            base = next(x for x in peer_rows if x["name"] == "plain, shipped 5M target")["tok_s"]
        r["speedup"] = r["tok_s"] / base
    prow = {r["Strategy"]: r for r in pardec["rows"]}
    greedy = [r for r in pardec["rows"] if r["Strategy"].startswith("Greedy")]
    pardec_plain = sum(r["TokensPerSecond"] for r in greedy) / len(greedy)

    def pcell(name):
        r = prow.get(name)
        if r is None:
            return None
        return dict(strategy=name, tok_s=r["TokensPerSecond"], speedup=r["TokensPerSecond"] / pardec_plain,
                    tokens_per_step=r["TokensPerStep"], identical=r["IdenticalToAr"])

    # The headline table: one line per family, llama.cpp's primary configuration beside Pardec's strategy.
    table = []
    for family, names in FAMILIES:
        peers = [r for r in peer_rows if r["family"] == family and r["primary"]]
        if family == "plain":
            table.append(dict(family="plain (first / last)", peer=peers, pardec=[pcell(n) for n in prow if n.startswith("Greedy")]))
        else:
            table.append(dict(family=family, peer=peers, pardec=[c for c in (pcell(n) for n in names) if c]))

    md = []
    f = lambda x, p=1: "n/a" if x is None else f"{x:.{p}f}"
    md.append(f"# Side by side with llama.cpp: strategies on the same model, {a.max_tokens} tokens, 1 thread")
    md.append("")
    md.append(f"Run {meta['date']} with `benchmarks/peer/run-side-by-side.sh` (MAX_TOKENS={a.max_tokens}). "
              f"Load average at start `{meta['load_start']}`, before Pardec `{pardec['load']}`, at the end `{meta['load_end']}` "
              f"(2 cores shared with another engineer's builds: absolute tok/s are noisy, the ratios inside one engine's run less so).")
    md.append("")
    md.append(f"* **Model**: the padded English target (`strategies --pad-layers 12 --pad-mlp 8192`): shipped 5M target + 12 layers whose "
              f"o_proj/down_proj are zero and MLPs widened to 8192 with zeros, so its outputs are the shipped target's; "
              f"{reference['parameters']:,} parameters ({f(meta['peer_params_padded']/1e6 if meta['peer_params_padded'] else None)} M as llama.cpp counts), "
              f"**f32 on both sides**. Exported by `Pardec.Benchmarks pad-export`, converted by llama.cpp's `convert_hf_to_gguf.py --outtype f32`. "
              f"Draft: the shipped 887,424-parameter English draft, f32 on both sides.")
    md.append(f"* **Prompts**: the first {a.prompts} of `models/eval/prompts.english.jsonl`, {a.max_tokens} greedy tokens each, EOS ignored; "
              f"Pardec's prompt tokens and llama.cpp's are {'identical' if all(c['identical'] for c in checks) else 'NOT identical (see below)'} "
              f"(llama-completion `--verbose-prompt` vs Pardec's tokenizer, same `tokenizer.model`).")
    md.append(f"* **Threads**: 1 (`-t 1 -tb 1 -td 1 -tbd 1`, OMP/MKL/OPENBLAS_NUM_THREADS=1; Pardec `--threads 1`, torch.set_num_threads(1)).")
    md.append(f"* **llama.cpp**: commit `{meta['llama_commit']}` from npm `node-llama-cpp@3.21.1`, CPU build `-DGGML_NATIVE=ON` (Release). "
              f"Common flags: `-c 512 --temp 0 --top-k 1 --repeat-penalty 1.0 --ignore-eos -n {a.max_tokens}`.")
    md.append(f"* **Timing** (generation only; load and prompt prefill excluded; tokens and seconds summed over the prompts): "
              f"llama.cpp speculative/lookup/lookahead report `decoded N tokens in T seconds` (wall clock from after the prompt, drafting and "
              f"sampling included); llama-completion (plain) prints no such line, so its rate is llama_perf's eval time + sampling time over its "
              f"single-token decodes (pure eval rate: {f(plain[0].get('pure_eval_tok_s'))} / {f(plain[-1].get('pure_eval_tok_s'))} tok/s); "
              f"`llama-lookup --spec-draft-n-max 0` is a plain decode timed like the speculative tools, as a cross-check. "
              f"Pardec: `Stats.DecodeTime` (after the prompt, every step included). Each engine's speedup is over the mean of its own plain runs "
              f"(first and last of its block): llama.cpp {f(plain[0]['tok_s'])} / {f(plain[-1]['tok_s'])} tok/s, "
              f"Pardec {f(greedy[0]['TokensPerSecond'])} / {f(greedy[-1]['TokensPerSecond'])} tok/s.")
    md.append(f"* **tokens/step** = generated tokens / target verification steps (accepted draft tokens + the target's own token per step); "
              f"for llama.cpp steps = tokens - n_accept. **accept rate** = n_accept / n_drafted (llama.cpp only; Pardec's benchmark reports tokens/step).")
    md.append("")
    md.append("| strategy family | llama.cpp configuration | llama.cpp tok/s | llama.cpp speedup over its plain | llama.cpp tokens/step (accept rate) | Pardec strategy | Pardec tok/s | Pardec speedup over its AR | Pardec tokens/step |")
    md.append("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for t in table:
        n = max(len(t["peer"]), len(t["pardec"]))
        for k in range(n):
            pr = t["peer"][k] if k < len(t["peer"]) else None
            pd = t["pardec"][k] if k < len(t["pardec"]) else None
            acc = f" ({100 * pr['accept_rate']:.0f}%)" if pr and pr["accept_rate"] is not None else ""
            md.append("| " + " | ".join([
                t["family"] if k == 0 else "",
                pr["name"] if pr else "", f(pr["tok_s"]) if pr else "", f"{pr['speedup']:.2f}x" if pr else "",
                (f(pr["tokens_per_step"], 2) + acc) if pr else "",
                pd["strategy"] if pd else "", f(pd["tok_s"]) if pd else "", f"{pd['speedup']:.2f}x" if pd else "",
                f(pd["tokens_per_step"], 2) if pd else ""]) + " |")
    md.append("")
    md.append("## Every llama.cpp configuration of this run (in run order)")
    md.append("")
    md.append("| configuration | tool | model | tok/s | speedup over its plain | tokens/step | drafted | accepted (rate) | same text as Pardec's greedy | note |")
    md.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for r in peer_rows:
        acc = f"{r['accepted']} ({100 * r['accept_rate']:.0f}%)" if r["accept_rate"] is not None else ""
        md.append(f"| {r['name']} | {r['tool']} | {r['model']} | {f(r['tok_s'])} | {r['speedup']:.2f}x | {f(r['tokens_per_step'], 2)} | "
                  f"{r['drafted'] or ''} | {acc} | {'yes' if r['identical'] else 'no'} | {r['note']} |")
    md.append("")
    md.append("## Pardec rows of this run")
    md.append("")
    md.append("| strategy | tok/s | speedup over its AR | tokens/step | target fwd/token | identical to AR |")
    md.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in pardec["rows"]:
        md.append(f"| {r['Strategy']} | {f(r['TokensPerSecond'])} | {r['TokensPerSecond'] / pardec_plain:.2f}x | {f(r['TokensPerStep'], 2)} | "
                  f"{f(r['TargetForwardsPerToken'], 2)} | {'yes' if r['IdenticalToAr'] else 'no'} |")
    md.append("")
    md.append("## Same model, same text?")
    md.append("")
    md.append("* Prompt tokens (llama.cpp `--verbose-prompt` vs Pardec): " + "; ".join(
        f"prompt {c['prompt']}: {c['peer']} vs {c['ours']} tokens, {'identical' if c['identical'] else 'first difference at ' + str(c['first_difference'])}"
        for c in checks[: a.prompts]) + ".")
    md.append(f"* Pardec's exported padded model reproduces the shipped target's greedy tokens: {reference['identicalToShipped']} (pad-export's check).")
    md.append("* Generated text: the 'same text as Pardec's greedy' column compares each llama.cpp run's text with Pardec's greedy continuation "
              "(decoded from its token ids) on every prompt.")
    p0 = reference["prompts"][0]
    md.append("")
    md.append(f"Prompt 0 continuation, Pardec greedy: `{p0['greedyText'][:300]!r}`")
    md.append("")
    md.append(f"Prompt 0 continuation, llama.cpp plain: `{peer_rows[0]['outputs'][0][:300]!r}`")
    md.append("")
    md.append("## Commands")
    md.append("")
    md.append("```")
    md.append(f"# build + models: benchmarks/peer/build-llama-cpp.sh; benchmarks/peer/convert.sh")
    seen = set()
    for r in peer_rows:
        if r["command"] not in seen:
            seen.add(r["command"])
            md.append(r["command"].replace(str(Path(a.peer_dir)), "$PEER_DIR"))
    md.append(pardec["command_line"])
    md.append("```")
    md.append("")
    name = "peer-llama-cpp" if a.max_tokens == 48 else f"peer-llama-cpp-{a.max_tokens}"
    outdir = Path(a.out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / f"{name}.md").write_text("\n".join(md))
    js = dict(meta=meta, max_tokens=a.max_tokens, prompts=a.prompts, threads=1, dtype="f32", parameters_padded=reference["parameters"],
              prompt_token_checks=checks, table=table, peer=peer_rows, pardec=pardec)
    (outdir / f"{name}.json").write_text(json.dumps(js, indent=2))
    print(f"wrote {outdir / name}.md/.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-dir", required=True)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--work", default="/tmp/pardec-peer-run")
    ap.add_argument("--f16", action="store_true", help="also run the f16 padded target (extra rows)")
    ap.add_argument("--shipped", action="store_true", help="also run the shipped 5M target (extra rows)")
    a = ap.parse_args()

    reference = json.loads((Path(a.peer_dir) / "models" / "english-padded" / f"reference.{a.max_tokens}.json").read_text())
    reference["prompts"] = reference["prompts"][: a.prompts]
    for p in reference["prompts"]:
        # llama.cpp takes text and adds BOS itself (and SentencePiece's leading space): give it the prompt text, or for a
        # prompt cut to fit the context (Pardec keeps BOS + the last tokens, --keep-bos) the text of those last tokens.
        # The --verbose-prompt check shows whether llama.cpp's tokens are then the same as Pardec's.
        p["peerPrompt"] = p["text"] if not p["truncated"] else p["tailText"]

    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"), load_start=loadavg(),
                llama_commit=sh(["git", "-C", str(Path(a.peer_dir) / "llama.cpp"), "rev-parse", "HEAD"]).stdout.strip(),
                cpu=next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), ""))
    info = sh([str(Path(a.peer_dir) / "llama.cpp/build/bin/llama-completion"), "-m", str(Path(a.peer_dir) / "models/english-padded.f32.gguf"),
               "-t", "1", "-n", "1", "-p", "a", "-no-cnv", "--no-warmup"])
    meta["peer_params_padded"] = params_of(info.stderr)
    meta["peer_system_info"] = next((l for l in info.stderr.splitlines() if "system_info" in l), "")

    peer_rows, checks = run_peer(a, reference)
    pardec = run_pardec(a)
    meta["load_end"] = loadavg()
    write(a, reference, peer_rows, checks, pardec, meta)


if __name__ == "__main__":
    main()
