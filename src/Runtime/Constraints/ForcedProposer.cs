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

    public ForcedProposer(int length)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "must be at least 1");
        _length = length;
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
        int parent = 0;
        for (int i = 0; i < _length; i++)
        {
            int state = tree.ConstraintState(parent);
            if (state < 0) return;
            int token;
            int n = matcher.ForcedBytes(state, forced);
            if (n > 0) token = matcher.LongestTokenPrefix(state, forced[..n], out _);
            else token = matcher.ForcedToken(state); // e.g. only the end token remains
            if (token < 0) return;
            int node = tree.AddChild(parent, token, source);
            if (node == CandidateTree.NoNode) return;
            Proposed++;
            parent = node;
        }
    }

    public void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome) { }

    public void Dispose() { }
}
