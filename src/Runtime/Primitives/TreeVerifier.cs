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
    // The inputs, written on the host through spans (and moved to the model's device in one copy each where there is
    // one): tokens and positions from slot 0, and mask rows of the cache's full width (the model ignores the columns
    // past the cache). The per-width views are made on first use and kept: a step creates no handle.
    private readonly StagedTensor _tokens;    // [1, capacity] int64
    private readonly StagedTensor _positions; // [1, capacity] int64
    private readonly StagedTensor _mask;      // [1, 1, capacity, maxLength] bool
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
        _tokens = new StagedTensor([1, capacity], ScalarType.Int64, model.Device);
        _positions = new StagedTensor([1, capacity], ScalarType.Int64, model.Device);
        _mask = new StagedTensor([1, 1, capacity, cache.MaxLength], ScalarType.Bool, model.Device);
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

        var tokens = _tokens.Span<long>();
        var positions = _positions.Span<long>();
        var treeMask = _mask.Span<bool>();
        int stride = _cache.MaxLength;
        for (int i = 0; i < n; i++)
        {
            tokens[i] = tree.Token(i);
            positions[i] = prefix + tree.Depth(i);
            treeMask.Slice(i * stride, prefix).Fill(true); // every node sees the committed prefix
            // Row i attends to column j iff node j is node i or one of its ancestors.
            var row = treeMask.Slice(i * stride + prefix, n);
            row.Clear();
            for (int j = i; j != CandidateTree.NoNode; j = tree.Parent(j)) row[j] = true;
        }
        _tokens.Upload(n);
        _positions.Upload(n);
        _mask.Upload((long)n * stride);

        var rows = _maskRows[n] ??= Keep(_mask.Device.narrow(2, 0, n));
        var tokenView = _tokenViews[n] ??= Keep(_tokens.Device.narrow(1, 0, n));
        var positionView = _positionViews[n] ??= Keep(_positions.Device.narrow(1, 0, n));
        // The full-width rows: the model ignores columns from prefix + n on, so no view is made per step.
        var outputs = Outputs(returnHidden);
        _model.ForwardInto(tokenView, positionView, rows, _cache, outputs, returnHidden);
        return outputs.Rows(n, returnHidden);
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
        _tokens.Dispose(); _positions.Dispose(); _mask.Dispose();
        _outputs.Dispose();
        _outputsWithHidden?.Dispose();
    }
}
