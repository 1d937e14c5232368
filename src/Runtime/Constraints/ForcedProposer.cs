using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Proposers;

namespace Pardec.Runtime.Constraints;

/// <summary>
/// Jump-forward decoding (SGLang's compressed FSM, Zheng et al. 2024, "SGLang: Efficient Execution of Structured Language
/// Model Programs"), as a proposer: where the constraint leaves only one way to continue the text — a JSON key after
/// <c>{</c>, the <c>": "</c> after it — the forced bytes are tokenised greedily (the longest allowed token that is a prefix
/// of them, repeatedly) and proposed as a chain under the root at no model cost. They are verified like any draft, so
/// the output stays exactly constrained greedy: where the target would tokenise the forced text differently, its own
/// pick wins and the chain is cut there. Proposes nothing on an unconstrained decode.
/// </summary>
public sealed class ForcedProposer : IProposer
{
    private const int MaxForcedBytes = 256;
    private readonly int _length;
    private readonly int _branching;
    private readonly int[] _queue;
    private readonly int[] _alternatives;

    /// <param name="length">Most nodes proposed per step.</param>
    /// <param name="branching">Tokenisations tried at each node: 1 proposes the greedy longest-match chain; more adds the
    /// next-longest allowed prefixes as siblings (a small tree, expanded breadth-first), since the target may spell the
    /// forced text in shorter pieces than the longest match.</param>
    public ForcedProposer(int length, int branching = 1)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "must be at least 1");
        if (branching < 1) throw new ArgumentOutOfRangeException(nameof(branching), branching, "must be at least 1");
        _length = length;
        _branching = branching;
        _queue = new int[length + 1];
        _alternatives = new int[branching];
    }

    public bool NeedsHidden => false;
    public bool HasDistributions => false;

    /// <summary>Tokens proposed over the decode (for statistics).</summary>
    public int Proposed { get; private set; }

    public void Reset(CausalContext context) => Proposed = 0;

    public void Propose(CausalContext context, CandidateTree tree, int source)
    {
        if (tree.Matcher is not { } matcher) return;
        Span<byte> forced = stackalloc byte[MaxForcedBytes];
        int head = 0, tail = 0, budget = _length;
        _queue[tail++] = 0;
        while (head < tail && budget > 0)
        {
            int parent = _queue[head++];
            int state = tree.ConstraintState(parent);
            if (state < 0) continue;
            int n = matcher.ForcedBytes(state, forced);
            int count;
            if (n > 0) count = matcher.AllowedPrefixTokens(state, forced[..n], _alternatives);
            else
            {
                int only = matcher.ForcedToken(state); // e.g. only the end token remains
                count = only < 0 ? 0 : 1;
                if (only >= 0) _alternatives[0] = only;
            }
            for (int k = 0; k < count && budget > 0; k++)
            {
                int node = tree.AddChild(parent, _alternatives[k], source);
                if (node == CandidateTree.NoNode) return;
                Proposed++;
                budget--;
                if (tail < _queue.Length) _queue[tail++] = node;
            }
        }
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    public void Dispose() { }
}
