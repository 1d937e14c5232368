namespace Pardec.Runtime.Masked;

/// <summary>
/// AdaBlock-dLLM (Lu et al. 2025): at a block's first step, end the block at a predicted semantic delimiter. Among the
/// offsets <c>[min − 1, max − 1]</c> from the block start, the position predicted (or already committed) as
/// <c>delimiter</c> with the highest confidence ≥ <c>threshold</c> (earliest on ties) ends the block; with none, the
/// session's default block size (clamped to <c>[min, max]</c>) stands. The session must be built with
/// <c>maxBlockSize ≥ max</c>.
/// </summary>
public sealed class AdaptiveBlock
{
    public AdaptiveBlock(int min, int max, long delimiter, double threshold = 0.3)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(min);
        if (max < min) throw new ArgumentOutOfRangeException(nameof(max), "must be at least min");
        Min = min; Max = max; Delimiter = delimiter; Threshold = threshold;
    }

    public int Min { get; }
    public int Max { get; }
    public long Delimiter { get; }
    public double Threshold { get; }

    /// <summary>The block size for the current predictions (offsets from the block start).</summary>
    public int Size(MaskedSession session)
    {
        var (start, end) = session.Predicted;
        int s = session.BlockStart;
        int limit = Math.Min(Math.Min(Max, session.MaxBlockSize), end - s);
        int best = -1;
        double bestConfidence = double.NegativeInfinity;
        var canvas = session.Canvas;
        for (int i = Min - 1; i < limit; i++)
        {
            int p = s + i;
            if (p < start) continue;
            double c = session.IsMasked(p)
                ? (session.PredictionsAt(p, 1).Tokens[0] == Delimiter ? session.PredictionsAt(p, 1).Confidence[0] : double.NegativeInfinity)
                : (canvas[p] == Delimiter ? 1.0 : double.NegativeInfinity);
            if (c >= Threshold && c > bestConfidence) { best = i; bestConfidence = c; }
        }
        return best >= 0 ? best + 1 : Math.Clamp(session.DefaultBlockSize, Min, Math.Min(Max, session.MaxBlockSize));
    }

    /// <summary>Resizes the block at its first step; does nothing later in the block.</summary>
    public void Apply(MaskedSession session)
    {
        if (session.AtBlockStart) session.ResizeBlock(Size(session));
    }
}
