namespace Pardec.Runtime.Masked;

/// <summary>
/// End-of-text prediction (EoTP, Learn2PD, Bao et al. 2025): when every masked position the model predicted — the
/// block and, except under the dual cache's block-only steps, everything after it — is EOS with confidence ≥
/// threshold, the rest of the canvas is end-of-text: <see cref="MaskedSession.CommitEndOfText"/> fills it and stops.
/// </summary>
public sealed class EotStop(double threshold)
{
    private MaskedSession? _session;
    private Func<long, bool>? _isEos; // cached so a step allocates no delegate

    public double Threshold { get; } = threshold;

    public bool ShouldStop(MaskedSession session)
    {
        var (start, end) = session.Predicted;
        start = Math.Max(start, session.BlockStart);
        if (!ReferenceEquals(_session, session)) { _session = session; _isEos = session.IsEos; }
        // Under a constraint the text may end only where the constraint accepts it.
        return IsEndOfText(session.PredictionsAt(start, end - start), _isEos!) && session.CanEndText();
    }

    /// <summary>True when <paramref name="predicted"/> has a masked position and every masked one is a confident EOS.</summary>
    public bool IsEndOfText(in MaskedBlock predicted, Func<long, bool> isEos)
    {
        int masked = 0;
        for (int i = 0; i < predicted.Length; i++)
        {
            if (!predicted.Masked[i]) continue;
            masked++;
            if (!isEos(predicted.Tokens[i]) || predicted.Confidence[i] < Threshold) return false;
        }
        return masked > 0;
    }
}
