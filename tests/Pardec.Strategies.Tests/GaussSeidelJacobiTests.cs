using Pardec.Runtime.Decoding;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>Hybrid Gauss-Seidel-Jacobi (Santilli et al. 2023) as a proposer: lossless, and later blocks really wait.</summary>
public sealed class GaussSeidelJacobiTests
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    [Theory]
    [InlineData(2, 3)]
    [InlineData(3, 2)]
    [InlineData(4, 1)]
    public void Equals_greedy(int blockSize, int blocks)
    {
        using var target = TinyModels.Create(seed: 4);
        foreach (var prompt in Prompts)
        {
            using var proposer = new GaussSeidelJacobiProposer(window: blockSize * blocks, blocks: blocks);
            var actual = LoopHarness.RunGreedy(target, prompt, 50, blockSize * blocks + 1, out var session, proposer);
            session.Dispose();
            Assert.Equal(LoopHarness.Reference(target, prompt, 50), actual);
        }
    }

    [Fact]
    public void Only_the_current_block_is_updated_and_later_blocks_keep_their_guesses()
    {
        using var _ = no_grad();
        using var target = TinyModels.Create(seed: 4);
        const int blockSize = 2, blocks = 3;
        using var proposer = new GaussSeidelJacobiProposer(window: blockSize * blocks, blocks: blocks);
        using var session = new CausalSession(target, 256, blockSize * blocks + 1);
        session.Start(Prompts[0], new GenerationOptions { MaxNewTokens = 40 });
        proposer.Reset(session.Context);
        int checkedLaterBlocks = 0, checkedCurrent = 0;
        var before = new int[blockSize * blocks];
        while (!session.Done)
        {
            proposer.Guesses.CopyTo(before);
            int oldRoot = session.Context.Length - 1;
            session.BeginStep();
            proposer.Propose(session.Context, session.Tree, 0);
            using (var verified = session.Verify(returnHidden: false))
            {
                GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                session.Commit(verified);
            }
            proposer.Observe(session.Context, session.Tree, session.Outcome);
            if (session.Done) break;
            int newRoot = session.Context.Length - 1, shift = newRoot - oldRoot;
            int current = proposer.BlockOf(session.Context, newRoot + 1);
            var picks = session.Context.LastPicks;
            for (int s = 0; s + shift < before.Length; s++)
            {
                int block = proposer.BlockOf(session.Context, newRoot + 1 + s);
                if (block > current) { Assert.Equal(before[s + shift], proposer.Guesses[s]); checkedLaterBlocks++; }
                else
                {
                    // Jacobi: the target's pick at the node right before this position (node s + shift - 1 + 1 in tree order).
                    Assert.Equal((int)picks[s + shift], proposer.Guesses[s]);
                    checkedCurrent++;
                }
            }
        }
        Assert.True(checkedLaterBlocks > 0 && checkedCurrent > 0);
    }
}
