"""Runs llama.cpp's convert_hf_to_gguf.py under Debian's torch 1.13 (python3-torch).

    /usr/bin/python3 benchmarks/peer/shims/convert.py LLAMA_CPP_DIR HF_DIR --outtype f32 --outfile OUT.gguf

Two shims: the stub `transformers` package beside this file, and aliases for the float8 dtypes that torch 1.13 lacks
(the converter names them in dtype tables at import time; our models hold no float8 tensor, so aliasing them to
uint8, which maps to the same numpy dtype in those tables, changes nothing for them).
"""
import runpy
import sys
from pathlib import Path

import torch

for name in ("float8_e4m3fn", "float8_e5m2"):
    if not hasattr(torch, name):
        setattr(torch, name, torch.uint8)

llama_cpp = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))   # the transformers stub
sys.path.insert(1, str(llama_cpp))                         # conversion/ package
sys.path.insert(2, str(llama_cpp / "gguf-py"))             # gguf, matching this llama.cpp
sys.argv = [str(llama_cpp / "convert_hf_to_gguf.py")] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
