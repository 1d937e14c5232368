using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.RealLayouts;

/// <summary>
/// Writes a seeded random checkpoint in the exact layout a published Hugging Face checkpoint has: its config.json
/// (the real field set, with small dimensions), model.safetensors (or an index + shards) with the published tensor
/// names and shapes, and the real tokenizer files. The same spec always gives the same bytes, on any machine, without
/// libtorch's generators: every tensor is filled from its own stream (SplitMix64 of the seed and the tensor's name,
/// then xoshiro256**, Marsaglia's polar method), so neither the order of tensors nor the torch version changes a value.
///
/// A spec (tests/fixtures/peer-models/&lt;family&gt;/checkpoint.json) is
/// <c>{"family", "published", "tokenizer", "seed", "dtype": "float32"|"bfloat16", "shards": 1|2, "config": {...}}</c>;
/// <c>config</c> is written verbatim as config.json. Shared by the real-layout tests (RealLayoutTests) and the
/// <c>seeded-checkpoint</c> command of Pardec.Benchmarks, which benchmarks/peer/make-peer-fixtures.py runs before
/// converting the directory to GGUF for llama.cpp.
///
/// Values (defaults; a spec's "init" overrides them): embeddings and an untied lm_head N(0, 1) (logits of several
/// units, so greedy choices are far from ties), q/k/v/gate/up N(0, 1/fan_in) (activations stay O(1), attention is not
/// uniform), o_proj/down_proj N(0, 16/fan_in) (the layers outweigh the input embedding in the residual stream, else a
/// tied model just repeats its last token), biases N(0, 0.1²), RMSNorm weights 1 + N(0, 0.1²) — for Gemma, whose
/// RMSNorm multiplies by (1 + w), N(0, 0.1²).
/// </summary>
public static class SeededCheckpoints
{
    public sealed record TensorSpec(string Name, long[] Shape, double Mean, double Std);

    /// <summary>The spec's optional "init" object: standard deviations (<c>out_scale</c> multiplies 1/sqrt(fan_in) for
    /// o_proj and down_proj, so the layers, not the copied input embedding, decide the next token of a tied model).</summary>
    public sealed record Init(double EmbedStd, double LmHeadStd, double OutScale, double NormStd, double BiasStd)
    {
        public static Init From(JsonObject? o) => new(
            (double?)o?["embed_std"] ?? 1.0, (double?)o?["lm_head_std"] ?? 1.0, (double?)o?["out_scale"] ?? 4.0,
            (double?)o?["norm_std"] ?? 0.1, (double?)o?["bias_std"] ?? 0.1);
    }

    /// <summary>Writes the checkpoint of <paramref name="specPath"/> into <paramref name="outDir"/> (created). Tokenizer files
    /// come from <paramref name="tokenizersRoot"/>/&lt;spec.tokenizer&gt;/ (tools/fetch-tokenizers.sh) when given and present.</summary>
    public static void Write(string specPath, string outDir, string? tokenizersRoot)
    {
        var spec = JsonNode.Parse(File.ReadAllText(specPath))!.AsObject();
        var config = spec["config"]!.AsObject();
        var init = Init.From(spec["init"] as JsonObject);
        ulong seed = spec["seed"]!.GetValue<ulong>();
        var dtype = (string?)spec["dtype"] switch
        {
            null or "float32" => ScalarType.Float32,
            "bfloat16" => ScalarType.BFloat16,
            var d => throw new ArgumentException($"{specPath}: unsupported dtype '{d}'"),
        };
        int shards = spec["shards"]?.GetValue<int>() ?? 1;

        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

        var tensors = Tensors(config, init);
        if (shards <= 1)
        {
            WriteFile(Path.Combine(outDir, "model.safetensors"), tensors, seed, dtype);
        }
        else
        {
            // Split by parameter count, in tensor order, as save_pretrained's max_shard_size does.
            long total = tensors.Sum(t => Elements(t.Shape));
            var groups = Enumerable.Range(0, shards).Select(_ => new List<TensorSpec>()).ToList();
            long running = 0;
            foreach (var t in tensors)
            {
                int shard = (int)Math.Min(shards - 1, running * shards / total);
                groups[shard].Add(t);
                running += Elements(t.Shape);
            }
            var weightMap = new JsonObject();
            for (int s = 0; s < shards; s++)
            {
                string file = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
                WriteFile(Path.Combine(outDir, file), groups[s], seed, dtype);
                foreach (var t in groups[s]) weightMap[t.Name] = file;
            }
            int size = dtype == ScalarType.BFloat16 ? 2 : 4;
            var index = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = total * size },
                ["weight_map"] = weightMap,
            };
            File.WriteAllText(Path.Combine(outDir, "model.safetensors.index.json"),
                index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }

