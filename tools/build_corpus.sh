#!/usr/bin/env bash
# Builds Pardec's training corpora and the shared SentencePiece tokenizer.
#
# Run by hand (not by CI): `tools/build_corpus.sh` from anywhere. Idempotent: it re-creates everything under
# corpus/ (gitignored) from the same Debian packages, and rewrites models/eval/* and models/tokenizer/* with the
# same content every time (the splits and the prompt picks are deterministic; spm_train is run single-threaded
# with a fixed seed so the tokenizer is byte-identical on a re-run).
#
# Outputs:
#   corpus/english.{train,valid}.txt   KJV (whole Bible) + fortunes + Jargon File
#   corpus/code.{train,valid}.txt      Python 3.11 standard library (*.py, no test dirs)
#   corpus/tokenizer/spm.{model,vocab} one BPE for both (copied to models/tokenizer/tokenizer.model)
#   models/eval/{english,code}.valid.txt  ~20 KB held-out slices the tests measure perplexity on
#   models/eval/prompts.{english,code}.jsonl  benchmark prompts drawn from the validation split only
#
# Documents are separated by a line holding only U+001E (ASCII record separator): it never occurs in these
# sources (the script strips it defensively), unlike form feeds, which Python sources do contain. The training
# tool wraps each document in <s> ... </s>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/corpus"
mkdir -p "$OUT/raw" "$OUT/tokenizer" "$ROOT/models/eval" "$ROOT/models/tokenizer"

need=()
command -v bible >/dev/null || need+=(bible-kjv bible-kjv-text)
[ -d /usr/share/games/fortunes ] || need+=(fortunes)
[ -f /usr/share/doc/jargon-text/jargon.txt.gz ] || need+=(jargon-text)
command -v spm_train >/dev/null || need+=(sentencepiece)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y bible-kjv bible-kjv-text fortunes jargon-text sentencepiece
fi

# Raw sources. `bible` prints chapter headings ("Genesis 1") and wrapped, numbered verses.
bible "gen1:1-rev22:21" > "$OUT/raw/kjv.txt"
zcat /usr/share/doc/jargon-text/jargon.txt.gz > "$OUT/raw/jargon.txt"

# Splitting, cleaning and prompt picking in Debian's Python (the pyenv python3 on PATH works too; only stdlib).
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
"$PY" - "$OUT" "$ROOT/models/eval" <<'PYEOF'
import json, os, re, sys

out, evaldir = sys.argv[1], sys.argv[2]
RS = "\x1e"          # document separator line
HOLD = 50            # every 50th document (chapter / fortune / chunk / file) is held out, never trained on

def clean(text):
    return text.replace(RS, "").replace("\r\n", "\n").replace("\r", "\n")

