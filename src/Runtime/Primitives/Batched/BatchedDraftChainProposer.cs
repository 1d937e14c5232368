using Pardec.Runtime.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Batched;

/// <summary>
/// A greedy draft model proposes a chain of <c>draftLength</c> tokens for every row at once (Leviathan et al. 2023,
/// batched as in vLLM / TensorRT-LLM draft-target speculation). The draft has its own <see cref="RaggedKVCache"/>:
/// rows have seen different amounts of committed text, so each proposal first catches every active row up in one
/// forward whose block is right-aligned per row (the root always in the last column, shorter rows padded with invalid
/// slots on the left — the same trick as the target's prompt padding), then drafts one token per forward for all
/// rows (each row's argmax through <see cref="HostRows"/>: read in place on the CPU, one small copy elsewhere). After verification a row keeps
/// the draft keys of its accepted drafts and invalidates the rest, so accepted tokens are never recomputed.
/// </summary>
public sealed class BatchedDraftChainProposer : IDisposable
{
    private readonly ICausalLM _draft;
    private readonly RaggedKVCache _cache;
    private readonly LayerSkip? _skip;
    private readonly int _batch, _length, _maxLength;
    private readonly int[] _seen;          // committed tokens of each row in the draft cache
    private readonly bool[] _active;       // rows drafted for this step
    private readonly long[] _drafts;       // [batch, length]: this step's chains
    private readonly long[] _picks;        // [batch]: one draft forward's argmaxes
    private readonly HostRows _rows = new();
    private int _firstDraftSlot;           // slot of the first forwarded draft token this step

    /// <param name="skip">Layers the draft skips: with the target as the draft this is self-speculation (Zhang et al. 2023).</param>
    public BatchedDraftChainProposer(ICausalLM draft, int batch, int maxLength, int draftLength, LayerSkip? skip = null)
    {
        _skip = skip;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(draftLength);
        _draft = draft;
        _batch = batch;
        _length = draftLength;
        _maxLength = maxLength;
        _cache = new RaggedKVCache(draft, batch, maxLength, maxLength);
        _seen = new int[batch];
        _active = new bool[batch];
        _drafts = new long[batch * draftLength];
        _picks = new long[batch];
    }

    public int DraftForwards { get; private set; }

    public void Reset(BatchedContext context)
    {
        _cache.Reset();
        Array.Clear(_seen);
        DraftForwards = 0;
    }

    public void Propose(BatchedContext context, BatchedChain chain)
    {
        if (chain.Width != _length + 1) throw new ArgumentException($"The chain holds {chain.Width - 1} drafts; this proposer makes {_length}.", nameof(chain));
        // Catch-up block: as wide as the row with the most unseen committed tokens (root included).
        int block = 0;
        for (int b = 0; b < _batch; b++)
        {
            _active[b] = !context.IsDone(b);
            if (_active[b]) block = Math.Max(block, context.Length(b) - _seen[b]);
        }
        if (block == 0) return; // every row is done
        int start = _cache.Length;
        if (start + block + _length > _maxLength) throw new InvalidOperationException("The draft cache is full.");
        var valid = _cache.Valid;
        var tokens = _cache.StagedTokens;
        var positions = _cache.StagedPositions;
        for (int b = 0; b < _batch; b++)
        {
            int unseen = _active[b] ? context.Length(b) - _seen[b] : 0;
            int pad = block - unseen;
            var text = context.Tokens(b);
            for (int j = 0; j < block; j++)
            {
                bool real = j >= pad;
                valid[b * _maxLength + start + j] = real;
                tokens[b * block + j] = real ? text[_seen[b] + j - pad] : 0;
                positions[b * block + j] = real ? _seen[b] + j - pad : 0;
            }
            if (_active[b]) _seen[b] = context.Length(b);
        }
        var drafts = _drafts; // [batch, length]
        DraftForwards++;
        using (var output = _cache.Forward(_draft, block, _skip)) PickDrafts(output.Logits, block - 1, 0);
        _firstDraftSlot = _cache.Length;
        // Drafts 2..length: feed draft j-1 at position root + j for every row, one forward each.
        for (int j = 1; j < _length; j++)
        {
            int slot = _cache.Length;
            for (int b = 0; b < _batch; b++)
            {
                valid[b * _maxLength + slot] = _active[b];
                positions[b] = context.Length(b) - 1 + j;
                tokens[b] = drafts[b * _length + j - 1];
            }
            DraftForwards++;
            using var output = _cache.Forward(_draft, 1, _skip);
            PickDrafts(output.Logits, 0, j);
        }
        for (int b = 0; b < _batch; b++)
            for (int j = 0; j < _length; j++) chain[b, j + 1] = (int)drafts[b * _length + j];
    }

    // Every row's argmax at logits row `row` becomes its draft j.
    private void PickDrafts(Tensor logits /* [batch, n, vocab] */, int row, int j)
    {
        _rows.ArgmaxAt(logits, row, _picks);
        for (int b = 0; b < _batch; b++) _drafts[b * _length + j] = _picks[b];
    }

    /// <summary>Keeps each row's accepted drafts' keys (all but the new root), invalidates the rejected ones.</summary>
    public void Observe(BatchedContext context, BatchedStepOutcome outcome)
    {
        if (Array.IndexOf(_active, true) < 0) return; // nothing was drafted this step
        int forwarded = _length - 1; // the last draft is never fed back
        var valid = _cache.Valid;
        int keep = 0;
        for (int b = 0; b < _batch; b++)
        {
            if (!_active[b]) continue;
            // Draft j (0-based) sits at context index _seen[b] + j; keep it if accepted and not the new root.
            int kept = Math.Min(Math.Min(outcome.Accepted(b), forwarded), Math.Max(0, context.Length(b) - 1 - _seen[b]));
            if (context.IsDone(b)) kept = 0;
            valid.Slice(b * _maxLength + _firstDraftSlot + kept, forwarded - kept).Clear();
            _seen[b] += kept;
            keep = Math.Max(keep, kept);
        }
        _cache.Cache.Truncate(_firstDraftSlot + keep);
    }

    public void Dispose()
    {
        _cache.Dispose();
        _rows.Dispose();
    }
}
