namespace Pardec.Runtime.Masked.Commit;

/// <summary>
/// One token per step: the most confident masked position and its token (LLaDA's low-confidence remasking with one
/// token per step) — the sequential reference every parallel rule approximates and <see cref="DraftVerifyCommit"/>
/// reproduces exactly. Ties go to the lowest offset.
/// </summary>
public sealed class OneCommit
{
    public void Select(in MaskedBlock block, MaskedSelection selection)
    {
        int best = Choose(block);
        if (best >= 0) selection.Add(best, block.Tokens[best]);
    }

    /// <summary>The reference's choice: the masked offset of highest confidence (lowest offset on ties), or -1.</summary>
    public static int Choose(in MaskedBlock block)
    {
        int best = -1;
        for (int i = 0; i < block.Length; i++)
            if (block.Masked[i] && (best < 0 || block.Confidence[i] > block.Confidence[best])) best = i;
        return best;
    }
}

/// <summary>
/// LLaDA's low-confidence remasking with a fixed schedule (Nie et al. 2025): the <c>k</c> most confident masked
/// positions per step, i.e. <c>⌈B / k⌉</c> steps per block. <c>k = 1</c> is <see cref="OneCommit"/>.
/// </summary>
public sealed class TopKCommit(int k)
{
    public int K { get; } = k >= 1 ? k : throw new ArgumentOutOfRangeException(nameof(k));

    public void Select(in MaskedBlock block, MaskedSelection selection) => selection.FillTo(block, block.Confidence, K);
}

/// <summary>
/// Fast-dLLM's threshold rule (Wu et al. 2025, Alg. 1): every masked position with confidence ≥ τ, and always at
/// least <c>atLeast</c> (the most confident) so each step progresses. τ = 1 degenerates to one token per step.
/// </summary>
public sealed class ConfidenceCommit(double threshold, int atLeast = 1)
{
    public double Threshold { get; } = threshold;
    public int AtLeast { get; } = atLeast >= 1 ? atLeast : throw new ArgumentOutOfRangeException(nameof(atLeast));

    public void Select(in MaskedBlock block, MaskedSelection selection)
    {
        for (int i = 0; i < block.Length; i++)
            if (block.Masked[i] && block.Confidence[i] >= Threshold) selection.Add(i, block.Tokens[i]);
        selection.FillTo(block, block.Confidence, AtLeast);
    }
}

/// <summary>
/// Fast-dLLM's factor rule (Wu et al. 2025, §3.3 / <c>get_transfer_index_dynamic</c>): with the masked confidences
/// sorted descending <c>c_1 ≥ c_2 ≥ …</c>, commit the largest <c>n</c> with <c>(n + 1)(1 − c_n) &lt; f</c> (the left side
/// grows with n, so that is a prefix), at least <c>atLeast</c>. Theorem 1's condition <c>(n + 1)ε ≤ 1</c> at f = 1.
/// </summary>
public sealed class FactorCommit(double factor, int atLeast = 1)
{
    public double Factor { get; } = factor > 0 ? factor : throw new ArgumentOutOfRangeException(nameof(factor));
    public int AtLeast { get; } = atLeast >= 1 ? atLeast : throw new ArgumentOutOfRangeException(nameof(atLeast));

    public void Select(in MaskedBlock block, MaskedSelection selection)
    {
        var order = selection.Rank(block, block.Confidence);
        int n = 0;
        while (n < order.Length && (n + 2) * (1 - block.Confidence[order[n]]) < Factor) n++; // c_{n+1}, 1-indexed
        for (int i = 0; i < n; i++) selection.Add(order[i], block.Tokens[order[i]]);
        selection.FillTo(block, block.Confidence, AtLeast);
    }
}

/// <summary>
/// Margin rule (Prophet, "Diffusion LMs know the answer before decoding", Li et al. 2025: the top-1 minus top-2
/// probability gap as the commit criterion): every masked position whose margin ≥ m, at least <c>atLeast</c> by margin.
/// </summary>
public sealed class MarginCommit(double margin, int atLeast = 1)
{
    public double Margin { get; } = margin;
    public int AtLeast { get; } = atLeast >= 1 ? atLeast : throw new ArgumentOutOfRangeException(nameof(atLeast));

    public void Select(in MaskedBlock block, MaskedSelection selection)
    {
        for (int i = 0; i < block.Length; i++)
            if (block.Masked[i] && block.Margin[i] >= Margin) selection.Add(i, block.Tokens[i]);
        selection.FillTo(block, block.Margin, AtLeast);
    }
}

/// <summary>
/// LocalLeap (local determinism propagation): masked positions with confidence ≥ <c>anchor</c> are anchors and commit;
/// masked positions within <c>radius</c> of an anchor commit under the relaxed bar <c>relaxed</c> (one hop, no chains);
/// at least <c>atLeast</c> by confidence.
/// </summary>
public sealed class LocalCommit(double anchor, int radius, int atLeast = 1, double relaxed = 0.5)
{
    public double Anchor { get; } = anchor;
    public int Radius { get; } = radius >= 0 ? radius : throw new ArgumentOutOfRangeException(nameof(radius));
    public int AtLeast { get; } = atLeast >= 1 ? atLeast : throw new ArgumentOutOfRangeException(nameof(atLeast));
    public double Relaxed { get; } = relaxed <= anchor ? relaxed : throw new ArgumentOutOfRangeException(nameof(relaxed), "must not exceed anchor");

    public void Select(in MaskedBlock block, MaskedSelection selection)
    {
        var c = block.Confidence;
        for (int i = 0; i < block.Length; i++)
        {
            if (!block.Masked[i]) continue;
            bool take = c[i] >= Anchor;
            if (!take && c[i] >= Relaxed)
            {
                int lo = Math.Max(0, i - Radius), hi = Math.Min(block.Length - 1, i + Radius);
                for (int j = lo; j <= hi && !take; j++) take = j != i && block.Masked[j] && c[j] >= Anchor;
            }
            if (take) selection.Add(i, block.Tokens[i]);
        }
        selection.FillTo(block, c, AtLeast);
    }
}
