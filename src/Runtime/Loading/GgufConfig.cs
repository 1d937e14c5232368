using Pardec.Runtime.Models;

namespace Pardec.Runtime.Loading;

/// <summary>
/// A <see cref="ModelConfig"/> from a GGUF file's metadata (llama.cpp's <c>{arch}.*</c> keys as <c>convert_hf_to_gguf.py</c>
/// writes them): <c>llama</c> (Llama 1-3, Mistral, TinyLlama), <c>qwen2</c> (q/k/v bias), <c>qwen3</c> (q/k norm). Sizes come
/// from the metadata and are checked against the tensors; the vocabulary size is the embedding's row count.
/// </summary>
public static class GgufConfig
{
    private static readonly string[] Supported = ["llama", "qwen2", "qwen3"];

    public static ModelConfig Read(GgufFile file)
    {
        string arch = file.String("general.architecture") ?? throw new ModelLoadException(file.Path, "general.architecture", "required key is missing");
        if (!Supported.Contains(arch))
            throw new ModelLoadException(file.Path, "general.architecture", $"'{arch}' is not a GGUF architecture Pardec loads ({string.Join(", ", Supported)})");
        long Required(string key) => file.Integer($"{arch}.{key}") ?? throw new ModelLoadException(file.Path, $"{arch}.{key}", "required key is missing");
        if (file.Metadata.ContainsKey($"{arch}.rope.scaling.type") && file.String($"{arch}.rope.scaling.type") is { } type && type != "none")
            throw new ModelLoadException(file.Path, $"{arch}.rope.scaling.type", $"RoPE scaling '{type}' in a GGUF file is not supported yet: load the Hugging Face checkpoint");
        if (!file.Tensors.TryGetValue("token_embd.weight", out var embed))
            throw new ModelLoadException(file.Path, "token_embd.weight", "missing weight");
        int hidden = (int)Required("embedding_length"), heads = (int)Required("attention.head_count");
        int headDim = (int)(file.Integer($"{arch}.attention.key_length") ?? hidden / heads);
        int? bos = file.Integer("tokenizer.ggml.bos_token_id") is long b ? (int)b : null;
        var eos = new List<int>();
        if (file.Integer("tokenizer.ggml.eos_token_id") is long e) eos.Add((int)e);
        if (file.Integer("tokenizer.ggml.eot_token_id") is long eot && !eos.Contains((int)eot)) eos.Add((int)eot);
        var config = new ModelConfig
        {
            ModelType = arch,
            VocabSize = (int)embed.Dims[1],
            HiddenSize = hidden,
            IntermediateSize = (int)Required("feed_forward_length"),
            NumHiddenLayers = (int)Required("block_count"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = (int)(file.Integer($"{arch}.attention.head_count_kv") ?? heads),
            HeadDim = headDim,
            NormEps = file.Number($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5,
            RopeTheta = file.Number($"{arch}.rope.freq_base") ?? 10000.0,
            MaxPositionEmbeddings = (int)(file.Integer($"{arch}.context_length") ?? 2048),
            TieWordEmbeddings = !file.Tensors.ContainsKey("output.weight"),
            AttentionBias = file.Tensors.ContainsKey("blk.0.attn_q.bias"),
            QkNorm = file.Tensors.ContainsKey("blk.0.attn_q_norm.weight"),
            BosTokenId = bos,
            EosTokenIds = eos,
        };
        if (embed.Dims[0] != hidden)
            throw new ModelLoadException(file.Path, "token_embd.weight", $"{embed.Dims[0]} columns disagree with {arch}.embedding_length {hidden}");
        try { config.Validate(); }
        catch (ArgumentException x) { throw new ModelLoadException(file.Path, null, x.Message, x); }
        return config;
    }
}
