"""Minimal stand-in for Hugging Face `transformers`, for llama.cpp's convert_hf_to_gguf.py (PyPI is unreachable here).

AutoConfig always raises, so the converter reads config.json itself (its documented fallback).

AutoTokenizer.from_pretrained(dir) returns a faithful minimal fast tokenizer for dir/tokenizer.json: encode/decode run
Hugging Face's own Rust tokenizers (npm `tokenizers`, via hf_tokenizer_server.js and node; NODE_PATH must reach the
package, see benchmarks/peer/make-peer-fixtures.py), and the attributes the converter reads (vocab, get_vocab(),
vocab_size, get_added_vocab(), added_tokens_decoder, all_special_tokens/ids, is_fast) are computed as
PreTrainedTokenizerFast computes them, from tokenizer.json and tokenizer_config.json. Without tokenizer.json it
raises, as the old stub did, so a path that would need more of transformers fails loudly.
"""
import json
import subprocess
from pathlib import Path


class _Unavailable:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        raise ImportError("transformers is stubbed (benchmarks/peer/shims); the converter falls back to config.json")


class AutoConfig(_Unavailable):
    pass


class AddedToken:
    def __init__(self, entry):
        self.content = entry["content"]
        self.special = bool(entry.get("special", False))
        self.normalized = bool(entry.get("normalized", not self.special))
        self.lstrip = bool(entry.get("lstrip", False))
        self.rstrip = bool(entry.get("rstrip", False))
        self.single_word = bool(entry.get("single_word", False))

    def __str__(self):
        return self.content

    def __repr__(self):
        return f"AddedToken({self.content!r}, special={self.special}, normalized={self.normalized})"


_SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


class _FastTokenizer:
    is_fast = True

    def __init__(self, directory):
        directory = Path(directory)
        path = directory / "tokenizer.json"
        if not path.is_file():
            raise OSError(f"transformers shim: no tokenizer.json in {directory}")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        config = {}
        if (directory / "tokenizer_config.json").is_file():
            with open(directory / "tokenizer_config.json", encoding="utf-8") as f:
                config = json.load(f)
        self._proc = subprocess.Popen(
            ["node", str(Path(__file__).resolve().parent.parent / "hf_tokenizer_server.js"), str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        info = self._ask({"op": "info"})
        self._vocab = info["vocab"]
        self.vocab_size = info["base_size"]
        self.added_tokens_decoder = {e["id"]: AddedToken(e) for e in sorted(data.get("added_tokens", []), key=lambda e: e["id"])}
        # HF also adds the added-token entries of tokenizer_config.json; they repeat tokenizer.json's.
        for key, e in config.get("added_tokens_decoder", {}).items():
            self.added_tokens_decoder.setdefault(int(key), AddedToken(e))
        self.chat_template = config.get("chat_template")
        specials = []
        for key in _SPECIAL_KEYS:
            value = config.get(key)
            if isinstance(value, dict):
                value = value.get("content")
            if value:
                setattr(self, key, value)
                specials.append(value)
        for value in config.get("additional_special_tokens", []) or []:
            specials.append(value["content"] if isinstance(value, dict) else value)
        seen = set()
        self.all_special_tokens = [t for t in specials if not (t in seen or seen.add(t))]
        self.all_special_ids = [self._vocab[t] for t in self.all_special_tokens if t in self._vocab]

    def _ask(self, request):
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        answer = json.loads(self._proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"transformers shim: {answer['error']}")
        return answer

    @property
    def vocab(self):
        return dict(self._vocab)

    def get_vocab(self):
        return dict(self._vocab)

    def get_added_vocab(self):
        return {t.content: i for i, t in sorted(self.added_tokens_decoder.items())}

    def __len__(self):
        return len(self._vocab)

    def encode(self, text, add_special_tokens=True, **kwargs):
        return self._ask({"op": "encode", "text": text, "special": add_special_tokens})["ids"]

    def decode(self, ids, skip_special_tokens=False, **kwargs):
        if isinstance(ids, int):
            ids = [ids]
        return self._ask({"op": "decode", "ids": list(ids), "skip": skip_special_tokens})["text"]

    def convert_ids_to_tokens(self, ids):
        reverse = {i: t for t, i in self._vocab.items()}
        return reverse[ids] if isinstance(ids, int) else [reverse[i] for i in ids]


class AutoTokenizer:
    @classmethod
    def from_pretrained(cls, directory, *args, **kwargs):
        return _FastTokenizer(directory)
