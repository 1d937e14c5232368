using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// The one place a decode primitive asks where its rows live. Primitives pick, sample and accept over host spans
/// (one algorithm for every device); this staging type hands them those spans: float32 CPU rows with dense storage
/// are read in place (no tensor op, no copy — the CPU's hot path), anything else (a CUDA device, another dtype, a
/// strided view) is copied once into a host buffer this type keeps (made on first use, grown only when a larger
/// block comes). Greedy picks need only the rows' argmaxes, so <see cref="Argmax"/> reduces on the device first and
/// copies one id per row, as gpt-fast picks on the device.
/// </summary>
public sealed class HostRows : IDisposable
{
    private Tensor? _floats; // [capacity] float32, CPU: the last copied rows
    private Tensor? _ids;    // [capacity] int64, CPU: the last copied argmaxes

    /// <summary>
    /// Whether the host may touch <paramref name="tensor"/>'s memory directly (it lives on the CPU): the one device test
    /// of the decode primitives. Where it holds they read and write bytes in place; elsewhere the same algorithm goes
    /// through one copy (<see cref="Read"/>, <see cref="StagedTensor.Upload()"/>) or a device op.
    /// </summary>
    public static bool OnHost(Tensor tensor) => !SimulateDevice && tensor.device_type == DeviceType.CPU;

    /// <summary>Whether <paramref name="rows"/> are read in place: float32 on the CPU, dense.</summary>
    public static bool InPlace(Tensor rows) => OnHost(rows) && rows.dtype == ScalarType.Float32 && rows.is_contiguous();

    /// <summary>
    /// For tests, on this thread: every primitive takes the path a CUDA device takes — rows are copied to the host
    /// (<see cref="HostRows"/>) and inputs get a separate device-side buffer that is uploaded (<see cref="StagedTensor"/>,
    /// for those made while it is set) — with CPU tensors, so that path runs and is checked where there is no GPU.
    /// </summary>
    [ThreadStatic] internal static bool SimulateDevice;

    /// <summary>
    /// The values of <paramref name="rows"/> (any shape, typically <c>[n, vocab]</c>) in row-major order as float32: the
    /// tensor's own memory when <see cref="InPlace"/>, else this staging's copy. Valid until the next call, and while
    /// the tensor lives. A caller may mask the rows in place (a constraint does): the writes land in its own outputs on
    /// the CPU and in the copy elsewhere, which is all the host algorithm reads.
    /// </summary>
    public Span<float> Read(Tensor rows)
    {
        if (InPlace(rows)) return MemoryMarshal.Cast<byte, float>(rows.bytes);
        int count = checked((int)rows.numel());
        var buffer = Grow(ref _floats, count, ScalarType.Float32);
        using (NewDisposeScope())
            buffer.narrow(0, 0, count).view(rows.shape).copy_(rows); // one copy: device to host and to float32
        return MemoryMarshal.Cast<byte, float>(buffer.bytes).Slice(0, count);
    }

    /// <summary>
    /// After the caller changed the rows <see cref="Read"/> returned for <paramref name="rows"/>, puts the change into the
    /// tensor itself, so later readers on the device see it: nothing to do where they were read in place.
    /// </summary>
    public void WriteBack(Tensor rows)
    {
        if (InPlace(rows)) return;
        using (NewDisposeScope())
            rows.copy_(_floats!.narrow(0, 0, rows.numel()).view(rows.shape));
    }

    /// <summary>The index of each row's first maximum (as torch.argmax) of <paramref name="rows"/> <c>[n, width]</c>, into <paramref name="into"/>.</summary>
    public void Argmax(Tensor rows, Span<long> into)
    {
        int n = (int)rows.size(0);
        if (InPlace(rows))
        {
            int width = (int)rows.size(1);
            var values = MemoryMarshal.Cast<byte, float>(rows.bytes);
            for (int r = 0; r < n; r++) into[r] = NodeSampler.IndexOfMax(values.Slice(r * width, width));
            return;
        }
        var buffer = Grow(ref _ids, n, ScalarType.Int64);
        using (NewDisposeScope())
            buffer.narrow(0, 0, n).copy_(rows.argmax(-1)); // reduced where the rows are; n ids cross to the host
        MemoryMarshal.Cast<byte, long>(buffer.bytes).Slice(0, n).CopyTo(into);
    }

    /// <summary>
    /// The argmax of row <paramref name="row"/> of every batch row of <paramref name="logits"/> <c>[batch, n, vocab]</c>
    /// into <paramref name="into"/> <c>[batch]</c>: read in place where <see cref="HostLogits.Readable"/> (a batch's
    /// strided output views included), else reduced where the logits are and copied, one id per batch row.
    /// </summary>
    public void ArgmaxAt(Tensor logits, int row, Span<long> into)
    {
        int batch = (int)logits.size(0);
        if (HostLogits.Readable(logits))
        {
            var rows = HostLogits.Of(logits);
            for (int b = 0; b < batch; b++) into[b] = NodeSampler.IndexOfMax(rows.Row(b, row));
            return;
        }
        var buffer = Grow(ref _ids, batch, ScalarType.Int64);
        using (NewDisposeScope())
            buffer.narrow(0, 0, batch).copy_(logits.select(1, row).argmax(-1));
        MemoryMarshal.Cast<byte, long>(buffer.bytes).Slice(0, batch).CopyTo(into);
    }

    /// <summary>The argmax of every row of <paramref name="logits"/> <c>[batch, n, vocab]</c> into <paramref name="into"/>
    /// <c>[batch, n]</c> row-major, in place or reduced and copied as <see cref="ArgmaxAt"/>.</summary>
    public void ArgmaxAll(Tensor logits, Span<long> into)
    {
        int batch = (int)logits.size(0), n = (int)logits.size(1);
        if (HostLogits.Readable(logits))
        {
            var rows = HostLogits.Of(logits);
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < n; j++) into[b * n + j] = NodeSampler.IndexOfMax(rows.Row(b, j));
            return;
        }
        var buffer = Grow(ref _ids, batch * n, ScalarType.Int64);
        using (NewDisposeScope())
            buffer.narrow(0, 0, batch * n).view(batch, n).copy_(logits.argmax(-1)); // the step's one host sync
        MemoryMarshal.Cast<byte, long>(buffer.bytes).Slice(0, batch * n).CopyTo(into);
    }

    private static Tensor Grow(ref Tensor? buffer, int count, ScalarType dtype)
    {
        if (buffer is not null && buffer.size(0) >= count) return buffer;
        buffer?.Dispose();
        buffer = zeros(new long[] { Math.Max(count, 64) }, dtype).DetachFromDisposeScope();
        return buffer;
    }

    public void Dispose()
    {
        _floats?.Dispose();
        _ids?.Dispose();
    }
}
