using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pardec.Runtime.Quantization;

/// <summary>
/// A weight-only quantized linear layer (<see cref="WeightKind.Int8"/> or <see cref="WeightKind.Int4"/>): the weight is
/// held in the form libtorch's CPU kernel multiplies (<see cref="KernelWeight"/>, <see cref="KernelScales"/>), activations
/// and the bias stay in the model dtype. Forward is <see cref="QuantizedKernels.LinearSource"/>, the same code the compiled
/// Llama forward runs. The kernel weight is not a parameter (autograd cannot train it; <c>named_parameters</c> lists only
/// the bias), so loaders fill it through <see cref="SetFromFloat"/>, <see cref="SetInt8"/> or <see cref="SetInt4"/>.
/// </summary>
/// <remarks>CPU only: <c>_weight_int4pack_mm_for_cpu</c> has no other backend, and the int8 kernel is tested here only on the CPU.</remarks>
public sealed class QuantizedLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter? _bias;
    private readonly Tensor _noBias;
    private readonly Tensor _weight, _scales;

    public QuantizedLinear(long inFeatures, long outFeatures, bool hasBias, LinearFormat format, Device device, ScalarType dtype) : base(nameof(QuantizedLinear))
    {
        if (format.Kind == WeightKind.Float) throw new ArgumentException("a QuantizedLinear needs int8 or int4", nameof(format));
        if (device.type != DeviceType.CPU)
            throw new NotSupportedException($"{format} weights run on libtorch's CPU kernels (_weight_int8pack_mm, _weight_int4pack_mm_for_cpu) only; device {device.type} has none here. Load the model in f32/bf16 there.");
        if (format.Kind == WeightKind.Int4 && !WeightQuantization.Int4Fits(outFeatures, inFeatures, format.GroupSize))
            throw new ArgumentException($"int4 needs out % 16 == 0 and in % {format.GroupSize} == 0; this linear is [{outFeatures}, {inFeatures}]");
        if (format.Kind == WeightKind.Int8 && !WeightQuantization.Int8Fits(inFeatures, dtype))
            throw new ArgumentException($"int8 with bfloat16 activations needs in % 16 == 0 (libtorch's bf16 kernel reads past the row otherwise); this linear is [{outFeatures}, {inFeatures}]");
        InFeatures = inFeatures; OutFeatures = outFeatures; Format = format; DType = dtype;
        _weight = format.Kind == WeightKind.Int8 ? zeros([outFeatures, inFeatures], ScalarType.Int8, device) : zeros([outFeatures, inFeatures / 2], ScalarType.Byte, device);
        _scales = format.Kind == WeightKind.Int8 ? ones([outFeatures], dtype, device) : zeros([inFeatures / format.GroupSize, outFeatures, 2], dtype, device);
        _weight.DetachFromDisposeScope(); _scales.DetachFromDisposeScope();
        _noBias = empty(0, dtype, device).DetachFromDisposeScope();
        if (hasBias)
        {
            _bias = new Parameter(zeros(outFeatures, dtype, device));
            register_parameter("bias", _bias);
        }
    }

    public long InFeatures { get; }
    public long OutFeatures { get; }
    public LinearFormat Format { get; }
    public ScalarType DType { get; }

    /// <summary>int8 <c>[out, in]</c>, or the int4 CPU pack (uint8 <c>[out, in / 2]</c>, ISA-specific layout).</summary>
    public Tensor KernelWeight => _weight;
    /// <summary>int8: scale <c>[out]</c>; int4: scales and zeros <c>[in / group, out, 2]</c>; in the model dtype.</summary>
    public Tensor KernelScales => _scales;
    public Tensor? Bias => _bias;
    /// <summary>The bias, or an empty tensor: the compiled forward's slot value.</summary>
    internal Tensor BiasOrEmpty => _bias ?? _noBias;

    public override Tensor forward(Tensor x) => QuantizedKernels.Linear(x, _weight, _scales, _bias ?? _noBias);

    /// <summary>Quantizes a float <c>[out, in]</c> weight into this layer (quantize-on-load).</summary>
    public void SetFromFloat(Tensor weight)
    {
        CheckShape(weight, OutFeatures, InFeatures, "weight");
        using var scope = NewDisposeScope();
        if (Format.Kind == WeightKind.Int8)
        {
            var (q, scale) = WeightQuantizer.Int8(weight, DType);
            SetInt8(q, scale);
        }
        else
        {
            var (q, scale, zero) = WeightQuantizer.Int4(weight, Format.GroupSize, DType);
            SetInt4Values(q, scale, zero);
        }
    }

    /// <summary>Stored int8 <c>[out, in]</c> and its scale <c>[out]</c>.</summary>
    public void SetInt8(Tensor q, Tensor scale)
    {
        if (Format.Kind != WeightKind.Int8) throw new InvalidOperationException($"this linear is {Format}, not int8");
        CheckShape(q, OutFeatures, InFeatures, "weight");
        if (scale.dim() != 1 || scale.size(0) != OutFeatures) throw new ArgumentException($"int8 scale must be [{OutFeatures}], got [{string.Join(", ", scale.shape)}]");
        using var _ = no_grad();
        _weight.copy_(q);
        _scales.copy_(scale);
    }

    /// <summary>Stored int4 in the saved layout (uint8 nibbles <c>[out, in / 2]</c>) with scale and zero <c>[out, in / group]</c>.</summary>
    public void SetInt4(Tensor nibbles, Tensor scale, Tensor zero)
    {
        using var scope = NewDisposeScope();
        CheckShape(nibbles, OutFeatures, InFeatures / 2, "weight (uint8, two 4-bit values a byte)");
        SetInt4Values(WeightQuantizer.UnpackNibbles(nibbles), scale, zero);
    }

    /// <summary>int4 values (int32 0..15) <c>[out, in]</c> with scale and zero <c>[out, in / group]</c>.</summary>
    public void SetInt4Values(Tensor q, Tensor scale, Tensor zero)
    {
        if (Format.Kind != WeightKind.Int4) throw new InvalidOperationException($"this linear is {Format}, not int4");
        long groups = InFeatures / Format.GroupSize;
        CheckShape(q, OutFeatures, InFeatures, "int4 values");
        CheckShape(scale, OutFeatures, groups, "weight_scale");
        CheckShape(zero, OutFeatures, groups, "weight_zero");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var packed = QuantizedKernels.PackInt4(q.to_type(ScalarType.Int32).cpu().contiguous());
        // Copied into the tensor the compiled forward already holds (the pack is [out, in / 2] uint8 like the allocation).
        if (!packed.shape.SequenceEqual(_weight.shape))
            throw new InvalidOperationException($"the int4 CPU pack is [{string.Join(", ", packed.shape)}], expected [{string.Join(", ", _weight.shape)}]");
        _weight.copy_(packed);
        _scales.copy_(torch.stack([scale.t(), zero.t()], 2));
    }

    /// <summary>
    /// The weight as saved (docs/quantization.md): int8 <c>weight</c> + <c>weight_scale</c>; int4 nibbles <c>weight</c> +
    /// <c>weight_scale</c> + <c>weight_zero</c>. The int4 pack cannot be read back directly (its layout is the CPU kernel's),
    /// so the values are recovered exactly by multiplying an identity through the kernel in float32.
    /// </summary>
    public IReadOnlyList<(string Suffix, Tensor Value)> Export()
    {
        if (Format.Kind == WeightKind.Int8) return [("weight", _weight.clone()), ("weight_scale", _scales.clone())];
        using var scope = NewDisposeScope();
        var scaleT = _scales.select(2, 0).t().contiguous();  // [out, groups]
        var zeroT = _scales.select(2, 1).t().contiguous();
        var dequantized = DequantizedFloat();                // [out, in] float32, exact: (q - 8) * scale + zero
        long groups = scaleT.size(1);
        var s = scaleT.to_type(ScalarType.Float32).unsqueeze(2);
        var z = zeroT.to_type(ScalarType.Float32).unsqueeze(2);
        var q = dequantized.reshape(OutFeatures, groups, InFeatures / groups).sub(z).div_(s).add_(8.0).round_().clamp_(0, 15)
                           .reshape(OutFeatures, InFeatures).to_type(ScalarType.Int32);
        var result = new (string, Tensor)[] { ("weight", WeightQuantizer.PackNibbles(q).MoveToOuterDisposeScope()),
            ("weight_scale", scaleT.MoveToOuterDisposeScope()), ("weight_zero", zeroT.MoveToOuterDisposeScope()) };
        return result;
    }

    /// <summary>The float32 <c>[out, in]</c> weight the kernel multiplies by (for tests and re-quantization).</summary>
    public Tensor DequantizedFloat()
    {
        using var scope = NewDisposeScope();
        if (Format.Kind == WeightKind.Int8) return WeightQuantizer.DequantizeInt8(_weight, _scales).MoveToOuterDisposeScope();
        // One-hot rows through the kernel give W^T exactly (one nonzero product per output, accumulated in float32).
        var scales32 = _scales.to_type(ScalarType.Float32);
        var columns = new List<Tensor>();
        const long Chunk = 256;
        for (long start = 0; start < InFeatures; start += Chunk)
        {
            long n = Math.Min(Chunk, InFeatures - start);
            var eye = zeros([1, n, InFeatures], ScalarType.Float32, _weight.device);   // [1, n, in]: rows start .. start + n of I
            eye.select(0, 0).narrow(1, start, n).copy_(torch.eye(n, n, ScalarType.Float32, _weight.device));
            columns.Add(QuantizedKernels.Linear(eye, _weight, scales32, _noBias.to_type(ScalarType.Float32)).select(0, 0)); // [n, out]
        }
        return torch.cat(columns, 0).t().contiguous().MoveToOuterDisposeScope();
    }

    private static void CheckShape(Tensor t, long rows, long cols, string what)
    {
        if (t.dim() != 2 || t.size(0) != rows || t.size(1) != cols)
            throw new ArgumentException($"{what} must be [{rows}, {cols}], got [{string.Join(", ", t.shape)}]");
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _weight.Dispose(); _scales.Dispose(); _noBias.Dispose(); }
        base.Dispose(disposing);
    }
}
