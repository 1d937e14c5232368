"""shims/convert.py for the diffusion LMs (make-diffusion-fixtures.py):

    /usr/bin/python3 benchmarks/peer/shims/convert_diffusion.py LLAMA_CPP_DIR HF_DIR --outtype f32 --outfile OUT.gguf

One addition for LLaDA: conversion/llada.py takes the GPT-2 byte-level path, whose pre-tokenizer hash (of a fixed
text's tokenization) must be one gguf-py knows. The stand-in vocabulary make-diffusion-fixtures.py writes (Llama 3's
pieces cut to LLaDA's 126464 ids) tokenizes that text as no released tokenizer does, so its hash is unknown; it is
Llama 3's pre-tokenizer, and we say so ("llama-bpe"). Dream converts as Qwen2's vocabulary, which the hash knows.
"""
import runpy
import sys
from pathlib import Path

import torch

for name in ("float8_e4m3fn", "float8_e5m2"):   # as convert.py does, before conversion/ is imported
    if not hasattr(torch, name):
        setattr(torch, name, torch.uint8)

llama_cpp = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))   # the transformers stub
sys.path.insert(1, str(llama_cpp))
sys.path.insert(2, str(llama_cpp / "gguf-py"))

import conversion.llada  # noqa: E402

conversion.llada.LLaDAModel.get_vocab_base_pre = lambda self, tokenizer: "llama-bpe"
runpy.run_path(str(Path(__file__).resolve().parent / "convert.py"), run_name="__main__")