        string? tokenizer = (string?)spec["tokenizer"];
        if (tokenizersRoot is not null && tokenizer is not null && Directory.Exists(Path.Combine(tokenizersRoot, tokenizer)))
        {
            foreach (var name in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            {
                string from = Path.Combine(tokenizersRoot, tokenizer, name);
                if (File.Exists(from)) File.Copy(from, Path.Combine(outDir, name), overwrite: true);
            }
        }
    }

    private static void WriteFile(string path, List<TensorSpec> tensors, ulong seed, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var named = new List<KeyValuePair<string, Tensor>>();
        foreach (var t in tensors)
        {
            var values = Values(seed, t);
            var tensor = torch.tensor(values, t.Shape, ScalarType.Float32);
            named.Add(new(t.Name, dtype == ScalarType.Float32 ? tensor : tensor.to(dtype)));
        }
        SafetensorsFile.Write(path, named);
    }

    /// <summary>The tensors of a published checkpoint of <c>config.model_type</c>, named and shaped as its safetensors
    /// hold them (HF transformers' modeling_{llama,mistral,qwen2,qwen3,gemma3}.py, Dream's modeling_dream.py and Fast-dLLM v2's modeling.py — the Qwen2
    /// names — and LLaDA's modeling_llada.py, <see cref="LLaDATensors"/>; rotary inv_freq buffers are not
    /// persistent, and a tied lm_head is absent from the file).</summary>
    public static List<TensorSpec> Tensors(JsonObject config, Init init)
    {
        string type = (string)config["model_type"]!;
        if (type == "llada") return LLaDATensors(config, init);
        long hidden = Int(config, "hidden_size"), inter = Int(config, "intermediate_size"), vocab = Int(config, "vocab_size");
        long layers = Int(config, "num_hidden_layers"), heads = Int(config, "num_attention_heads");
        long kvHeads = config["num_key_value_heads"] is null ? heads : Int(config, "num_key_value_heads");
        long headDim = config["head_dim"] is JsonNode hd && hd.GetValueKind() == JsonValueKind.Number ? hd.GetValue<long>() : hidden / heads;
        bool tied = (bool?)config["tie_word_embeddings"] ?? type == "gemma3_text"; // Gemma3TextConfig defaults to tied
        bool gemma = type == "gemma3_text";
        bool qwen2 = type is "qwen2" or "Dream" or "Fast_dLLM_Qwen"; // Dream-v0 and Fast-dLLM v2 are the Qwen2.5 layout
        bool qkvBias = qwen2 || ((bool?)config["attention_bias"] ?? false);
        bool oBias = !qwen2 && ((bool?)config["attention_bias"] ?? false);
        bool mlpBias = (bool?)config["mlp_bias"] ?? false;
        bool qkNorm = type is "qwen3" or "gemma3_text";
        if (type is not ("llama" or "mistral" or "qwen2" or "qwen3" or "gemma3_text" or "Dream" or "Fast_dLLM_Qwen"))
            throw new ArgumentException($"no seeded layout for model_type '{type}'");

        double normMean = gemma ? 0.0 : 1.0;
        var list = new List<TensorSpec> { new("model.embed_tokens.weight", [vocab, hidden], 0, init.EmbedStd) };
        for (long i = 0; i < layers; i++)
        {
            string p = $"model.layers.{i}.";
            void Linear(string name, long outF, long inF, bool bias, double scale = 1.0)
            {
                list.Add(new(p + name + ".weight", [outF, inF], 0, scale / Math.Sqrt(inF)));
                if (bias) list.Add(new(p + name + ".bias", [outF], 0, init.BiasStd));
            }
            void Norm(string name, long n) => list.Add(new(p + name + ".weight", [n], normMean, init.NormStd));

            Norm("input_layernorm", hidden);
            Linear("self_attn.q_proj", heads * headDim, hidden, qkvBias);
            Linear("self_attn.k_proj", kvHeads * headDim, hidden, qkvBias);
            Linear("self_attn.v_proj", kvHeads * headDim, hidden, qkvBias);
            Linear("self_attn.o_proj", hidden, heads * headDim, oBias, init.OutScale);
            if (qkNorm)
            {
                Norm("self_attn.q_norm", headDim);
                Norm("self_attn.k_norm", headDim);
            }
            Norm("post_attention_layernorm", hidden);
            if (gemma)
            {
                Norm("pre_feedforward_layernorm", hidden);
                Norm("post_feedforward_layernorm", hidden);
            }
            Linear("mlp.gate_proj", inter, hidden, mlpBias);
            Linear("mlp.up_proj", inter, hidden, mlpBias);
            Linear("mlp.down_proj", hidden, inter, mlpBias, init.OutScale);
        }
        list.Add(new("model.norm.weight", [hidden], normMean, init.NormStd));
        if (!tied) list.Add(new("lm_head.weight", [vocab, hidden], 0, init.LmHeadStd));
        return list;
    }

