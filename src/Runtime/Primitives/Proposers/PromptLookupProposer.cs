namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// Prompt lookup decoding (Saxena 2023; "LLMA", Yang et al. 2023): find the most recent earlier occurrence of the
/// context's last n tokens — n from <c>maxNgram</c> down to <c>minNgram</c> — and propose the tokens that followed it.
/// Summaries, edits and code repeat their input, so the copy is often right. Deterministic and free: no model runs.
/// </summary>
public sealed class PromptLookupProposer : IProposer
{
    private readonly int _maxNgram;
    private readonly int _minNgram;
    private readonly int _maxLength;
    private int _length;
    private readonly int[] _draft;

    public PromptLookupProposer(int maxNgram, int minNgram, int length)
    {
        if (minNgram < 1 || maxNgram < minNgram) throw new ArgumentOutOfRangeException(nameof(minNgram), $"Need 1 <= min_ngram <= max_ngram; got {minNgram}..{maxNgram}.");
        _maxNgram = maxNgram;
        _minNgram = minNgram;
        _length = _maxLength = length;
        _draft = new int[length];
    }

    /// <summary>Tokens copied per step, at most the length the proposer was built for; a length state sets it before each step (0: none).</summary>
    public int Length
    {
        get => _length;
        set => _length = Math.Clamp(value, 0, _maxLength);
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    public void Reset(CausalContext context) { }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        if (_length == 0) return;
        var tokens = context.Tokens;
        int start = FindContinuation(tokens, _maxNgram, _minNgram);
        if (start < 0) return;
        // Copy what followed the match; when the copy reaches the end of the text it continues from its own output,
        // as an overlapping LZ77 copy does: text that repeats with period p = Length - start is drafted for `length`
        // tokens, not only for p (llama.cpp's lookup gets the same by drafting token by token, each looked up anew).
        int length = tokens.Length;
        for (int k = 0; k < _length; k++)
        {
            int at = start + k; // start < length, so a position past the text is one this loop already drafted
            _draft[k] = at < length ? tokens[at] : _draft[at - length];
        }
        tree.AddChain(0, _draft.AsSpan(0, _length), source);
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    /// <summary>
    /// Index of the first token after the latest earlier match of the longest suffix n-gram, or -1.
    /// Scans right to left so the most recent occurrence wins (recent text predicts best).
    /// </summary>
    public static int FindContinuation(ReadOnlySpan<int> tokens, int maxNgram, int minNgram)
    {
        for (int n = Math.Min(maxNgram, tokens.Length - 1); n >= minNgram; n--)
        {
            var suffix = tokens.Slice(tokens.Length - n);
            for (int i = tokens.Length - n - 1; i >= 0; i--)
                if (tokens.Slice(i, n).SequenceEqual(suffix)) return i + n;
        }
        return -1;
    }

    public void Dispose() { }
}
