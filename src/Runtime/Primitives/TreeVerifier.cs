using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// One target forward over a whole <see cref="CandidateTree"/> (SpecInfer / Medusa tree attention): the root and
/// every candidate go in as one sequence; each node attends to the cached prefix and to its own ancestors only, and
/// sits at position <c>prefix + depth</c>, so every root-to-leaf path is scored exactly as if it had been forwarded alone.
/// All inputs live in buffers allocated once for the tree capacity and the cache length and are rewritten in place.
/// </summary>
public sealed class TreeVerifier : IDisposable
{
    private readonly ICausalLM _model;
    private readonly KVCache _cache;
    private readonly int _capacity;
    // Host staging (CPU): filled through spans, then copied to the model's device in one copy_ each.
    private readonly Tensor _tokensHost;     // [1, capacity] int64
    private readonly Tensor _positionsHost;  // [1, capacity] int64
    private readonly Tensor _treeMaskHost;   // [capacity * capacity] bool, row-major [n, n] in its first n*n slots
    // Device inputs (on the CPU the staging tensors themselves: written in place, never copied).
    private readonly Tensor _tokens;         // [1, capacity] int64
    private readonly Tensor _positions;      // [1, capacity] int64
    private readonly Tensor _mask;           // [1, 1, capacity, maxLength] bool
    private readonly bool _onHost;
    // On the CPU, the per-width views of the inputs, made on first use and kept: a step creates no handle (the mask
    // goes in at its full width; the model ignores the columns past the cache).
    private readonly Tensor?[] _tokenViews, _positionViews, _maskRows;
    // The target's results land in these (ForwardInto): a verification creates no tensor for them. The hidden-state
    // buffer is made on the first verification that asks for hidden states (Medusa heads).
    private readonly ForwardOutputs _outputs;
    private ForwardOutputs? _outputsWithHidden;

    public TreeVerifier(ICausalLM model, KVCache cache, int capacity)
    {
        _model = model;
        _cache = cache;
        _capacity = capacity;
        _tokensHost = zeros(1, capacity, ScalarType.Int64);
        _positionsHost = zeros(1, capacity, ScalarType.Int64);
        _treeMaskHost = zeros(capacity * (long)capacity, ScalarType.Bool);
        _onHost = model.Device.type == DeviceType.CPU;
        _tokens = _onHost ? _tokensHost : zeros(1, capacity, ScalarType.Int64, model.Device);
        _positions = _onHost ? _positionsHost : zeros(1, capacity, ScalarType.Int64, model.Device);
        _mask = zeros(new long[] { 1, 1, capacity, cache.MaxLength }, ScalarType.Bool, model.Device);
        _tokenViews = new Tensor?[capacity + 1];
        _positionViews = new Tensor?[capacity + 1];
        _maskRows = new Tensor?[capacity + 1];
        _outputs = new ForwardOutputs(model, 1, capacity);
    }

    public KVCache Cache => _cache;

