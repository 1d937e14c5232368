using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Batched;

/// <summary>
/// A batched <see cref="KVCache"/> whose rows hold different amounts of text. The cache's rows share one
/// <see cref="KVCache.Length"/>, so every row's step is written at the same slots; a per-row valid-slot mask says
/// which slots each row really holds (left padding of shorter prompts, rejected drafts, finished rows) and is folded
/// into every attention mask. Positions are per row (the row's own token index), so RoPE sees each row's text exactly
/// as a batch-1 decode would, whatever slots it happens to occupy — attention does not care about slot order.
/// Buffers are allocated once for <c>maxLength</c> slots and forwards of at most <c>maxWidth</c> tokens.
/// </summary>
public sealed class RaggedKVCache : IDisposable
{
    private readonly int _batch, _maxWidth;
    private readonly Tensor _validHost;                  // [batch, maxLength] bool: which slots each row holds
    // One forward for every device: the inputs are written on the host (the staged tokens and positions, and the mask
    // rows at full width — the model cuts them) and moved to the model's device in one copy each where there is one;
    // each width's [batch, n] views are made once, and a forward of up to OutputRows tokens lands in preallocated
    // outputs, so on the CPU it makes no tensor. Wider forwards (a prompt) return their own logits.
    private readonly StagedTensor _tokens, _positions;   // [batch * maxWidth] int64, viewed as [batch, n]
    private readonly StagedTensor _mask;                 // [batch, 1, maxWidth, maxLength] bool
    private const int OutputRows = 64;
    private readonly ForwardOutputs _outputs;
    private readonly Tensor?[] _tokenViews, _positionViews, _maskRows;

    public RaggedKVCache(ICausalLM model, int batch, int maxLength, int maxWidth)
    {
        _batch = batch;
        _maxWidth = maxWidth;
        Cache = model.CreateCache(batch, maxLength);
        var device = model.Device;
        _validHost = zeros(batch, maxLength, ScalarType.Bool);
        _tokens = new StagedTensor([batch * (long)maxWidth], ScalarType.Int64, device);
        _positions = new StagedTensor([batch * (long)maxWidth], ScalarType.Int64, device);
        _mask = new StagedTensor([batch, 1, maxWidth, maxLength], ScalarType.Bool, device);
        _outputs = new ForwardOutputs(model, batch, Math.Min(maxWidth, OutputRows));
        _tokenViews = new Tensor?[maxWidth + 1];
        _positionViews = new Tensor?[maxWidth + 1];
        _maskRows = new Tensor?[maxWidth + 1];
    }

    public KVCache Cache { get; }
    public int Length => Cache.Length;
    public int MaxWidth => _maxWidth;

    /// <summary>Host valid-slot mask, row-major <c>[batch, maxLength]</c>. Set the slots of the next forward before it.</summary>
    public Span<bool> Valid => MemoryMarshal.Cast<byte, bool>(_validHost.bytes);

    /// <summary>Host staging for the next forward's tokens, row-major <c>[batch, n]</c> in its first batch·n entries.</summary>
    public Span<long> StagedTokens => _tokens.Span<long>();

    /// <summary>Host staging for the next forward's positions, laid out like <see cref="StagedTokens"/>.</summary>
    public Span<long> StagedPositions => _positions.Span<long>();

    public void Reset()
    {
        Cache.Truncate(0);
        Valid.Clear();
    }

    /// <summary>
    /// Forwards the staged <c>[batch, n]</c> tokens at slots <c>[Length, Length + n)</c>. Query i of row b attends to
    /// the row's valid slots before it and to itself (the diagonal keeps padding queries from attending to nothing,
    /// which would make NaNs that then leak through the values). Returns logits <c>[batch, n, vocab]</c>: up to 64
    /// tokens, borrowed views of this cache's outputs, valid until its next forward, which may be strided (read them
    /// with <see cref="HostLogits.Of"/> on the CPU).
    /// </summary>
    public ModelOutput Forward(ICausalLM model, int n, LayerSkip? skip = null)
    {
        if (n > _maxWidth) throw new ArgumentOutOfRangeException(nameof(n), n, $"at most {_maxWidth} tokens per forward");
        int length = Cache.Length;
        int total = length + n;
        int maxLength = Cache.MaxLength;
        var validHost = Valid;
        var maskHost = _mask.Span<bool>();
        for (int b = 0; b < _batch; b++)
            for (int i = 0; i < n; i++)
            {
                // Query i of row b: the row's valid slots before it, and itself.
                int self = length + i;
                var row = maskHost.Slice((b * _maxWidth + i) * maxLength, total);
                validHost.Slice(b * maxLength, self).CopyTo(row);
                row[self] = true;
                row[(self + 1)..].Clear();
            }
        _tokens.Upload(_batch * (long)n);
        _positions.Upload(_batch * (long)n);
        _mask.Upload(((_batch - 1) * (long)_maxWidth + n) * maxLength); // every row's first n mask rows
        var tokenView = _tokenViews[n] ??= BatchView(_tokens.Device, n);
        var positionView = _positionViews[n] ??= BatchView(_positions.Device, n);
        var rows = _maskRows[n] ??= _mask.Device.narrow(2, 0, n).DetachFromDisposeScope();
        return n <= _outputs.Capacity
            ? model.ForwardInto(tokenView, positionView, rows, Cache, _outputs, returnHidden: false, skip: skip)
            : model.Forward(tokenView, positionView, rows, Cache, returnHidden: false, skip: skip);
    }

    // The first batch·n entries of a staging buffer as [batch, n] (a kept view; the intermediate handle is freed).
    private Tensor BatchView(Tensor staging, int n)
    {
        using var first = staging.narrow(0, 0, _batch * (long)n);
        return first.view(_batch, n).DetachFromDisposeScope();
    }

    public void Dispose()
    {
        foreach (var view in _tokenViews.Concat(_positionViews).Concat(_maskRows)) view?.Dispose();
        _outputs.Dispose();
        Cache.Dispose();
        _validHost.Dispose(); _tokens.Dispose(); _positions.Dispose(); _mask.Dispose();
    }
}
