using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Models;

/// <summary>
/// Every layer's keys and values, preallocated once as <c>[batch, kvHeads, maxLength, headDim]</c> and written in
/// place (never grown with <c>cat</c>, the way gpt-fast does it). Slots <c>[0, Length)</c> are committed context;
/// a forward of <c>n</c> tokens writes slots <c>[Length, Length + n)</c> and advances <see cref="Length"/>.
/// Strategies keep what they accept with <see cref="Truncate"/> (a chain) or <see cref="Compact(int, ReadOnlySpan{long})"/>
/// (a path through a token tree). All batch rows share <see cref="Length"/>; ragged acceptance is the strategy's
/// business (it masks).
/// </summary>
public sealed class KVCache : IDisposable
{
    private readonly Tensor[] _keys;    // per layer [batch, kvHeads, maxLength, headDim]
    private readonly Tensor[] _values;  // per layer [batch, kvHeads, maxLength, headDim]
    // The position of each slot's token, [batch, maxLength] int64, written by models with sliding-window layers
    // (Mistral, Gemma 3): the window is a distance in positions, and after a token tree's compaction or in ragged
    // batch rows a slot's index is not its position.
    private readonly Tensor _keyPositions;
    // Host staging for Compact's gather indices, so a span-driven compaction allocates no managed memory.
    private readonly Primitives.StagedTensor _index; // [maxLength] int64: compaction's gather index, written on the host
    private bool _disposed;

