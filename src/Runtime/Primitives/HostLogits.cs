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
        HostRows.OnHost(logits) && logits.dtype == ScalarType.Float32 && logits.dim() == 3 && logits.stride(2) == 1;

    /// <summary>A view of <see cref="Readable"/> logits <c>[batch, n, vocab]</c>: its data pointer, shape and strides are
    /// read once (a handful of native calls), so reading many rows costs none. Valid while the tensor's storage lives.</summary>
    public static View Of(Tensor logits) => new(logits);

    public readonly unsafe ref struct View
    {
        private readonly float* _data;
        private readonly long _batchStride, _rowStride;
        private readonly int _batch, _rows, _vocab;

        internal View(Tensor logits)
        {
            // The view's data pointer has its storage offset applied; rows are addressed through the strides, so the
            // view need not be contiguous. The memory is native and lives as long as the tensor's storage.
            _data = (float*)Models.NativeTensor.Data(logits);
            _batch = (int)logits.size(0);
            _rows = (int)logits.size(1);
            _vocab = (int)logits.size(2);
            _batchStride = logits.stride(0);
            _rowStride = logits.stride(1);
        }

        /// <summary>Row <paramref name="i"/> of batch row <paramref name="b"/>: <c>[vocab]</c>.</summary>
        public ReadOnlySpan<float> Row(int b, int i)
        {
            if ((uint)b >= (uint)_batch || (uint)i >= (uint)_rows) throw new ArgumentOutOfRangeException(nameof(i));
            return new ReadOnlySpan<float>(_data + b * _batchStride + i * _rowStride, _vocab);
        }
    }
}
