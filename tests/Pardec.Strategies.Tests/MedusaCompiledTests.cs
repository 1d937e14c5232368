using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Proposers;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// On the CPU the Medusa heads run as one compiled call with host top-k; they must propose exactly the tokens the
/// eager heads (and the target's own LM head, when shared) rank, for own and shared LM heads, chains and trees.
/// </summary>
public sealed class MedusaCompiledTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Compiled_heads_propose_what_the_eager_heads_rank(bool shared)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var target = TinyModels.Create(seed: 31, layers: 2);
        using var heads = new MedusaHeads(3, target.Config.HiddenSize, target.Config.VocabSize, sharedLmHead: shared);
        var generator = new Generator(5);
        foreach (var (_, p) in heads.named_parameters()) p.normal_(0, 0.3, generator);
        heads.eval();
        // A tree taking ranks 0..2 of each head, and the blockwise chain.
        int[] parents = [-1, 0, 0, 0, 1, 1, 2, 4], depths = [0, 1, 1, 1, 2, 2, 2, 3], choices = [0, 0, 1, 2, 0, 1, 0, 0];
        var proposers = new[]
        {
            (new MedusaProposer(heads, target, parents, depths, choices), new MedusaProposer(heads, target, parents, depths, choices)),
            (MedusaProposer.Chain(heads, target, 3), MedusaProposer.Chain(heads, target, 3)),
        };
        var context = new CausalContext(16);
        context.Start([1, 2, 3]);
        for (int trial = 0; trial < 5; trial++)
        {
            context.SetRootHidden(randn(target.Config.HiddenSize, generator: generator) * 2);
            foreach (var (compiled, eager) in proposers)
            {
                eager.CompiledEnabled = false;
                var a = new CandidateTree(16);
                var b = new CandidateTree(16);
                a.Reset(context.Root);
                b.Reset(context.Root);
                compiled.Propose(context, a, 0);
                eager.Propose(context, b, 0);
                Assert.Equal(b.Count, a.Count);
                Assert.True(a.Count > 1);
                for (int i = 0; i < a.Count; i++)
                {
                    Assert.Equal(b.Token(i), a.Token(i));
                    Assert.Equal(b.Parent(i), a.Parent(i));
                }
            }
        }
        context.ReleaseHidden();
        foreach (var (compiled, eager) in proposers) { compiled.Dispose(); eager.Dispose(); }
    }
}
