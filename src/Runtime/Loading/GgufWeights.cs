using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Loading;

/// <summary>
/// A Llama-family GGUF file (architectures <c>llama</c>, <c>qwen2</c>, <c>qwen3</c>; Mistral converts as <c>llama</c>) seen
/// as a Hugging Face checkpoint: llama.cpp's tensor names mapped back to the HF ones, the rows of <c>attn_q</c>/<c>attn_k</c>
/// un-permuted where llama.cpp's converter permuted them (<c>llama</c> only: it stores rotary pairs interleaved), and each
/// tensor offered in the format the model will hold it in:
/// <list type="bullet">
/// <item>F32 / F16 / BF16: as stored (the loader converts to the model dtype).</item>
/// <item>Q4_0 linears → int4, group 32, <b>exactly</b>: a block's f16 scale d becomes the group's scale, its zero is 0, the
/// nibbles are the same (<c>(q - 8) * d</c> either way). With bfloat16 activations the scale is rounded to bf16, which
/// changes the numbers.</item>
/// <item>Q8_0 linears → int8 per output channel, <b>requantized</b>: libtorch's int8 kernel has one scale per row where Q8_0
/// has one per 32 values, so the row is dequantized and quantized again (<see cref="WeightQuantizer.Int8"/>); this changes
/// the numbers (by up to half an int8 step of the row). <c>--dtype f32</c> dequantizes instead, exactly.</item>
/// <item>Embeddings and norms in Q8_0 / Q4_0 are dequantized exactly to float32. A tied head of a quantized embedding is
/// mapped like a linear (so it is exact for Q4_0).</item>
/// </list>
/// With an explicit quantization every linear is converted to it (Q4_0 → int4 g32 stays exact); with
/// <see cref="WeightQuantization.None"/> everything is dequantized exactly. Other ggml types (K-quants, Q4_1, Q5_*) are
/// an error naming the tensor and type.
/// </summary>
public sealed class GgufWeights : IWeightSource
{
    private readonly GgufFile _file;
    private readonly Dictionary<string, SafetensorsEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (GgufTensorInfo Tensor, string Module, LinearFormat Format, string Part)> _sources = new(StringComparer.Ordinal);
    private readonly bool _permuteQk;
    private readonly ModelConfig _config;
    private (string Module, Dictionary<string, Tensor> Parts)? _cached;

    private GgufWeights(GgufFile file, ModelConfig config, WeightQuantization? requested, ScalarType activations)
    {
        _file = file; _config = config;
        _permuteQk = file.String("general.architecture") == "llama";
        foreach (var t in file.Tensors.Values)
        {
            if (GgufFile.BlockLayout(t.Type) is null)
                throw new ModelLoadException(file.Path, t.Name, $"ggml type {t.Type} is not one Pardec reads (F32, F16, BF16, Q8_0, Q4_0): requantize the file with llama-quantize to Q8_0 or Q4_0, or convert it as f32/f16/bf16");
            string? name = HfName(t.Name);
            if (name is null)
            {
                if (t.Name == "rope_freqs.weight")
                    throw new ModelLoadException(file.Path, t.Name, "RoPE frequency factors (llama3 rope_scaling) in a GGUF file are not supported yet: load the Hugging Face checkpoint");
                throw new ModelLoadException(file.Path, t.Name, "unexpected tensor for a Llama-family model");
            }
            bool linear = t.Dims.Length == 2 && name != "model.embed_tokens.weight";
            Add(name, t, linear, requested, activations);
        }
        // A tied head over a quantized embedding: offered as a linear too, so it keeps the file's integers.
        if (!file.Tensors.ContainsKey("output.weight") && file.Tensors.TryGetValue("token_embd.weight", out var embed)
            && (embed.Type is GgmlType.Q8_0 or GgmlType.Q4_0 || requested is { IsNone: false }) && requested is not { IsNone: true })
            Add("lm_head.weight", embed, linear: true, requested, activations);
    }

    public GgufFile File => _file;
    public ModelConfig Config => _config;
    public string Description => _file.Path;
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries => _entries;
    public string PathOf(string name) => _file.Path;

    /// <summary>Opens a GGUF file and reads its config (<see cref="GgufConfig"/>).</summary>
    /// <param name="requested">null: as stored (Q8_0 → int8, Q4_0 → int4, floats float); <see cref="WeightQuantization.None"/>: all
    /// dequantized; int8 / int4: every linear converted to it.</param>
    public static GgufWeights Open(string path, WeightQuantization? requested, ScalarType activations)
    {
        var file = GgufFile.Open(path);
        return new GgufWeights(file, GgufConfig.Read(file), requested, activations);
    }

