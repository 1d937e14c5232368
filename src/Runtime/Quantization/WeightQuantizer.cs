using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Quantization;

/// <summary>
/// Float weights to int8 / int4 and back, in the portable layouts Pardec saves (docs/quantization.md). All arithmetic in
/// float32; scales and zeros are rounded to the model dtype <em>before</em> the integers are chosen, so the integers are
/// the best ones for the scales the kernel will actually multiply by.
/// </summary>
public static class WeightQuantizer
{
    /// <summary>
    /// Symmetric per-output-channel int8 (gpt-fast's <c>dynamically_quantize_per_channel</c>, with the symmetric range
    /// ±127): <c>scale = max|w[o, :]| / 127</c>, <c>q = round(w / scale)</c>. Returns q int8 <c>[out, in]</c> and scale
    /// <c>[out]</c> in <paramref name="scaleDType"/>.
    /// </summary>
    public static (Tensor Q, Tensor Scale) Int8(Tensor weight, ScalarType scaleDType)
    {
        using var scope = NewDisposeScope();
        var w = weight.to_type(ScalarType.Float32);
        var scale = w.abs().amax([1]).div_(127.0).clamp_min_(1e-10).to_type(scaleDType);   // [out]
        var q = w.div(scale.to_type(ScalarType.Float32).unsqueeze(1)).round_().clamp_(-128, 127).to_type(ScalarType.Int8);
        return (q.MoveToOuterDisposeScope(), scale.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Asymmetric group-wise 4-bit (gpt-fast's <c>get_group_qparams</c> / <c>group_quantize_tensor_from_qparams</c>, the
    /// layout <c>_weight_int4pack_mm</c> expects): per group of <paramref name="groupSize"/> input columns,
    /// <c>scale = (max - min) / 15</c>, <c>zero = min + 8 scale</c>, <c>q = round((w - (zero - 8 scale)) / scale)</c> in 0..15,
    /// so <c>w ≈ (q - 8) scale + zero</c>. Returns q int32 <c>[out, in]</c>, scale and zero <c>[out, in / group]</c>.
    /// </summary>
    public static (Tensor Q, Tensor Scale, Tensor Zero) Int4(Tensor weight, int groupSize, ScalarType scaleDType)
    {
        long rows = weight.size(0), cols = weight.size(1);
        if (cols % groupSize != 0) throw new ArgumentException($"int4: {cols} input columns are not a multiple of the group size {groupSize}");
        using var scope = NewDisposeScope();
        var w = weight.to_type(ScalarType.Float32).reshape(rows, cols / groupSize, groupSize);   // [out, groups, group]
        var max = w.amax([2]);
        var min = w.amin([2]);
        var scale = max.sub(min).clamp_min_(1e-6).div_(15.0).to_type(scaleDType).to_type(ScalarType.Float32);  // [out, groups]
        var zero = min.add(scale.mul(8.0)).to_type(scaleDType).to_type(ScalarType.Float32);
        var low = zero.sub(scale.mul(8.0)).unsqueeze(2);
        var q = w.sub(low).div_(scale.unsqueeze(2)).round_().clamp_(0, 15).reshape(rows, cols).to_type(ScalarType.Int32);
        return (q.MoveToOuterDisposeScope(), scale.to_type(scaleDType).MoveToOuterDisposeScope(), zero.to_type(scaleDType).MoveToOuterDisposeScope());
    }

    /// <summary>int32 nibbles <c>[out, in]</c> to the saved layout: uint8 <c>[out, in / 2]</c>, column 2j in the low nibble, 2j + 1 in the high.</summary>
    public static Tensor PackNibbles(Tensor q)
    {
        using var scope = NewDisposeScope();
        var pairs = q.to_type(ScalarType.Int32).reshape(q.size(0), q.size(1) / 2, 2);
        var bytes = pairs.select(2, 0).bitwise_or(pairs.select(2, 1).bitwise_left_shift(4)).to_type(ScalarType.Byte);
        return bytes.MoveToOuterDisposeScope();
    }

    /// <summary>The inverse of <see cref="PackNibbles"/>: int32 <c>[out, in]</c> in 0..15.</summary>
    public static Tensor UnpackNibbles(Tensor packed)
    {
        using var scope = NewDisposeScope();
        var b = packed.to_type(ScalarType.Int32);
        var q = torch.stack([b.bitwise_and(15), b.bitwise_right_shift(4).bitwise_and(15)], 2).reshape(packed.size(0), packed.size(1) * 2);
        return q.MoveToOuterDisposeScope();
    }

    /// <summary>Float32 <c>[out, in]</c> from int8 and its per-channel scale.</summary>
    public static Tensor DequantizeInt8(Tensor q, Tensor scale) =>
        q.to_type(ScalarType.Float32).mul_(scale.to_type(ScalarType.Float32).unsqueeze(1));

    /// <summary>Float32 <c>[out, in]</c> from int4 values (int32 0..15) and their group scales and zeros.</summary>
    public static Tensor DequantizeInt4(Tensor q, Tensor scale, Tensor zero)
    {
        using var scope = NewDisposeScope();
        long rows = q.size(0), cols = q.size(1), groups = scale.size(1);
        var w = q.to_type(ScalarType.Float32).reshape(rows, groups, cols / groups).sub_(8.0)
                 .mul_(scale.to_type(ScalarType.Float32).unsqueeze(2)).add_(zero.to_type(ScalarType.Float32).unsqueeze(2));
        return w.reshape(rows, cols).MoveToOuterDisposeScope();
    }
}
