namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// Jacobi decoding (Santilli et al. 2023): guess the next <c>window</c> tokens, run them through the target in
/// parallel, and replace each guess by the target's prediction at the position before it — a fixed-point iteration
/// that converges to the greedy continuation. The verified prefix is committed each step (the greedy acceptance rule
/// makes that exact), and the remaining predictions become the next step's guesses. Guesses start as a copy of the
/// prompt's tail, which is as good as any and better than padding for repetitive text.
/// </summary>
public sealed class JacobiProposer : IProposer
{
    private readonly int _window;
    private readonly int[] _guesses;
    private readonly int[] _nodes;
    private int _placed, _limit;

    public JacobiProposer(int window)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), window, "The Jacobi window holds at least one token.");
        _window = _limit = window;
        _guesses = new int[window];
        _nodes = new int[window];
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    /// <summary>
    /// Guesses proposed per step, at most the window the proposer was built for; a length state (<c>cost_aware</c>) sets
    /// it before each step, 0 proposing nothing. The guesses past it keep iterating on the target's picks all the same.
    /// </summary>
    public int Window
    {
        get => _limit;
        set => _limit = Math.Clamp(value, 0, _window);
    }

    /// <summary>This step's window as proposed (for n-gram pool updates and traces).</summary>
    public ReadOnlySpan<int> Proposed => _guesses.AsSpan(0, _placed);

    /// <summary>The tree node of each window token this step.</summary>
    public ReadOnlySpan<int> Nodes => _nodes.AsSpan(0, _placed);

    public void Reset(CausalContext context)
    {
        var tokens = context.Tokens;
        for (int i = 0; i < _window; i++) _guesses[i] = tokens[Math.Max(0, tokens.Length - _window + i)];
        _placed = 0;
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        int parent = 0;
        _placed = 0;
        for (int i = 0; i < _limit; i++)
        {
            int node = tree.AddChild(parent, _guesses[i], source);
            if (node == CandidateTree.NoNode) break;
            _nodes[_placed++] = node;
            parent = node;
        }
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome)
    {
        var picks = context.LastPicks;
        if (picks.Length == 0) return; // the step's rule did not pick per node; keep the old guesses
        // Window node j sits j + 1 positions after the old root, and the target's pick there predicts the token
        // j + 2 positions after it. The new root sits k + 1 positions after the old one, so the next step's slot 0
        // (k + 2 positions after the old root) takes the pick at node k: the first rejected guess's prediction,
        // which is exactly the Jacobi update of that position.
        int k = outcome.AcceptedCount;
        int fill = 0;
        for (int j = k; j < _placed && fill < _window; j++) _guesses[fill++] = (int)picks[_nodes[j]];
        int last = fill > 0 ? _guesses[fill - 1] : outcome.NextToken;
        while (fill < _window) _guesses[fill++] = last;
    }

    public void Dispose() { }
}
