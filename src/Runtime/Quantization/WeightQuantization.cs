using static TorchSharp.torch;

namespace Pardec.Runtime.Quantization;

/// <summary>How a linear layer's weight is stored and multiplied.</summary>
public enum WeightKind
{
    /// <summary>The model dtype (float32 or bfloat16), through <c>torch.linear</c>.</summary>
    Float,
    /// <summary>int8 per output channel, symmetric: <c>w = q * scale[out]</c>, through <c>aten::_weight_int8pack_mm</c>.</summary>
    Int8,
    /// <summary>4-bit group-wise along the input dimension, asymmetric: <c>w = (q - 8) * scale[out, g] + zero[out, g]</c>, q in 0..15,
    /// through <c>aten::_weight_int4pack_mm_for_cpu</c>.</summary>
    Int4,
}

/// <summary>One linear layer's storage: its kind and, for <see cref="WeightKind.Int4"/>, the group size.</summary>
public readonly record struct LinearFormat(WeightKind Kind, int GroupSize = 0)
{
    public static readonly LinearFormat Float = new(WeightKind.Float);
    public static readonly LinearFormat Int8 = new(WeightKind.Int8);
    public static LinearFormat Int4(int groupSize) => new(WeightKind.Int4, groupSize);

    public override string ToString() => Kind switch { WeightKind.Int8 => "int8", WeightKind.Int4 => $"int4 (group {GroupSize})", _ => "float" };
}

/// <summary>
/// Weight-only quantization of a Llama-family model's linear layers (q/k/v/o, gate/up/down and the LM head; embeddings
/// and norms stay in the model dtype), after gpt-fast's <c>WeightOnlyInt8QuantHandler</c> / <c>WeightOnlyInt4QuantHandler</c>
/// and torchao's int8/int4 weight-only configs: activations stay in the model dtype and libtorch's own CPU kernels
/// dequantize inside the matmul. See docs/quantization.md for the formats, the kernels and the measured errors.
/// </summary>
public sealed record WeightQuantization
{
    /// <summary>Group sizes the int4 CPU kernel accepts.</summary>
    public static readonly int[] Int4GroupSizes = [32, 64, 128, 256];

    public WeightKind Kind { get; init; } = WeightKind.Float;

    /// <summary>int4 only: input columns sharing one scale and zero (32 matches GGUF's Q4_0 blocks).</summary>
    public int GroupSize { get; init; } = 32;

    /// <summary>Quantize the LM head too (a tied head gets a quantized copy; the embedding lookup keeps the float table).</summary>
    public bool QuantizeHead { get; init; } = true;

    /// <summary>Per-weight formats that override <see cref="Kind"/> (a GGUF file chooses per tensor), keyed by the HF module name
    /// (<c>model.layers.0.self_attn.q_proj</c>, <c>lm_head</c>).</summary>
    public IReadOnlyDictionary<string, LinearFormat>? PerModule { get; init; }

    /// <summary>True: a module <see cref="PerModule"/> does not list stays float (a stored checkpoint says what each one is).</summary>
    public bool PerModuleOnly { get; init; }

    public static readonly WeightQuantization None = new();
    public static WeightQuantization Int8 => new() { Kind = WeightKind.Int8 };
    public static WeightQuantization Int4(int groupSize = 32) => new() { Kind = WeightKind.Int4, GroupSize = groupSize };

    public bool IsNone => Kind == WeightKind.Float && (PerModule is null || PerModule.Values.All(f => f.Kind == WeightKind.Float));

    /// <summary>Throws <see cref="ArgumentException"/> for a group size the kernel lacks.</summary>
    public void Validate()
    {
        if (Kind == WeightKind.Int4 && !Int4GroupSizes.Contains(GroupSize))
            throw new ArgumentException($"int4 group size {GroupSize} is not one libtorch's int4 CPU kernel takes: use {string.Join(", ", Int4GroupSizes)}");
        if (PerModule is not null)
            foreach (var (name, f) in PerModule)
                if (f.Kind == WeightKind.Int4 && !Int4GroupSizes.Contains(f.GroupSize))
                    throw new ArgumentException($"{name}: int4 group size {f.GroupSize} is not one libtorch's int4 CPU kernel takes: use {string.Join(", ", Int4GroupSizes)}");
    }

    /// <summary>
    /// The format of module <paramref name="name"/> with an <c>[outFeatures, inFeatures]</c> weight. The int4 kernel needs
    /// <c>outFeatures % 16 == 0</c> and <c>inFeatures % group == 0</c>; a linear that misses either falls back to int8
    /// (its numbers then follow the int8 rule); the model's <c>QuantizedCheckpoint.Linears</c> say what each became.
    /// </summary>
    /// <param name="activations">The model dtype: in bfloat16 the int8 kernel needs <c>inFeatures % 16 == 0</c> (libtorch
    /// 2.10's bf16 path crashed the process on 328 and 344 columns with more than one row; probed on AVX512 here), so such a
    /// linear stays float.</param>
    public LinearFormat For(string name, long outFeatures, long inFeatures, bool isHead, ScalarType activations = ScalarType.Float32)
    {
        var format = Requested(name, outFeatures, inFeatures, isHead);
        if (format.Kind == WeightKind.Int8 && !Int8Fits(inFeatures, activations)) return LinearFormat.Float;
        return format;
    }

    public static bool Int8Fits(long inFeatures, ScalarType activations) => activations != ScalarType.BFloat16 || inFeatures % 16 == 0;

    private LinearFormat Requested(string name, long outFeatures, long inFeatures, bool isHead)
    {
        var format = PerModule is not null && PerModule.TryGetValue(name, out var f) ? f
            : PerModuleOnly || (isHead && !QuantizeHead) ? LinearFormat.Float
            : Kind switch { WeightKind.Int8 => LinearFormat.Int8, WeightKind.Int4 => LinearFormat.Int4(GroupSize), _ => LinearFormat.Float };
        if (format.Kind == WeightKind.Int4 && !Int4Fits(outFeatures, inFeatures, format.GroupSize)) return LinearFormat.Int8;
        return format;
    }

    public static bool Int4Fits(long outFeatures, long inFeatures, int groupSize) => outFeatures % 16 == 0 && inFeatures % groupSize == 0;

    /// <summary>"int8", "int4-g32", or "float": for logs, reports and the saved config.</summary>
    public string Name => Kind switch { WeightKind.Int8 => "int8", WeightKind.Int4 => $"int4-g{GroupSize}", _ => "float" };
}
