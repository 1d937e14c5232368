namespace Pardec.Server.Batching;

/// <summary>When a batched deployment's greedy rows draft.</summary>
public enum SpeculationMode
{
    /// <summary>Every step (the strategy as declared).</summary>
    Always,
    /// <summary>When it pays at the current load: measured per number of decoding rows (see <see cref="SpeculationPolicy"/>).</summary>
    Auto,
    /// <summary>Never: the draft-chain strategy runs as plain decoding.</summary>
    Off,
}

/// <summary>
/// Speculation that knows the load (BASS, "Batch Speculative Decoding Done Right", TETRIS): drafting buys
/// <c>1 + α</c> tokens per row-step (α = accepted drafts per drafting row-step) at the price of the draft forwards
/// and a <c>(1 + γ)</c>-wide verification of every row, a price that grows with the number of rows while α does not.
/// The policy measures both step times per number of decoding rows <c>B</c> (only steps without prefill, whose chunks
/// would blur them) and drafts when <c>(1 + α) / t_draft(B) ≥ 1 / t_plain(B)</c>. It tries each mode a few times for
/// each <c>B</c> before trusting the measurements, and the other mode every <see cref="ExploreEvery"/> steps so the
/// estimates follow the load. Greedy verification keeps the output the same either way: this changes speed only.
/// </summary>
internal sealed class SpeculationPolicy(SpeculationMode mode, int batch)
{
    public const int ExploreEvery = 32;
    private const int Warmup = 3;
    private const double TimeDecay = 0.2, AcceptDecay = 0.1;

    private readonly double[] _draftTime = new double[batch + 1], _plainTime = new double[batch + 1];
    private readonly int[] _draftSamples = new int[batch + 1], _plainSamples = new int[batch + 1];
    private double _accepted = double.NaN;
    private long _decisions;

    public SpeculationMode Mode { get; } = mode;

    /// <summary>Accepted drafts per drafting row-step, smoothed (NaN before the first).</summary>
    public double Acceptance => _accepted;

    public bool ShouldDraft(int rows)
    {
        if (Mode != SpeculationMode.Auto) return Mode == SpeculationMode.Always;
        _decisions++;
        if (_draftSamples[rows] < Warmup || _plainSamples[rows] < Warmup) return _draftSamples[rows] <= _plainSamples[rows];
        bool pays = (1 + _accepted) / _draftTime[rows] >= 1 / _plainTime[rows];
        return _decisions % ExploreEvery == 0 ? !pays : pays;
    }

    /// <summary>A step without prefill took <paramref name="seconds"/> with <paramref name="rows"/> greedy decoding rows.</summary>
    public void Record(int rows, bool drafted, double seconds, double acceptedPerRow)
    {
        if (Mode != SpeculationMode.Auto) return;
        if (drafted)
        {
            Update(_draftTime, _draftSamples, rows, seconds);
            _accepted = double.IsNaN(_accepted) ? acceptedPerRow : _accepted + AcceptDecay * (acceptedPerRow - _accepted);
        }
        else Update(_plainTime, _plainSamples, rows, seconds);
    }

    private static void Update(double[] time, int[] samples, int rows, double seconds)
    {
        time[rows] = samples[rows] == 0 ? seconds : time[rows] + TimeDecay * (seconds - time[rows]);
        samples[rows]++;
    }
}
