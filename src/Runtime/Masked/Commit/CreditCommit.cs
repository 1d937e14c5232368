namespace Pardec.Runtime.Masked.Commit;

/// <summary>
/// CreditDecoding's commit (Wang et al. 2025): the threshold rule on the credit-fused predictions — every masked
/// position whose fused confidence ≥ τ gets its fused token, at least <c>atLeast</c>. The credits are updated after the
/// commit by <see cref="CreditState.Update"/> (the plan's <c>update credits from predictions</c>).
/// </summary>
public sealed class CreditCommit(CreditState state, double threshold, int atLeast = 1)
{
    private readonly ConfidenceCommit _rule = new(threshold, atLeast);

    public CreditState State { get; } = state;
    public double Threshold => _rule.Threshold;
    public int AtLeast => _rule.AtLeast;

    public void Select(MaskedSession session)
    {
        var fused = State.Fuse(session);
        _rule.Select(fused, session.Selection);
    }
}