def write(path, docs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for d in docs:
            d = d.strip("\n")
            if d:
                f.write(d + "\n" + RS + "\n")

def split(docs, offset):
    """Deterministic split: document i is held out when i % HOLD == offset."""
    train, valid = [], []
    for i, d in enumerate(docs):
        (valid if i % HOLD == offset else train).append(d)
    return train, valid

# --- KJV: one document per chapter. Verse numbers and hard wraps are removed (one verse per line), so the model
# spends its tiny budget on language rather than on counting verses.
kjv = open(os.path.join(out, "raw/kjv.txt"), encoding="utf-8").read()
chapters, title, verses = [], None, []
for line in kjv.split("\n"):
    m = re.match(r"^\s+(\d+) (.*)$", line)
    if m:
        verses.append(m.group(2).strip())
    elif line.strip() == "":
        continue
    elif re.match(r"^\S.* \d+$", line) and not line.startswith(" "):
        if title is not None:
            chapters.append(title + "\n\n" + "\n".join(verses))
        title, verses = line.strip(), []
    else:  # continuation of a wrapped verse
        verses[-1] += " " + line.strip()
chapters.append(title + "\n\n" + "\n".join(verses))
assert len(chapters) == 1189, len(chapters)
kjv_train, kjv_valid = split(chapters, 25)

# --- fortunes: plain-text files only (the .dat indexes and .u8 duplicates are skipped), one document per fortune.
fdir = "/usr/share/games/fortunes"
fortunes = []
for name in sorted(os.listdir(fdir)):
    p = os.path.join(fdir, name)
    if "." in name or not os.path.isfile(p):
        continue
    text = clean(open(p, encoding="utf-8", errors="replace").read())
    fortunes += [f.strip("\n") for f in re.split(r"^%\s*$", text, flags=re.M) if f.strip()]
fort_train, fort_valid = split(fortunes, 7)

# --- Jargon File: paragraphs grouped into ~2 KB chunks (one document each).
jargon = clean(open(os.path.join(out, "raw/jargon.txt"), encoding="utf-8").read())
chunks, cur = [], ""
for para in re.split(r"\n\s*\n", jargon):
    cur += para.strip("\n") + "\n\n"
    if len(cur) > 2000:
        chunks.append(cur); cur = ""
if cur.strip():
    chunks.append(cur)
jar_train, jar_valid = split(chunks, 13)

write(os.path.join(out, "english.train.txt"), kjv_train + fort_train + jar_train)
write(os.path.join(out, "english.valid.txt"), kjv_valid + fort_valid + jar_valid)

# --- code: Python 3.11 stdlib, one document per file, test directories excluded.
croot = "/usr/lib/python3.11"
files = []
for d, dirs, fs in os.walk(croot):
    dirs[:] = sorted(x for x in dirs if x not in ("test", "tests", "idle_test", "__pycache__", "site-packages", "dist-packages"))
    files += [os.path.join(d, f) for f in sorted(fs) if f.endswith(".py")]
files.sort()
code = []
for p in files:
    text = clean(open(p, encoding="utf-8", errors="replace").read())
    if text.strip():
        code.append("# " + os.path.relpath(p, croot) + "\n" + text)
code_train, code_valid = split(code, 3)
write(os.path.join(out, "code.train.txt"), code_train)
write(os.path.join(out, "code.valid.txt"), code_valid)

# --- tokenizer training text: both languages, one line per sentence (spm_train reads lines), no separators.
with open(os.path.join(out, "tokenizer/spm_input.txt"), "w", encoding="utf-8") as f:
    for d in kjv_train + fort_train + jar_train + code_train:
        for line in d.split("\n"):
            if line.strip():
                f.write(line + "\n")

# --- committed eval slices (~20 KB each), taken from the validation split only.
def take(docs, budget):
    s = ""
    for d in docs:
        if len(s) >= budget:
            break
        s += d.strip("\n") + "\n" + RS + "\n"
    return s
with open(os.path.join(evaldir, "english.valid.txt"), "w", encoding="utf-8", newline="\n") as f:
    f.write(take(kjv_valid, 8000) + take(fort_valid, 6000) + take(jar_valid, 6000))
with open(os.path.join(evaldir, "code.valid.txt"), "w", encoding="utf-8", newline="\n") as f:
    f.write(take(code_valid, 20000))

# --- prompts: continuation prompts plus "summarisation-like" prompts whose answer repeats their own context
# (what prompt-lookup / copy-heavy strategies should win on).
def cut_words(text, n):
    return text[:n].rsplit(" ", 1)[0]

def cut_lines(text, n):
    return text[:n].rsplit("\n", 1)[0] + "\n"

eng = []
for i, ch in enumerate(kjv_valid[:8]):
    eng.append({"id": f"kjv-{i}", "kind": "continue", "prompt": cut_words(ch, 240)})
for i, ft in enumerate([f for f in fort_valid if 80 < len(f) < 600][:4]):
    eng.append({"id": f"fortune-{i}", "kind": "continue", "prompt": cut_words(ft, max(40, len(ft) // 2))})
for i, ch in enumerate(kjv_valid[8:16]):
    body = ch.split("\n\n", 1)[1]
    passage = cut_words(body, 500)
    first = " ".join(body.split()[:6])
    eng.append({"id": f"summary-{i}", "kind": "summarize",
                "prompt": passage + "\n\nIn summary: " + first})
with open(os.path.join(evaldir, "prompts.english.jsonl"), "w", encoding="utf-8", newline="\n") as f:
    for p in eng:
        f.write(json.dumps(p, ensure_ascii=False) + "\n")

cod = []
for i, src in enumerate([c for c in code_valid if len(c) > 1500][:20]):
    # skip the path comment and licence/docstring noise by starting at the first def/class when there is one
    m = re.search(r"^(def |class )", src, flags=re.M)
    start = m.start() if m and m.start() < len(src) - 600 else 0
    cod.append({"id": f"code-{i}", "kind": "continue", "prompt": cut_lines(src[start:], 400)})
with open(os.path.join(evaldir, "prompts.code.jsonl"), "w", encoding="utf-8", newline="\n") as f:
    for p in cod:
        f.write(json.dumps(p, ensure_ascii=False) + "\n")

for n, ds in [("kjv", chapters), ("fortunes", fortunes), ("jargon", chunks), ("code files", code)]:
    print(f"{n}: {len(ds)} documents")
PYEOF

# --- tokenizer. One BPE for English and code ("same tokenizer family" for every shipped model).
#  * identity normalisation + remove_extra_whitespaces=false + allow_whitespace_only_pieces: indentation runs
#    ("▁▁▁▁") become pieces and survive a round trip; NFKC would rewrite curly quotes and full-width characters.
#  * add_dummy_prefix=false: documents are encoded whole, so a word after "\n" has no leading space; training
#    pieces without the dummy "▁" keep line-initial words (def, class, And) consistent with that.
#  * spm_train reads one sentence per line, so "\n" (and "\t") never reach the vocabulary: they are encoded by
#    byte fallback as <0x0A> / <0x09>, exactly as Llama's tokenizer does, and decode back to themselves.
#  * ids: <unk>=0 <s>=1 </s>=2 <pad>=3, then <mask>=4 (user-defined, for the masked-diffusion LM).
spm_train \
  --input="$OUT/tokenizer/spm_input.txt" \
  --model_prefix="$OUT/tokenizer/spm" \
  --model_type=bpe --vocab_size=4096 \
  --byte_fallback=true --character_coverage=1.0 \
  --split_digits=true --allow_whitespace_only_pieces=true --remove_extra_whitespaces=false \
  --normalization_rule_name=identity --add_dummy_prefix=false \
  --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3 --pad_piece='<pad>' \
  --user_defined_symbols='<mask>' \
  --max_sentence_length=8192 \
  --input_sentence_size=1000000 --shuffle_input_sentence=true --seed_sentencepiece_size=1000000 \
  --random_seed=20261125 --num_threads=1 \
  --minloglevel=1
cp "$OUT/tokenizer/spm.model" "$ROOT/models/tokenizer/tokenizer.model"
ls -la "$OUT"/*.txt "$ROOT/models/eval" "$ROOT/models/tokenizer"
