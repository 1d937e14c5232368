namespace Pardec.Runtime.Primitives.Proposers;

/// <summary>
/// Where candidates come from. A proposer adds nodes to the step's tree (under the root), and after the step it sees
/// what was accepted so it can update its own state (a draft model's cache, a Jacobi window, an n-gram pool).
/// Generated decoders call the concrete sealed types directly; the plan interpreter goes through this interface.
/// </summary>
public interface IProposer : IDisposable
{
    /// <summary>True when the proposer reads <see cref="CausalContext.RootHidden"/>, so verification must return hidden states.</summary>
    bool NeedsHidden { get; }

    /// <summary>True when the proposer's nodes carry the draft distribution q they were sampled from (for rejection sampling).</summary>
    bool HasDistributions { get; }

    void Reset(CausalContext context);

    void Propose(CausalContext context, CandidateTree tree, int source);

    /// <summary>Called after the accepted tokens were appended to <paramref name="context"/>.</summary>
    void Observe(CausalContext context, CandidateTree tree, StepOutcome outcome);
}
