namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// The n-gram pool of lookahead decoding (Fu et al. 2024): n-grams keyed by their first token; at each step the
/// n-grams that start with the root are proposed as parallel branches of the tree (up to <c>guesses</c> of them,
/// most recent first). The pool is filled from the committed text and from the Jacobi window's trajectory: each window
/// token followed by the target's predictions after it forms an n-gram the target itself generated.
/// </summary>
public sealed class NgramPoolProposer : IProposer
{
    private readonly int _n;
    private readonly int _guesses;
    private readonly int _perKey;
    // Per first token: a ring of up to _perKey continuations of n - 1 tokens. Allocated when a key first appears.
    private readonly Dictionary<int, int[]> _pool = new();
    private readonly Dictionary<int, int> _count = new();
    private readonly int[] _scratch;
    private int _indexedUpTo;

    public NgramPoolProposer(int n, int guesses, int perKey = 0)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), n, "An n-gram pool needs n >= 2.");
        _n = n;
        _guesses = guesses;
        _perKey = Math.Max(perKey, Math.Max(guesses, 1));
        _scratch = new int[n];
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;
    public int N => _n;

    public void Reset(CausalContext context)
    {
        _pool.Clear();
        _count.Clear();
        _indexedUpTo = 0;
        IndexContext(context);
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        if (_guesses == 0 || !_pool.TryGetValue(context.Root, out var ring)) return;
        int stored = Math.Min(_count[context.Root], _perKey);
        int next = _count[context.Root] % _perKey;
        for (int g = 0; g < Math.Min(_guesses, stored); g++)
        {
            int slot = (next - 1 - g + _perKey) % _perKey; // most recent first
            tree.AddChain(0, ring.AsSpan(slot * (_n - 1), _n - 1), source);
        }
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) => IndexContext(context);

    /// <summary>Adds the n-grams a Jacobi window produced: each window token followed by the target's next picks.</summary>
    public void AddFromJacobi(CausalContext context, JacobiProposer jacobi)
    {
        var picks = context.LastPicks;
        var nodes = jacobi.Nodes;
        var window = jacobi.Window;
        if (picks.Length == 0) return;
        for (int j = 0; j + _n - 1 <= nodes.Length; j++)
        {
            _scratch[0] = window[j];
            for (int t = 1; t < _n; t++) _scratch[t] = (int)picks[nodes[j + t - 1]];
            Add(_scratch);
        }
    }

    private void IndexContext(CausalContext context)
    {
        var tokens = context.Tokens;
        for (int end = Math.Max(_indexedUpTo, _n); end <= tokens.Length; end++) Add(tokens.Slice(end - _n, _n));
        _indexedUpTo = Math.Max(_indexedUpTo, tokens.Length + 1);
    }

    private void Add(ReadOnlySpan<int> ngram)
    {
        int key = ngram[0];
        if (!_pool.TryGetValue(key, out var ring))
        {
            ring = new int[_perKey * (_n - 1)];
            _pool[key] = ring;
            _count[key] = 0;
        }
        int count = _count[key];
        int stored = Math.Min(count, _perKey);
        for (int s = 0; s < stored; s++) // skip duplicates
            if (ring.AsSpan(s * (_n - 1), _n - 1).SequenceEqual(ngram.Slice(1))) return;
        ngram.Slice(1).CopyTo(ring.AsSpan((count % _perKey) * (_n - 1), _n - 1));
        _count[key] = count + 1;
    }

    public void Dispose() { }
}
