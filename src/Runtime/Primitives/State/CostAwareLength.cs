using Pardec.Runtime.Models;

namespace Pardec.Runtime.Primitives.State;

/// <summary>
/// A draft length (or Jacobi window, guess count, tree budget) chosen before every step to maximise expected tokens
/// per second, 0 — a plain decoding step — included: the language's <c>cost_aware(max: n)</c>. Drafting pays only
/// while the tokens a step accepts outweigh what verifying them costs, and on a CPU a few-token forward is far from
/// free (f32: two tokens cost ~1.4x one; see <see cref="VerifyCostPrior"/>), so on text the proposer predicts badly a
/// fixed length makes a lossless strategy slower than plain decoding. The state prices each choice k by
/// <list type="bullet">
/// <item><b>tokens per step</b>: the observed mean for k, blended with the chain model 1 + a + ... + a^k, where a is
/// the per-token acceptance estimated online from accepted/rejected counts that decay each step (the adaptive draft
/// length and dynamic speculation papers: "Parallel Speculative Decoding with Adaptive Draft Length" (PEARL), DISCO's
/// dynamic speculation lookahead, SpecDec++; vLLM and TensorRT-LLM turn speculation down or off when acceptance or
/// batch load makes it unprofitable);</item>
/// <item><b>seconds per step</b>: the measured mean step time for k; for a k not measured lately, the measured times
/// of its neighbours, interpolated along the verify-cost curve (Sequoia's hardware-aware budget, measured instead of
/// assumed). The smallest choice — a plain step — is re-timed whenever its measurement fades, as the anchor. A draft
/// model's own forwards are inside the step times, so its cost is priced too.</item>
/// </list>
/// A choice's observed tokens per step decay faster than its times, so the model's prediction — with its fresh acceptance —
/// regains weight over choices not tried lately; acceptance evidence also decays toward its prior, so after a run of
/// plain steps a short draft is tried again and the state notices when the text turns predictable. Whatever it
/// chooses, greedy verification keeps a lossless strategy exact: the state changes how much is proposed, never what
/// is accepted. Step times persist across decodes (they describe the model on this machine), so a decoder's first
/// decode is its warm-up; acceptance carries into the next decode at half weight (see <see cref="Reset"/>). Allocation-free: arrays sized once, one timestamp per step.
/// </summary>
public sealed class CostAwareLength : ILengthState
{
    private const double AcceptanceMemory = 0.95; // per step: acceptance evidence halves in ~14 steps
    private const double TokenMemory = 0.97;      // per step: a choice's observed tokens per step halve in ~23 steps
    private const double TimeMemory = 0.995;      // per step: observed step times halve in ~140 steps
    private const double ModelWeight = 2;         // the model's prediction counts as this many observed steps
    private const double PriorAccepted = 1, PriorRejected = 1; // acceptance 0.5 before anything is observed
    private const double MeasuredWeight = 0.05;   // a choice's time counts as measured while its decayed weight is above this
    private const double AnchorWeight = 0.25;     // the smallest choice is re-timed once its weight fell below this (~280 steps)
    private const double CarryOver = 0.5;         // with a clock: the weight the last decode's acceptance keeps in the next

    private readonly double[] _cost;                     // [max + 1]: prior cost of verifying k candidates (k + 1 tokens) vs one token
    private readonly double[] _tokenSum, _tokenWeight;   // per choice: decayed sums of committed tokens per step, and of steps
    private readonly double[] _secondSum, _secondWeight; // per choice: decayed sums of step seconds, and of timed steps
    private readonly TimeProvider _clock;
    private readonly bool _measures;
    private double _accepted, _rejected;
    private long _stamp;

    /// <summary>
    /// The <see cref="AppContext"/> switch that makes every cost-aware length built from a strategy price steps by the
    /// prior curve alone, never by measured times: its choices then depend on what was accepted only, so two engines, or
    /// two runs, make the same choices — what a seeded sampled decode with greedy acceptance needs to be reproducible
    /// (with measured times a lossless strategy's greedy output is still exact, but its step count, and a sampled
    /// output's draws, follow the machine's timing). The test suites that compare engines step for step set it.
    /// </summary>
    public const string PriorOnlySwitch = "Pardec.CostAware.PriorOnly";

    /// <param name="target">The verified model: its weight format picks the prior verify-cost curve.</param>
    public CostAwareLength(ICausalLM target, int min, int max)
        : this(VerifyCostPrior.For(target), min, max, AppContext.TryGetSwitch(PriorOnlySwitch, out bool priorOnly) && priorOnly ? null : TimeProvider.System) { }

    /// <param name="prior">The verify-cost curve to start from.</param>
    /// <param name="clock">Where step times come from (the system's, or a test's scripted clock); null prices by the prior alone.</param>
    public CostAwareLength(VerifyCostPrior prior, int min, int max, TimeProvider? clock)
    {
        if (min < 0 || max < 1 || min > max)
            throw new ArgumentOutOfRangeException(nameof(max), $"cost_aware needs 0 <= min <= max and max >= 1; got min {min}, max {max}.");
        Min = min;
        Max = max;
        Prior = prior;
        _clock = clock ?? TimeProvider.System;
        _measures = clock is not null;
        _cost = new double[max + 1];
        for (int k = 0; k <= max; k++) _cost[k] = Prior.Cost(k + 1);
        _tokenSum = new double[max + 1];
        _tokenWeight = new double[max + 1];
        _secondSum = new double[max + 1];
        _secondWeight = new double[max + 1];
        Current = Choose();
    }

