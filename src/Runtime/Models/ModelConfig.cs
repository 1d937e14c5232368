using System.Text;
using System.Text.Json;
using Pardec.Runtime.Loading;

namespace Pardec.Runtime.Models;

/// <summary>The architecture a <see cref="ModelConfig"/> describes.</summary>
public enum ModelArchitecture
{
    /// <summary>
    /// Llama-family decoder: RMSNorm, RoPE, gated MLP, grouped-query attention. Covers Llama (2, 3.x with
    /// <c>rope_scaling</c>), SmolLM2 and TinyLlama (Llama layout), Qwen2/Qwen2.5 (q/k/v bias), Qwen3 (per-head q/k RMSNorm),
    /// Mistral (sliding window) and Gemma 3 text models (scaled embedding, (1 + w) norms, sandwich norms, GELU-tanh MLP,
    /// interleaved sliding-window and global layers).
    /// </summary>
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
    /// <summary>
    /// The HF <c>model_type</c>: <c>llama</c>, <c>qwen2</c>, <c>qwen3</c>, <c>mistral</c>, <c>gemma3_text</c>, <c>gpt2</c>, or the
    /// masked-diffusion LMs <c>llada</c> (LLaDA's own field names; weights through <see cref="LLaDAModelLM"/>) and
    /// <c>Dream</c> (the Qwen2 layout, bidirectional, <see cref="ShiftedLogits"/>), and the block-diffusion LM
    /// <c>Fast_dLLM_Qwen</c> (Fast-dLLM v2: the Qwen2 layout, block-causal with <see cref="DenoiserBlock"/> = <c>bd_size</c>, shifted).
    /// </summary>
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
    /// <summary>
    /// How a masked-diffusion LM's logits line up with the canvas: false when the logits at position i predict the token
    /// at i (LLaDA, trained from scratch as a denoiser), true when they predict the token at i + 1 (Dream, adapted from an
    /// autoregressive Qwen2.5 and keeping its next-token head; llama.cpp's GGUF key <c>diffusion.shift_logits</c>). The
    /// masked canvas reads position p's prediction from row p − 1 when this is set.
    /// </summary>
    public bool ShiftedLogits { get; init; }
    /// <summary>
    /// The block of a block-causal denoiser, null for a fully bidirectional one (or a causal LM). Fast-dLLM v2
    /// (<c>Fast_dLLM_Qwen</c>, config field <c>bd_size</c>) attends causally across blocks of this many positions, counted
    /// from position 0, and bidirectionally inside a block: the query at position q sees the key at k iff
    /// <c>k / block &lt;= q / block</c> (its modeling.py, <c>eval_block_diff_mask</c>). So a finished block's keys and values
    /// never change again, and a cache of finished blocks is exact.
    /// </summary>
    public int? DenoiserBlock { get; init; }
    /// <summary>The config.json this config was read from (<see cref="Load"/>), for errors that name the model; null otherwise.</summary>
    public string? SourcePath { get; init; }
    /// <summary>RoPE frequency scaling (<c>rope_scaling</c> / <c>rope_parameters</c>: llama3, linear, yarn); null for plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>Per-head RMSNorm of queries and keys before RoPE (Qwen3 and Gemma 3 <c>q_norm</c>/<c>k_norm</c>).</summary>
    public bool QkNorm { get; init; }
    /// <summary>
    /// The attention window of sliding-window layers (Mistral, Gemma 3): a query at position p attends to keys at
    /// positions in (p - window, p]. Null when every layer attends to the whole context.
    /// </summary>
    public int? SlidingWindow { get; init; }
    /// <summary>Which layers use <see cref="SlidingWindow"/> (Gemma 3's <c>layer_types</c>); empty means all of them when a window is set.</summary>
    public IReadOnlyList<bool> SlidingLayers { get; init; } = [];
    /// <summary>Gemma 3's RoPE base of its sliding-window layers (<c>rope_local_base_freq</c>); null when every layer uses <see cref="RopeTheta"/>.</summary>
    public double? RopeLocalTheta { get; init; }
    /// <summary>The gated MLP's activation: <c>silu</c> (SwiGLU) or <c>gelu_pytorch_tanh</c> (Gemma's GeGLU).</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>Gemma 3's attention scale is <c>query_pre_attn_scalar^-1/2</c> rather than <c>head_dim^-1/2</c>; null for the latter.</summary>
    public double? QueryPreAttnScalar { get; init; }
    /// <summary>Final logits are <c>tanh(logits / cap) * cap</c> when set (Gemma 2-style soft-capping).</summary>
    public double? FinalLogitSoftcapping { get; init; }
    /// <summary>The checkpoint's <c>torch_dtype</c> (<c>float32</c>, <c>bfloat16</c>, <c>float16</c>), if it says.</summary>
    public string? TorchDtype { get; init; }