    /// <summary>
    /// Forwards the tree on top of the cache. Afterwards the cache holds the tree's keys at slots
    /// <c>[prefix, prefix + tree.Count)</c> in node order; <see cref="CommitPath"/> keeps the accepted ones.
    /// </summary>
    /// <returns>
    /// Logits <c>[tree.Count, vocab]</c> (node i's row predicts the token after node i) and, if asked, hidden states
    /// <c>[tree.Count, hidden]</c>: borrowed views of the verifier's outputs, valid until its next verification.
    /// </returns>
    public ModelOutput Verify(CandidateTree tree, bool returnHidden)
    {
        int n = tree.Count;
        int prefix = _cache.Length;
        if (prefix + n > _cache.MaxLength)
            throw new InvalidOperationException($"The KV cache holds {_cache.MaxLength} tokens; verifying {n} more after {prefix} would overflow it.");

        var tokens = MemoryMarshal.Cast<byte, long>(_tokensHost.bytes);
        var positions = MemoryMarshal.Cast<byte, long>(_positionsHost.bytes);
        // On the CPU the tree mask goes straight into the mask buffer's rows (stride maxLength); else into staging.
        var treeMask = MemoryMarshal.Cast<byte, bool>(_onHost ? _mask.bytes : _treeMaskHost.bytes);
        int stride = _onHost ? _cache.MaxLength : n;
        int offset = _onHost ? prefix : 0;
        for (int i = 0; i < n; i++)
        {
            tokens[i] = tree.Token(i);
            positions[i] = prefix + tree.Depth(i);
            if (_onHost) treeMask.Slice(i * stride, prefix).Fill(true); // every node sees the committed prefix
            // Row i attends to column j iff node j is node i or one of its ancestors.
            var row = treeMask.Slice(i * stride + offset, n);
            row.Clear();
            for (int j = i; j != CandidateTree.NoNode; j = tree.Parent(j)) row[j] = true;
        }

        if (_onHost)
        {
            var rows = _maskRows[n] ??= Keep(_mask.narrow(2, 0, n));
            var tokenView = _tokenViews[n] ??= Keep(_tokens.narrow(1, 0, n));
            var positionView = _positionViews[n] ??= Keep(_positions.narrow(1, 0, n));
            // The full-width rows: the model ignores columns from prefix + n on, so no view is made per step.
            var outputs = Outputs(returnHidden);
            _model.ForwardInto(tokenView, positionView, rows, _cache, outputs, returnHidden);
            return outputs.Rows(n, returnHidden);
        }

        using var scope = NewDisposeScope();
        var tokensView = _tokens.narrow(1, 0, n);        // [1, n]
        var positionsView = _positions.narrow(1, 0, n);  // [1, n]
        tokensView.copy_(_tokensHost.narrow(1, 0, n));
        positionsView.copy_(_positionsHost.narrow(1, 0, n));
        var mask = _mask.narrow(2, 0, n).narrow(3, 0, prefix + n);  // [1, 1, n, prefix + n]
        if (prefix > 0) mask.narrow(3, 0, prefix).fill_(Scalars.True);       // every node sees the committed prefix
        mask.narrow(3, prefix, n).copy_(_treeMaskHost.narrow(0, 0, (long)n * n).view(1, 1, n, n));

        var into = Outputs(returnHidden);
        _model.ForwardInto(tokensView, positionsView, mask, _cache, into, returnHidden);
        return into.Rows(n, returnHidden);
    }

    private ForwardOutputs Outputs(bool hidden) =>
        !hidden ? _outputs : _outputsWithHidden ??= new ForwardOutputs(_model, 1, _capacity, hidden: true);

    private static Tensor Keep(Tensor view) => view.DetachFromDisposeScope();

    /// <summary>
    /// Keeps the root and the accepted nodes' keys/values, in path order, right after the old prefix; drops the rest.
    /// A chain whose accepted nodes are 1..k is already in place and only needs a truncate.
    /// </summary>
    public void CommitPath(int prefix, ReadOnlySpan<int> acceptedNodes)
    {
        bool contiguous = true;
        for (int i = 0; i < acceptedNodes.Length; i++)
            if (acceptedNodes[i] != i + 1) { contiguous = false; break; }
        if (contiguous)
        {
            _cache.Truncate(prefix + 1 + acceptedNodes.Length);
            return;
        }
        Span<long> keep = stackalloc long[acceptedNodes.Length + 1];
        keep[0] = 0;
        for (int i = 0; i < acceptedNodes.Length; i++) keep[i + 1] = acceptedNodes[i];
        _cache.Compact(prefix, keep);
    }

    public void Dispose()
    {
        foreach (var view in _tokenViews.Concat(_positionViews).Concat(_maskRows)) view?.Dispose();
        _tokensHost.Dispose(); _positionsHost.Dispose(); _treeMaskHost.Dispose();
        if (!_onHost) { _tokens.Dispose(); _positions.Dispose(); }
        _mask.Dispose();
        _outputs.Dispose();
        _outputsWithHidden?.Dispose();
    }
}