    public int Min { get; }
    public int Max { get; }
    public int Current { get; private set; }

    /// <summary>The verify-cost curve the state started from.</summary>
    public VerifyCostPrior Prior { get; }

    /// <summary>The per-token acceptance the state currently assumes.</summary>
    public double Acceptance => (PriorAccepted + _accepted) / (PriorAccepted + PriorRejected + _accepted + _rejected);

    /// <summary>Steps observed with <paramref name="choice"/> (decayed), and their mean seconds (NaN if none was timed).</summary>
    public (double Steps, double Seconds) Observed(int choice) =>
        (_tokenWeight[choice], _secondWeight[choice] > 0 ? _secondSum[choice] / _secondWeight[choice] : double.NaN);

    /// <summary>
    /// Before a decode: a new text, but usually one like the last (a decoder serves one application). With a clock, what
    /// the last decode accepted carries into this one at <see cref="CarryOver"/> of its weight — a prior that this text
    /// soon confirms or overturns — so one early rejection does not send a predictable text into a long run of plain
    /// steps (with a flat prior of 0.5, a single rejection made it 0.33 and the state waited ~30 steps to probe again).
    /// Without a clock the acceptance and tokens per step start from the flat prior, so a decode's choices depend on its
    /// own text alone (what engine-for-engine and seeded comparisons need). Step times are always kept: they describe the
    /// model on this machine, not the text. The time since the last step is not a step.
    /// </summary>
    public void Reset()
    {
        _stamp = 0;
        double keep = _measures ? CarryOver : 0;
        _accepted *= keep;
        _rejected *= keep;
        for (int k = 0; k <= Max; k++)
        {
            _tokenSum[k] *= keep;
            _tokenWeight[k] *= keep;
        }
        Current = Choose();
    }

    /// <summary>After a step that verified <paramref name="proposed"/> candidates chosen with <see cref="Current"/> and accepted <paramref name="accepted"/>.</summary>
    public void Update(int proposed, int accepted)
    {
        long now = _clock.GetTimestamp();
        int choice = Current;
        _accepted *= AcceptanceMemory;
        _rejected *= AcceptanceMemory;
        for (int k = 0; k <= Max; k++)
        {
            _tokenSum[k] *= TokenMemory;
            _tokenWeight[k] *= TokenMemory;
            _secondSum[k] *= TimeMemory;
            _secondWeight[k] *= TimeMemory;
        }
        // Per-token acceptance of a chain: the accepted tokens are successes, the first rejection (if any) one failure.
        // A step that proposed nothing (prompt lookup without a match) says nothing about it.
        if (proposed > 0)
        {
            _accepted += accepted;
            if (accepted < proposed) _rejected += 1;
        }
        _tokenSum[choice] += accepted + 1;
        _tokenWeight[choice] += 1;
        // The time between two updates is one whole step (propose, draft forwards, verify, accept, commit, observe).
        if (_measures && _stamp != 0)
        {
            _secondSum[choice] += (now - _stamp) / (double)_clock.TimestampFrequency;
            _secondWeight[choice] += 1;
        }
        _stamp = now;
        Current = Choose();
    }

    // argmax over k of tokens(k) / seconds(k); ties go to the shorter draft.
    private int Choose()
    {
        // The anchor: the smallest choice's step time (a plain step's, with min 0) is re-measured whenever its evidence
        // has faded, so every other choice is priced relative to a time measured on this machine, not to the prior alone.
        if (_measures && _secondWeight[Min] < AnchorWeight) return Min;
        double a = Acceptance;
        int best = Min;
        double bestRate = double.NegativeInfinity, chain = 0, power = 1;
        for (int k = 0; k <= Max; k++)
        {
            chain += power; // 1 + a + ... + a^k: expected committed tokens of a k-token chain
            power *= a;
            if (k < Min) continue;
            double tokens = (_tokenSum[k] + ModelWeight * chain) / (_tokenWeight[k] + ModelWeight);
            double rate = tokens / Seconds(k);
            if (rate > bestRate) { bestRate = rate; best = k; }
        }
        return best;
    }

    // A choice's step time: its own measured mean, else interpolated between the nearest measured choices below and above
    // along the prior curve (the prior gives the shape between two measured points, the measurements its scale), else
    // scaled from the nearest measured one by the prior. A draft model's forwards make measured times grow faster than
    // the verify curve; interpolation then stays optimistic about untried choices, which get tried and measured.
    private double Seconds(int k)
    {
        if (_secondWeight[k] >= MeasuredWeight) return _secondSum[k] / _secondWeight[k];
        int lo = k - 1, hi = k + 1;
        while (lo >= Min && _secondWeight[lo] < MeasuredWeight) lo--;
        while (hi <= Max && _secondWeight[hi] < MeasuredWeight) hi++;
        bool hasLo = lo >= Min, hasHi = hi <= Max;
        if (hasLo && hasHi)
        {
            double tLo = _secondSum[lo] / _secondWeight[lo], tHi = _secondSum[hi] / _secondWeight[hi];
            double span = _cost[hi] - _cost[lo];
            double f = span > 0 ? (_cost[k] - _cost[lo]) / span : (double)(k - lo) / (hi - lo);
            return tLo + (tHi - tLo) * f;
        }
        if (hasLo) return _secondSum[lo] / _secondWeight[lo] * _cost[k] / _cost[lo];
        if (hasHi) return _secondSum[hi] / _secondWeight[hi] * _cost[k] / _cost[hi];
        return _cost[k]; // nothing measured yet: the prior in units of one token's forward (only ratios matter)
    }
}