    /// <summary>Gemma's layout: embeddings scaled by sqrt(hidden), (1 + w) RMSNorms in float32, norms before and after both sublayers.</summary>
    public bool IsGemma => ModelType == "gemma3_text";
    /// <summary>Bias on q/k/v (Qwen2, or Llama's <c>attention_bias</c>).</summary>
    public bool QkvBias => AttentionBias;
    /// <summary>Bias on o_proj: Llama's <c>attention_bias</c> covers it, Qwen2's (and Dream's) q/k/v bias does not.</summary>
    public bool OutputBias => AttentionBias && !IsQwen2Layout;
    /// <summary>The Qwen2 tensor layout (q/k/v bias, no o_proj bias): Qwen2, and the denoisers adapted from Qwen2.5 (Dream, Fast-dLLM v2).</summary>
    public bool IsQwen2Layout => ModelType is "qwen2" or "Dream" or FastDllmQwen;
    /// <summary>Fast-dLLM v2's <c>model_type</c> (<c>Fast_dLLM_QwenConfig</c> in Efficient-Large-Model/Fast_dLLM_v2_7B).</summary>
    public const string FastDllmQwen = "Fast_dLLM_Qwen";
    /// <summary>
    /// Fast-dLLM v2's mask token <c>|&lt;MASK&gt;|</c>: its config.json has no <c>mask_token_id</c>; the published modeling.py
    /// passes <c>mask_id=151665</c> to forward and generate by default, which this follows when the config is silent.
    /// </summary>
    public const int FastDllmMaskTokenId = 151665;
    /// <summary>Whether layer <paramref name="layer"/> attends through the sliding window.</summary>
    public bool IsSlidingLayer(int layer) => SlidingWindow is not null && (SlidingLayers.Count == 0 || SlidingLayers[layer]);
    /// <summary>Whether any layer attends through the sliding window.</summary>
    public bool HasSlidingLayers => SlidingWindow is not null && (SlidingLayers.Count == 0 || SlidingLayers.Contains(true));
    /// <summary>The attention scale: <c>query_pre_attn_scalar^-1/2</c> for Gemma, else <c>head_dim^-1/2</c>.</summary>
    public double AttentionScale => 1.0 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    public ModelArchitecture Architecture => ModelType == "gpt2" ? ModelArchitecture.Gpt2 : ModelArchitecture.Llama;

    private static readonly string[] SupportedTypes = ["llama", "qwen2", "qwen3", "mistral", "gemma3_text", "gpt2", "llada", "Dream", FastDllmQwen];

    /// <summary>Reads <c>config.json</c>; every problem is a <see cref="ModelLoadException"/> naming the file and the field.</summary>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new ModelLoadException(path, null, "file not found");
        return Parse(File.ReadAllText(path), path) with { SourcePath = path };
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
            if (type == "gemma3")
                throw new ModelLoadException(source, "model_type",
                    "model_type 'gemma3' is the multimodal Gemma 3 (Gemma3ForConditionalGeneration); Pardec runs the text models, model_type 'gemma3_text' (gemma-3-270m, gemma-3-1b)");
            if (Array.IndexOf(SupportedTypes, type) < 0)
                throw new ModelLoadException(source, "model_type",
                    $"unsupported model_type '{type}'; supported: {string.Join(", ", SupportedTypes)}");

