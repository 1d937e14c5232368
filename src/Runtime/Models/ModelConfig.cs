using System.Text;
using System.Text.Json;
using Pardec.Runtime.Loading;

namespace Pardec.Runtime.Models;

/// <summary>The architecture a <see cref="ModelConfig"/> describes.</summary>
public enum ModelArchitecture
{
    /// <summary>Llama-family decoder: RMSNorm, RoPE, SwiGLU, grouped-query attention (Llama, Qwen2, Mistral, SmolLM).</summary>
    Llama,
    /// <summary>GPT-2: LayerNorm, learned positions, GELU MLP, fused QKV stored as HF Conv1D.</summary>
    Gpt2,
}

/// <summary>
/// The hyper-parameters of a causal LM, read from (and written to) a Hugging Face <c>config.json</c>.
/// GPT-2's own names (<c>n_embd</c>, <c>n_layer</c>, ...) are mapped onto the same properties.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>The HF <c>model_type</c>: <c>llama</c>, <c>qwen2</c>, <c>mistral</c> or <c>gpt2</c>.</summary>
    public required string ModelType { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    /// <summary>Per-head width; HF lets Llama-family configs set it explicitly (else hidden / heads).</summary>
    public required int HeadDim { get; init; }
    /// <summary>RMSNorm epsilon (Llama family) or LayerNorm epsilon (GPT-2).</summary>
    public double NormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Bias on q/k/v projections (Qwen2 always, Llama when <c>attention_bias</c>).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Bias on the SwiGLU projections (Llama <c>mlp_bias</c>).</summary>
    public bool MlpBias { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>The mask token of a masked-diffusion LM (LLaDA layout); null for an ordinary causal LM.</summary>
    public int? MaskTokenId { get; init; }

    public ModelArchitecture Architecture => ModelType == "gpt2" ? ModelArchitecture.Gpt2 : ModelArchitecture.Llama;

    private static readonly string[] SupportedTypes = ["llama", "qwen2", "mistral", "gpt2"];

    /// <summary>Reads <c>config.json</c>; every problem is a <see cref="ModelLoadException"/> naming the file and the field.</summary>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new ModelLoadException(path, null, "file not found");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses the text of a <c>config.json</c>; <paramref name="source"/> names it in errors.</summary>
    public static ModelConfig Parse(string json, string source = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new ModelLoadException(source, null, $"invalid JSON: {e.Message}", e); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelLoadException(source, null, "the top level is not a JSON object");
            var r = new FieldReader(root, source);
            string type = r.String("model_type");
            if (Array.IndexOf(SupportedTypes, type) < 0)
                throw new ModelLoadException(source, "model_type",
                    $"unsupported model_type '{type}'; supported: {string.Join(", ", SupportedTypes)}");

            ModelConfig config;
            if (type == "gpt2")
            {
                int hidden = r.Int("n_embd");
                int heads = r.Int("n_head");
                config = new ModelConfig
                {
                    ModelType = type,
                    VocabSize = r.Int("vocab_size"),
                    HiddenSize = hidden,
                    IntermediateSize = r.OptionalInt("n_inner") ?? 4 * hidden,
                    NumHiddenLayers = r.Int("n_layer"),
                    NumAttentionHeads = heads,
                    NumKeyValueHeads = heads,
                    HeadDim = hidden / heads,
                    NormEps = r.OptionalDouble("layer_norm_epsilon") ?? 1e-5,
                    MaxPositionEmbeddings = r.OptionalInt("n_positions") ?? 1024,
                    TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? true,
                    BosTokenId = r.OptionalInt("bos_token_id"),
                    EosTokenIds = r.IntOrList("eos_token_id"),
                    MaskTokenId = r.OptionalInt("mask_token_id"),
                };
                string act = r.OptionalString("activation_function") ?? "gelu_new";
                if (act is not ("gelu_new" or "gelu_pytorch_tanh" or "gelu_fast"))
                    throw new ModelLoadException(source, "activation_function", $"unsupported activation_function '{act}'; supported: gelu_new");
            }
            else
            {
                int hidden = r.Int("hidden_size");
                int heads = r.Int("num_attention_heads");
                config = new ModelConfig
                {
                    ModelType = type,
                    VocabSize = r.Int("vocab_size"),
                    HiddenSize = hidden,
                    IntermediateSize = r.Int("intermediate_size"),
                    NumHiddenLayers = r.Int("num_hidden_layers"),
                    NumAttentionHeads = heads,
                    NumKeyValueHeads = r.OptionalInt("num_key_value_heads") ?? heads,
                    HeadDim = r.OptionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0),
                    NormEps = r.OptionalDouble("rms_norm_eps") ?? 1e-6,
                    RopeTheta = r.OptionalDouble("rope_theta") ?? 10000.0,
                    MaxPositionEmbeddings = r.OptionalInt("max_position_embeddings") ?? 2048,
                    TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? false,
                    AttentionBias = type == "qwen2" || (r.OptionalBool("attention_bias") ?? false),
                    MlpBias = r.OptionalBool("mlp_bias") ?? false,
                    BosTokenId = r.OptionalInt("bos_token_id"),
                    EosTokenIds = r.IntOrList("eos_token_id"),
                    MaskTokenId = r.OptionalInt("mask_token_id"),
                };
                string act = r.OptionalString("hidden_act") ?? "silu";
                if (act != "silu")
                    throw new ModelLoadException(source, "hidden_act", $"unsupported hidden_act '{act}'; supported: silu");
                if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind != JsonValueKind.Null)
                    throw new ModelLoadException(source, "rope_scaling", "rope_scaling is not supported");
            }
            config.Validate(source);
            return config;
        }
    }

    /// <summary>Checks the invariants the model code relies on (divisibility, positivity).</summary>
    public void Validate(string source = "config")
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new ModelLoadException(source, field, $"must be positive, got {value}");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ModelLoadException(source, "num_key_value_heads",
                $"num_attention_heads ({NumAttentionHeads}) is not a multiple of num_key_value_heads ({NumKeyValueHeads})");
        if (Architecture == ModelArchitecture.Gpt2 && HeadDim * NumAttentionHeads != HiddenSize)
            throw new ModelLoadException(source, "n_head", $"n_embd ({HiddenSize}) is not divisible by n_head ({NumAttentionHeads})");
        if (Architecture == ModelArchitecture.Llama && HeadDim % 2 != 0)
            throw new ModelLoadException(source, "head_dim", $"RoPE needs an even head_dim, got {HeadDim}");
    }

    /// <summary>Writes the HF <c>config.json</c> text for this config (GPT-2 names for GPT-2).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (Architecture == ModelArchitecture.Gpt2)
            {
                w.WriteStartArray("architectures"); w.WriteStringValue("GPT2LMHeadModel"); w.WriteEndArray();
                w.WriteString("model_type", ModelType);
                w.WriteNumber("vocab_size", VocabSize);
                w.WriteNumber("n_embd", HiddenSize);
                w.WriteNumber("n_inner", IntermediateSize);
                w.WriteNumber("n_layer", NumHiddenLayers);
                w.WriteNumber("n_head", NumAttentionHeads);
                w.WriteNumber("n_positions", MaxPositionEmbeddings);
                w.WriteNumber("layer_norm_epsilon", NormEps);
                w.WriteString("activation_function", "gelu_new");
                w.WriteBoolean("tie_word_embeddings", TieWordEmbeddings);
            }
            else
            {
                string arch = ModelType switch { "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", _ => "LlamaForCausalLM" };
                w.WriteStartArray("architectures"); w.WriteStringValue(arch); w.WriteEndArray();
                w.WriteString("model_type", ModelType);
                w.WriteNumber("vocab_size", VocabSize);
                w.WriteNumber("hidden_size", HiddenSize);
                w.WriteNumber("intermediate_size", IntermediateSize);
                w.WriteNumber("num_hidden_layers", NumHiddenLayers);
                w.WriteNumber("num_attention_heads", NumAttentionHeads);
                w.WriteNumber("num_key_value_heads", NumKeyValueHeads);
                w.WriteNumber("head_dim", HeadDim);
                w.WriteString("hidden_act", "silu");
                w.WriteNumber("rms_norm_eps", NormEps);
                w.WriteNumber("rope_theta", RopeTheta);
                w.WriteNumber("max_position_embeddings", MaxPositionEmbeddings);
                w.WriteBoolean("tie_word_embeddings", TieWordEmbeddings);
                if (ModelType != "qwen2") w.WriteBoolean("attention_bias", AttentionBias);
                w.WriteBoolean("mlp_bias", MlpBias);
            }
            if (BosTokenId is int bos) w.WriteNumber("bos_token_id", bos);
            if (EosTokenIds.Count == 1) w.WriteNumber("eos_token_id", EosTokenIds[0]);
            else if (EosTokenIds.Count > 1)
            {
                w.WriteStartArray("eos_token_id");
                foreach (int id in EosTokenIds) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            if (MaskTokenId is int mask) w.WriteNumber("mask_token_id", mask);
            w.WriteString("torch_dtype", "float32");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes <c>config.json</c> (the training tool saves models with it).</summary>
    public void Save(string path) => File.WriteAllText(path, ToJson() + "\n");

    /// <summary>Reads typed fields and names the offending field when one is missing or mistyped.</summary>
    private readonly struct FieldReader(JsonElement root, string source)
    {
        public string String(string name) =>
            OptionalString(name) ?? throw new ModelLoadException(source, name, "required field is missing");

        public string? OptionalString(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
            if (e.ValueKind != JsonValueKind.String) throw new ModelLoadException(source, name, $"expected a string, got {e.ValueKind}");
            return e.GetString();
        }

        public int Int(string name) =>
            OptionalInt(name) ?? throw new ModelLoadException(source, name, "required field is missing");

        public int? OptionalInt(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
                throw new ModelLoadException(source, name, $"expected an integer, got {e.GetRawText()}");
            return v;
        }

        public double? OptionalDouble(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
            if (e.ValueKind != JsonValueKind.Number) throw new ModelLoadException(source, name, $"expected a number, got {e.GetRawText()}");
            return e.GetDouble();
        }

        public bool? OptionalBool(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new ModelLoadException(source, name, $"expected true or false, got {e.GetRawText()}"),
            };
        }

        /// <summary>HF writes <c>eos_token_id</c> as an int or a list of ints.</summary>
        public IReadOnlyList<int> IntOrList(string name)
        {
            if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return [];
            if (e.ValueKind == JsonValueKind.Number) return [OptionalInt(name)!.Value];
            if (e.ValueKind != JsonValueKind.Array) throw new ModelLoadException(source, name, $"expected an integer or a list, got {e.GetRawText()}");
            var ids = new List<int>();
            foreach (var item in e.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int v))
                    throw new ModelLoadException(source, name, $"expected integers, got {item.GetRawText()}");
                ids.Add(v);
            }
            return ids;
        }
    }
}
