using Pardec.Runtime.Constraints;
using Pardec.Runtime.Primitives;

namespace Pardec.Runtime.Masked.Constrained;

/// <summary>
/// DINGO's dynamic program ("DINGO: Constrained Inference for Diffusion LLMs", Suresh et al. 2025): over one block of
/// a masked canvas, given the denoiser's per-position token distributions and a regular constraint's token automaton,
/// the most probable assignment of the masked positions (committed ones fixed) whose text the constraint still accepts
/// — exact, where choosing each position's argmax and masking afterwards is not. Committing any subset of it keeps a
/// completion that is accepted: the rest of the assignment is one.
/// </summary>
/// <remarks>
/// <para><b>Program.</b> <c>V[0][q₀] = 0</c>; at a masked offset i, <c>V[i+1][q'] = max over q and tokens t with
/// δ(q, t) = q' of V[i][q] + log pᵢ(t)</c>; at a committed offset the token is given and costs nothing. Grouping each
/// state's allowed tokens by successor (<see cref="TokenTransitions"/>) makes the inner loop a max over one bucket of a
/// logits row. The per-row normaliser is the same on every path (each path assigns every masked offset once), so raw
/// logits rank paths exactly as log-probabilities do. Cost per masked offset: the allowed tokens of the states live
/// there. An end token enters <see cref="TokenMatcher.Finished"/> (only end tokens follow: the canvas's EOS fill).</para>
/// <para><b>The canvas after the block.</b> A block-end state counts only if an accepting state is reachable in the
/// positions the canvas has left after the block (<see cref="TokenTransitions.FitsWithin"/>), so a decode never commits
/// itself to text it cannot finish before the canvas ends.</para>
/// <para><b>Sampling.</b> With a temperature the program samples instead (forward filtering, backward sampling):
/// sums replace maxima, a block-end state is drawn by its total weight and the path backwards from it, which is an exact
/// sample of <c>∏ pᵢ(xᵢ)^(1/T)</c> restricted to the assignments the constraint admits.</para>
/// <para>Tables are <c>(block + 1) × (states + 1)</c>, sized by <see cref="Start"/> and reused: a step allocates nothing
/// once every state it reaches has its transitions built.</para>
/// </remarks>
public sealed class DingoProgram
{
    private readonly int _maxBlock;
    private TokenTransitions? _transitions;
    private StateTransitions? _finished;
    private TokenTransitions.SearchScratch? _scratch;
    private int _width;                 // states + 1 (Finished is the last index)
    private double[] _score = [];       // [(block + 1) * width]
    private int[] _prev = [], _token = [];
    private int[] _live = [], _liveCount = [];
    private float[] _weights = [];      // [block * vocab] exp(l/T - max) while sampling
    private double[] _rowMax = [];
    private NodeSampler? _sampler; // the decode's one sampler: a sampled assignment draws its uniforms from its seeded stream
    // The K best tokens of each masked row, best first: a bucket holding one of them has its maximum found without
    // scanning it (the bucket is every allowed token into its successor, so the first top token leading there is its best).
    private const int TopK = 8;
    private readonly int[] _top;
    private readonly int[] _topCount;
    private readonly int[] _successor = new int[TopK];

