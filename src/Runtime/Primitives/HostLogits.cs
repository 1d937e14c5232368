using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// Reading float32 CPU logits in place, for decode loops that pick, rank or sample on the host instead of running
/// tensor ops (each op would create a managed handle). Works on strided views such as a batch's
/// <see cref="Models.ForwardOutputs.LogitsView"/>, whose rows are dense but whose batch rows are a capacity apart.
/// </summary>
public static class HostLogits
{
    /// <summary>Whether <paramref name="logits"/> <c>[batch, n, vocab]</c> can be read in place: float32 on the CPU with dense rows.</summary>
    public static bool Readable(Tensor logits) =>
        logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32 && logits.dim() == 3 && logits.stride(2) == 1;

    /// <summary>Row <paramref name="i"/> of batch row <paramref name="b"/> of <see cref="Readable"/> logits <c>[batch, n, vocab]</c>.</summary>
    public static unsafe ReadOnlySpan<float> Row(Tensor logits, int b, int i)
    {
        if ((uint)b >= (uint)logits.size(0) || (uint)i >= (uint)logits.size(1)) throw new ArgumentOutOfRangeException(nameof(i));
        // The view's data pointer (its storage offset applied); rows are addressed through the strides, so the view
        // need not be contiguous. The memory is native and lives as long as the tensor's storage.
        var data = (float*)Models.NativeTensor.Data(logits);
        return new ReadOnlySpan<float>(data + b * logits.stride(0) + i * logits.stride(1), (int)logits.size(2));
    }
}