    /// <summary>LLaDA's tensors (GSAI-ML/LLaDA-8B-*'s modeling_llada.py, <c>LLaDALlamaBlock</c>; config names d_model,
    /// n_layers, n_heads, n_kv_heads, mlp_hidden_size, embedding_size, weight_tying), with the same init as the Llama layout.</summary>
    private static List<TensorSpec> LLaDATensors(JsonObject config, Init init)
    {
        long hidden = Int(config, "d_model"), heads = Int(config, "n_heads"), layers = Int(config, "n_layers");
        long kvHeads = config["n_kv_heads"] is null ? heads : Int(config, "n_kv_heads");
        long inter = Int(config, "mlp_hidden_size");
        long vocab = config["embedding_size"] is null ? Int(config, "vocab_size") : Int(config, "embedding_size");
        long headDim = hidden / heads;
        var list = new List<TensorSpec> { new("model.transformer.wte.weight", [vocab, hidden], 0, init.EmbedStd) };
        for (long i = 0; i < layers; i++)
        {
            string p = $"model.transformer.blocks.{i}.";
            void Linear(string name, long outF, long inF, double scale = 1.0) => list.Add(new(p + name + ".weight", [outF, inF], 0, scale / Math.Sqrt(inF)));
            list.Add(new(p + "attn_norm.weight", [hidden], 1.0, init.NormStd));
            Linear("q_proj", heads * headDim, hidden);
            Linear("k_proj", kvHeads * headDim, hidden);
            Linear("v_proj", kvHeads * headDim, hidden);
            Linear("attn_out", hidden, heads * headDim, init.OutScale);
            list.Add(new(p + "ff_norm.weight", [hidden], 1.0, init.NormStd));
            Linear("ff_proj", inter, hidden);
            Linear("up_proj", inter, hidden);
            Linear("ff_out", hidden, inter, init.OutScale);
        }
        list.Add(new("model.transformer.ln_f.weight", [hidden], 1.0, init.NormStd));
        if (!((bool?)config["weight_tying"] ?? false)) list.Add(new("model.transformer.ff_out.weight", [vocab, hidden], 0, init.LmHeadStd));
        return list;
    }

    /// <summary>The seeded values of one tensor: its own stream, from the seed and its name only.</summary>
    public static float[] Values(ulong seed, TensorSpec t)
    {
        var values = new float[Elements(t.Shape)];
        ulong s = seed ^ Fnv1a(t.Name);
        ulong s0 = SplitMix(ref s), s1 = SplitMix(ref s), s2 = SplitMix(ref s), s3 = SplitMix(ref s);
        for (int i = 0; i < values.Length;)
        {
            // Marsaglia's polar method: two normals per accepted pair.
            double u = 2 * NextDouble(ref s0, ref s1, ref s2, ref s3) - 1, v = 2 * NextDouble(ref s0, ref s1, ref s2, ref s3) - 1;
            double r = u * u + v * v;
            if (r >= 1 || r == 0) continue;
            double f = Math.Sqrt(-2 * Math.Log(r) / r);
            values[i++] = (float)(t.Mean + t.Std * u * f);
            if (i < values.Length) values[i++] = (float)(t.Mean + t.Std * v * f);
        }
        return values;
    }

    private static long Int(JsonObject config, string key) =>
        config[key]?.GetValue<long>() ?? throw new ArgumentException($"config has no '{key}'");

    private static long Elements(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    private static ulong Fnv1a(string text)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(text)) { h ^= b; h *= 1099511628211UL; }
        return h;
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static double NextDouble(ref ulong s0, ref ulong s1, ref ulong s2, ref ulong s3)
    {
        ulong result = ulong.RotateLeft(s1 * 5, 7) * 9; // xoshiro256**
        ulong t = s1 << 17;
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t; s3 = ulong.RotateLeft(s3, 45);
        return (result >> 11) * (1.0 / (1UL << 53));
    }
}
