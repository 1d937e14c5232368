using System.Text;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.Gguf;

/// <summary>
/// Writes a Llama-family model as GGUF the way llama.cpp's <c>convert_hf_to_gguf.py</c> does (tensor names, q/k row
/// permutation for <c>llama</c>, norms in F32, metadata keys), with ggml's reference quantizers for Q8_0 and Q4_0
/// (<c>quantize_row_q8_0_ref</c>, <c>quantize_row_q4_0_ref</c>), so tests make GGUF files from seeded weights without
/// llama.cpp. Tokenizer metadata is not written (Pardec reads the tokenizer from files next to the GGUF).
/// </summary>
internal static class GgufWriter
{
    /// <returns>SHA-256 over every tensor's name and data in ordinal name order (make-gguf-references.py hashes llama.cpp's files so).</returns>
    /// <param name="tokenizerJson">A byte-level BPE tokenizer.json to store as <c>tokenizer.ggml.*</c> metadata the way the
    /// converter does (tokens in id order padded to the vocabulary with <c>[PADi]</c>, types 1/3/4/5, "a b" merges).</param>
    public static string Write(string path, CausalLMBase model, GgmlType linearType, GgmlType embeddingType = GgmlType.F32, string? tokenizerJson = null)
    {
        var c = model.Config;
        string arch = c.ModelType == "mistral" ? "llama" : c.ModelType;
        var kv = new List<(string Key, object Value)>
        {
            ("general.architecture", arch), ("general.alignment", 32u),
            ($"{arch}.context_length", (uint)c.MaxPositionEmbeddings), ($"{arch}.embedding_length", (uint)c.HiddenSize),
            ($"{arch}.block_count", (uint)c.NumHiddenLayers), ($"{arch}.feed_forward_length", (uint)c.IntermediateSize),
            ($"{arch}.attention.head_count", (uint)c.NumAttentionHeads), ($"{arch}.attention.head_count_kv", (uint)c.NumKeyValueHeads),
            ($"{arch}.attention.key_length", (uint)c.HeadDim), ($"{arch}.attention.value_length", (uint)c.HeadDim),
            ($"{arch}.attention.layer_norm_rms_epsilon", (float)c.NormEps), ($"{arch}.rope.freq_base", (float)c.RopeTheta),
        };
        if (c.BosTokenId is int bos) kv.Add(("tokenizer.ggml.bos_token_id", (uint)bos));
        if (c.EosTokenIds.Count > 0) kv.Add(("tokenizer.ggml.eos_token_id", (uint)c.EosTokenIds[0]));
        if (tokenizerJson is not null) AddTokenizer(kv, tokenizerJson, c, arch);

        var tensors = new List<(string Name, long[] Dims, GgmlType Type, byte[] Data)>();
        var hfToGguf = new Dictionary<string, string>();
        foreach (var (name, p) in model.named_parameters())
        {
            string gguf = GgufName(name) ?? throw new ArgumentException($"no GGUF name for {name}");
            var w = p.detach().to_type(ScalarType.Float32).cpu();
            if (arch == "llama" && name.Contains(".self_attn.q_proj.")) w = Permute(w, c.NumAttentionHeads);
            if (arch == "llama" && name.Contains(".self_attn.k_proj.")) w = Permute(w, c.NumKeyValueHeads);
            bool linear = w.dim() == 2 && name != "model.embed_tokens.weight";
            var type = w.dim() == 1 ? GgmlType.F32 : linear ? linearType : embeddingType;
            tensors.Add((gguf, w.shape.Reverse().ToArray(), type, Encode(w, type)));
        }

        using var file = File.Create(path);
        var o = new BinaryWriter(file, Encoding.UTF8);
        o.Write(GgufFile.Magic); o.Write(3u); o.Write((ulong)tensors.Count); o.Write((ulong)kv.Count);
        foreach (var (key, value) in kv)
        {
            WriteString(o, key);
            switch (value)
            {
                case string s: o.Write(8u); WriteString(o, s); break;
                case uint u: o.Write(4u); o.Write(u); break;
                case float f: o.Write(6u); o.Write(f); break;
                case bool b: o.Write(7u); o.Write((byte)(b ? 1 : 0)); break;
                case string[] a: o.Write(9u); o.Write(8u); o.Write((ulong)a.Length); foreach (var s in a) WriteString(o, s); break;
                case int[] a: o.Write(9u); o.Write(5u); o.Write((ulong)a.Length); foreach (int v in a) o.Write(v); break;
            }
        }
        long offset = 0;
        foreach (var t in tensors)
        {
            WriteString(o, t.Name);
            o.Write((uint)t.Dims.Length);
            foreach (long d in t.Dims) o.Write((ulong)d);
            o.Write((uint)t.Type);
            o.Write((ulong)offset);
            offset = Align(offset + t.Data.Length);
        }
        o.Flush();
        Pad(o, Align(file.Position) - file.Position);
        foreach (var t in tensors)
        {
            o.Write(t.Data);
            Pad(o, Align(t.Data.Length) - t.Data.Length);
        }
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes(t.Name));
            sha.AppendData(t.Data);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static void AddTokenizer(List<(string, object)> kv, string tokenizerJson, ModelConfig c, string arch)
    {
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tokenizerJson))!;
        var tokens = new string?[c.VocabSize];
        var types = new int[c.VocabSize];
        foreach (var (token, id) in root["model"]!["vocab"]!.AsObject()) { tokens[(int)id!] = token; types[(int)id!] = 1; }
        foreach (var a in root["added_tokens"]!.AsArray()) { int id = (int)a!["id"]!; tokens[id] = (string)a["content"]!; types[id] = (bool)a["special"]! ? 3 : 4; }
        for (int i = 0; i < tokens.Length; i++) if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = 5; }
        var merges = root["model"]!["merges"]!.AsArray().Select(m => m is System.Text.Json.Nodes.JsonArray pair ? $"{pair[0]} {pair[1]}" : (string)m!).ToArray();
        kv.Add(("tokenizer.ggml.model", "gpt2"));
        kv.Add(("tokenizer.ggml.pre", arch is "qwen2" or "qwen3" ? "qwen2" : "llama-bpe"));
        kv.Add(("tokenizer.ggml.tokens", tokens.Select(t => t!).ToArray()));
        kv.Add(("tokenizer.ggml.token_type", types));
        kv.Add(("tokenizer.ggml.merges", merges));
        kv.Add(("tokenizer.ggml.add_bos_token", arch is not ("qwen2" or "qwen3")));
    }

    private static long Align(long n) => (n + 31) / 32 * 32;
    private static void Pad(BinaryWriter o, long n) { for (long i = 0; i < n; i++) o.Write((byte)0); }
    private static void WriteString(BinaryWriter o, string s) { var b = Encoding.UTF8.GetBytes(s); o.Write((ulong)b.Length); o.Write(b); }

    // convert_hf_to_gguf.py LlamaModel.permute.
    private static Tensor Permute(Tensor w, int heads)
    {
        var shape = w.shape;
        long rows = shape[0], rest = w.NumberOfElements / rows;
        return w.reshape(heads, 2, rows / heads / 2, rest).transpose(1, 2).reshape(shape).contiguous();
    }

    private static byte[] Encode(Tensor w, GgmlType type)
    {
        var x = w.contiguous().data<float>().ToArray();
        switch (type)
        {
            case GgmlType.F32: { var b = new byte[x.Length * 4]; Buffer.BlockCopy(x, 0, b, 0, b.Length); return b; }
            case GgmlType.F16:
            {
                var b = new byte[x.Length * 2];
                for (int i = 0; i < x.Length; i++) BitConverter.TryWriteBytes(b.AsSpan(i * 2), (Half)x[i]);
                return b;
            }
            case GgmlType.Q8_0:
            {
                var b = new byte[x.Length / 32 * 34];
                for (int blk = 0; blk < x.Length / 32; blk++)
                {
                    float amax = 0;
                    for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs(x[blk * 32 + j]));
                    float d = amax / 127f, id = d != 0 ? 1f / d : 0f;
                    BitConverter.TryWriteBytes(b.AsSpan(blk * 34), (Half)d);
                    for (int j = 0; j < 32; j++) b[blk * 34 + 2 + j] = (byte)(sbyte)MathF.Round(x[blk * 32 + j] * id, MidpointRounding.AwayFromZero);
                }
                return b;
            }
            case GgmlType.Q4_0:
            {
                var b = new byte[x.Length / 32 * 18];
                for (int blk = 0; blk < x.Length / 32; blk++)
                {
                    float amax = 0, max = 0;
                    for (int j = 0; j < 32; j++)
                    {
                        float v = x[blk * 32 + j];
                        if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
                    }
                    float d = max / -8f, id = d != 0 ? 1f / d : 0f;
                    BitConverter.TryWriteBytes(b.AsSpan(blk * 18), (Half)d);
                    for (int j = 0; j < 16; j++)
                    {
                        int lo = Math.Min(15, (int)(sbyte)(x[blk * 32 + j] * id + 8.5f));
                        int hi = Math.Min(15, (int)(sbyte)(x[blk * 32 + 16 + j] * id + 8.5f));
                        b[blk * 18 + 2 + j] = (byte)(lo | (hi << 4));
                    }
                }
                return b;
            }
            default: throw new ArgumentException($"the test writer does not encode {type}");
        }
    }

    private static string? GgufName(string hf)
    {
        switch (hf)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }
        // The inverse of GgufWeights.HfName, found by trying its parts.
        var parts = hf.Split('.');
        if (parts.Length < 5 || parts[0] != "model" || parts[1] != "layers") return null;
        string rest = string.Join('.', parts[3..^1]);
        string? gg = rest switch
        {
            "input_layernorm" => "attn_norm", "post_attention_layernorm" => "ffn_norm",
            "self_attn.q_proj" => "attn_q", "self_attn.k_proj" => "attn_k", "self_attn.v_proj" => "attn_v", "self_attn.o_proj" => "attn_output",
            "self_attn.q_norm" => "attn_q_norm", "self_attn.k_norm" => "attn_k_norm",
            "mlp.gate_proj" => "ffn_gate", "mlp.up_proj" => "ffn_up", "mlp.down_proj" => "ffn_down",
            _ => null,
        };
        return gg is null ? null : $"blk.{parts[2]}.{gg}.{parts[^1]}";
    }
}
