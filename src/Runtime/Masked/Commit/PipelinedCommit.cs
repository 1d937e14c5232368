namespace Pardec.Runtime.Masked.Commit;

/// <summary>
/// D2F's pipelined parallel decoding (Wang et al. 2025, "Diffusion LLMs Can Do Faster-Than-AR Inference via Discrete
/// Diffusion Forcing", §inter-block pipeline): the next block starts before the current one is finished. The current
/// block is fully active: every masked position with confidence ≥ <c>threshold</c> commits, at least <c>atLeast</c> (the
/// most confident). Each of the next <c>ahead</c> blocks becomes active — semi-activated, in D2F's terms — once the block
/// before it is at least <c>add</c> complete (its committed share, before this step's commits); an active later block
/// commits only its positions with confidence ≥ <c>threshold</c>, never a forced one. Lossy, like the threshold rule it
/// extends. D2F trains its model block-causal, so a finished block's cache is exact there; on the bidirectional models
/// here the pipeline runs over the canvas's predictions beyond the block (cache none or prefix; the dual cache does
/// not predict past the block, so the binder refuses it).
/// </summary>
public sealed class PipelinedCommit(double threshold, double add = 0.5, int ahead = 1, int atLeast = 1)
{
    public double Threshold { get; } = threshold;
    public double Add { get; } = add is >= 0 and <= 1 ? add : throw new ArgumentOutOfRangeException(nameof(add));
    public int AheadBlocks { get; } = ahead >= 1 ? ahead : throw new ArgumentOutOfRangeException(nameof(ahead));
    public int AtLeast { get; } = atLeast >= 1 ? atLeast : throw new ArgumentOutOfRangeException(nameof(atLeast));

    /// <summary>Positions committed after the current block by the last <see cref="Select"/>.</summary>
    public int LastAhead { get; private set; }

    public void Select(MaskedSession session)
    {
        if (session.CacheMode == MaskedCacheMode.Dual)
            throw new InvalidOperationException("Pipelined blocks need predictions after the current block; the dual cache forwards the block only.");
        if (session.Constraint is not null)
            throw new NotSupportedException("Pipelined blocks commit positions after the current block, which the constraint's block program (DINGO) does not cover.");
        var ahead = session.Ahead is { } a && a.Capacity >= AheadBlocks * session.MaxBlockSize ? a : session.UseAhead(AheadBlocks);
        ahead.Clear();
        var block = session.Block;
        var selection = session.Selection;
        for (int i = 0; i < block.Length; i++)
            if (block.Masked[i] && block.Confidence[i] >= Threshold) selection.Add(i, block.Tokens[i]);
        selection.FillTo(block, block.Confidence, AtLeast);

        double completed = Completed(block);
        int from = session.BlockEnd, predictedEnd = session.Predicted.End;
        for (int k = 0; k < AheadBlocks && from < session.End && completed >= Add; k++)
        {
            int length = Math.Min(session.DefaultBlockSize, session.End - from);
            if (from + length > predictedEnd) break; // no predictions there (cannot happen with cache none / prefix)
            var next = session.PredictionsAt(from, length);
            for (int i = 0; i < length; i++)
                if (next.Masked[i] && next.Confidence[i] >= Threshold) ahead.Add(from - session.BlockEnd + i, next.Tokens[i]);
            completed = Completed(next);
            from += length;
        }
        LastAhead = ahead.Count;
    }

    private static double Completed(in MaskedBlock block) => block.Length == 0 ? 1 : 1 - (double)block.MaskedCount / block.Length;
}
