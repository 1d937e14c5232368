using TorchSharp;
using static TorchSharp.torch;

namespace Pardec.Runtime.Primitives.Acceptance;

/// <summary>
/// Exact verification (Stern et al. 2018; Leviathan et al. 2023 with a deterministic draft): walk down from the root,
/// following the child whose token equals the target's own pick at the current node. The walk stops at the first node
/// with no such child; the target's pick there is the next token. The committed text is therefore exactly what the
/// target alone would have produced — token for token under greedy, in distribution under seeded sampling.
/// </summary>
public sealed class GreedyAcceptance : IAcceptanceRule
{
    /// <summary>The rule as an instance, for engines that hold every rule the same way; draft distributions are not read.</summary>
    public void Accept(CandidateTree tree, Tensor logits /* [n, vocab] */, Tensor? draftDistributions, NodeSampler sampler, StepOutcome outcome) =>
        Accept(tree, logits, sampler, outcome);

    public void Dispose() { }

    public static void Accept(CandidateTree tree, Tensor logits /* [n, vocab] */, NodeSampler sampler, StepOutcome outcome)
    {
        outcome.Clear();
        var picks = sampler.Pick(logits);
        int node = 0;
        while (true)
        {
            int target = (int)picks[node];
            int child = tree.FindChild(node, target);
            if (child == CandidateTree.NoNode) { outcome.NextToken = target; return; }
            outcome.Accept(child, target);
            node = child;
        }
    }
}
