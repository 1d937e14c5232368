#!/usr/bin/python3
"""Out-of-domain prompts for the strategy benchmark: passages of Jane Austen's six novels, from Debian's
r-cran-janeaustenr 1.0.0-1 (the novels' text is public domain; the package is MIT-licensed).

    cd /tmp && apt-get download r-cran-janeaustenr && dpkg-deb -x r-cran-janeaustenr_*_all.deb janeaustenr
    /usr/bin/python3 benchmarks/prompts/extract_austen.py /tmp/janeaustenr > benchmarks/prompts/english-ood.jsonl

The package stores each novel as an R character vector (one line of the printed book per element) in the lazy-load
database data/Rdata.rdb: records of a 4-byte big-endian length and a zlib stream holding R's XDR serialization, whose
strings are CHARSXP cells (flags with type 9, a 4-byte length, the UTF-8 bytes). Only the standard library is needed.
Each prompt is the start of the first paragraph of at least 300 characters at 1/4, 1/2 and 3/4 of each novel, joined
into one line and cut at the last word boundary before 300 characters (the in-domain prompts are ~290 characters).
"""
import json, struct, sys, zlib

TITLES = {  # a phrase each novel contains, to name the vectors (the database's index is not needed)
    "Mr. Woodhouse": "Emma", "Mansfield Park": "Mansfield Park", "Catherine Morland": "Northanger Abbey",
    "Kellynch": "Persuasion", "Elizabeth Bennet": "Pride and Prejudice", "Marianne": "Sense and Sensibility",
}


def records(data):
    i = 0
    while i < len(data) - 6:
        if data[i + 4] == 0x78:
            try:
                d = zlib.decompressobj()
                out = d.decompress(data[i + 4:])
                if len(out) == struct.unpack(">I", data[i:i + 4])[0]:
                    yield out
                    i = len(data) - len(d.unused_data)
                    continue
            except zlib.error:
                pass
        i += 1


def strings(buf):
    j, res = 0, []
    while j < len(buf) - 8:
        flags, n = struct.unpack(">Ii", buf[j:j + 8])
        if flags & 0xFF == 9 and -1 <= n < 100000:
            res.append("" if n == -1 else buf[j + 8:j + 8 + n].decode("utf-8"))
            j += 8 + max(n, 0)
        else:
            j += 4
    return res


def paragraphs(lines):
    para = []
    for line in lines + [""]:
        if line.strip():
            para.append(line.strip())
        elif para:
            yield " ".join(para)
            para = []


def main(root):
    data = open(root + "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", "rb").read()
    books = []
    for rec in records(data):
        lines = strings(rec)
        text = "\n".join(lines)
        title = next((t for k, t in TITLES.items() if k in text), None)
        if title and len(lines) > 1000:
            books.append((title, lines))
    # Novel by novel within each fraction, so the benchmark's first K prompts span the six novels.
    for k, frac in enumerate((0.25, 0.5, 0.75)):
        for title, lines in sorted(books):
            paras = list(paragraphs(lines))
            start = int(len(paras) * frac)
            p = next(p for p in paras[start:] if len(p) >= 300 and not p.isupper())
            cut = p[:300].rsplit(" ", 1)[0]
            slug = "".join(w[0] for w in title.lower().split())
            print(json.dumps({"id": f"austen-{slug}-{k}", "kind": "continue", "source": f"Jane Austen, {title} (r-cran-janeaustenr)", "prompt": cut}, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1])
