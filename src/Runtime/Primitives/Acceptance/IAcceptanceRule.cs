using TorchSharp;

namespace Pardec.Runtime.Primitives.Acceptance;

/// <summary>
/// Decides which candidates of a verified tree survive. Every rule takes the same arguments, so engines hold any rule
/// the same way: generated decoders call the concrete sealed type, the plan interpreter this interface.
/// </summary>
public interface IAcceptanceRule : IDisposable
{
    /// <param name="logits"><c>[n, vocab]</c>: the target's logits at every node of the tree.</param>
    /// <param name="draftDistributions"><c>[capacity, vocab]</c>: the q each node was sampled from, when a proposer keeps it.</param>
    void Accept(CandidateTree tree, torch.Tensor logits, torch.Tensor? draftDistributions, NodeSampler sampler, StepOutcome outcome);
}
