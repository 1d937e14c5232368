namespace Pardec.Runtime.Masked;

/// <summary>
/// The predictions for one block of a masked canvas, as host spans indexed by block offset (offset 0 is canvas
/// position <see cref="Start"/>): the model's confidence (probability of <see cref="Tokens"/>), its token (argmax, or
/// the seeded sample), the margin (top-1 minus top-2 probability) and whether the position is still masked. Commit
/// rules read only this, so they can be tested on hand-made vectors; values at unmasked offsets are ignored.
/// </summary>
public readonly ref struct MaskedBlock
{
    public MaskedBlock(int start, ReadOnlySpan<double> confidence, ReadOnlySpan<long> tokens,
                       ReadOnlySpan<double> margin, ReadOnlySpan<bool> masked)
    {
        if (tokens.Length != confidence.Length || margin.Length != confidence.Length || masked.Length != confidence.Length)
            throw new ArgumentException("confidence, tokens, margin and masked must have the same length.");
        Start = start; Confidence = confidence; Tokens = tokens; Margin = margin; Masked = masked;
    }

    /// <summary>The canvas position of offset 0.</summary>
    public int Start { get; }
    public int Length => Confidence.Length;
    public ReadOnlySpan<double> Confidence { get; }
    public ReadOnlySpan<long> Tokens { get; }
    public ReadOnlySpan<double> Margin { get; }
    public ReadOnlySpan<bool> Masked { get; }

    public int MaskedCount
    {
        get
        {
            int n = 0;
            foreach (bool m in Masked) if (m) n++;
            return n;
        }
    }
}

/// <summary>
/// The positions (block offsets) a commit rule chose this step and the token each gets, in the order chosen.
/// Preallocated for the largest block; rewritten each step.
/// </summary>
public sealed class MaskedSelection
{
    private readonly int[] _offsets;
    private readonly long[] _tokens;
    private readonly bool[] _chosen;
    private readonly int[] _order; // scratch for ranking

    public MaskedSelection(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _offsets = new int[capacity];
        _tokens = new long[capacity];
        _chosen = new bool[capacity];
        _order = new int[capacity];
    }

    public int Capacity => _offsets.Length;
    public int Count { get; private set; }
    public ReadOnlySpan<int> Offsets => _offsets.AsSpan(0, Count);
    public ReadOnlySpan<long> Tokens => _tokens.AsSpan(0, Count);

    public void Clear()
    {
        for (int i = 0; i < Count; i++) _chosen[_offsets[i]] = false;
        Count = 0;
    }

    public bool Contains(int offset) => _chosen[offset];

    public void Add(int offset, long token)
    {
        if (_chosen[offset]) throw new InvalidOperationException($"offset {offset} is already selected.");
        _chosen[offset] = true;
        _offsets[Count] = offset;
        _tokens[Count] = token;
        Count++;
    }

    /// <summary>
    /// The masked offsets of <paramref name="block"/> ordered by <paramref name="score"/> descending, ties by the lower
    /// offset (the order every rule's "most confident first" uses). Returns the count; valid until the next call.
    /// </summary>
    internal ReadOnlySpan<int> Rank(in MaskedBlock block, ReadOnlySpan<double> score)
    {
        int n = 0;
        for (int i = 0; i < block.Length; i++)
        {
            if (!block.Masked[i]) continue;
            // Insertion sort: blocks are tens of positions, and this allocates nothing.
            int j = n++;
            while (j > 0 && score[_order[j - 1]] < score[i]) { _order[j] = _order[j - 1]; j--; }
            _order[j] = i;
        }
        return _order.AsSpan(0, n);
    }

    /// <summary>Tops the selection up to <paramref name="atLeast"/> with the best not-yet-chosen masked offsets by <paramref name="score"/>.</summary>
    internal void FillTo(in MaskedBlock block, ReadOnlySpan<double> score, int atLeast)
    {
        if (Count >= atLeast) return;
        foreach (int i in Rank(block, score))
        {
            if (Count >= atLeast) break;
            if (!_chosen[i]) Add(i, block.Tokens[i]);
        }
    }
}
