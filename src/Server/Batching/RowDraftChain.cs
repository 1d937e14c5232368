using System.Runtime.InteropServices;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Server.Batching;

/// <summary>
/// A greedy draft model proposing <c>length</c> tokens for each drafting row (Leviathan et al. 2023, batched as in
/// BASS), over a <see cref="RowCache"/> of its own so rows can join and leave between steps. Each proposal first
/// catches every drafting row up on the text it has not seen (a new row's whole prompt, in forwards of at most the
/// cache's width; afterwards the tokens the last step committed, root included), reading each row's first draft at
/// its own last column, then drafts one token per forward for all of them. The fed drafts are dropped after
/// verification and the accepted ones are fed again with the next catch-up: one slightly wider draft forward instead of
/// per-row bookkeeping of which drafted keys survived.
/// </summary>
/// <remarks>The runtime's <c>BatchedDraftChainProposer</c> does the same for a batch that starts and ends together; it
/// cannot take a row that joins mid-run. When the batched primitives carry row join/leave this class should go.</remarks>
internal sealed class RowDraftChain : IDisposable
{
    private readonly ICausalLM _draft;
    private readonly LayerSkip? _skip;
    private readonly RowCache _cache;
    private readonly int _batch;
    private readonly int[] _seen;      // tokens of each row's text in the draft cache
    private readonly int[] _lastColumn; // per row: the column whose logits give its next draft, or -1
    private readonly Tensor _picksHost; // [batch] int64, device argmax copies (non-CPU models only)

    public RowDraftChain(ICausalLM draft, LayerSkip? skip, int batch, int slots, int maxWidth, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        _draft = draft;
        _skip = skip;
        _batch = batch;
        Length = length;
        _cache = new RowCache(draft, batch, slots, maxWidth);
        _seen = new int[batch];
        _lastColumn = new int[batch];
        _picksHost = zeros(batch, ScalarType.Int64);
    }

    public int Length { get; }
    public int Forwards { get; private set; }

    /// <summary>The most unseen tokens a drafting row had at the last proposal: <c>Length + 1</c> at most in steady
    /// drafting, more for a new row or after steps that did not draft (their tokens were fed in catch-up).</summary>
    public int LastCatchUp { get; private set; }

    public void Join(int row) => _seen[row] = 0;

    public void Release(int row)
    {
        _seen[row] = 0;
        _cache.Release(row);
    }

    /// <summary>
    /// Drafts for every row with <paramref name="drafting"/> set: <paramref name="texts"/>[row] is its committed text
    /// (root last); the drafts go to <paramref name="chain"/>[row * (Length + 1) + 1 ..].
    /// </summary>
    public void Propose(ReadOnlySpan<bool> drafting, IReadOnlyList<int>?[] texts, int[] chain)
    {
        int width = Length + 1;
        var lastColumn = _lastColumn;
        LastCatchUp = 0;
        for (int b = 0; b < _batch; b++)
            if (drafting[b]) LastCatchUp = Math.Max(LastCatchUp, texts[b]!.Count - _seen[b]);
        // Catch-up: forwards of at most MaxWidth tokens until every drafting row has fed its root.
        while (true)
        {
            int block = 0;
            for (int b = 0; b < _batch; b++)
                if (drafting[b]) block = Math.Max(block, texts[b]!.Count - _seen[b]);
            if (block == 0) break;
            block = Math.Min(block, _cache.MaxWidth);
            _cache.Begin(block);
            for (int b = 0; b < _batch; b++)
            {
                lastColumn[b] = -1;
                if (!drafting[b]) continue;
                var text = texts[b]!;
                int feed = Math.Min(block, text.Count - _seen[b]);
                for (int j = 0; j < feed; j++) _cache.Put(b, j, text[_seen[b] + j], _seen[b] + j);
                _seen[b] += feed;
                if (feed > 0 && _seen[b] == text.Count) lastColumn[b] = feed - 1; // the root's logits give draft 1
            }
            Forwards++;
            using (var output = _cache.Forward(_skip)) Pick(output.Logits, lastColumn, chain, width, 1);
            _cache.End();
        }
        // Drafts 2..Length: feed draft j - 1 at position root + j - 1 for every drafting row. Room for all of them is
        // made first, so no compaction moves a fed draft away from the tail it is rolled back from.
        if (Length > 1) _cache.Reserve(Length - 1);
        for (int j = 2; j <= Length; j++)
        {
            _cache.Begin(1);
            for (int b = 0; b < _batch; b++)
            {
                lastColumn[b] = drafting[b] ? 0 : -1;
                if (drafting[b]) _cache.Put(b, 0, chain[b * width + j - 1], texts[b]!.Count - 2 + j);
            }
            Forwards++;
            using (var output = _cache.Forward(_skip)) Pick(output.Logits, lastColumn, chain, width, j);
            _cache.End();
        }
        // The fed drafts were guesses: forget them (the accepted ones come back with the next catch-up).
        if (Length > 1) _cache.RollBack(Length - 1);
    }

    // chain[b, column] = argmax of row b's logits at lastColumn[b], for rows with lastColumn[b] >= 0.
    private void Pick(Tensor logits /* [batch, n, vocab] */, int[] lastColumn, int[] chain, int width, int column)
    {
        if (HostLogits.Readable(logits))
        {
            var rows = HostLogits.Of(logits);
            for (int b = 0; b < _batch; b++)
                if (lastColumn[b] >= 0) chain[b * width + column] = NodeSampler.IndexOfMax(rows.Row(b, lastColumn[b]));
            return;
        }
        var picks = MemoryMarshal.Cast<byte, long>(_picksHost.bytes);
        for (int b = 0; b < _batch; b++)
        {
            if (lastColumn[b] < 0) continue;
            using var scope = NewDisposeScope();
            _picksHost.narrow(0, b, 1).copy_(logits.select(0, b).select(0, lastColumn[b]).argmax(-1).view(1));
            chain[b * width + column] = (int)picks[b];
        }
    }

    public void Dispose()
    {
        _cache.Dispose();
        _picksHost.Dispose();
    }
}
