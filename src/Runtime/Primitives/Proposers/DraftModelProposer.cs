using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// A draft model proposes a chain, one token per draft forward (Leviathan et al. 2023; Chen et al. 2023).
/// Greedy drafts take the argmax; sampled drafts draw from q = softmax(draft logits / T) and keep q for rejection
/// sampling. Adaptive length: drafting stops early when the draft's top probability falls below a threshold
/// (the draft knows when it is guessing). With a <see cref="LayerSkip"/> the "draft" is the target itself with layers
/// skipped (self-speculative decoding, Zhang et al. 2023) — no second model, a cache of its own.
/// The draft's cache lags the committed text and catches up in one forward at the start of each proposal.
/// </summary>
public sealed class DraftModelProposer : IProposer, IDraftCounter, IRewindable
{
    private readonly ICausalLM _draft;
    private readonly KVCache _cache;
    private readonly int _maxLength;
    private int _length;
    private readonly bool _sample;
    private readonly double _stopBelow;
    private readonly LayerSkip? _skip;
    private readonly NodeSampler _sampler;
    private readonly Tensor _distributions;                // [capacity, vocab] float32 on the host: q for node i in row i
    private readonly int[] _drafted;
    private int _draftedCount, _forwardedDrafts;
    // One drafting algorithm for every device. A forward's tokens, positions and offset-causal mask rows are written
    // on the host into these from their first slot (and moved to the draft's device in one copy each, where there is
    // one); each width's views are made once, so a forward makes no tensor view. Masks go in at full width (the model
    // reads the columns up to the cache length plus the new tokens).
    private readonly StagedTensor _inTokens, _inPositions; // [1, maxLength] int64
    private readonly StagedTensor _inMask;                 // [1, 1, maxLength, maxLength] bool
    private readonly Tensor?[] _tokenViews, _positionViews, _maskRows;
    // The draft's logits land here (ForwardInto), so its per-token forwards create no tensor: one row per drafted token
    // and per catch-up token after a step (at most the accepted tokens and the next one). A longer catch-up (the prompt,
    // on a decode's first proposal) returns its logits as usual. The last row is read on the host (HostRows: in place on
    // the CPU) — the greedy pick, or the sampled token and its distribution q.
    private readonly ForwardOutputs _outputs;
    private readonly HostRows _lastRows = new();
    private readonly float[]? _lastLogits; // sampled: the last row's logits, kept past its forward
    private int _argmax;
    private float _topProbability;
    // Grammar-aware drafting: the constraint and the state of the node whose child the next row predicts. Set before
    // each forward; the row is masked in place before it is read, so the draft only proposes what the constraint allows.
    private Constraints.TokenMatcher? _maskMatcher;
    private int _maskState;

    public DraftModelProposer(ICausalLM draft, int maxLength, int treeCapacity, int length,
                              bool sample, double stopBelow, NodeSampler sampler, LayerSkip? skip = null)
    {
        _draft = draft;
        _length = _maxLength = length;
        _sample = sample;
        _stopBelow = stopBelow;
        _skip = skip;
        _sampler = sampler;
        _cache = draft.CreateCache(1, maxLength);
        var device = draft.Device;
        _inTokens = new StagedTensor([1, maxLength], ScalarType.Int64, device);
        _inPositions = new StagedTensor([1, maxLength], ScalarType.Int64, device);
        _inMask = new StagedTensor([1, 1, maxLength, maxLength], ScalarType.Bool, device);
        _tokenViews = new Tensor?[maxLength + 1];
        _positionViews = new Tensor?[maxLength + 1];
        _maskRows = new Tensor?[maxLength + 1];
        _outputs = new ForwardOutputs(draft, 1, Math.Min(maxLength, Math.Max(treeCapacity, length) + 2));
        // q is drawn on the host on every device, so it is kept there; rejection sampling reads it in place.
        _distributions = (sample ? zeros(treeCapacity, draft.Config.VocabSize, ScalarType.Float32) : empty(0)).DetachFromDisposeScope();
        if (sample) _lastLogits = new float[draft.Config.VocabSize];
        _drafted = new int[length];
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => _sample;

    /// <summary>
    /// Tokens drafted per step, at most the length the proposer was built for (a length state sets it). 0 — a plain
    /// step, which a cost-aware length chooses where drafting does not pay — runs no draft forward at all: the draft's
    /// cache then lags, and the next proposal catches up on the committed tokens in chunks the preallocated outputs hold.
    /// </summary>
    public int Length
    {
        get => _length;
        set => _length = Math.Clamp(value, 0, _maxLength);
    }

    /// <summary>Row i: the distribution node i was drawn from. Valid for this step's nodes from this proposer.</summary>
    public Tensor Distributions => _distributions;

    public int DraftForwards { get; private set; }

    public void Reset(CausalContext context)
    {
        if (_sample && _sampler.IsGreedy)
            throw new InvalidOperationException("A sampled draft needs a temperature above 0 (rejection sampling compares sampled distributions).");
        _cache.Truncate(0);
        _draftedCount = _forwardedDrafts = 0;
        DraftForwards = 0;
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        _draftedCount = 0;
        _forwardedDrafts = 0;
        if (_length == 0) return;
        var committed = context.Tokens;
        int have = _cache.Length;
        int n = committed.Length - have;            // committed tokens the draft has not seen, root included
        _maskMatcher = tree.ConstrainsProposals ? tree.Matcher : null;
        _maskState = tree.ConstraintState(0);
        if (!tree.CanExtend(0)) return;
        Forward(have, committed.Slice(have, n));    // the draft's guess for the token after the root, read on the host
        int parent = 0;
        for (int i = 0; i < _length; i++)
        {
            int token;
            float q = 0f;
            if (_sample)
            {
                // q = the filtered distribution of the draft's last row; the token is one draw from the seeded stream.
                var distribution = _sampler.RowProbabilities(_lastLogits);
                token = NodeSampler.Draw(distribution, _sampler.NextUniform());
                q = distribution[token];
                if (i > 0 && _stopBelow > 0 && System.Numerics.Tensors.TensorPrimitives.Max(distribution) < _stopBelow) break;
                int node = tree.AddChild(parent, token, source, q);
                if (node == CandidateTree.NoNode) break;
                distribution.CopyTo(MemoryMarshal.Cast<byte, float>(_distributions.bytes).Slice(node * distribution.Length, distribution.Length));
                parent = node;
            }
            else
            {
                token = _argmax;
                if (i > 0 && _stopBelow > 0 && _topProbability < _stopBelow) break;
                int node = tree.AddChild(parent, token, source);
                if (node == CandidateTree.NoNode) break;
                parent = node;
            }
            _drafted[_draftedCount++] = token;
            if (i == _length - 1) break;             // the last draft token is never needed as input this step
            if (!tree.CanExtend(parent)) break;      // the constraint ends here: nothing can follow
            _maskState = tree.ConstraintState(parent);
            Forward(_cache.Length, new ReadOnlySpan<int>(in token));
            _forwardedDrafts++;
        }
    }

    /// <summary>As the engine of a staged draft: the context was cut back, so keep only the cache of what is still in it.</summary>
    public void Rewind(CausalContext context, int unchanged)
    {
        int keep = Math.Min(unchanged, context.Length - 1);
        if (_cache.Length > keep) _cache.Truncate(keep);
        _draftedCount = _forwardedDrafts = 0;
    }

    /// <summary>Keeps the draft cache for the committed prefix it already holds; the next proposal catches up from there.</summary>
    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome)
    {
        // The draft cache holds the old committed tokens plus the drafts it forwarded. Those drafts are still valid
        // if they match the committed continuation.
        int oldLength = _cache.Length - _forwardedDrafts;
        int newCommitted = context.Length;
        int valid = 0;
        while (valid < _forwardedDrafts && oldLength + valid < newCommitted - 1 && context.Tokens[oldLength + valid] == _drafted[valid]) valid++;
        _cache.Truncate(oldLength + valid);
    }

