using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// Typical acceptance reads CPU logits on the host. Its decisions must be Medusa's rule, computed here independently
/// in float64 with torch: accept a node when p_parent(token) > min(ε, δ·exp(−H(p_parent))) along an accepted path,
/// keep the deepest such path (the earlier node on ties), then take the target's greedy pick after it.
/// </summary>
public sealed class TypicalAcceptanceHostTests
{
    [Fact]
    public void Host_thresholds_accept_the_paths_the_rule_accepts()
    {
        const int Vocab = 30;
        const double Epsilon = 0.3, Delta = 0.6;
        int[] parents = [-1, 0, 0, 1, 1, 3, 2, 6];
        using var acceptance = new TypicalAcceptance(Epsilon, Delta, parents.Length);
        using var sampler = new NodeSampler(parents.Length);
        var generator = new Generator(9);
        var random = new Random(4);
        int checkedTrials = 0, acceptedSomewhere = 0;
        for (int trial = 0; trial < 60; trial++)
        {
            using var scope = NewDisposeScope();
            var logits = randn(new long[] { parents.Length, Vocab }, generator: generator) * 2.5; // rows beyond the tree stay unread
            var tree = new CandidateTree(parents.Length);
            tree.Reset(1);
            var p = logits.to(ScalarType.Float64).softmax(-1);
            var mapped = new int[parents.Length];
            for (int i = 1; i < parents.Length; i++)
            {
                // Mostly likely tokens under the parent's row, so that some paths pass; an equal sibling merges.
                int parent = mapped[parents[i]];
                var row = p[parent].data<double>().ToArray();
                int token = random.NextDouble() < 0.6 ? Array.IndexOf(row, row.Max()) : random.Next(Vocab);
                mapped[i] = tree.AddChild(parent, token);
            }
            var entropy = -(p * p.log()).sum(-1);
            var threshold = (entropy.neg().exp() * Delta).clamp_max(Epsilon).data<double>().ToArray();
            var probs = new double[tree.Count];
            bool borderline = false;
            for (int i = 1; i < tree.Count; i++)
            {
                probs[i] = p[tree.Parent(i), tree.Token(i)].item<double>();
                borderline |= Math.Abs(probs[i] - threshold[tree.Parent(i)]) < 1e-5;
            }
            if (borderline) continue;
            var ok = new bool[tree.Count];
            int best = 0, bestDepth = 0;
            for (int i = 1; i < tree.Count; i++)
            {
                int parent = tree.Parent(i);
                ok[i] = probs[i] > threshold[parent] && (parent == 0 || ok[parent]);
                if (ok[i] && tree.Depth(i) > bestDepth) { best = i; bestDepth = tree.Depth(i); }
            }
            var expected = new List<int>();
            for (int node = best; node != 0; node = tree.Parent(node)) expected.Insert(0, node);

            var outcome = new StepOutcome(parents.Length);
            acceptance.Accept(tree, logits.narrow(0, 0, tree.Count).contiguous(), sampler, outcome);
            Assert.Equal(expected, outcome.AcceptedNodes.ToArray());
            Assert.Equal((int)logits[best].argmax().item<long>(), outcome.NextToken);
            checkedTrials++;
            if (expected.Count > 0) acceptedSomewhere++;
        }
        Assert.True(checkedTrials >= 50, $"{checkedTrials} trials were far from the threshold");
        Assert.InRange(acceptedSomewhere, 5, checkedTrials - 5); // both outcomes occur
    }
}