    public DingoProgram(int maxBlock)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBlock);
        _maxBlock = maxBlock;
        _liveCount = new int[maxBlock + 1];
        _rowMax = new double[maxBlock];
        _top = new int[maxBlock * TopK];
        _topCount = new int[maxBlock];
    }

    public TokenMatcher? Matcher => _transitions?.Matcher;

    /// <summary>The best (or sampled) assignment's summed logits over the masked offsets (log-probability up to each row's normaliser).</summary>
    public double Score { get; private set; }

    /// <summary>Binds the program to a constraint (tables grow to its state count; kept across decodes) and, for sampled
    /// assignments, to the decode's sampler, whose seeded host stream the draws come from.</summary>
    public void Start(TokenMatcher matcher, NodeSampler? sampler = null)
    {
        _transitions = TokenTransitions.For(matcher);
        _finished = new StateTransitions([TokenMatcher.Finished], [0, _transitions.FinishedTokens.Length], _transitions.FinishedTokens);
        int width = _transitions.StateCount + 1;
        if (width > _width || _score.Length < (_maxBlock + 1) * width)
        {
            int cells = (_maxBlock + 1) * width;
            _score = new double[cells];
            _prev = new int[cells];
            _token = new int[cells];
            _live = new int[cells];
        }
        _width = width;
        if (_scratch is null || _scratch.Seen.Length < width) _scratch = new TokenTransitions.SearchScratch(width);
        _sampler = sampler;
    }

    private double Uniform() =>
        (_sampler ?? throw new InvalidOperationException("A sampled assignment needs the decode's sampler: start the program with one.")).NextUniform();

    /// <summary>
    /// Fills <paramref name="tokens"/> (one per block offset; committed offsets keep theirs) with the best assignment
    /// reachable from <paramref name="state"/> whose last state can still reach acceptance in <paramref name="remaining"/>
    /// more tokens. Returns false when none exists: the constraint cannot be met in this canvas.
    /// </summary>
    /// <param name="state">The constraint state after every position before the block (or <see cref="TokenMatcher.Finished"/>).</param>
    /// <param name="committed">Per block offset: the committed token, or a negative value where the offset is masked.</param>
    /// <param name="logits">Row i (offset i) at <c>i * stride</c>: the denoiser's logits for that position.</param>
    /// <param name="temperature">0: the most probable assignment; otherwise a sample at this temperature.</param>
    public bool Solve(int state, ReadOnlySpan<long> committed, ReadOnlySpan<float> logits, int stride, int remaining,
                      Span<long> tokens, double temperature = 0)
    {
        var transitions = _transitions ?? throw new InvalidOperationException("Start the program with a matcher first.");
        int block = committed.Length, width = _width;
        if (block > _maxBlock) throw new ArgumentOutOfRangeException(nameof(committed), block, $"the program was sized for blocks of at most {_maxBlock}");
        if (tokens.Length < block) throw new ArgumentException("one token slot per block offset is needed", nameof(tokens));
        if (stride < transitions.Matcher.Vocabulary.Count) throw new ArgumentException($"logits rows ({stride}) are narrower than the vocabulary ({transitions.Matcher.Vocabulary.Count})", nameof(stride));
        if (state == TokenMatcher.Dead) return false;
        bool sample = temperature > 0;
        if (sample) PrepareWeights(committed, logits, stride, temperature);
        else
            for (int i = 0; i < block; i++)
                if (committed[i] < 0) TopTokens(logits.Slice(i * stride, transitions.Matcher.Vocabulary.Count), i);

        _score.AsSpan(0, width).Fill(double.NegativeInfinity);
        int first = Index(state);
        _score[first] = 0;
        _live[0] = first;
        _liveCount[0] = 1;
        for (int i = 0; i < block; i++)
        {
            int from = i * width, to = from + width;
            _score.AsSpan(to, width).Fill(double.NegativeInfinity);
            int count = 0;
            var row = committed[i] < 0 ? logits.Slice(i * stride, stride) : default;
            for (int k = 0; k < _liveCount[i]; k++)
            {
                int q = _live[from + k];
                double v = _score[from + q];
                if (committed[i] >= 0)
                {
                    int next = Index(Step(q, (int)committed[i]));
                    if (next < 0) continue;
                    double c = v;
                    if (sample) Accumulate(to, next, q, (int)committed[i], c, ref count);
                    else Relax(to, next, q, (int)committed[i], c, ref count);
                    continue;
                }
                var t = Of(q);
                var all = t.Tokens;
                int tops = 0;
                if (!sample)
                {
                    tops = _topCount[i];
                    for (int j = 0; j < tops; j++) _successor[j] = Step(q, _top[i * TopK + j]);
                }
                for (int g = 0; g < t.GroupCount; g++)
                {
                    int next = Index(t.Next[g]);
                    int start = t.Starts[g], end = t.Starts[g + 1];
                    if (sample)
                    {
                        var w = _weights.AsSpan(i * stride, stride);
                        double sum = 0;
                        for (int j = start; j < end; j++) sum += w[all[j]];
                        if (sum <= 0) continue;
                        Accumulate(to, next, q, -1, v + Math.Log(sum) + _rowMax[i], ref count);
                    }
                    else
                    {
                        int hit = -1;
                        for (int j = 0; j < tops && hit < 0; j++) if (_successor[j] == t.Next[g]) hit = _top[i * TopK + j];
                        if (hit >= 0)
                        {
                            Relax(to, next, q, hit, v + row[hit], ref count);
                            continue;
                        }
                        int best = all[start];
                        float bestLogit = row[best];
                        for (int j = start + 1; j < end; j++)
                        {
                            float l = row[all[j]];
                            if (l > bestLogit) { bestLogit = l; best = all[j]; }
                        }
                        if (float.IsNegativeInfinity(bestLogit)) continue;
                        Relax(to, next, q, best, v + bestLogit, ref count);
                    }
                }
            }
            _liveCount[i + 1] = count;
            if (count == 0) return false;
        }

        // The block's last state: the best (or a drawn) one that the rest of the canvas can still complete.
        int last = -1, end0 = block * width;
        double total = double.NegativeInfinity;
        for (int k = 0; k < _liveCount[block]; k++)
        {
            int q = _live[end0 + k];
            if (!transitions.FitsWithin(StateOf(q), remaining, _scratch!)) continue;
            double v = _score[end0 + q];
            if (sample)
            {
                total = LogAdd(total, v);
                if (Uniform() < Math.Exp(v - total)) last = q; // reservoir draw by weight
            }
            else if (last < 0 || v > _score[end0 + last]) last = q;
        }
        if (last < 0) return false;
        Score = _score[end0 + last];

        // Backwards: the recorded argmax path, or a path drawn given each successor.
        int at = last;
        for (int i = block - 1; i >= 0; i--)
        {
            int cell = (i + 1) * width + at;
            if (!sample)
            {
                tokens[i] = committed[i] >= 0 ? committed[i] : _token[cell];
                at = _prev[cell];
                continue;
            }
            at = DrawPredecessor(i, at, committed[i], stride, out int token);
            tokens[i] = committed[i] >= 0 ? committed[i] : token;
        }
        return true;
    }

    // Row i's best TopK ids, best first (ties: the lower id first, as a scan finds them).
    private void TopTokens(ReadOnlySpan<float> row, int i)
    {
        var top = _top.AsSpan(i * TopK, TopK);
        int n = 0;
        for (int t = 0; t < row.Length; t++)
        {
            float l = row[t];
            if (n == TopK && !(l > row[top[n - 1]])) continue;
            int j = n < TopK ? n++ : n - 1;
            while (j > 0 && l > row[top[j - 1]]) { top[j] = top[j - 1]; j--; }
            top[j] = t;
        }
        _topCount[i] = n;
    }

    private int Index(int state) => state == TokenMatcher.Finished ? _width - 1 : state;
    private int StateOf(int index) => index == _width - 1 ? TokenMatcher.Finished : index;
    private StateTransitions Of(int index) => index == _width - 1 ? _finished! : _transitions!.Of(index);

    // The state after a committed token (Finished takes only end tokens: the canvas's EOS fill).
    private int Step(int index, int token)
    {
        var matcher = _transitions!.Matcher;
        if (index == _width - 1) return matcher.Vocabulary.IsEnd(token) ? TokenMatcher.Finished : TokenMatcher.Dead;
        return matcher.Next(index, token);
    }

    private void Relax(int layer, int next, int prev, int token, double value, ref int count)
    {
        int cell = layer + next;
        if (value <= _score[cell]) return;
        if (double.IsNegativeInfinity(_score[cell])) _live[layer + count++] = next;
        _score[cell] = value;
        _prev[cell] = prev;
        _token[cell] = token;
    }

    private void Accumulate(int layer, int next, int prev, int token, double value, ref int count)
    {
        if (double.IsNegativeInfinity(value)) return;
        int cell = layer + next;
        if (double.IsNegativeInfinity(_score[cell])) _live[layer + count++] = next;
        _score[cell] = LogAdd(_score[cell], value);
    }

    private static double LogAdd(double a, double b)
    {
        if (double.IsNegativeInfinity(a)) return b;
        if (double.IsNegativeInfinity(b)) return a;
        return a > b ? a + Math.Log(1 + Math.Exp(b - a)) : b + Math.Log(1 + Math.Exp(a - b));
    }

    // Sampling weights of every masked row, exp(l/T - max): computed once per row, summed per bucket.
    private void PrepareWeights(ReadOnlySpan<long> committed, ReadOnlySpan<float> logits, int stride, double temperature)
    {
        if (_weights.Length < committed.Length * stride) _weights = new float[_maxBlock * stride];
        for (int i = 0; i < committed.Length; i++)
        {
            if (committed[i] >= 0) continue;
            var row = logits.Slice(i * stride, stride);
            var w = _weights.AsSpan(i * stride, stride);
            float max = float.NegativeInfinity;
            foreach (float l in row) if (l > max) max = l;
            double scaledMax = max / temperature;
            for (int t = 0; t < row.Length; t++) w[t] = (float)Math.Exp(row[t] / temperature - scaledMax);
            _rowMax[i] = scaledMax;
        }
    }

    // Given the state at offset i + 1, draws the state at offset i (and the token between) by
    // forward weight × transition weight.
    private int DrawPredecessor(int i, int successor, long committed, int stride, out int token)
    {
        int width = _width, from = i * width;
        int want = StateOf(successor);
        double total = double.NegativeInfinity;
        int chosen = -1, chosenGroup = -1;
        for (int k = 0; k < _liveCount[i]; k++)
        {
            int q = _live[from + k];
            double v = _score[from + q];
            double weight;
            int group = -1;
            if (committed >= 0)
            {
                if (Step(q, (int)committed) != want) continue;
                weight = v;
            }
            else
            {
                var t = Of(q);
                group = Array.BinarySearch(t.Next, want);
                if (group < 0) continue;
                double sum = 0;
                var w = _weights.AsSpan(i * stride, stride);
                foreach (int tok in t.Group(group)) sum += w[tok];
                if (sum <= 0) continue;
                weight = v + Math.Log(sum);
            }
            total = LogAdd(total, weight);
            if (Uniform() < Math.Exp(weight - total)) { chosen = q; chosenGroup = group; }
        }
        token = -1;
        if (committed < 0)
        {
            var tokens = Of(chosen).Group(chosenGroup);
            var w = _weights.AsSpan(i * stride, stride);
            double sum = 0;
            foreach (int tok in tokens) sum += w[tok];
            double u = Uniform() * sum;
            token = tokens[^1];
            foreach (int tok in tokens)
            {
                u -= w[tok];
                if (u < 0) { token = tok; break; }
            }
        }
        return chosen;
    }
}
