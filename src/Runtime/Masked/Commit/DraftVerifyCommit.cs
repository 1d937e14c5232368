using System.Runtime.InteropServices;
using Pardec.Runtime.Primitives;
using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Masked.Commit;

/// <summary>
/// Lossless self-speculative decoding for masked diffusion LMs (Self Speculative Decoding for dLLMs / free
/// draft-and-verification): reproduces <see cref="OneCommit"/> decoding token for token with fewer forward steps.
/// </summary>
/// <remarks>
/// From the current predictions, draft the next <c>K</c> commits in the order the one-per-step reference would make
/// them if predictions did not change (most confident masked position first, lowest offset on ties, applying the EOS
/// fill as the session does). Draft 1 is exactly the reference's choice now. Canvas <c>j</c> (<c>j = 1..K</c>) has drafts
/// <c>1..j</c> committed; all K are forwarded in ONE batched forward. Draft <c>j + 1</c> is accepted while the reference's
/// choice on canvas <c>j</c> (its most confident masked position and that position's argmax) equals it. With <c>m</c>
/// drafts accepted, the canvas after the commit is canvas <c>m</c>, whose predictions the batch already holds: they are
/// installed as the next step's, so every step after a block's first is exactly one (batched) forward. The reference's
/// own choice at the first mismatch is thus not lost — it is the next step's draft 1. Greedy and
/// <see cref="MaskedCacheMode.None"/> only (an approximate cache or sampling would not reproduce the reference).
/// <see cref="MaskedSession.Forwards"/> counts the batched forward once; <see cref="MaskedSession.CanvasForwards"/>
/// counts its K rows.
/// </remarks>
public sealed class DraftVerifyCommit : IDisposable
{
    private readonly StagedTensor _rows; // [K, maxLength] int64: the drafted canvases, written on the host
    private readonly Tensor _statsHost; // [K, 3, maxLength] float64, CPU
    private readonly long[] _work;
    private readonly bool[] _workMasked;
    private readonly int[] _draftOffsets;
    private readonly long[] _draftTokens;

    public DraftVerifyCommit(MaskedSession session, int drafts)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(drafts);
        if (session.CacheMode != MaskedCacheMode.None)
            throw new ArgumentException("Draft-verify is lossless only without an approximate cache (cache none).", nameof(session));
        Drafts = drafts;
        int max = session.MaxLength;
        var device = session.Model.Device;
        using (no_grad())
        {
            _rows = new StagedTensor([drafts, max], ScalarType.Int64, device);
            _statsHost = zeros(drafts, 3, max, ScalarType.Float64).DetachFromDisposeScope();
        }
        _work = new long[max];
        _workMasked = new bool[max];
        _draftOffsets = new int[drafts];
        _draftTokens = new long[drafts];
    }

    /// <summary>K: drafts per step (canvases per batched forward).</summary>
    public int Drafts { get; }

    /// <summary>Drafts, verifies in one batched forward, selects the accepted drafts and installs the next predictions.</summary>
    public void Select(MaskedSession session)
    {
        if (!session.Sampler.Settings.IsGreedy)
            throw new InvalidOperationException("Draft-verify reproduces greedy one-per-step decoding; sampling is not supported.");
        if (session.Done) return; // a constraint found no assignment: nothing to verify
        var block = session.Block;
        int s = session.BlockStart, e = session.BlockEnd, end = session.End, width = session.MaxLength;
        var canvas = session.Canvas;
        for (int p = 0; p < end; p++) { _work[p] = canvas[p]; _workMasked[p] = session.IsMasked(p); }

        // Draft in the reference's order; canvas j (row j - 1) has drafts 1..j applied.
        var rowsHost = _rows.Span<long>();
        var order = session.Selection.Rank(block, block.Confidence);
        int k = 0;
        foreach (int offset in order)
        {
            if (k == Drafts) break;
            int p = s + offset;
            if (!_workMasked[p]) continue; // filled by an earlier draft's EOS
            _draftOffsets[k] = offset;
            _draftTokens[k] = block.Tokens[offset];
            Apply(session, p, block.Tokens[offset], end);
            _work.AsSpan(0, end).CopyTo(rowsHost.Slice(k * width, end));
            k++;
        }

        // One batched forward of the k canvases.
        using (no_grad())
        using (NewDisposeScope())
        {
            _rows.Upload((long)k * width);
            var tokens = _rows.Device.narrow(0, 0, k).narrow(1, 0, end);
            var positions = session.Positions.narrow(1, 0, end).expand(k, end);
            var mask = session.AllTrue.expand(k, 1, end, end);
            session.CountForward(k);
            using var output = session.Model.Forward(tokens, positions, mask, null);
            var logits = output.Logits.narrow(1, s - session.Shift, end - s); // [k, span, vocab]: row p - Shift predicts p
            session.Score(logits, _statsHost);

            // Accept while the reference's choice on canvas j equals draft j + 1.
            var stats = MemoryMarshal.Cast<byte, double>(_statsHost.bytes);
            int accepted = 1;
            for (int j = 0; j + 1 < k; j++)
            {
                var row = rowsHost.Slice(j * width, end);
                var rowStats = stats.Slice(j * 3 * width, 3 * width);
                int best = -1;
                for (int i = 0; i < e - s; i++)
                    if (row[s + i] == session.MaskTokenId && (best < 0 || rowStats[i] > rowStats[best])) best = i;
                if (best != _draftOffsets[j + 1] || (long)rowStats[width + best] != _draftTokens[j + 1]) break;
                accepted++;
            }
            for (int i = 0; i < accepted; i++) session.Selection.Add(_draftOffsets[i], _draftTokens[i]);
            session.InstallRow(_statsHost, accepted - 1, s, end, logits[accepted - 1]);
        }
    }

    // The session's commit on the working canvas: the token, then everything after an EOS becomes EOS.
    private void Apply(MaskedSession session, int p, long token, int end)
    {
        _work[p] = token;
        _workMasked[p] = false;
        if (!session.IsEos(token)) return;
        for (int q = p + 1; q < end; q++) { _work[q] = session.EosToken; _workMasked[q] = false; }
    }

    public void Dispose()
    {
        _rows.Dispose(); _statsHost.Dispose();
    }
}
