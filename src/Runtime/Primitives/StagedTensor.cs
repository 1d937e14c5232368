using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// A decode loop's input buffer, written on the host and read by the model on its device: a CPU tensor the loop fills
/// through <see cref="Span{T}"/>, and its mirror on the device, which on the CPU is the same tensor. Loops write their
/// tokens, positions and mask rows once, the same way on every device, and <see cref="Upload"/> moves what they wrote
/// (one copy on a device, nothing on the CPU) — the inputs' half of what <see cref="HostRows"/> does for outputs.
/// </summary>
public sealed class StagedTensor : IDisposable
{
    public StagedTensor(long[] shape, ScalarType dtype, Device device)
    {
        Host = zeros(shape, dtype).DetachFromDisposeScope();
        Device = device.type == DeviceType.CPU && !HostRows.SimulateDevice ? Host : zeros(shape, dtype, device).DetachFromDisposeScope();
    }

    /// <summary>The buffer the loop writes, on the CPU.</summary>
    public Tensor Host { get; }

    /// <summary>What the model reads: <see cref="Host"/> itself on the CPU, else its mirror on the device.</summary>
    public Tensor Device { get; }

    /// <summary>The host buffer's elements in row-major order.</summary>
    public Span<T> Span<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Host.bytes);

    /// <summary>Copies the first <paramref name="count"/> elements (row-major) to the device; nothing to do on the CPU.</summary>
    public void Upload(long count)
    {
        if (ReferenceEquals(Device, Host) || count <= 0) return;
        using var scope = NewDisposeScope();
        Device.view(-1).narrow(0, 0, count).copy_(Host.view(-1).narrow(0, 0, count));
    }

    /// <summary>Copies the whole buffer to the device; nothing to do on the CPU.</summary>
    public void Upload() => Upload(Host.numel());

    public void Dispose()
    {
        if (!ReferenceEquals(Device, Host)) Device.Dispose();
        Host.Dispose();
    }
}
