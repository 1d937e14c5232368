#!/usr/bin/python3
"""Per-strategy speedup over plain decoding, in-domain vs out-of-domain, from the strategy benchmark's JSON files
in this folder (each ratio measured within its own run). Writes summary.md."""
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
runs = [("shipped", "strategies-english-shipped"), ("padded", "strategies-english-padded")]
out = ["# Cost-aware lengths: speedup over plain decoding, in-domain vs out-of-domain (issue 20 item 5)", ""]
for label, base in runs:
    try:
        ind = json.load(open(os.path.join(here, base + ".json")))
        ood = json.load(open(os.path.join(here, base + "-ood.json")))
    except FileNotFoundError:
        continue
    out.append(f"## {label} target ({ind['parameters'] / 1e6:.1f}M parameters), {ind['dtype']}, {ind['threads']} thread")
    out.append("")
    out.append(f"In-domain: `{ind['command']}` ({ind['date']}, load `{ind['load']}`).  ")
    out.append(f"Out-of-domain: `{ood['command']}` ({ood['date']}, load `{ood['load']}`).  ")
    out.append(f"CPU: {ind['cpu']}. {ind['prompts']} prompts x {ind['maxTokens']} greedy tokens per set; speedup = tokens/s over the mean of the run's first and last plain (Greedy) runs.")
    out.append("")
    out.append("| strategy | guarantee | in-domain speedup | tokens/step | out-of-domain speedup | tokens/step | both identical to greedy |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    oodRows = {r["Strategy"]: r for r in ood["rows"]}
    for r in ind["rows"]:
        o = oodRows.get(r["Strategy"])
        if o is None: continue
        same = "yes" if r["IdenticalToAr"] and o["IdenticalToAr"] else "no"
        if r["Guarantee"] != "lossless": same = "(not claimed)"
        out.append(f"| {r['Strategy']} | {r['Guarantee']} | {r['Speedup']:.2f}x | {r['TokensPerStep']:.2f} | {o['Speedup']:.2f}x | {o['TokensPerStep']:.2f} | {same} |")
    out.append("")
open(os.path.join(here, "summary.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
