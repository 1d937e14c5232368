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
    private readonly Tensor _validHost, _valid;          // [batch, maxLength] bool: host truth, device copy
    private readonly Tensor _tokensHost, _positionsHost; // [batch * maxWidth] int64 staging, viewed as [batch, n]
    private readonly Tensor _tokens, _positions;         // [batch * maxWidth] int64 on the device
    private readonly Tensor _causal;                     // [maxLength, maxLength] bool lower-triangular
    private readonly Tensor _diagonal;                   // [maxLength, maxLength] bool identity
    private readonly Tensor _mask;                       // [batch, 1, maxWidth, maxLength] bool
    // On the CPU a forward of up to OutputRows tokens makes no tensor: the staging buffers are the model's inputs (each
    // width's [batch, n] views made once), the mask rows are written on the host at full width (the model cuts them),
    // and the logits land in preallocated outputs. Wider forwards (a prompt) take the tensor path.
    private const int OutputRows = 64;
    private readonly bool _onHost;
    private readonly ForwardOutputs? _outputs;
    private readonly Tensor?[]? _tokenViews, _positionViews, _maskRows;

    public RaggedKVCache(ICausalLM model, int batch, int maxLength, int maxWidth)
    {
        _batch = batch;
        _maxWidth = maxWidth;
        Cache = model.CreateCache(batch, maxLength);
        var device = model.Device;
        _validHost = zeros(batch, maxLength, ScalarType.Bool);
        _valid = zeros(batch, maxLength, ScalarType.Bool, device);
        _tokensHost = zeros(batch * (long)maxWidth, ScalarType.Int64);
        _positionsHost = zeros(batch * (long)maxWidth, ScalarType.Int64);
        _tokens = zeros(batch * (long)maxWidth, ScalarType.Int64, device);
        _positions = zeros(batch * (long)maxWidth, ScalarType.Int64, device);
        // tril_() returns a new handle: the scope disposes the intermediate (else it waits for the finaliser).
        using (NewDisposeScope()) _causal = ones(maxLength, maxLength, ScalarType.Bool, device).tril_().DetachFromDisposeScope();
        _diagonal = eye(maxLength, maxLength, ScalarType.Bool, device);
        _mask = zeros(new long[] { batch, 1, maxWidth, maxLength }, ScalarType.Bool, device);
        _onHost = device.type == DeviceType.CPU;
        if (_onHost)
        {
            _outputs = new ForwardOutputs(model, batch, Math.Min(maxWidth, OutputRows));
            _tokenViews = new Tensor?[_outputs.Capacity + 1];
            _positionViews = new Tensor?[_outputs.Capacity + 1];
            _maskRows = new Tensor?[_outputs.Capacity + 1];
        }
    }

    public KVCache Cache { get; }
    public int Length => Cache.Length;
    public int MaxWidth => _maxWidth;

    /// <summary>Host valid-slot mask, row-major <c>[batch, maxLength]</c>. Set the slots of the next forward before it.</summary>
    public Span<bool> Valid => MemoryMarshal.Cast<byte, bool>(_validHost.bytes);

    /// <summary>Host staging for the next forward's tokens, row-major <c>[batch, n]</c> in its first batch·n entries.</summary>
    public Span<long> StagedTokens => MemoryMarshal.Cast<byte, long>(_tokensHost.bytes);

    /// <summary>Host staging for the next forward's positions, laid out like <see cref="StagedTokens"/>.</summary>
    public Span<long> StagedPositions => MemoryMarshal.Cast<byte, long>(_positionsHost.bytes);

    public void Reset()
    {
        Cache.Truncate(0);
        Valid.Clear();
    }

    /// <summary>
    /// Forwards the staged <c>[batch, n]</c> tokens at slots <c>[Length, Length + n)</c>. Query i of row b attends to
    /// the row's valid slots before it and to itself (the diagonal keeps padding queries from attending to nothing,
    /// which would make NaNs that then leak through the values). Returns logits <c>[batch, n, vocab]</c>: on the CPU
    /// (up to 64 tokens) borrowed views of this cache's outputs, valid until its next forward, which may be strided
    /// (read them with <see cref="HostLogits.Of"/>).
    /// </summary>
    public ModelOutput Forward(ICausalLM model, int n, LayerSkip? skip = null)
    {
        if (n > _maxWidth) throw new ArgumentOutOfRangeException(nameof(n), n, $"at most {_maxWidth} tokens per forward");
        int length = Cache.Length;
        int total = length + n;
        if (_onHost && n <= _outputs!.Capacity)
        {
            int maxLength = Cache.MaxLength;
            var validHost = Valid;
            var maskHost = MemoryMarshal.Cast<byte, bool>(_mask.bytes);
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
            var tokenView = _tokenViews![n] ??= BatchView(_tokensHost, n);
            var positionView = _positionViews![n] ??= BatchView(_positionsHost, n);
            var rows = _maskRows![n] ??= _mask.narrow(2, 0, n).DetachFromDisposeScope();
            return model.ForwardInto(tokenView, positionView, rows, Cache, _outputs, returnHidden: false, skip: skip);
        }
        using var scope = NewDisposeScope();
        var valid = _valid.narrow(1, 0, total);                                   // [batch, total]
        valid.copy_(_validHost.narrow(1, 0, total));
        var tokens = _tokens.narrow(0, 0, _batch * n).view(_batch, n);            // [batch, n]
        tokens.copy_(_tokensHost.narrow(0, 0, _batch * n).view(_batch, n));
        var positions = _positions.narrow(0, 0, _batch * n).view(_batch, n);      // [batch, n]
        positions.copy_(_positionsHost.narrow(0, 0, _batch * n).view(_batch, n));
        var mask = _mask.narrow(2, 0, n).narrow(3, 0, total);                     // [batch, 1, n, total]
        mask.copy_(valid.view(_batch, 1, 1, total).expand(_batch, 1, n, total));
        mask.logical_and_(_causal.narrow(0, length, n).narrow(1, 0, total));      // offset-causal [n, total]
        mask.logical_or_(_diagonal.narrow(0, length, n).narrow(1, 0, total));     // query i sees slot length + i
        var output = model.Forward(tokens, positions, mask, Cache, returnHidden: false, skip: skip);
        return new ModelOutput(output.Logits.MoveToOuterDisposeScope(), null);
    }

    // The first batch·n entries of a staging buffer as [batch, n] (a kept view; the intermediate handle is freed).
    private Tensor BatchView(Tensor staging, int n)
    {
        using var first = staging.narrow(0, 0, _batch * (long)n);
        return first.view(_batch, n).DetachFromDisposeScope();
    }

    public void Dispose()
    {
        foreach (var view in (_tokenViews ?? []).Concat(_positionViews ?? []).Concat(_maskRows ?? [])) view?.Dispose();
        _outputs?.Dispose();
        Cache.Dispose();
        _validHost.Dispose(); _valid.Dispose(); _tokensHost.Dispose(); _positionsHost.Dispose();
        _tokens.Dispose(); _positions.Dispose(); _causal.Dispose(); _diagonal.Dispose(); _mask.Dispose();
    }
}
