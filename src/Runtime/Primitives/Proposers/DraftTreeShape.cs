namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// A static draft-token-tree shape (SpecInfer / Medusa "choices" / Sequoia's <c>grow_map</c>), as plain arrays.
/// Node 0 is the root (the step's last committed token); node i &gt; 0 hangs under <see cref="Parents"/>[i] and carries
/// the draft's rank-<see cref="Choices"/>[i] token (0 = the draft's argmax) at its parent. Nodes are in level order
/// (depths non-decreasing), so one draft forward per depth expands a whole level; siblings have distinct ranks.
/// Everything derived (depths, level ranges) is computed once here, so the proposer's step does no shape work.
/// </summary>
public sealed class DraftTreeShape
{
    private readonly int[] _parents;
    private readonly int[] _choices;
    private readonly int[] _depths;
    private readonly int[] _levelStart; // [maxDepth + 2]: nodes of depth d are [_levelStart[d], _levelStart[d + 1])

    /// <param name="parents">Parent of each node; <c>parents[0]</c> (the root) is ignored and stored as -1.</param>
    /// <param name="choices">Draft rank each node takes at its parent; <c>choices[0]</c> is ignored and stored as -1.</param>
    public DraftTreeShape(int[] parents, int[] choices)
    {
        ArgumentNullException.ThrowIfNull(parents);
        ArgumentNullException.ThrowIfNull(choices);
        if (parents.Length == 0) throw new ArgumentException("A tree shape holds at least its root.", nameof(parents));
        if (choices.Length != parents.Length) throw new ArgumentException("parents and choices must have one entry per node.", nameof(choices));
        int n = parents.Length;
        _parents = new int[n];
        _choices = new int[n];
        _depths = new int[n];
        _parents[0] = -1;
        _choices[0] = -1;
        for (int i = 1; i < n; i++)
        {
            int parent = parents[i];
            if (parent < 0 || parent >= i)
                throw new ArgumentException($"parents[{i}] = {parent}: a parent must come before its child.", nameof(parents));
            if (choices[i] < 0) throw new ArgumentException($"choices[{i}] = {choices[i]} must be a rank >= 0.", nameof(choices));
            _parents[i] = parent;
            _choices[i] = choices[i];
            _depths[i] = _depths[parent] + 1;
            if (_depths[i] < _depths[i - 1])
                throw new ArgumentException($"node {i} is shallower than node {i - 1}: nodes must be in level order.", nameof(parents));
            for (int s = 1; s < i; s++)
                if (_parents[s] == parent && _choices[s] == choices[i])
                    throw new ArgumentException($"nodes {s} and {i} take the same rank {choices[i]} under node {parent}.", nameof(choices));
            MaxRank = Math.Max(MaxRank, choices[i] + 1);
        }
        MaxDepth = _depths[n - 1];
        _levelStart = new int[MaxDepth + 2];
        for (int d = 0, i = 0; d <= MaxDepth + 1; d++)
        {
            while (i < n && _depths[i] < d) i++;
            _levelStart[d] = i;
        }
    }

    /// <summary>Nodes, root included.</summary>
    public int Count => _parents.Length;
    public int MaxDepth { get; }

    /// <summary>One more than the largest rank any node takes: the top-k the draft must compute.</summary>
    public int MaxRank { get; }

    public ReadOnlySpan<int> Parents => _parents;
    public ReadOnlySpan<int> Choices => _choices;
    public ReadOnlySpan<int> Depths => _depths;

    /// <summary>First node of depth <paramref name="depth"/>.</summary>
    public int LevelStart(int depth) => _levelStart[depth];

    /// <summary>Nodes at depth <paramref name="depth"/>.</summary>
    public int LevelCount(int depth) => _levelStart[depth + 1] - _levelStart[depth];

    /// <summary>A chain of <paramref name="length"/> argmax nodes: plain draft-model speculation as a tree.</summary>
    public static DraftTreeShape Chain(int length)
    {
        var parents = new int[length + 1];
        var choices = new int[length + 1];
        for (int i = 1; i <= length; i++) parents[i] = i - 1;
        return new DraftTreeShape(parents, choices);
    }

    /// <summary>Expected tokens accepted per step (bonus token excluded) under positional acceptance probabilities.</summary>
    public double ExpectedAccepted(ReadOnlySpan<double> acceptanceByRank)
    {
        Span<double> path = Count <= 256 ? stackalloc double[Count] : new double[Count];
        path[0] = 1;
        double total = 0;
        for (int i = 1; i < Count; i++)
        {
            path[i] = path[_parents[i]] * (_choices[i] < acceptanceByRank.Length ? acceptanceByRank[_choices[i]] : 0);
            total += path[i];
        }
        return total;
    }
}
