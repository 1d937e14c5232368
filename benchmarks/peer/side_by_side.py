#!/usr/bin/env python3
"""Side-by-side strategy benchmark: llama.cpp (the peer) and Pardec on the same model, prompts, tokens and thread count.

Run through benchmarks/peer/run-side-by-side.sh (which builds, converts and sets the thread variables); stdlib only.

Each engine is timed against its own plain decoding in the same run, plain measured first and again last.
The headline rate is end-to-end generation: tokens / wall seconds from the end of the prompt prefill to the last token
(model load and prefill excluded; drafting, verification, sampling and bookkeeping included), summed over the prompts:
  * llama.cpp speculative/lookup/lookahead: the tools' own "decoded N tokens in T seconds" (exactly that span);
  * llama.cpp plain (llama-completion, which prints no such line): llama_perf's total time - prompt eval time, for
    n_eval + 1 tokens (the first comes from the prompt's logits, as in llama-lookup's count). Also recorded: the
    per-forward rate n_eval / (eval + sampling time), and llama-lookup with a 0-token draft, a plain decode timed by the
    same clock as the speculative tools;
  * Pardec: StrategyBenchmark's wall time of each Generate minus its prefill time. Also recorded: its own standard
    figure, tokens / Stats.DecodeTime (the session clock, which stops between steps' commit and the next step).
"""
import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def sh(cmd, env=None, cwd=None):
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)


def loadavg():
    return Path("/proc/loadavg").read_text().strip()