    // Forwards tokens at positions [start, start + n) with a causal mask over the cache and reads the last row on the
    // host (the greedy pick and its probability, or the logits to sample).
    private void Forward(int start, ReadOnlySpan<int> tokens)
    {
        // After plain steps (length 0) a catch-up can be longer than the outputs hold: it is forwarded in chunks that fit,
        // so a steady-state step makes no tensor (only the last chunk's last row is read). The prompt's catch-up, on a
        // decode's first proposal, goes in one forward as before.
        while (start > 0 && tokens.Length > _outputs.Capacity)
        {
            Forward(start, tokens[.._outputs.Capacity]);
            start += _outputs.Capacity;
            tokens = tokens[_outputs.Capacity..];
        }
        DraftForwards++;
        int n = tokens.Length;
        var tokensIn = _inTokens.Span<long>();
        var positionsIn = _inPositions.Span<long>();
        var maskIn = _inMask.Span<bool>();
        int width = (int)_inMask.Host.size(3);
        for (int i = 0; i < n; i++)
        {
            tokensIn[i] = tokens[i];
            positionsIn[i] = start + i;
            var row = maskIn.Slice(i * width, start + n);  // the model reads columns [0, start + n) only
            row[..(start + i + 1)].Fill(true);              // the cache and the new tokens up to itself
            row[(start + i + 1)..].Clear();
        }
        _inTokens.Upload(n);
        _inPositions.Upload(n);
        _inMask.Upload((long)n * width);
        var tokensView = _tokenViews[n] ??= _inTokens.Device.narrow(1, 0, n).DetachFromDisposeScope();
        var positionsView = _positionViews[n] ??= _inPositions.Device.narrow(1, 0, n).DetachFromDisposeScope();
        var rows = _maskRows[n] ??= _inMask.Device.narrow(2, 0, n).DetachFromDisposeScope();
        using var output = n <= _outputs.Capacity
            ? _draft.ForwardInto(tokensView, positionsView, rows, _cache, _outputs, returnHidden: false, skip: _skip)
            : _draft.Forward(tokensView, positionsView, rows, _cache, returnHidden: false, skip: _skip);
        ReadLastRow(output.Logits);
    }

    // The greedy pick of the last logits row and its softmax probability, or the row to sample, computed on the host.
    private void ReadLastRow(Tensor logits /* [1, n, vocab] */)
    {
        int vocab = (int)logits.size(2);
        var row = _lastRows.Read(logits).Slice(((int)logits.size(1) - 1) * vocab, vocab);
        if (_sample)
        {
            row.CopyTo(_lastLogits);
            // Masked before q is computed from it: the q kept for rejection sampling is the distribution actually drawn from.
            _maskMatcher?.MaskLogits(_maskState, _lastLogits);
            return;
        }
        _maskMatcher?.MaskLogits(_maskState, row);
        _argmax = NodeSampler.IndexOfMax(row);
        if (_stopBelow > 0)
        {
            // p(argmax) = 1 / sum_j exp(l_j - l_max)
            float max = row[_argmax], sum = 0f;
            foreach (float l in row) sum += MathF.Exp(l - max);
            _topProbability = 1f / sum;
        }
    }

    public void Dispose()
    {
        _cache.Dispose();
        _distributions.Dispose();
        foreach (var view in _tokenViews.Concat(_positionViews).Concat(_maskRows)) view?.Dispose();
        _inTokens.Dispose(); _inPositions.Dispose(); _inMask.Dispose();
        _outputs.Dispose();
        _lastRows.Dispose();
    }
}
