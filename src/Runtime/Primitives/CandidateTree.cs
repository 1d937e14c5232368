using Pardec.Runtime.Constraints;

namespace Pardec.Runtime.Primitives;

/// <summary>
/// The candidates of one verification step, as a token tree held in preallocated host arrays.
/// Node 0 is the root: the last committed token, whose key/value is not in the target cache yet
/// (gpt-fast's invariant — every step forwards the root plus its candidates, so the root's logits give
/// the target's next-token distribution and a fully rejected step still commits one token).
/// A chain is a tree whose nodes each have one child. Proposers that run side by side merge into one
/// trie: adding a token that a node already has as a child returns the existing node (SpecInfer's merge).
/// </summary>
public sealed class CandidateTree
{
    public const int NoNode = -1;

    private readonly int[] _tokens;
    private readonly int[] _parents;
    private readonly int[] _depths;
    private readonly int[] _firstChild;
    private readonly int[] _nextSibling;
    private readonly int[] _source;
    private readonly float[] _draftProbability;
    // Constrained decoding: the matcher state after each node's token (root = the committed text's state), kept as
    // nodes are added, so the verifier's masks and grammar-aware proposers read a node's state without walking the path.
    private readonly int[] _constraintState;
    private TokenMatcher? _matcher;
    private bool _prune;

    public CandidateTree(int capacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "A tree needs room for at least its root.");
        Capacity = capacity;
        _tokens = new int[capacity];
        _parents = new int[capacity];
        _depths = new int[capacity];
        _firstChild = new int[capacity];
        _nextSibling = new int[capacity];
        _source = new int[capacity];
        _draftProbability = new float[capacity];
        _constraintState = new int[capacity];
    }

    /// <summary>The constraint this step's nodes are checked against, or null.</summary>
    public TokenMatcher? Matcher => _matcher;

    /// <summary>Whether proposers draw under the constraint and forbidden nodes are never added (grammar-aware drafting).</summary>
    public bool ConstrainsProposals => _matcher is not null && _prune;

    /// <summary>The constraint state after node <paramref name="node"/>'s token (<see cref="TokenMatcher.Dead"/> when the constraint forbids the path).</summary>
    public int ConstraintState(int node) => _constraintState[node];

    /// <summary>Whether a proposer may add a child under <paramref name="node"/>: always without a constraint; with one, unless
    /// the path is already dead or finished.</summary>
    public bool CanExtend(int node) => _matcher is null || !_prune || _constraintState[node] >= 0;

    /// <summary>
    /// Resets the tree for a constrained step: the root stands in <paramref name="rootState"/> of <paramref name="matcher"/>.
    /// With <paramref name="prune"/>, a child the constraint forbids is refused (<see cref="AddChild"/> returns
    /// <see cref="NoNode"/>), so no verification is spent on it.
    /// </summary>
    public void Reset(int rootToken, TokenMatcher? matcher, int rootState, bool prune)
    {
        Reset(rootToken);
        _matcher = matcher;
        _prune = prune;
        _constraintState[0] = rootState;
    }

    /// <summary>Most nodes (root included) one verification forward may carry.</summary>
    public int Capacity { get; }

    /// <summary>Nodes in the tree, root included.</summary>
    public int Count { get; private set; }

    /// <summary>Deepest node's depth (root = 0): the most tokens this step can accept before the bonus token.</summary>
    public int MaxDepth { get; private set; }

    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, Count);
    public ReadOnlySpan<int> Parents => _parents.AsSpan(0, Count);
    public ReadOnlySpan<int> Depths => _depths.AsSpan(0, Count);

    /// <summary>Which proposer added each node (its index in the strategy's propose list); the root is -1.</summary>
    public ReadOnlySpan<int> Sources => _source.AsSpan(0, Count);

    /// <summary>q(token) under the distribution the proposer sampled it from, for rejection sampling; 0 when unknown.</summary>
    public ReadOnlySpan<float> DraftProbabilities => _draftProbability.AsSpan(0, Count);

    public int Token(int node) => _tokens[node];
    public int Parent(int node) => _parents[node];
    public int Depth(int node) => _depths[node];
    public int FirstChild(int node) => _firstChild[node];
    public int NextSibling(int node) => _nextSibling[node];

    /// <summary>True when every node has at most one child (a chain), which rejection sampling needs.</summary>
    public bool IsChain => MaxDepth == Count - 1;

    public void Reset(int rootToken)
    {
        Count = 1;
        MaxDepth = 0;
        _matcher = null;
        _tokens[0] = rootToken;
        _parents[0] = NoNode;
        _depths[0] = 0;
        _firstChild[0] = NoNode;
        _nextSibling[0] = NoNode;
        _source[0] = -1;
        _draftProbability[0] = 0f;
    }

    /// <summary>The child of <paramref name="parent"/> carrying <paramref name="token"/>, or <see cref="NoNode"/>.</summary>
    public int FindChild(int parent, int token)
    {
        for (int c = _firstChild[parent]; c != NoNode; c = _nextSibling[c])
            if (_tokens[c] == token) return c;
        return NoNode;
    }

    /// <summary>
    /// Adds <paramref name="token"/> under <paramref name="parent"/>, or returns the existing child with that token.
    /// Returns <see cref="NoNode"/> when the tree is full, so proposers stop cleanly at the verify budget.
    /// </summary>
    public int AddChild(int parent, int token, int source = 0, float draftProbability = 0f)
    {
        int existing = FindChild(parent, token);
        if (existing != NoNode) return existing;
        if (Count == Capacity) return NoNode;
        int state = 0;
        if (_matcher is not null)
        {
            state = _matcher.Next(_constraintState[parent], token);
            if (_prune && state == TokenMatcher.Dead) return NoNode;
        }
        int node = Count++;
        _constraintState[node] = state;
        _tokens[node] = token;
        _parents[node] = parent;
        _depths[node] = _depths[parent] + 1;
        _firstChild[node] = NoNode;
        _nextSibling[node] = NoNode;
        _source[node] = source;
        _draftProbability[node] = draftProbability;
        // Append as the last sibling so children keep proposal order (earlier = more likely).
        if (_firstChild[parent] == NoNode) _firstChild[parent] = node;
        else
        {
            int c = _firstChild[parent];
            while (_nextSibling[c] != NoNode) c = _nextSibling[c];
            _nextSibling[c] = node;
        }
        if (_depths[node] > MaxDepth) MaxDepth = _depths[node];
        return node;
    }

    /// <summary>Adds a chain of tokens below <paramref name="parent"/>; returns how many were placed.</summary>
    public int AddChain(int parent, ReadOnlySpan<int> tokens, int source = 0)
    {
        int placed = 0;
        foreach (int t in tokens)
        {
            int node = AddChild(parent, t, source);
            if (node == NoNode) break;
            parent = node;
            placed++;
        }
        return placed;
    }

    /// <summary>True when <paramref name="ancestor"/> is <paramref name="node"/> or lies on its path to the root.</summary>
    public bool IsAncestorOrSelf(int ancestor, int node)
    {
        while (node != NoNode && _depths[node] >= _depths[ancestor])
        {
            if (node == ancestor) return true;
            node = _parents[node];
        }
        return false;
    }
}
