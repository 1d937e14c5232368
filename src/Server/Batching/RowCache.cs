using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives.Batched;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Server.Batching;

/// <summary>
/// A <see cref="RaggedKVCache"/> whose rows are lent to requests that come and go. Every forward writes all rows at the
/// same slots <c>[Length, Length + n)</c>; a row marks valid only the slots it really holds, so a row never attends to
/// another row's keys, to the slots a previous occupant left, or to padding. Because the slot counter is shared it
/// only grows while requests keep arriving; when the next forward would not fit, <see cref="Compact"/> moves each row's
/// valid slots to the front of that row (one gather per layer) — attention does not care about slot order, and RoPE was
/// applied by position before the keys were cached, so this changes no logit.
/// </summary>
/// <remarks>
/// A forward: <see cref="Begin"/> (room, and every row's slots of this forward invalid), <see cref="Put"/> each real
/// token, the forward, then <see cref="Keep"/> per row (what it keeps of what it put; the default is all) and
/// <see cref="End"/> (trailing slots no row keeps are dropped). Models with sliding-window layers record slot positions
/// inside the KV cache, which a compaction here cannot move; the server serves those with its decoder pool instead.
/// </remarks>
internal sealed class RowCache : IDisposable
{
    private readonly ICausalLM _model;
    private readonly RaggedKVCache _cache;
    private readonly int _batch, _slots;
    private readonly int[] _put;
    private int _start, _n;

    public RowCache(ICausalLM model, int batch, int slots, int maxWidth)
    {
        if (model.Config.HasSlidingLayers)
            throw new NotSupportedException("Rows of a sliding-window model cannot be compacted; serve it with the decoder pool.");
        _model = model;
        _batch = batch;
        _slots = slots;
        _cache = new RaggedKVCache(model, batch, slots, maxWidth);
        _put = new int[batch];
    }

    public int Length => _cache.Length;
    public int MaxWidth => _cache.MaxWidth;
    public int Compactions { get; private set; }

    /// <summary>Starts a forward of <paramref name="n"/> tokens per row, compacting first if it would not fit.</summary>
    public void Begin(int n)
    {
        if (n <= 0 || n > _cache.MaxWidth) throw new ArgumentOutOfRangeException(nameof(n), n, $"must be in [1, {_cache.MaxWidth}]");
        if (_cache.Length + n > _slots) Compact();
        if (_cache.Length + n > _slots)
            throw new InvalidOperationException($"The rows hold {_cache.Length} slots after compaction; {n} more do not fit in {_slots}.");
        _start = _cache.Length;
        _n = n;
        var valid = _cache.Valid;
        for (int b = 0; b < _batch; b++) valid.Slice(b * _slots + _start, n).Clear();
        _cache.StagedTokens[..(_batch * n)].Clear();
        _cache.StagedPositions[..(_batch * n)].Clear();
        Array.Clear(_put);
    }

    /// <summary>Row <paramref name="row"/>'s token at column <paramref name="column"/> of this forward; columns are put left to right.</summary>
    public void Put(int row, int column, int token, int position)
    {
        _cache.Valid[row * _slots + _start + column] = true;
        _cache.StagedTokens[row * _n + column] = token;
        _cache.StagedPositions[row * _n + column] = position;
        _put[row] = Math.Max(_put[row], column + 1);
    }

    /// <summary>Logits <c>[batch, n, vocab]</c>, borrowed until the next forward on the CPU (dispose the output).</summary>
    public ModelOutput Forward(LayerSkip? skip = null) => _cache.Forward(_model, _n, skip);

    /// <summary>Row <paramref name="row"/> keeps only the first <paramref name="count"/> slots it put in this forward.</summary>
    public void Keep(int row, int count)
    {
        if (count >= _put[row]) return;
        _cache.Valid.Slice(row * _slots + _start + count, _put[row] - count).Clear();
        _put[row] = count;
    }

    public void End()
    {
        int keep = 0;
        for (int b = 0; b < _batch; b++) keep = Math.Max(keep, _put[b]);
        _cache.Cache.Truncate(_start + keep);
    }

    /// <summary>Compacts now if <paramref name="n"/> more slots would not fit, so the next forwards up to n need no compaction.</summary>
    public void Reserve(int n)
    {
        if (_cache.Length + n > _slots) Compact();
    }

    /// <summary>Drops the last <paramref name="count"/> slots for every row.</summary>
    public void RollBack(int count)
    {
        int from = _cache.Length - count;
        var valid = _cache.Valid;
        for (int b = 0; b < _batch; b++) valid.Slice(b * _slots + from, count).Clear();
        _cache.Cache.Truncate(from);
    }

    /// <summary>Forgets everything row <paramref name="row"/> holds (its request left); the slots are reclaimed by the next compaction.</summary>
    public void Release(int row)
    {
        _cache.Valid.Slice(row * _slots, _slots).Clear();
        if (AllEmpty()) _cache.Reset();
    }

    /// <summary>Moves each row's valid slots, in order, to the front of the row and shortens the cache to the longest row.</summary>
    public void Compact()
    {
        var valid = _cache.Valid;
        int length = _cache.Length;
        var counts = new int[_batch];
        int longest = 0;
        for (int b = 0; b < _batch; b++)
        {
            foreach (bool v in valid.Slice(b * _slots, length)) if (v) counts[b]++;
            longest = Math.Max(longest, counts[b]);
        }
        if (longest == length) return; // no row has a hole: nothing to reclaim
        Compactions++;
        if (longest == 0) { _cache.Reset(); return; }
        var index = new long[_batch * longest]; // [batch, longest]: the slot each row's i-th kept entry comes from
        for (int b = 0; b < _batch; b++)
        {
            int i = 0;
            var row = valid.Slice(b * _slots, length);
            for (int s = 0; s < length; s++) if (row[s]) index[b * longest + i++] = s;
            for (; i < longest; i++) index[b * longest + i] = 0; // padding, invalid after the move
        }
        var cache = _cache.Cache;
        using (NewDisposeScope())
        using (no_grad())
        {
            var slots = tensor(index, [_batch, longest], ScalarType.Int64, cache.Device);
            var gather = slots.view(_batch, 1, longest, 1).expand(_batch, cache.KVHeads, longest, cache.HeadDim); // [batch, kvHeads, longest, headDim]
            for (int layer = 0; layer < cache.Layers; layer++)
            {
                var keys = cache.Keys(layer);   // [batch, kvHeads, slots, headDim]
                var values = cache.Values(layer);
                var k = keys.gather(2, gather);  // through a temporary: source and destination overlap
                var v = values.gather(2, gather);
                keys.narrow(2, 0, longest).copy_(k);
                values.narrow(2, 0, longest).copy_(v);
            }
        }
        for (int b = 0; b < _batch; b++)
        {
            var row = valid.Slice(b * _slots, _slots);
            row.Clear();
            row[..counts[b]].Fill(true);
        }
        cache.Truncate(longest);
    }

    private bool AllEmpty()
    {
        var valid = _cache.Valid;
        int length = _cache.Length;
        for (int b = 0; b < _batch; b++)
            if (valid.Slice(b * _slots, length).Contains(true)) return false;
        return true;
    }

    public void Dispose() => _cache.Dispose();
}
