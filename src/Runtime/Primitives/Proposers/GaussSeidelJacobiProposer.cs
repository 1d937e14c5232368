namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// Hybrid Gauss-Seidel-Jacobi decoding (HGJ; Santilli et al., ACL 2023, arXiv 2305.10427,
/// <c>src/ipi/decoders/hybrid_jacobi.py</c>): the output is cut into blocks of <c>blockSize</c> tokens; inside the
/// first unfinished block the guesses follow the Jacobi fixed-point update (each guess becomes the target's
/// prediction from the previous iteration), while the blocks after it are solved in Gauss-Seidel order — they keep
/// their guesses until every block before them is committed, and only then start iterating.
/// Here each iteration is a speculative step: the whole window (current block, then the held blocks) is proposed as
/// one chain, the greedy rule commits its verified prefix exactly, and <see cref="Observe"/> re-proposes only the
/// current block's guesses from the target's picks. Blocks are aligned to absolute positions counted from the end of
/// the prompt, as in the paper. The output is plain greedy whatever the guesses are (greedy acceptance decides).
/// </summary>
public sealed class GaussSeidelJacobiProposer : IProposer
{
    private readonly int _blockSize, _window;
    private readonly int[] _guesses;   // guess for position root + 1 + i
    private readonly int[] _next;      // scratch for the shifted window
    private readonly int[] _nodes;     // tree node of each placed guess this step
    private int _placed, _rootPosition, _limit;

    /// <param name="window">Guesses per step, cut into <paramref name="blocks"/> blocks of equal size.</param>
    public GaussSeidelJacobiProposer(int window, int blocks)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocks);
        if (window % blocks != 0)
            throw new ArgumentException($"A window of {window} cannot be cut into {blocks} equal blocks.", nameof(blocks));
        _blockSize = window / blocks;
        _window = _limit = window;
        _guesses = new int[_window];
        _next = new int[_window];
        _nodes = new int[_window];
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    /// <summary>The guesses the next step will propose, for positions root + 1, root + 2, … (for tests and traces).</summary>
    public ReadOnlySpan<int> Guesses => _guesses;

    /// <summary>Guesses proposed per step, at most the window (a length state sets it before each step; 0 proposes nothing).</summary>
    public int Window
    {
        get => _limit;
        set => _limit = Math.Clamp(value, 0, _window);
    }

    /// <summary>How many guesses the last step placed in the tree.</summary>
    public int Placed => _placed;

    /// <summary>Index (from the end of the prompt) of the block that position <paramref name="position"/> belongs to.</summary>
    public int BlockOf(CausalContext context, int position) => (position - context.PromptLength) / _blockSize;

    public void Reset(CausalContext context)
    {
        // Initial guesses: a copy of the prompt's tail, as JacobiProposer does (the paper starts from PAD tokens).
        var tokens = context.Tokens;
        for (int i = 0; i < _window; i++) _guesses[i] = tokens[Math.Max(0, tokens.Length - _window + i)];
        _placed = 0;
    }

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        _rootPosition = context.Length - 1;
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
        if (picks.Length == 0) return; // the rule did not pick per node; keep the guesses
        // The old root is at _rootPosition; guess i (node _nodes[i]) sat at _rootPosition + 1 + i, and the target's pick
        // at node _nodes[i] predicts position _rootPosition + 2 + i. The new root is at context.Length - 1.
        int newRoot = context.Length - 1;
        int shift = newRoot - _rootPosition;                    // k + 1 for k accepted tokens
        int currentBlock = BlockOf(context, newRoot + 1);       // the first block with an uncommitted position
        int last = outcome.NextToken;
        for (int s = 0; s < _window; s++)
        {
            int position = newRoot + 1 + s;
            int old = s + shift;                                // this position's index in the old window
            int pickNode = old - 1;                             // node whose pick predicts it (-1 = the root)
            bool hasPick = pickNode >= -1 && pickNode < _placed;
            int pick = hasPick ? (int)picks[pickNode < 0 ? 0 : _nodes[pickNode]] : last;
            int guess;
            if (BlockOf(context, position) == currentBlock) guess = pick;          // Jacobi inside the current block
            else if (old < _placed) guess = _guesses[old];                           // Gauss-Seidel: later blocks wait
            else guess = hasPick ? pick : last;                                      // a position new to the window
            _next[s] = guess;
            last = guess;
        }
        _next.AsSpan().CopyTo(_guesses);
    }

    public void Dispose() { }
}