    public KVCache(int layers, int batch, int kvHeads, int maxLength, int headDim, Device device, ScalarType dtype)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layers);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        Layers = layers; Batch = batch; KVHeads = kvHeads; MaxLength = maxLength; HeadDim = headDim;
        Device = device; DType = dtype;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        using (torch.no_grad())
        {
            for (int i = 0; i < layers; i++)
            {
                _keys[i] = torch.zeros([batch, kvHeads, maxLength, headDim], dtype, device).DetachFromDisposeScope();
                _values[i] = torch.zeros([batch, kvHeads, maxLength, headDim], dtype, device).DetachFromDisposeScope();
            }
            _index = new Primitives.StagedTensor([maxLength], ScalarType.Int64, device);
            _keyPositions = torch.zeros([batch, maxLength], ScalarType.Int64, device).DetachFromDisposeScope();
            CallArguments = torch.zeros(ScriptedLlamaForward.CallSlots(layers), ScalarType.Int64).DetachFromDisposeScope();
        }
    }

    public int Layers { get; }
    public int Batch { get; }
    public int KVHeads { get; }
    public int MaxLength { get; }
    public int HeadDim { get; }
    public Device Device { get; }
    public ScalarType DType { get; }

    /// <summary>Committed slots; the next forward writes at this index.</summary>
    public int Length { get; private set; }

    /// <summary>Every layer's whole key / value buffer (the compiled forward writes them in place).</summary>
    internal Tensor[] KeyBuffers => _keys;
    /// <summary>Per-call arguments of a compiled forward on this cache (int64, CPU; <see cref="ScriptedLlamaForward.CallSlots"/>):
    /// a cache serves one decode at a time.</summary>
    internal Tensor CallArguments { get; }
    internal Tensor[] ValueBuffers => _values;
    /// <summary>Every slot's token position, <c>[batch, maxLength]</c> int64 (written only by sliding-window models).</summary>
    internal Tensor KeyPositions => _keyPositions;

    /// <summary>
    /// Records the positions (<c>[batch, n]</c>) of the tokens a forward is about to write at <c>[Length, Length + n)</c>
    /// and returns the positions of slots <c>[0, Length + n)</c> (a view, in the caller's dispose scope).
    /// </summary>
    internal Tensor AppendPositions(Tensor positions)
    {
        int n = (int)positions.size(1);
        EnsureRoom(n);
        _keyPositions.narrow(1, Length, n).copy_(positions);
        return _keyPositions.narrow(1, 0, Length + n);
    }

    /// <summary>The whole preallocated key buffer of a layer, <c>[batch, kvHeads, maxLength, headDim]</c>.</summary>
    public Tensor Keys(int layer) => _keys[layer];

    /// <summary>The whole preallocated value buffer of a layer, <c>[batch, kvHeads, maxLength, headDim]</c>.</summary>
    public Tensor Values(int layer) => _values[layer];

    /// <summary>
    /// Writes <paramref name="k"/>/<paramref name="v"/> (<c>[batch, kvHeads, n, headDim]</c>) at slots
    /// <c>[Length, Length + n)</c> of <paramref name="layer"/> and returns views over <c>[0, Length + n)</c>.
    /// Does not advance <see cref="Length"/>: the model does that once after all layers (<see cref="Advance"/>).
    /// The returned views belong to the caller's dispose scope.
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor k, Tensor v)
    {
        int n = (int)k.shape[2];
        EnsureRoom(n);
        _keys[layer].narrow(2, Length, n).copy_(k);
        _values[layer].narrow(2, Length, n).copy_(v);
        return (_keys[layer].narrow(2, 0, Length + n), _values[layer].narrow(2, 0, Length + n));
    }

    /// <summary>Throws if <paramref name="n"/> more slots do not fit.</summary>
    public void EnsureRoom(int n)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Length + n > MaxLength)
            throw new InvalidOperationException($"KV cache overflow: {Length} + {n} new tokens exceeds MaxLength {MaxLength}.");
    }

    /// <summary>Commits <paramref name="n"/> slots written by <see cref="Append"/> in every layer.</summary>
    public void Advance(int n)
    {
        EnsureRoom(n);
        Length += n;
    }

    /// <summary>Rolls back to <paramref name="newLength"/> slots (rejected draft tokens are simply forgotten).</summary>
    public void Truncate(int newLength)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (newLength < 0 || newLength > Length)
            throw new ArgumentOutOfRangeException(nameof(newLength), newLength, $"must be in [0, {Length}]");
        Length = newLength;
    }

    /// <summary>Forgets everything (a new prompt).</summary>
    public void Reset() => Truncate(0);

    /// <summary>
    /// Keeps the entries at <c>start + keepOffsets[i]</c>, moved to <c>start + i</c>, and sets
    /// <c>Length = start + keepOffsets.Length</c> — the accepted path of a token tree, which is generally not
    /// contiguous in the cache. Offsets must be strictly increasing (a tree path in topological order).
    /// </summary>
    public void Compact(int start, ReadOnlySpan<long> keepOffsets)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int count = keepOffsets.Length;
        ValidateCompact(start, count);
        bool identity = true;
        for (int i = 0; i < count; i++)
        {
            long off = keepOffsets[i];
            if (off < 0 || start + off >= Length || (i > 0 && off <= keepOffsets[i - 1]))
                throw new ArgumentException(
                    $"keepOffsets[{i}] = {off} must be strictly increasing and within [0, {Length - start}).", nameof(keepOffsets));
            identity &= off == i;
        }
        // Where the host can reach the cache's memory the kept slots move in place (no op); elsewhere one gather.
        if (!identity && count > 0 && Primitives.HostRows.OnHost(_keys[0]) && (long)Batch * KVHeads * MaxLength * HeadDim * _keys[0].ElementSize <= int.MaxValue)
        {
            CompactOnHost(start, keepOffsets);
        }
        else if (!identity && count > 0)
        {
            var host = _index.Span<long>();
            for (int i = 0; i < count; i++) host[i] = start + keepOffsets[i];
            _index.Upload(count);
            using var scope = torch.NewDisposeScope();
            var index = _index.Device.narrow(0, 0, count);
            Gather(start, index);
        }
        Length = start + count;
    }

    /// <summary>
    /// <see cref="Compact(int, ReadOnlySpan{long})"/> with the offsets already on the device (<c>[count]</c> int64), so a
    /// strategy that computed the accepted path on the device needs no host sync. Offsets are not validated.
    /// </summary>
    public void Compact(int start, Tensor keepOffsets)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int count = (int)keepOffsets.shape[0];
        ValidateCompact(start, count);
        if (count > 0)
        {
            using var scope = torch.NewDisposeScope();
            var index = _index.Device.narrow(0, 0, count);
            index.copy_(keepOffsets);
            using (Scalar offset = start) index.add_(offset); // reachable through the op (see Scalars)
            Gather(start, index);
        }
        Length = start + count;
    }

    private void ValidateCompact(int start, int count)
    {
        if (start < 0 || start > Length)
            throw new ArgumentOutOfRangeException(nameof(start), start, $"must be in [0, {Length}]");
        if (start + count > Length)
            throw new ArgumentException($"cannot keep {count} entries after slot {start}: only {Length - start} exist.");
    }

    // On the CPU the kept slots move in place, row by row, in increasing order: slot start + i takes slot start + off_i
    // with off_i >= i and increasing, so no row is overwritten before it is read. No op, no tensor handle.
    private void CompactOnHost(int start, ReadOnlySpan<long> keepOffsets)
    {
        int row = HeadDim * (int)_keys[0].ElementSize;   // bytes per slot
        int plane = MaxLength * row;                      // bytes per (batch, head)
        for (int layer = 0; layer < Layers; layer++)
        {
            Move(_keys[layer].bytes, start, keepOffsets, row, plane, Batch * KVHeads);
            Move(_values[layer].bytes, start, keepOffsets, row, plane, Batch * KVHeads);
        }
        Move(_keyPositions.bytes, start, keepOffsets, sizeof(long), MaxLength * sizeof(long), Batch);

        static void Move(Span<byte> bytes, int start, ReadOnlySpan<long> keepOffsets, int row, int plane, int planes)
        {
            for (int p = 0; p < planes; p++)
            {
                var slots = bytes.Slice(p * plane, plane);
                for (int i = 0; i < keepOffsets.Length; i++)
                {
                    int from = start + (int)keepOffsets[i], to = start + i;
                    if (from != to) slots.Slice(from * row, row).CopyTo(slots.Slice(to * row, row));
                }
            }
        }
    }

    // index: [count] absolute slots. The gather goes through a temporary because source and destination overlap.
    private void Gather(int start, Tensor index)
    {
        int count = (int)index.shape[0];
        using var _ = torch.no_grad();
        for (int layer = 0; layer < Layers; layer++)
        {
            var k = _keys[layer].index_select(2, index);   // [batch, kvHeads, count, headDim]
            var v = _values[layer].index_select(2, index); // [batch, kvHeads, count, headDim]
            _keys[layer].narrow(2, start, count).copy_(k);
            _values[layer].narrow(2, start, count).copy_(v);
        }
        _keyPositions.narrow(1, start, count).copy_(_keyPositions.index_select(1, index));
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
        CallArguments.Dispose();
        _keyPositions.Dispose();
        _index.Dispose();
    }
}