class Peer:
    def __init__(self, a, reference):
        self.a = a
        self.bin = Path(a.peer_dir) / "llama.cpp" / "build" / "bin"
        self.models = Path(a.peer_dir) / "models"
        self.reference = reference
        self.env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.checks = []
        self.own_plain = {}

    def common(self, model):
        # One thread for everything (decode, batch/prompt, draft); greedy; EOS ignored as Pardec's benchmark does;
        # a 512-cell cache so lookahead's parallel sequences fit (the positions used stay inside the model's 256).
        return ["-m", str(self.models / model), "-t", "1", "-tb", "1", "-c", "512", "-n", str(self.a.max_tokens),
                "--temp", "0", "--top-k", "1", "--repeat-penalty", "1.0", "--seed", "1", "--ignore-eos", "--no-escape", "--color", "off"]

    def run(self, name, tool, args, model, family, note, env_extra=None, primary=False):
        row = dict(engine="llama.cpp", name=name, family=family, tool=tool, model=model, note=note, primary=primary,
                   tokens=0, seconds=0.0, drafted=0, accepted=0, steps=0, outputs=[], identical=True)
        env = dict(self.env, **(env_extra or {}))
        command = None
        for i, p in enumerate(self.reference["prompts"]):
            prompt = p["peerPrompt"]
            cmd = [str(self.bin / tool)] + self.common(model) + args + ["-p", prompt]
            if tool == "llama-lookahead":
                cmd.remove("--color"); cmd.remove("off")  # not among its options; it colours accepted n-grams (stripped below)
            if tool == "llama-completion":
                cmd += ["-no-cnv", "--verbose-prompt"]
            command = command or " ".join(
                ([f"{k}={v}" for k, v in (env_extra or {}).items()]) + [tool] + [c if c != prompt else "<prompt>" for c in cmd[1:]])
            for attempt in range(3):
                r = sh(cmd, env=env)
                if r.returncode != 0:
                    raise SystemExit(f"{tool} failed ({r.returncode}):\n{r.stderr[-3000:]}")
                # llama.cpp logs from a worker thread; a report cut short at exit is retried rather than misread.
                if re.search(r"decoded\s+\d+ tokens in|total time =", r.stderr):
                    break
                print(f"  ({tool}: no timing line in its log, attempt {attempt + 1}; stderr ends with {r.stderr[-300:]!r})", flush=True)
            else:
                raise SystemExit(f"{tool} printed no timings")
            err, out = r.stderr, ANSI.sub("", r.stdout)
            if tool == "llama-completion":
                ev = re.search(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs", err)
                pe = re.search(r"prompt eval time =\s*([\d.]+) ms", err)
                tt = re.search(r"total time =\s*([\d.]+) ms", err)
                sm = re.search(r"sampling time =\s*([\d.]+) ms", err)
                n_eval, eval_ms, sample_ms = int(ev.group(2)), float(ev.group(1)), float(sm.group(1))
                row["tokens"] += n_eval + 1
                row["seconds"] += (float(tt.group(1)) - float(pe.group(1))) / 1e3
                row["forward_tokens"] = row.get("forward_tokens", 0) + n_eval
                row["forward_seconds"] = row.get("forward_seconds", 0.0) + (eval_ms + sample_ms) / 1e3
                row["steps"] += n_eval + 1
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
            if self.a.dtype in QUANTIZED:
                # Quantized weights: Q8_0/Q4_0 and Pardec's int8/int4 kernels round differently, so llama.cpp's runs are
                # checked against its own first plain run (and Pardec's strategies against Pardec's own greedy).
                ref = self.own_plain.setdefault(i, generated)
            else:
                ref = p["greedyText"] if self.a.dtype == "f32" else p["greedyTextBf16"]
            same = generated.startswith(ref) or ref.startswith(generated.rstrip("\n")) and len(generated.strip()) > 0
            row["identical"] &= bool(same)
            row["outputs"].append(generated[: len(ref) + 40])
        row["command"] = command
        row["tok_s"] = row["tokens"] / row["seconds"]
        row["tokens_per_step"] = row["tokens"] / max(row["steps"], 1)
        row["accept_rate"] = row["accepted"] / row["drafted"] if row["drafted"] else None
        if tool == "llama-completion":
            row["forward_tok_s"] = row["forward_tokens"] / row["forward_seconds"]
        print(f"  llama.cpp {name:<38} {row['tok_s']:7.1f} tok/s  {row['tokens_per_step']:.2f} tok/step"
              f"  {'identical' if row['identical'] else 'DIFFERS'} to Pardec's greedy  load {loadavg().split()[0]}", flush=True)
        return row

    def check_prompt_tokens(self, err, p, i):
        # --verbose-prompt lists the prompt as "   id -> 'piece'" lines.
        ids = [int(m) for m in re.findall(r"^(?:[\d.]+ I)?\s*(\d+) -> '", err, re.M)]
        ours = p["promptIds"]
        self.checks.append(dict(prompt=i, ours=len(ours), peer=len(ids), identical=ids == ours,
                                first_difference=next((k for k, (x, y) in enumerate(zip(ids, ours)) if x != y), None)))


QUANTIZED = ("q8_0", "q4_0")
PARDEC_WEIGHTS = {"f32": "f32", "bf16": "bf16", "q8_0": "int8", "q4_0": "int4"}


def gguf_weight_bytes(path):
    """Bytes a decode step reads from a GGUF file: every tensor but the token embedding (one row a token), unless the
    file has no separate output matrix (a tied head reads the whole embedding)."""
    code = ("import gguf, sys, json\nr = gguf.GGUFReader(sys.argv[1])\nnames = {t.name for t in r.tensors}\n"
            "print(sum(int(t.n_bytes) for t in r.tensors if t.name != 'token_embd.weight' or 'output.weight' not in names))")
    out = sh(["/usr/bin/python3", "-c", code, str(path)], env=dict(os.environ, PYTHONPATH=str(path.parents[1] / "llama.cpp" / "gguf-py")))
    return int(out.stdout.strip()) if out.returncode == 0 else None


def bandwidth():
    """This machine's one-thread read bandwidth now (Pardec.Benchmarks bandwidth: best of 5 reads of 1 GiB)."""
    cmd = ["dotnet", "run", "-c", "Release", "--no-build", "--project", str(REPO / "benchmarks/Pardec.Benchmarks"), "--", "bandwidth"]
    r = subprocess.run(cmd, text=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_peer(a, reference):
    peer = Peer(a, reference)
    T, D = f"english-padded.{a.dtype}.gguf", f"english-draft.{a.draft_dtype or a.dtype}.gguf"
    d = ["-md", str(peer.models / D), "-td", "1", "-tbd", "1"]
    ds = d + ["--spec-type", "draft-simple"]

    class Rows(list):
        def append(self, row):
            super().append(row)
            # --plain-between: a plain run after every configuration, so each is measured between two plain runs.
            if a.plain_between and row["model"] == T and not row.get("between") and "again last" not in row["name"]:
                super().append(dict(peer.run("plain (between)", "llama-completion", [], T, "plain", "a neighbour for the speedups"), between=True))

    rows = Rows()
    if a.quick:
        # --quick: only the primary rows (the summary table's), each family's configuration that matches Pardec's.
        run = peer.run
        peer.run = lambda *args, **kw: run(*args, **kw) if kw.get("primary") else None
        append = rows.append
        rows.append = lambda row: append(row) if row is not None else None
    print(f"llama.cpp, {a.max_tokens} tokens, load {loadavg()}", flush=True)
    list.append(rows, dict(peer.run("plain (llama-completion)", "llama-completion", [], T, "plain", "", primary=True), between=True))
    rows.append(peer.run("plain (llama-lookup, draft 0)", "llama-lookup", ["--spec-draft-n-max", "0"], T, "plain",
                         "cross-check: plain decode timed like the speculative tools"))
    rows.append(peer.run("speculative-simple, draft 4", "llama-speculative-simple", ds + ["--spec-draft-n-max", "4"], T,
                         "speculative", "draft length 4 = Pardec's gamma", primary=True))
    rows.append(peer.run("speculative-simple, draft 3 (default)", "llama-speculative-simple", ds, T, "speculative",
                         "llama.cpp's default draft length"))
    rows.append(peer.run("speculative-simple, draft 8", "llama-speculative-simple", ds + ["--spec-draft-n-max", "8"], T,
                         "speculative", "longer drafts (beside Pardec's SpeculativeAdaptive)", primary=True))
    rows.append(peer.run("speculative, draft 4", "llama-speculative", d + ["--spec-draft-n-max", "4"], T, "speculative",
                         "the older example (one draft sequence, its own draft loop)", primary=True))
    rows.append(peer.run("lookup, draft 10", "llama-lookup", ["--spec-draft-n-max", "10"], T, "prompt lookup",
                         "draft length 10 = Pardec's PromptLookup length; n-grams 1..4 (LLAMA_NGRAM_MIN/MAX)", primary=True))
    rows.append(peer.run("lookup, draft 3 (default)", "llama-lookup", [], T, "prompt lookup", "llama.cpp's default draft length"))
    rows.append(peer.run("lookahead W15 N5 G15 (default)", "llama-lookahead", [], T, "lookahead",
                         "llama.cpp's hard-coded parameters", primary=True))
    rows.append(peer.run("lookahead W4 N5 G2", "llama-lookahead", [], T, "lookahead",
                         "Pardec's Lookahead parameters (window 4, n-gram 5, guesses 2) via PARDEC_LOOKAHEAD_*",
                         env_extra=dict(PARDEC_LOOKAHEAD_W="4", PARDEC_LOOKAHEAD_N="5", PARDEC_LOOKAHEAD_G="2")))
    rows.append(peer.run("plain (llama-completion), again last", "llama-completion", [], T, "plain", "", primary=True))
    if a.f16 and a.dtype == "f32":
        rows.append(peer.run("plain f16 (llama-completion)", "llama-completion", [], "english-padded.f16.gguf", "extra: f16", "f16 weights"))
        rows.append(peer.run("speculative-simple f16, draft 4", "llama-speculative-simple", ds + ["--spec-draft-n-max", "4"],
                             "english-padded.f16.gguf", "extra: f16", "f16 target, f32 draft"))
        rows.append(peer.run("plain f16 (llama-completion), again last", "llama-completion", [], "english-padded.f16.gguf", "extra: f16", "f16 weights"))
    if a.shipped and a.dtype == "f32":
        rows.append(peer.run("plain, shipped 5M target", "llama-completion", [], "english-target.f32.gguf", "extra: shipped target", ""))
        rows.append(peer.run("speculative-simple, shipped target, draft 4", "llama-speculative-simple",
                             ds + ["--spec-draft-n-max", "4"], "english-target.f32.gguf", "extra: shipped target", ""))
        rows.append(peer.run("lookup, shipped target, draft 10", "llama-lookup", ["--spec-draft-n-max", "10"],
                             "english-target.f32.gguf", "extra: shipped target", ""))
    return list(rows), peer.checks


def run_pardec(a):
    out = Path(a.work) / f"pardec-{a.max_tokens}"
    out.mkdir(parents=True, exist_ok=True)
    target = (["--pad-layers", "12", "--pad-mlp", "8192"] if a.dtype not in QUANTIZED
              else ["--target-gguf", str(Path(a.peer_dir) / "models" / f"english-padded.{a.dtype}.gguf")])
    args = ["strategies", "--domain", "english"] + target + ["--max-tokens", str(a.max_tokens),
            "--prompts", str(a.prompts), "--strategies", "SpeculativeGreedy,SpeculativeAdaptive,SequoiaTree,PromptLookup,AdaptiveNgram,Lookahead",
            "--threads", "1", "--dtype", a.dtype if a.dtype not in QUANTIZED else a.pardec_activations, "--keep-bos", "--out", str(out), "--prompt-set", a.prompt_set]
    if a.draft_dtype:
        args += ["--draft-dtype", a.draft_dtype]
    args += a.pardec_args.split()
    if a.plain_between:
        args += ["--ar-between"]
    cmd = ["dotnet", "run", "-c", "Release", "--no-build", "--project", str(REPO / "benchmarks/Pardec.Benchmarks"), "--"] + args
    print(f"Pardec, {a.max_tokens} tokens, load {loadavg()}", flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    print(r.stdout, flush=True)
    if r.returncode != 0:
        raise SystemExit("Pardec benchmark failed")
    result = json.loads(max(out.glob("strategies-english-*.json"), key=lambda f: f.stat().st_mtime).read_text())
    result["command_line"] = "dotnet run -c Release --project benchmarks/Pardec.Benchmarks -- " + " ".join(args)
    return result


FAMILIES = [("speculative (draft model)", "speculative", ["SpeculativeGreedy", "SpeculativeAdaptive", "SequoiaTree"]),
            ("prompt lookup", "prompt lookup", ["PromptLookup", "AdaptiveNgram"]),
            ("lookahead", "lookahead", ["Lookahead"])]


def pct(x):
    return "" if x is None else f"{100 * x:.0f} %"


def f(x, p=1):
    return "n/a" if x is None else f"{x:.{p}f}"


def speedups(peer_rows, pardec):
    """One round: llama.cpp rows over the mean of that model's llama-completion runs (first and last), Pardec rows over
    the mean of its two Greedy rows, end-to-end (wall - prefill) and by its benchmark's own DecodeTime figure."""
    plains = {}
    for r in peer_rows:
        if r["tool"] == "llama-completion":
            plains.setdefault(r["model"], []).append(r["tok_s"])
    for k, r in enumerate(peer_rows):
        # Plain runs between configurations (--plain-between): each configuration over the plain runs next to it.
        if r.get("between") is None and k > 0 and k + 1 < len(peer_rows) and peer_rows[k - 1].get("between") and peer_rows[k + 1].get("between"):
            r["speedup"] = r["tok_s"] / statistics.mean([peer_rows[k - 1]["tok_s"], peer_rows[k + 1]["tok_s"]])
        else:
            r["speedup"] = r["tok_s"] / statistics.mean(plains[r["model"]])
    prs = pardec["rows"]
    for r in prs:
        r["EndToEndTokensPerSecond"] = r["Tokens"] / (r["WallSeconds"] - r["PrefillSeconds"])
    greedy = [r for r in prs if r["Strategy"].startswith("Greedy")]
    g_e2e = statistics.mean(r["EndToEndTokensPerSecond"] for r in greedy)
    g_dec = statistics.mean(r["TokensPerSecond"] for r in greedy)
    for r in prs:
        # With --ar-between each strategy is measured against the AR runs just before and after it.
        r["EndToEndSpeedup"] = r["EndToEndTokensPerSecond"] / (r.get("ArNeighbourEndToEndTokensPerSecond") or g_e2e)
        r["DecodeTimeSpeedup"] = r["TokensPerSecond"] / (r.get("ArNeighbourTokensPerSecond") or g_dec)


def bandwidth_fractions(peer_rows, pardec, peer_bytes):
    """One round: the fraction of this round's read bandwidth each row's target forwards streamed, weight bytes per forward
    x forwards per second / bandwidth (the draft's reads left out). llama.cpp: a forward per step (tokens - accepted);
    Pardec: its target forwards per token (prefill excluded)."""
    bw = (pardec.get("bandwidth") or {}).get("used")
    for r in peer_rows:
        r["bandwidth_fraction"] = peer_bytes * r["tok_s"] / r["tokens_per_step"] / (bw * 1e9) if bw and peer_bytes else None
    for r in pardec["rows"]:
        r["BandwidthFraction"] = (pardec["weightBytesPerToken"] * r["EndToEndTokensPerSecond"] * r["TargetForwardsPerToken"] / (bw * 1e9)
                                  if bw and pardec.get("weightBytesPerToken") else None)


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def merge(rounds, meta):
    """Medians over rounds (rows are in the same order every round); the per-round values are kept beside them."""
    for peer_rows, pardec in rounds:
        speedups(peer_rows, pardec)
        bandwidth_fractions(peer_rows, pardec, meta.get("peer_weight_bytes"))
    peer = []
    for k, first in enumerate(rounds[0][0]):
        rows = [rd[0][k] for rd in rounds]
        m = dict(first, tok_s=statistics.median(r["tok_s"] for r in rows), speedup=statistics.median(r["speedup"] for r in rows),
                 tok_s_rounds=[r["tok_s"] for r in rows], speedup_rounds=[r["speedup"] for r in rows],
                 identical=all(r["identical"] for r in rows), bandwidth_fraction=median_or_none(r.get("bandwidth_fraction") for r in rows))
        if "forward_tok_s" in first:
            m["forward_tok_s"] = statistics.median(r["forward_tok_s"] for r in rows)
        peer.append(m)
    pardec = dict(rounds[0][1], rows=[], loads=[rd[1]["load"] for rd in rounds], command_line=rounds[0][1]["command_line"],
                  bandwidth_rounds=[rd[1].get("bandwidth") for rd in rounds])
    for k, first in enumerate(rounds[0][1]["rows"]):
        rows = [rd[1]["rows"][k] for rd in rounds]
        m = dict(first, IdenticalToAr=all(r["IdenticalToAr"] for r in rows), BandwidthFraction=median_or_none(r.get("BandwidthFraction") for r in rows))
        for key in ("EndToEndTokensPerSecond", "EndToEndSpeedup", "TokensPerSecond", "DecodeTimeSpeedup"):
            m[key] = statistics.median(r[key] for r in rows)
            m[key + "Rounds"] = [r[key] for r in rows]
        pardec["rows"].append(m)
    return peer, pardec


def write(a, reference, peer_rows, checks, pardec, meta):
    T, D = f"english-padded.{a.dtype}.gguf", f"english-draft.{a.draft_dtype or a.dtype}.gguf"
    peer_plain = [r for r in peer_rows if r["tool"] == "llama-completion" and r["model"] == T and r["primary"]]
    prs = pardec["rows"]
    greedy = [r for r in prs if r["Strategy"].startswith("Greedy")]
    prow = {r["Strategy"]: r for r in prs}

    def pcell(r):
        return dict(strategy=r["Strategy"], tok_s=r["EndToEndTokensPerSecond"], speedup=r["EndToEndSpeedup"], bandwidth_fraction=r.get("BandwidthFraction"),
                    decode_time_speedup=r["DecodeTimeSpeedup"], tokens_per_step=r["TokensPerStep"], identical=r["IdenticalToAr"])

    table = [dict(family="plain (first / last run)", peer=[r for r in peer_plain], pardec=[pcell(r) for r in greedy])]
    for title, family, names in FAMILIES:
        table.append(dict(family=title, peer=[r for r in peer_rows if r["family"] == family and r["primary"]],
                          pardec=[pcell(prow[n]) for n in names if n in prow]))

    md = []
    md.append(f"# Side by side with llama.cpp: the same model, prompts and tokens, 1 thread ({a.max_tokens} tokens per prompt)")
    md.append("")
    system = meta.get("peer_system_info", "")
    isa = ("AVX512_BF16" if "AVX512_BF16 = 1" in system else "AVX-512, no BF16" if "AVX512 = 1" in system
           else "AVX2, no AVX-512" if "AVX2 = 1" in system else "no AVX2")
    md.append(f"Run {meta['date']} by `benchmarks/peer/run-side-by-side.sh` (MAX_TOKENS={a.max_tokens}) on {meta['cpu']} ({isa}, "
              f"{os.cpu_count()} cores). {meta['rounds']} rounds, each a llama.cpp block then a Pardec block; "
              f"every figure is the median over the rounds (per-round values in the tables further down). Load average: "
              f"`{meta['load_start']}` at the start, `{' / '.join(l.split()[0] for l in pardec['loads'])}` when each Pardec block started, "
              f"`{meta['load_end']}` at the end. Absolute tok/s move with the load; each engine's speedups are ratios inside its own "
              f"block of a round, whose plain decode ran first and again last.")
    md.append("")
    md.append("| strategy family | llama.cpp | tok/s | speedup over llama.cpp plain | tokens/step (accept rate) | bandwidth | Pardec | tok/s | speedup over Pardec AR | tokens/step | bandwidth |")
    md.append("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for t in table:
        for k in range(max(len(t["peer"]), len(t["pardec"]))):
            pr = t["peer"][k] if k < len(t["peer"]) else None
            pd = t["pardec"][k] if k < len(t["pardec"]) else None
            acc = f" ({100 * pr['accept_rate']:.0f}%)" if pr and pr["accept_rate"] is not None else ""
            md.append("| " + " | ".join([
                t["family"] if k == 0 else "",
                f"`{pr['tool']}` {pr['name'].split(', ', 1)[1] if ', ' in pr['name'] else ''}".strip() if pr else "",
                f(pr["tok_s"]) if pr else "", f"{pr['speedup']:.2f}x" if pr else "",
                (f(pr["tokens_per_step"], 2) + acc) if pr else "", pct(pr.get("bandwidth_fraction")) if pr else "",
                pd["strategy"] if pd else "", f(pd["tok_s"]) if pd else "", f"{pd['speedup']:.2f}x" if pd else "",
                f(pd["tokens_per_step"], 2) if pd else "", pct(pd.get("bandwidth_fraction")) if pd else ""]) + " |")
    md.append("")
    md.append("What is compared:")
    md.append("")
    md.append(f"* **Model**: the padded English target of `strategies --pad-layers 12 --pad-mlp 8192` — the shipped 5M target plus 12 "
              f"layers whose o_proj/down_proj are zero and MLPs widened to 8192 with zeros, so it computes the shipped target's outputs at "
              f"the cost of {reference['parameters']:,} parameters (llama.cpp's GGUF: {meta['peer_params'][T]:,} "
              f"parameters). **{a.dtype} on both sides.** Exported by `Pardec.Benchmarks pad-export` (which checks the exported directory "
              f"reproduces the shipped target's greedy tokens: {reference['identicalToShipped']}), converted by llama.cpp's "
              f"`convert_hf_to_gguf.py --outtype {'f32` + `llama-quantize --pure' if a.dtype == 'q4_0' else a.dtype}`. Draft: the shipped English draft ({meta['peer_params'][D]:,} "
              f"parameters), {a.draft_dtype or a.dtype} on both sides." + (" The shipped weights are bfloat16, so both files hold exactly the trained "
              f"weights; Pardec runs bf16 attention explicitly (matmul, float32 softmax, matmul) so its verification forwards are "
              f"bit-identical to one-token decoding." if a.dtype == "bf16" else "")
              + (f" **Quantized**: llama.cpp runs `english-padded.{a.dtype}.gguf` "
                 + ("(`convert_hf_to_gguf.py --outtype q8_0`)" if a.dtype == "q8_0" else "(`llama-quantize --pure` of the f32 file: every matrix Q4_0, head and embedding included)")
                 + f" and Pardec loads the same file with `--target-gguf` ("
                 + ("Q8_0 blocks of 32 requantized to int8 per output channel, `_weight_int8pack_mm`" if a.dtype == "q8_0"
                    else "Q4_0 blocks mapped exactly onto int4 group 32, `_weight_int4pack_mm_for_cpu`")
                 + f"; activations {a.pardec_activations}, which libtorch's quantized kernels are vectorised for). The two sides' greedy "
                 f"texts may differ (different rounding): each engine's rows are checked against its own plain decode. The draft is f32 on both sides."
                 if a.dtype in QUANTIZED else ""))
    md.append(f"* **Prompts**: the first {a.prompts} of `{'benchmarks/prompts/english-ood.jsonl` (out-of-domain prose the models never saw: Jane Austen)' if a.prompt_set == 'ood' else 'models/eval/prompts.english.jsonl`'}, {a.max_tokens} greedy tokens each, EOS ignored. "
              f"Prompt token ids: " + "; ".join(f"prompt {c['prompt']}: {c['peer']} (llama.cpp) vs {c['ours']} (Pardec), "
              f"{'identical' if c['identical'] else 'first difference at ' + str(c['first_difference'])}" for c in checks[: a.prompts])
              + " (llama-completion `--verbose-prompt`)."
              + (f" The prompts are cut to BOS + their last tokens (`--keep-bos`, a cut where the text tokenizes back to the same ids), "
                 f"as the strategy benchmark leaves {a.max_tokens} + 80 positions of the 256-token context for generation and the widest tree."
                 if any(p["truncated"] for p in reference["prompts"]) else ""))
    md.append(f"* **Same text**: every llama.cpp run's continuation starts with Pardec's greedy continuation on every prompt: "
              f"{'yes' if all(r['identical'] for r in peer_rows if r['model'] == T) else 'NO (see the table below)'}; "
              f"every Pardec strategy reproduced its AR tokens: {'yes' if all(r['IdenticalToAr'] for r in prs) else 'NO'}.")
    md.append(f"* **Threads**: 1. llama.cpp `-t 1 -tb 1` (draft `-td 1 -tbd 1`), Pardec `--threads 1` (torch.set_num_threads(1)); "
              f"OMP/MKL/OPENBLAS_NUM_THREADS=1 for both.")
    md.append(f"* **llama.cpp**: commit `{meta['llama_commit']}` (npm `node-llama-cpp@3.21.1`), Release, `-DGGML_NATIVE=ON`; "
              f"`{meta['peer_system_info']}`. Flags common to every run: `-c 512 -n {a.max_tokens} --temp 0 --top-k 1 --repeat-penalty 1.0 "
              f"--ignore-eos` (512 cache cells so lookahead's parallel sequences fit; positions stay below the model's 256).")
    md.append(f"* **tok/s is end-to-end generation**: tokens / wall seconds from the end of the prompt prefill to the last token, model load "
              f"and prefill excluded, summed over the prompts. llama.cpp's speculative, lookup and lookahead tools print exactly that "
              f"(`decoded N tokens in T seconds`); llama-completion (plain) does not, so it is llama_perf's total time - prompt eval time "
              f"for n_eval + 1 tokens. Pardec: wall time of `Generate` - its prefill time. Cross-checks: llama.cpp plain per forward "
              f"(n_eval / (eval + sampling time)) {f(peer_plain[0]['forward_tok_s'])} / {f(peer_plain[-1]['forward_tok_s'])} tok/s; "
              f"`llama-lookup --spec-draft-n-max 0` (plain, timed by the tools' clock) {f(next((r['tok_s'] for r in peer_rows if r['name'].startswith('plain (llama-lookup')), None))} tok/s; "
              f"Pardec's own benchmark figure (tokens / `Stats.DecodeTime`) in the Pardec table below.")
    bws = [b["used"] for b in pardec.get("bandwidth_rounds") or [] if b]
    md.append(f"* **bandwidth** = weight bytes a target forward reads x target forwards per second / the round's one-thread read bandwidth "
              f"({', '.join(f'{b:.1f}' for b in bws)} GB/s: `Pardec.Benchmarks bandwidth`, best of 5 reads of 1 GiB by torch.sum and TensorPrimitives.Sum). "
              f"Bytes per forward: llama.cpp {meta.get('peer_weight_bytes') or 0:,} (every tensor of the GGUF but the token embedding), Pardec "
              f"{int(pardec.get('weightBytesPerToken') or 0):,} (parameters and quantized buffers but the embedding). A strategy's figure counts its target's "
              f"forwards (one per step), not the draft's.")
    md.append("* **tokens/step** = tokens / target verification steps = accepted draft tokens per step + 1 (llama.cpp: steps = tokens - n_accept). "
              "**accept rate** = n_accept / n_drafted, as llama.cpp prints it (lookahead prints no n_drafted).")
    md.append("* Parameters: llama.cpp speculative draft length 4 = Pardec SpeculativeGreedy's gamma 4 (Pardec SpeculativeAdaptive: "
              "draft length from 4, grown on full acceptance up to 16, draft stops below confidence 0.1; SequoiaTree: the draft expands a fitted 8-node tree); lookup draft 10 = Pardec PromptLookup's "
              "length 10 (llama-lookup's n-gram cache uses n = 1..4, Pardec's max_ngram is 3); llama-lookahead's W=15, N=5, G=15 are "
              "hard-coded in its source (the build script lets PARDEC_LOOKAHEAD_W/N/G override them; W4 N5 G2 = Pardec Lookahead's "
              "window 4, n-gram 5, guesses 2). Every other configuration is in the next table.")
    md.append("")
    md.append("## Every llama.cpp run, in run order")
    md.append("")
    md.append("| configuration | tool | model | tok/s | speedup over its plain | speedup per round | tokens/step | drafted | accepted (rate) | same text as Pardec | note |")
    md.append("| --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- |")
    for r in peer_rows:
        acc = f"{r['accepted']} ({100 * r['accept_rate']:.0f}%)" if r["accept_rate"] is not None else (str(r["accepted"]) if r["accepted"] else "")
        md.append(f"| {r['name']} | {r['tool']} | {r['model']} | {f(r['tok_s'])} | {r['speedup']:.2f}x | "
                  f"{' '.join(f'{x:.2f}' for x in r['speedup_rounds'])} | {f(r['tokens_per_step'], 2)} | "
                  f"{r['drafted'] or ''} | {acc} | {'yes' if r['identical'] else 'no'} | {r['note']} |")
    md.append("")
    md.append("Speedups of the f16 and shipped-target rows are over the plain run of the same model.")
    md.append("")
    md.append("## Pardec, same run")
    md.append("")
    md.append("| strategy | tok/s end-to-end | speedup | speedup per round | tok/s by DecodeTime (benchmark's own figure) | speedup | tokens/step | target fwd/token | identical to AR |")
    md.append("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |")
    for r in prs:
        md.append(f"| {r['Strategy']} | {f(r['EndToEndTokensPerSecond'])} | {r['EndToEndSpeedup']:.2f}x | "
                  f"{' '.join(f'{x:.2f}' for x in r['EndToEndSpeedupRounds'])} | {f(r['TokensPerSecond'])} | "
                  f"{r['DecodeTimeSpeedup']:.2f}x | {f(r['TokensPerStep'], 2)} | {f(r['TargetForwardsPerToken'], 2)} | {'yes' if r['IdenticalToAr'] else 'no'} |")
    md.append("")
    p0 = reference["prompts"][0]
    md.append(f"Prompt 0's continuation (Pardec greedy, decoded): `{p0['greedyText'][:200]!r}`; llama.cpp plain printed "
              f"`{peer_rows[0]['outputs'][0][:200]!r}`.")
    md.append("")
    md.append("## Commands")
    md.append("")
    md.append("```")
    md.append("benchmarks/peer/build-llama-cpp.sh   # npm pack node-llama-cpp@3.21.1, clone its bundle, cmake, build into $PEER_DIR")
    md.append("benchmarks/peer/convert.sh           # pad-export + convert_hf_to_gguf.py (f32/f16) with benchmarks/peer/shims")
    seen = set()
    for r in peer_rows:
        c = r["command"].replace(str(Path(a.peer_dir)), "$PEER_DIR")
        if c not in seen:
            seen.add(c)
            md.append(c)
    md.append(pardec["command_line"].replace(str(Path(a.work)), "$WORK"))
    md.append("```")
    md.append("")
    name = (("peer-llama-cpp" if a.max_tokens == 48 else f"peer-llama-cpp-{a.max_tokens}") + ("" if a.dtype == "f32" else f"-{a.dtype}")
            + (f"-draft-{a.draft_dtype}" if a.draft_dtype and a.draft_dtype != a.dtype and a.dtype not in QUANTIZED else "")
            + ("-ood" if a.prompt_set == "ood" else "") + ("-row-invariant" if "--row-invariant" in a.pardec_args else ""))
    outdir = Path(a.out)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / f"{name}.md").write_text("\n".join(md))
    js = dict(meta=meta, max_tokens=a.max_tokens, prompts=a.prompts, threads=1, dtype=a.dtype, parameters_padded=reference["parameters"],
              prompt_token_checks=checks, table=[dict(family=t["family"], llama_cpp=[dict(name=r["name"], tok_s=r["tok_s"], speedup=r["speedup"],
              tokens_per_step=r["tokens_per_step"], accept_rate=r["accept_rate"], bandwidth_fraction=r.get("bandwidth_fraction")) for r in t["peer"]], pardec=t["pardec"]) for t in table],
              peer=peer_rows, pardec=pardec)
    (outdir / f"{name}.json").write_text(json.dumps(js, indent=2))
    print("\n".join(md[:4 + sum(max(len(t['peer']), len(t['pardec'])) for t in table) + 2]))
    print(f"wrote {outdir / name}.md/.json")


def gguf_parameters(peer_dir, files):
    code = ("import gguf, sys\nfor f in sys.argv[1:]:\n    print(sum(int(t.n_elements) for t in gguf.GGUFReader(f).tensors))")
    r = sh(["/usr/bin/python3", "-c", code] + [str(Path(peer_dir) / "models" / x) for x in files],
           env=dict(os.environ, PYTHONPATH=str(Path(peer_dir) / "llama.cpp" / "gguf-py")))
    return dict(zip(files, (int(x) for x in r.stdout.split()))) if r.returncode == 0 else {x: None for x in files}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer-dir", required=True)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--work", default="/tmp/pardec-peer-run")
    ap.add_argument("--f16", action="store_true", help="also run the f16 padded target (extra rows)")
    ap.add_argument("--shipped", action="store_true", help="also run the shipped 5M target (extra rows)")
    ap.add_argument("--rounds", type=int, default=3, help="llama.cpp block then Pardec block, this many times; medians reported")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "q8_0", "q4_0"],
                    help="weights of the padded target (and the draft, for f32/bf16) on both engines; q8_0/q4_0: llama.cpp runs that "
                         "GGUF and Pardec loads the same file (int8 / int4 weights, --pardec-activations), the draft is f32")
    ap.add_argument("--pardec-activations", choices=["f32", "bf16"],
                    default="bf16" if "avx512_bf16" in Path("/proc/cpuinfo").read_text() else "f32",
                    help="Pardec's activations with q8_0/q4_0 weights (default bf16 where the CPU has AVX512_BF16: libtorch's "
                         "int8/int4 kernels are vectorised for bf16 activations only)")
    ap.add_argument("--prompt-set", default="in", choices=["in", "ood"],
                    help="in: models/eval/prompts.english.jsonl; ood: benchmarks/prompts/english-ood.jsonl (out-of-domain prose)")
    ap.add_argument("--pardec-args", default="", help="more options for Pardec's strategies benchmark, e.g. --row-invariant")
    ap.add_argument("--quick", action="store_true", help="llama.cpp's primary configurations only (the summary table's rows)")
    ap.add_argument("--draft-dtype", choices=["f32", "bf16"], help="the draft's weights on both engines, if not --dtype")
    ap.add_argument("--plain-between", action="store_true",
                    help="plain decoding between every two configurations on both engines; speedups over the neighbouring plain runs")
    ap.add_argument("--report-only", action="store_true", help="rewrite the report from the last run's saved measurements")
    a = ap.parse_args()
    if a.dtype in QUANTIZED and not a.draft_dtype:
        a.draft_dtype = "f32"

    suffix = ".ood" if a.prompt_set == "ood" else ""
    reference = json.loads((Path(a.peer_dir) / "models" / "english-padded" / f"reference.{a.max_tokens}{suffix}.json").read_text())
    reference["prompts"] = reference["prompts"][: a.prompts]
    for p in reference["prompts"]:
        # llama.cpp takes text and adds BOS itself (and SentencePiece's leading space): give it the prompt text, or for a
        # prompt cut to fit the context (Pardec keeps BOS + the last tokens, --keep-bos) the text of those last tokens.
        # The --verbose-prompt check shows whether llama.cpp's tokens are then the same as Pardec's.
        p["peerPrompt"] = p["text"] if not p["truncated"] else p["tailText"]

    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"), load_start=loadavg(),
                llama_commit=sh(["git", "-C", str(Path(a.peer_dir) / "llama.cpp"), "rev-parse", "HEAD"]).stdout.strip(),
                cpu=next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), ""))
    info = sh([str(Path(a.peer_dir) / "llama.cpp/build/bin/llama-completion"), "-m", str(Path(a.peer_dir) / f"models/english-padded.{a.dtype}.gguf"),
               "-t", "1", "-n", "1", "-p", "a", "-no-cnv", "--no-warmup"])
    meta["peer_system_info"] = next((l.split("system_info: ", 1)[1].strip(" |") for l in info.stderr.splitlines() if "system_info" in l), "")
    meta["peer_params"] = gguf_parameters(a.peer_dir, [f"english-padded.{a.dtype}.gguf", f"english-draft.{a.draft_dtype or a.dtype}.gguf", "english-target.f32.gguf"])

    meta["peer_weight_bytes"] = gguf_weight_bytes(Path(a.peer_dir) / "models" / f"english-padded.{a.dtype}.gguf")
    saved = Path(a.work) / f"measurements-{a.max_tokens}-{a.dtype}{'-draft-' + a.draft_dtype if a.draft_dtype else ''}-{a.prompt_set}{'-row-invariant' if '--row-invariant' in a.pardec_args else ''}.json"
    if a.report_only:
        m = json.loads(saved.read_text())
        meta, rounds, checks = m["meta"], m["rounds"], m["checks"]
    else:
        rounds = []
        for i in range(a.rounds):
            print(f"round {i + 1} of {a.rounds}", flush=True)
            bw = bandwidth()
            print(f"  read bandwidth, 1 thread: {bw['used']:.1f} GB/s", flush=True)
            peer_rows, checks = run_peer(a, reference)
            pardec = run_pardec(a)
            pardec["bandwidth"] = bw
            rounds.append((peer_rows, pardec))
        meta["load_end"] = loadavg()
        saved.write_text(json.dumps(dict(meta=meta, rounds=rounds, checks=checks)))
    peer_rows, pardec = merge(rounds, meta)
    meta["rounds"] = len(rounds)
    write(a, reference, peer_rows, checks, pardec, meta)


if __name__ == "__main__":
    main()