    private void Add(string name, GgufTensorInfo t, bool linear, WeightQuantization? requested, ScalarType activations)
    {
        var shape = t.Shape;
        string module = name[..name.LastIndexOf('.')];
        var format = LinearFormat.Float;
        if (linear && name.EndsWith(".weight", StringComparison.Ordinal))
        {
            long outF = shape[0], inF = shape[1];
            bool head = module == "lm_head";
            format = requested is not null
                ? requested.For(module, outF, inF, head, activations)
                : t.Type switch
                {
                    GgmlType.Q4_0 => WeightQuantization.Int4(32).For(module, outF, inF, head, activations),
                    GgmlType.Q8_0 => WeightQuantization.Int8.For(module, outF, inF, head, activations),
                    _ => LinearFormat.Float,
                };
        }
        switch (format.Kind)
        {
            case WeightKind.Float:
                var dtype = t.Type switch { GgmlType.F16 => ScalarType.Float16, GgmlType.BF16 => ScalarType.BFloat16, _ => ScalarType.Float32 };
                Entry(name, t, module, format, "float", dtype, shape);
                break;
            case WeightKind.Int8:
                Entry(name, t, module, format, "weight", ScalarType.Int8, shape);
                Entry(module + QuantizedCheckpoint.ScaleSuffix, t, module, format, "weight_scale", ScalarType.Float32, [shape[0]]);
                break;
            case WeightKind.Int4:
                long groups = shape[1] / format.GroupSize;
                Entry(name, t, module, format, "weight", ScalarType.Byte, [shape[0], shape[1] / 2]);
                Entry(module + QuantizedCheckpoint.ScaleSuffix, t, module, format, "weight_scale", ScalarType.Float32, [shape[0], groups]);
                Entry(module + QuantizedCheckpoint.ZeroSuffix, t, module, format, "weight_zero", ScalarType.Float32, [shape[0], groups]);
                break;
        }
    }

    private void Entry(string key, GgufTensorInfo t, string module, LinearFormat format, string part, ScalarType dtype, long[] shape)
    {
        long bytes = shape.Aggregate(1L, (a, d) => a * d) * (dtype switch { ScalarType.Float32 => 4, ScalarType.Float16 or ScalarType.BFloat16 => 2, _ => 1 });
        _entries[key] = new SafetensorsEntry(key, dtype, shape, 0, bytes);
        _sources[key] = (t, module, format, part);
    }

    public Tensor Read(string name)
    {
        if (!_sources.TryGetValue(name, out var s)) throw new ModelLoadException(_file.Path, name, "tensor not found");
        if (s.Part == "float") return Unpermute(name, Dequantize(s.Tensor, s.Tensor.Type is GgmlType.F16 or GgmlType.BF16));
        if (_cached is not { } c || c.Module != s.Module) _cached = (s.Module, Convert(s.Tensor, s.Format, name.Replace(QuantizedCheckpoint.ScaleSuffix, ".weight").Replace(QuantizedCheckpoint.ZeroSuffix, ".weight")));
        return _cached.Value.Parts[s.Part].clone();
    }

    // The integer form of one linear, its rows in HF order.
    private Dictionary<string, Tensor> Convert(GgufTensorInfo t, LinearFormat format, string weightName)
    {
        if (_cached is { } old) foreach (var v in old.Parts.Values) v.Dispose();
        long rows = t.Shape[0], cols = t.Shape[1];
        var parts = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var scope = NewDisposeScope();
        if (format.Kind == WeightKind.Int4 && format.GroupSize == 32 && t.Type == GgmlType.Q4_0)
        {
            // Exact: Q4_0's (nibble - 8) * d is the int4 kernel's (q - 8) * scale + 0.
            var (q, d) = Q4_0Values(t);                                        // int32 [rows, cols], float32 [rows, cols / 32]
            parts["weight"] = WeightQuantizer.PackNibbles(Unpermute(weightName, q));
            parts["weight_scale"] = Unpermute(weightName, d);
            parts["weight_zero"] = zeros_like(parts["weight_scale"]);
        }
        else
        {
            var w = Unpermute(weightName, Dequantize(t, halfAsFloat: false));
            if (format.Kind == WeightKind.Int8)
            {
                var (q, scale) = WeightQuantizer.Int8(w, ScalarType.Float32);  // requantized: one scale per row
                parts["weight"] = q; parts["weight_scale"] = scale;
            }
            else
            {
                var (q, scale, zero) = WeightQuantizer.Int4(w, format.GroupSize, ScalarType.Float32);
                parts["weight"] = WeightQuantizer.PackNibbles(q); parts["weight_scale"] = scale; parts["weight_zero"] = zero;
            }
        }
        foreach (var v in parts.Values) v.MoveToOuterDisposeScope();
        return parts;
    }

