"""Stub of Hugging Face `transformers` for llama.cpp's convert_hf_to_gguf.py (PyPI is unreachable here).

The converter only uses AutoConfig/AutoTokenizer opportunistically: when AutoConfig.from_pretrained raises, it reads
config.json itself, and a Llama directory with a SentencePiece tokenizer.model never needs AutoTokenizer. Both raise,
so any path that would really need transformers fails loudly instead of silently.
"""


class _Unavailable:
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        raise ImportError("transformers is stubbed (benchmarks/peer/shims); the converter falls back to config.json")


class AutoConfig(_Unavailable):
    pass


class AutoTokenizer(_Unavailable):
    pass
