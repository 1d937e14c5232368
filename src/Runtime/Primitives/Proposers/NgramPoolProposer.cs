namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// The n-gram pool of lookahead decoding (Fu et al. 2024): n-grams keyed by their first token; at each step the
/// n-grams that start with the root are proposed as parallel branches of the tree (up to <c>guesses</c> of them).
/// The pool is filled from two sources, kept in separate tiers:
/// <list type="bullet">
/// <item><b>verified</b> — n-grams of the committed text (prompt and output), which the target has already produced
/// or read (the lookahead reference implementation's <c>POOL_FROM_PROMPT</c>, extended to the output);</item>
/// <item><b>speculative</b> — n-grams from the Jacobi window's trajectory: each window token followed by the target's
/// predictions after it.</item>
/// </list>
/// Verified n-grams are proposed first (most recent first), then speculative ones: a Jacobi trajectory built on
/// unconverged guesses is often wrong, and on small models letting its n-grams displace text the target actually
/// produced costs more acceptance than it adds. An n-gram in both tiers is proposed once (the tree merges equal paths).
/// </summary>
public sealed class NgramPoolProposer : IProposer
{
    private readonly int _n;
    private readonly int _maxGuesses;
    private int _guesses;
    private readonly Tier _verified;
    private readonly Tier _speculative;
    private readonly int[] _scratch;
    private readonly bool _fromContext;
    private int _indexedUpTo;

    /// <param name="n">The n-gram length.</param>
    /// <param name="guesses">N-grams proposed per step.</param>
    /// <param name="perKey">N-grams kept per first token (at least <paramref name="guesses"/>).</param>
    /// <param name="fromContext">Whether the pool learns the committed text's n-grams (<c>update pool from context</c>);
    /// without it only <see cref="AddFromJacobi"/> fills it.</param>
    public NgramPoolProposer(int n, int guesses, int perKey = 0, bool fromContext = true)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), n, "An n-gram pool needs n >= 2.");
        _n = n;
        _guesses = _maxGuesses = guesses;
        _fromContext = fromContext;
        int capacity = Math.Max(perKey, Math.Max(guesses, 1));
        _verified = new Tier(n - 1, capacity);
        _speculative = new Tier(n - 1, capacity);
        _scratch = new int[n];
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;
    public int N => _n;

    /// <summary>N-grams proposed per step, at most the guesses the proposer was built for (a length state sets it before each step).</summary>
    public int Guesses
    {
        get => _guesses;
        set => _guesses = Math.Clamp(value, 0, _maxGuesses);
    }

    public void Reset(CausalContext context)
    {
        _verified.Clear();
        _speculative.Clear();
        _indexedUpTo = 0;
        IndexContext(context);
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        int left = _guesses;
        left -= _verified.Propose(context.Root, tree, source, left);
        _speculative.Propose(context.Root, tree, source, left);
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) => IndexContext(context);

    /// <summary>Adds the n-grams a Jacobi window produced: each window token followed by the target's next picks.</summary>
    public void AddFromJacobi(CausalContext context, JacobiProposer jacobi)
    {
        var picks = context.LastPicks;
        var nodes = jacobi.Nodes;
        var window = jacobi.Proposed;
        if (picks.Length == 0) return;
        for (int j = 0; j + _n - 1 <= nodes.Length; j++)
        {
            _scratch[0] = window[j];
            for (int t = 1; t < _n; t++) _scratch[t] = (int)picks[nodes[j + t - 1]];
            _speculative.Add(_scratch);
        }
    }

    private void IndexContext(CausalContext context)
    {
        if (!_fromContext) return;
        var tokens = context.Tokens;
        for (int end = Math.Max(_indexedUpTo, _n); end <= tokens.Length; end++) _verified.Add(tokens.Slice(end - _n, _n));
        _indexedUpTo = Math.Max(_indexedUpTo, tokens.Length + 1);
    }

    public void Dispose() { }

    /// <summary>
    /// Per first token, a ring of up to <c>capacity</c> distinct continuations of <c>length</c> tokens, in flat arrays
    /// indexed by the token id (grown by doubling to the largest id seen, then reused across steps and decodes), so
    /// adding and proposing allocate nothing once the vocabulary's ids have been seen.
    /// </summary>
    private sealed class Tier(int length, int capacity)
    {
        private int[] _counts = new int[256];                      // per key: continuations ever added (the ring overwrites the oldest)
        private int[] _slots = new int[256 * capacity * length];   // per key: capacity slots of length tokens

        /// <summary>Empties every ring but keeps the arrays, so the next decode allocates nothing.</summary>
        public void Clear() => Array.Clear(_counts);

        /// <summary>Proposes up to <paramref name="limit"/> continuations of <paramref name="key"/>, most recent first; returns how many.</summary>
        public int Propose(int key, CandidateTree tree, int source, int limit)
        {
            if (limit <= 0 || key < 0 || key >= _counts.Length) return 0;
            int count = _counts[key];
            int stored = Math.Min(count, capacity);
            int proposed = 0;
            for (int g = 0; g < stored && proposed < limit; g++, proposed++)
            {
                int slot = (count - 1 - g) % capacity; // most recent first
                tree.AddChain(0, Slot(key, slot), source);
            }
            return proposed;
        }

        public void Add(ReadOnlySpan<int> ngram)
        {
            int key = ngram[0];
            if (key < 0) return;
            if (key >= _counts.Length) Grow(key);
            var continuation = ngram.Slice(1);
            int count = _counts[key];
            int stored = Math.Min(count, capacity);
            for (int s = 0; s < stored; s++) // already present: keep it where it is
                if (Slot(key, s).SequenceEqual(continuation)) return;
            continuation.CopyTo(Slot(key, count % capacity));
            _counts[key] = count + 1;
        }

        private Span<int> Slot(int key, int slot) => _slots.AsSpan((key * capacity + slot) * length, length);

        private void Grow(int key)
        {
            int size = _counts.Length;
            while (size <= key) size *= 2;
            Array.Resize(ref _counts, size);
            Array.Resize(ref _slots, size * capacity * length);
        }
    }
}