    /// <summary>The tensor as float32 (F16/BF16 kept in their dtype when <paramref name="halfAsFloat"/> is true), shape as torch writes it.</summary>
    private Tensor Dequantize(GgufTensorInfo t, bool halfAsFloat)
    {
        var bytes = _file.ReadBytes(t);
        var shape = t.Shape;
        switch (t.Type)
        {
            case GgmlType.F32: return FromBytes(bytes, ScalarType.Float32, shape);
            case GgmlType.F16 or GgmlType.BF16:
                var half = FromBytes(bytes, t.Type == GgmlType.F16 ? ScalarType.Float16 : ScalarType.BFloat16, shape);
                if (halfAsFloat) return half;
                using (half) return half.to_type(ScalarType.Float32);
            case GgmlType.Q8_0:
            {
                long blocks = t.Elements / 32;
                var values = new float[t.Elements];
                for (long b = 0; b < blocks; b++)
                {
                    int at = (int)(b * 34);
                    float d = (float)BitConverter.ToHalf(bytes, at);
                    for (int j = 0; j < 32; j++) values[b * 32 + j] = d * (sbyte)bytes[at + 2 + j];
                }
                return torch.tensor(values, ScalarType.Float32).reshape(shape);
            }
            case GgmlType.Q4_0:
            {
                using var scope = NewDisposeScope();
                var (q, d) = Q4_0Values(t, bytes);
                long rows = t.Elements / shape[^1];
                var w = q.to_type(ScalarType.Float32).reshape(rows, -1, 32).sub_(8.0).mul_(d.reshape(rows, -1, 1)).reshape(shape);
                return w.MoveToOuterDisposeScope();
            }
            default: throw new ModelLoadException(_file.Path, t.Name, $"ggml type {t.Type} is not supported");
        }
    }

    // Q4_0 block: f16 d, then 16 bytes; value j is the low nibble of byte j, value j + 16 the high nibble.
    private (Tensor Q, Tensor D) Q4_0Values(GgufTensorInfo t, byte[]? bytes = null)
    {
        bytes ??= _file.ReadBytes(t);
        long rows = t.Elements / t.Dims[0], cols = t.Dims[0], blocks = t.Elements / 32;
        var q = new int[t.Elements];
        var d = new float[blocks];
        for (long b = 0; b < blocks; b++)
        {
            int at = (int)(b * 18);
            d[b] = (float)BitConverter.ToHalf(bytes, at);
            for (int j = 0; j < 16; j++)
            {
                byte v = bytes[at + 2 + j];
                q[b * 32 + j] = v & 15;
                q[b * 32 + j + 16] = v >> 4;
            }
        }
        return (torch.tensor(q, ScalarType.Int32).reshape(rows, cols), torch.tensor(d, ScalarType.Float32).reshape(rows, cols / 32));
    }

    private static unsafe Tensor FromBytes(byte[] bytes, ScalarType dtype, long[] shape)
    {
        var t = torch.empty(shape, dtype);
        fixed (byte* source = bytes) Buffer.MemoryCopy(source, (void*)NativeTensor.Data(t), bytes.Length, bytes.Length);
        return t;
    }

    // llama.cpp's converter permutes q_proj / k_proj rows for the `llama` architecture (convert_hf_to_gguf.py
    // LlamaModel.permute: reshape(heads, 2, rows / heads / 2, ...).swapaxes(1, 2)); this is its inverse. Rows only, so
    // Q8_0 / Q4_0 blocks (along the input dimension) and per-row scales move with their rows.
    private Tensor Unpermute(string hfName, Tensor t)
    {
        if (!_permuteQk) return t;
        int heads = hfName.Contains(".self_attn.q_proj.", StringComparison.Ordinal) ? _config.NumAttentionHeads
                  : hfName.Contains(".self_attn.k_proj.", StringComparison.Ordinal) ? _config.NumKeyValueHeads : 0;
        if (heads == 0) return t;
        var shape = t.shape;
        long rows = shape[0], rest = t.NumberOfElements / rows;
        using var view = t.reshape(heads, rows / heads / 2, 2, rest);
        var result = view.transpose(1, 2).reshape(shape).contiguous();
        t.Dispose();
        return result;
    }

    /// <summary>llama.cpp's tensor name to the HF one (null: not a Llama-family weight).</summary>
    public static string? HfName(string gguf)
    {
        switch (gguf)
        {
            case "token_embd.weight": return "model.embed_tokens.weight";
            case "output_norm.weight": return "model.norm.weight";
            case "output.weight": return "lm_head.weight";
        }
        if (!gguf.StartsWith("blk.", StringComparison.Ordinal)) return null;
        int dot = gguf.IndexOf('.', 4);
        if (dot < 0 || !int.TryParse(gguf.AsSpan(4, dot - 4), out int layer)) return null;
        string rest = gguf[(dot + 1)..];
        int suffixAt = rest.LastIndexOf('.');
        if (suffixAt < 0) return null;
        string part = rest[..suffixAt], suffix = rest[suffixAt..];
        string? hf = part switch
        {
            "attn_norm" => "input_layernorm",
            "ffn_norm" => "post_attention_layernorm",
            "attn_q" => "self_attn.q_proj",
            "attn_k" => "self_attn.k_proj",
            "attn_v" => "self_attn.v_proj",
            "attn_output" => "self_attn.o_proj",
            "attn_q_norm" => "self_attn.q_norm",
            "attn_k_norm" => "self_attn.k_norm",
            "ffn_gate" => "mlp.gate_proj",
            "ffn_up" => "mlp.up_proj",
            "ffn_down" => "mlp.down_proj",
            _ => null,
        };
        return hf is null ? null : $"model.layers.{layer}.{hf}{suffix}";
    }
}