            ModelConfig config;
            if (type == "llada")
            {
                config = ParseLLaDA(r, source);
            }
            else if (type == "gpt2")
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
                config = ParseDecoder(root, r, type, source);
            }
            config.Validate(source);
            return config;
        }
    }

    // The Llama-family fields, as the published configs of each model_type name them (transformers'
    // configuration_{llama,qwen2,qwen3,mistral,gemma3}.py and the checkpoints' config.json).
    private static ModelConfig ParseDecoder(JsonElement root, FieldReader r, string type, string source)
    {
        int hidden = r.Int("hidden_size");
        int heads = r.Int("num_attention_heads");
        bool gemma = type == "gemma3_text";
        int layers = r.Int("num_hidden_layers");
        string act = gemma
            ? r.OptionalString("hidden_activation") ?? r.OptionalString("hidden_act") ?? "gelu_pytorch_tanh"
            : r.OptionalString("hidden_act") ?? "silu";
        string actField = gemma && root.TryGetProperty("hidden_activation", out _) ? "hidden_activation" : "hidden_act";
        if (act is not ("silu" or "gelu_pytorch_tanh"))
            throw new ModelLoadException(source, actField, $"unsupported {actField} '{act}'; supported: silu, gelu_pytorch_tanh");
        double? partial = r.OptionalDouble("partial_rotary_factor");
        if (partial is double f && f != 1.0)
            throw new ModelLoadException(source, "partial_rotary_factor", $"partial rotary embeddings are not supported (got {f}; only 1.0)");

        // transformers 5 writes rope_parameters (with rope_theta inside, per layer type for Gemma 3); 4.x writes
        // rope_theta + rope_scaling. Both are read.
        double theta = r.OptionalDouble("rope_theta") ?? (gemma ? 1_000_000.0 : 10000.0);
        double? localTheta = gemma ? r.OptionalDouble("rope_local_base_freq") ?? 10000.0 : null;
        RopeScaling? scaling = null;
        if (root.TryGetProperty("rope_parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
        {
            if (gemma && parameters.TryGetProperty("full_attention", out var full))
            {
                (theta, scaling) = RopeScaling.ParseParameters(full, source, "rope_parameters.full_attention", theta);
                if (parameters.TryGetProperty("sliding_attention", out var sliding))
                {
                    var (local, localScaling) = RopeScaling.ParseParameters(sliding, source, "rope_parameters.sliding_attention", localTheta ?? 10000.0);
                    if (localScaling is not null)
                        throw new ModelLoadException(source, "rope_parameters.sliding_attention", "scaled RoPE on sliding-window layers is not supported");
                    localTheta = local;
                }
            }
            else (theta, scaling) = RopeScaling.ParseParameters(parameters, source, "rope_parameters", theta);
        }
        if (root.TryGetProperty("rope_scaling", out var ropeScaling) && ropeScaling.ValueKind != JsonValueKind.Null)
            scaling = RopeScaling.Parse(ropeScaling, source, "rope_scaling");

        // Sliding windows: Mistral applies sliding_window to every layer (null = none); Qwen2/3 only when
        // use_sliding_window (max_window_layers onwards); Gemma 3 to the layers layer_types names sliding_attention
        // (older configs: every layer but each sliding_window_pattern-th).
        int? window = r.OptionalInt("sliding_window");
        IReadOnlyList<bool> slidingLayers = [];
        if (type is "qwen2" or "qwen3" or "Dream" or FastDllmQwen)
        {
            if (r.OptionalBool("use_sliding_window") == true)
            {
                int from = r.OptionalInt("max_window_layers") ?? layers;
                slidingLayers = Enumerable.Range(0, layers).Select(i => i >= from).ToArray();
            }
            else window = null;
        }
        else if (type is "llama") window = null;
        if (gemma)
        {
            if (root.TryGetProperty("layer_types", out var layerTypes) && layerTypes.ValueKind == JsonValueKind.Array)
            {
                var flags = new List<bool>();
                foreach (var t in layerTypes.EnumerateArray())
                {
                    string? name = t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                    if (name is not ("sliding_attention" or "full_attention"))
                        throw new ModelLoadException(source, "layer_types", $"expected \"sliding_attention\" or \"full_attention\", got {t.GetRawText()}");
                    flags.Add(name == "sliding_attention");
                }
                if (flags.Count != layers)
                    throw new ModelLoadException(source, "layer_types", $"lists {flags.Count} layers but num_hidden_layers is {layers}");
                slidingLayers = flags;
            }
            else
            {
                int pattern = r.OptionalInt("sliding_window_pattern") ?? r.OptionalInt("_sliding_window_pattern") ?? 6;
                slidingLayers = Enumerable.Range(0, layers).Select(i => (i + 1) % pattern != 0).ToArray();
            }
            if (window is null && slidingLayers.Contains(true))
                throw new ModelLoadException(source, "sliding_window", "layer_types names sliding_attention layers but sliding_window is missing");
            if (r.OptionalDouble("attn_logit_softcapping") is double cap)
                throw new ModelLoadException(source, "attn_logit_softcapping", $"attention logit soft-capping is not supported (got {cap})");
        }
        if (window is int w && w <= 0) throw new ModelLoadException(source, "sliding_window", $"must be positive, got {w}");

        return new ModelConfig
        {
            ModelType = type,
            VocabSize = r.Int("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = r.Int("intermediate_size"),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = r.OptionalInt("num_key_value_heads") ?? heads,
            HeadDim = r.OptionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            NormEps = r.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = theta,
            MaxPositionEmbeddings = r.OptionalInt("max_position_embeddings") ?? 2048,
            // Gemma and Qwen3 configs default to tied embeddings (transformers' config classes), the others do not.
            TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? (gemma || type == "qwen3"),
            AttentionBias = type is "qwen2" or "Dream" or FastDllmQwen || (r.OptionalBool("attention_bias") ?? false),
            MlpBias = r.OptionalBool("mlp_bias") ?? false,
            BosTokenId = r.OptionalInt("bos_token_id"),
            EosTokenIds = r.IntOrList("eos_token_id"),
            MaskTokenId = r.OptionalInt("mask_token_id") ?? (type == FastDllmQwen ? FastDllmMaskTokenId : null),
            // Dream is shifted by construction, and so is Fast-dLLM v2 (its "token shift": generate() reads position j's
            // logits from row j - 1); any other decoder may say so with llama.cpp's name for it (e.g. a causal model
            // adapted into a denoiser the way Dream was, keeping its next-token head).
            ShiftedLogits = type is "Dream" or FastDllmQwen || (r.OptionalBool("shift_logits") ?? false),
            DenoiserBlock = type == FastDllmQwen ? BlockSize(r, source) : null,
            RopeScaling = scaling,
            QkNorm = type is "qwen3" or "gemma3_text",
            SlidingWindow = window,
            SlidingLayers = slidingLayers,
            RopeLocalTheta = localTheta,
            HiddenAct = act,
            QueryPreAttnScalar = gemma ? r.OptionalDouble("query_pre_attn_scalar") : null,
            FinalLogitSoftcapping = r.OptionalDouble("final_logit_softcapping"),
            TorchDtype = r.OptionalString("torch_dtype") ?? r.OptionalString("dtype"),
        };
    }

    // LLaDA's own names (GSAI-ML/LLaDA-8B-*'s configuration_llada.py, an OLMo-style ModelConfig): d_model, n_layers,
    // n_heads, n_kv_heads, mlp_hidden_size, max_sequence_length, weight_tying. Only the Llama block LLaDA ships is
    // supported (block_type llama: RMSNorm, SwiGLU, RoPE, no biases); anything else is refused by field.
    // Fast-dLLM v2's bd_size (Fast_dLLM_QwenConfig defaults it to 32).
    private static int BlockSize(FieldReader r, string source)
    {
        int block = r.OptionalInt("bd_size") ?? 32;
        if (block <= 0) throw new ModelLoadException(source, "bd_size", $"must be positive, got {block}");
        return block;
    }

    private static ModelConfig ParseLLaDA(FieldReader r, string source)
    {
        int hidden = r.Int("d_model");
        int heads = r.Int("n_heads");
        void Expect(string field, string? value, params string[] supported)
        {
            if (value is not null && Array.IndexOf(supported, value) < 0)
                throw new ModelLoadException(source, field, $"unsupported {field} '{value}'; supported: {string.Join(", ", supported)}");
        }
        Expect("block_type", r.OptionalString("block_type"), "llama");
        Expect("activation_type", r.OptionalString("activation_type"), "silu");
        Expect("layer_norm_type", r.OptionalString("layer_norm_type"), "rms");
        foreach (var flag in new[] { "alibi", "include_bias", "include_qkv_bias", "attention_layer_norm", "input_emb_norm", "scale_logits" })
            if (r.OptionalBool(flag) == true)
                throw new ModelLoadException(source, flag, $"{flag} = true is not supported (LLaDA's published checkpoints set it false)");
        if (r.OptionalBool("rope") == false)
            throw new ModelLoadException(source, "rope", "rope = false is not supported (LLaDA uses rotary embeddings)");
        int layers = r.Int("n_layers");
        return new ModelConfig
        {
            ModelType = "llada",
            VocabSize = r.OptionalInt("embedding_size") ?? r.Int("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = r.OptionalInt("mlp_hidden_size") ?? (r.OptionalInt("mlp_ratio") ?? 4) * hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = r.OptionalInt("n_kv_heads") ?? heads,
            HeadDim = heads > 0 ? hidden / heads : 0,
            NormEps = r.OptionalDouble("rms_norm_eps") ?? 1e-5,
            RopeTheta = r.OptionalDouble("rope_theta") ?? 10000.0,
            MaxPositionEmbeddings = r.OptionalInt("max_sequence_length") ?? 1024,
            TieWordEmbeddings = r.OptionalBool("weight_tying") ?? false,
            BosTokenId = r.OptionalInt("bos_token_id"),
            EosTokenIds = r.IntOrList("eos_token_id"),
            MaskTokenId = r.OptionalInt("mask_token_id"),
            ShiftedLogits = false,
            TorchDtype = r.OptionalString("torch_dtype"),
        };
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
        if (SlidingLayers.Count != 0 && SlidingLayers.Count != NumHiddenLayers)
            throw new ModelLoadException(source, "layer_types", $"lists {SlidingLayers.Count} layers but num_hidden_layers is {NumHiddenLayers}");
    }

    /// <summary>Writes the HF <c>config.json</c> text for this config (GPT-2 names for GPT-2).</summary>
    public string ToJson() => ToJson(null);

    /// <summary>As <see cref="ToJson()"/>, recording <paramref name="torchDtype"/> (HF's <c>torch_dtype</c>, e.g. <c>bfloat16</c>).</summary>
    public string ToJson(string? torchDtype)
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
            else if (ModelType == "llada")
            {
                w.WriteStartArray("architectures"); w.WriteStringValue("LLaDAModelLM"); w.WriteEndArray();
                w.WriteString("model_type", ModelType);
                w.WriteString("block_type", "llama");
                w.WriteNumber("vocab_size", VocabSize);
                w.WriteNumber("embedding_size", VocabSize);
                w.WriteNumber("d_model", HiddenSize);
                w.WriteNumber("mlp_hidden_size", IntermediateSize);
                w.WriteNumber("n_layers", NumHiddenLayers);
                w.WriteNumber("n_heads", NumAttentionHeads);
                w.WriteNumber("n_kv_heads", NumKeyValueHeads);
                w.WriteNumber("rms_norm_eps", NormEps);
                w.WriteNumber("rope_theta", RopeTheta);
                w.WriteNumber("max_sequence_length", MaxPositionEmbeddings);
                w.WriteBoolean("weight_tying", TieWordEmbeddings);
            }
            else
            {
                string arch = ModelType switch
                {
                    "qwen2" => "Qwen2ForCausalLM", "qwen3" => "Qwen3ForCausalLM", "mistral" => "MistralForCausalLM",
                    "gemma3_text" => "Gemma3ForCausalLM", "Dream" => "DreamModel", FastDllmQwen => "Fast_dLLM_QwenForCausalLM",
                    _ => "LlamaForCausalLM",
                };
                w.WriteStartArray("architectures"); w.WriteStringValue(arch); w.WriteEndArray();
                w.WriteString("model_type", ModelType);
                w.WriteNumber("vocab_size", VocabSize);
                w.WriteNumber("hidden_size", HiddenSize);
                w.WriteNumber("intermediate_size", IntermediateSize);
                w.WriteNumber("num_hidden_layers", NumHiddenLayers);
                w.WriteNumber("num_attention_heads", NumAttentionHeads);
                w.WriteNumber("num_key_value_heads", NumKeyValueHeads);
                w.WriteNumber("head_dim", HeadDim);
                w.WriteString(IsGemma ? "hidden_activation" : "hidden_act", HiddenAct);
                w.WriteNumber("rms_norm_eps", NormEps);
                w.WriteNumber("rope_theta", RopeTheta);
                if (RopeLocalTheta is double local) w.WriteNumber("rope_local_base_freq", local);
                if (RopeScaling is { } scaling) { w.WritePropertyName("rope_scaling"); scaling.WriteTo(w); }
                w.WriteNumber("max_position_embeddings", MaxPositionEmbeddings);
                w.WriteBoolean("tie_word_embeddings", TieWordEmbeddings);
                if (!IsQwen2Layout) w.WriteBoolean("attention_bias", AttentionBias);
                if (DenoiserBlock is int bd) w.WriteNumber("bd_size", bd);
                w.WriteBoolean("mlp_bias", MlpBias);
                if (QueryPreAttnScalar is double q) w.WriteNumber("query_pre_attn_scalar", q);
                if (FinalLogitSoftcapping is double cap) w.WriteNumber("final_logit_softcapping", cap);
                if (SlidingWindow is int window)
                {
                    w.WriteNumber("sliding_window", window);
                    if (ModelType is "qwen2" or "qwen3" or "Dream" or FastDllmQwen)
                    {
                        w.WriteBoolean("use_sliding_window", true);
                        int from = SlidingLayers.Count == 0 ? 0 : SlidingLayers.ToList().IndexOf(true);
                        w.WriteNumber("max_window_layers", from < 0 ? NumHiddenLayers : from);
                    }
                    if (IsGemma)
                    {
                        w.WriteStartArray("layer_types");
                        for (int i = 0; i < NumHiddenLayers; i++) w.WriteStringValue(IsSlidingLayer(i) ? "sliding_attention" : "full_attention");
                        w.WriteEndArray();
                    }
                }
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
            if (ShiftedLogits && ModelType is not ("Dream" or "llada" or FastDllmQwen)) w.WriteBoolean("shift_logits", true);
            w.WriteString("torch_dtype", torchDtype ?? "float32");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Writes <c>config.json</c> (the training tool saves models with it).</summary>
    public void Save(string path, string? torchDtype = null) => File.WriteAllText(path, ToJson(torchDtype) + "\n");

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
