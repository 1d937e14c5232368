"""Runs llama.cpp's convert_hf_to_gguf.py under Debian's torch 1.13 (python3-torch).

    /usr/bin/python3 benchmarks/peer/shims/convert.py LLAMA_CPP_DIR HF_DIR --outtype f32 --outfile OUT.gguf

Two shims: the stub `transformers` package beside this file, and aliases for the float8 dtypes that torch 1.13 lacks
(the converter names them in dtype tables at import time; our models hold no float8 tensor, so aliasing them to
uint8, which maps to the same numpy dtype in those tables, changes nothing for them).

Fix 1: the converter's Llama/SentencePiece path ignores the tokenizer.model's normalizer_spec.add_dummy_prefix (only
its T5 path reads it), and llama.cpp then defaults add_space_prefix to true for SPM vocabularies. Pardec's tokenizer
has add_dummy_prefix = false (SentencePiece itself encodes "Genesis" as G|en|es|is; llama.cpp would make it ▁G|en|es|is),
so without the fix the two engines would feed different prompt tokens. We write tokenizer.ggml.add_space_prefix from
what SentencePiece actually does.

Fix 2, for SentencePiece-style BPE vocabularies that come as tokenizer.json only (byte_fallback BPE with merges: the
Llama 2 and Gemma 3 tokenizer data of tools/fetch-tokenizers.sh ship no tokenizer.model):
  - gguf-py's LlamaHfVocab writes every token's score as -1000, and llama.cpp's SPM tokenizer merges by score, so it
    would merge left to right. We write score = -(rank of the first merge that makes the token), 0 for bytes and
    single characters (never merged into), -1e9 for tokens no merge makes: llama.cpp then merges in the order
    tokenizer.json's merges do.
  - Gemma3Model.set_vocab without a tokenizer.model takes the GPT-2 byte-level path, whose pre-tokenizer hash does not
    know Gemma and stops. We convert it as the Llama/SPM vocabulary it is (LlamaHfVocab), with add_space_prefix
    false, which is what its tokenizer.model path writes, and only the ids the embedding has rows for.
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
hf_dir = Path(sys.argv[2])
sys.argv = [str(llama_cpp / "convert_hf_to_gguf.py")] + sys.argv[2:]

import gguf  # noqa: E402  (llama.cpp's gguf-py, the one the converter will import)

tokenizer_model = hf_dir / "tokenizer.model"
if tokenizer_model.is_file():
    import sentencepiece  # noqa: E402

    sp = sentencepiece.SentencePieceProcessor(model_file=str(tokenizer_model))
    add_dummy_prefix = sp.encode_as_pieces("a")[0].startswith("\u2581")
    add_tokenizer_model = gguf.GGUFWriter.add_tokenizer_model

    def add_tokenizer_model_with_prefix(self, model, *args, **kwargs):
        add_tokenizer_model(self, model, *args, **kwargs)
        if model == "llama":
            self.add_add_space_prefix(add_dummy_prefix)
            print(f"shim: tokenizer.ggml.add_space_prefix = {add_dummy_prefix} (SentencePiece's add_dummy_prefix)", file=sys.stderr)

    gguf.GGUFWriter.add_tokenizer_model = add_tokenizer_model_with_prefix

tokenizer_json = hf_dir / "tokenizer.json"
if not tokenizer_model.is_file() and tokenizer_json.is_file():
    import json  # noqa: E402

    with open(tokenizer_json, encoding="utf-8") as f:
        tokenizer_data = json.load(f)
    model_json = tokenizer_data["model"]
    added = {e["id"]: bool(e.get("special")) for e in tokenizer_data.get("added_tokens", [])}
    if model_json.get("type") == "BPE" and model_json.get("byte_fallback"):
        token_score = {}
        for rank, merge in enumerate(model_json.get("merges", [])):
            a, b = merge.split(" ", 1) if isinstance(merge, str) else merge
            token_score.setdefault(a + b, -float(rank))
        id_score = {i: token_score.get(t, 0.0 if len(t) == 1 or t.startswith("<0x") else -1e9) for t, i in model_json["vocab"].items()}
        gguf.LlamaHfVocab.get_token_score = lambda self, token_id: id_score.get(token_id, -1000.0)
        print(f"shim: LlamaHfVocab scores from the {len(token_score)} merges of tokenizer.json", file=sys.stderr)

        import conversion.gemma  # noqa: E402

        def gemma3_set_vocab(self):
            # _set_vocab_llama_hf, except that ids beyond the embedding (Gemma 3's tokenizer.json adds
            # <image_soft_token> = 262144 to a 262144-row text model) are left out, as its tokenizer.model has them.
            vocab = gguf.LlamaHfVocab(self.dir_model)
            n_vocab = self.hparams["vocab_size"]
            tokens, scores, toktypes = [], [], []
            for token_id, (text, score, toktype) in enumerate(list(vocab.all_tokens())[:n_vocab]):
                # Added tokens inside the base vocabulary (Gemma's <html>, <h1>, whitespace runs, ...) are
                # USER_DEFINED (matched whole) or CONTROL, as tokenizer.model's piece types make them.
                if token_id in added and toktype == gguf.TokenType.NORMAL:
                    toktype = gguf.TokenType.CONTROL if added[token_id] else gguf.TokenType.USER_DEFINED
                tokens.append(text)
                scores.append(score)
                toktypes.append(toktype)
            self.gguf_writer.add_tokenizer_model("llama")
            self.gguf_writer.add_tokenizer_pre("default")
            self.gguf_writer.add_token_list(tokens)
            self.gguf_writer.add_token_scores(scores)
            self.gguf_writer.add_token_types(toktypes)
            gguf.SpecialVocab(self.dir_model, n_vocab=len(tokens)).add_to_gguf(self.gguf_writer)
            self.gguf_writer.add_add_space_prefix(False)

        conversion.gemma.Gemma3Model.set_vocab = gemma3_set_vocab

runpy.run_path(sys.argv[0], run_name="__main__")
