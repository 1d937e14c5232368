using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives.Batched;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>Batched draft-model speculation with ragged acceptance: every row must equal its own greedy decode.</summary>
public sealed class BatchedSpeculativeTests
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    private static int[][] RunBatched(ICausalLM target, ICausalLM draft, int[][] prompts, int maxNew, int gamma,
                                      out int steps, out bool ragged, LayerSkip? skip = null, bool stopOnEos = true)
    {
        using var _ = no_grad();
        using var session = new BatchedCausalSession(target, prompts.Length, 256, gamma);
        using var proposer = new BatchedDraftChainProposer(draft, prompts.Length, 256, gamma, skip);
        using var acceptance = new BatchedGreedyAcceptance(prompts.Length, gamma);
        session.Start(prompts, new GenerationOptions { MaxNewTokens = maxNew, StopOnEos = stopOnEos });
        proposer.Reset(session.Context);
        ragged = false;
        while (!session.Done)
        {
            session.BeginStep();
            proposer.Propose(session.Context, session.Chain);
            using (var verified = session.Verify())
                acceptance.Accept(session.Chain, verified.Logits, session.Outcome);
            int first = -1;
            for (int b = 0; b < prompts.Length; b++)
            {
                if (session.Context.IsDone(b)) continue;
                if (first < 0) first = session.Outcome.Accepted(b);
                else if (session.Outcome.Accepted(b) != first) ragged = true;
            }
            session.Commit();
            proposer.Observe(session.Context, session.Outcome);
        }
        steps = session.Steps;
        var result = new int[prompts.Length][];
        for (int b = 0; b < prompts.Length; b++) result[b] = session.Context.Generated(b).ToArray();
        return result;
    }

    [Theory]
    [InlineData(1L, 2L, 3)]
    [InlineData(4L, -1L, 4)] // self-speculation: the target with layer 1 skipped drafts, right often but not always
    public void Every_row_equals_its_own_greedy_decode_with_ragged_acceptance_and_an_early_eos(long targetSeed, long draftSeed, int gamma)
    {
        const int maxNew = 40;
        using var plain = TinyModels.Create(seed: targetSeed);
        // Pick a stop token that row 1's greedy text reaches early and the other rows never produce, so row 1 ends
        // after a few tokens while rows 0 and 2 run to the budget.
        var free = Prompts.Select(p => LoopHarness.Reference(plain, p, maxNew, eos: [])).ToArray();
        int stop = -1;
        for (int i = 2; i < 12 && stop < 0; i++)
        {
            int t = free[1][i];
            if (Array.IndexOf(free[1], t) == i && !free[0].Contains(t) && !free[2].Contains(t)) stop = t;
        }
        Assert.True(stop >= 0, "no usable stop token for this seed");
        using var target = CausalLM.CreateRandom(TinyModels.Config() with { EosTokenIds = [stop] }, CPU, ScalarType.Float32, targetSeed, 0.2);
        target.eval();
        using var other = TinyModels.Create(seed: Math.Abs(draftSeed), layers: 1);
        ICausalLM draft = draftSeed < 0 ? target : other;
        var skip = draftSeed < 0 ? new LayerSkip([1]) : null;

        var expected = Prompts.Select(p => LoopHarness.Reference(target, p, maxNew)).ToArray();
        Assert.True(expected[1].Length < 12 && expected[1][^1] == stop);
        Assert.Equal(maxNew, expected[0].Length);
        Assert.Equal(maxNew, expected[2].Length);

        var actual = RunBatched(target, draft, Prompts, maxNew, gamma, out _, out bool ragged, skip);
        for (int b = 0; b < Prompts.Length; b++) Assert.Equal(expected[b], actual[b]);
        Assert.True(ragged, "every step accepted the same length in every row: the ragged path was not exercised");
    }

    [Fact]
    public void Identical_draft_accepts_every_token_in_every_row()
    {
        const int maxNew = 40, gamma = 4;
        using var target = TinyModels.Create(seed: 3);
        var expected = Prompts.Select(p => LoopHarness.Reference(target, p, maxNew)).ToArray();
        var actual = RunBatched(target, target, Prompts, maxNew, gamma, out int steps, out _);
        for (int b = 0; b < Prompts.Length; b++) Assert.Equal(expected[b], actual[b]);
        int longest = expected.Max(e => e.Length);
        Assert.Equal((longest + gamma) / (gamma + 1), steps);
    }

    [Fact]
    public void Batch_of_one_and_equal_prompts_match_greedy()
    {
        using var target = TinyModels.Create(seed: 6);
        using var draft = TinyModels.Create(seed: 7, layers: 1);
        int[][] single = [Prompts[2]];
        Assert.Equal(LoopHarness.Reference(target, Prompts[2], 30), RunBatched(target, draft, single, 30, 2, out _, out _)[0]);
        int[][] same = [Prompts[0], Prompts[0]];
        var both = RunBatched(target, draft, same, 30, 3, out _, out _);
        Assert.Equal(LoopHarness.Reference(target, Prompts[0], 30), both[0]);
        Assert.Equal(both[0], both[1]);
    }

    [Fact]
    public void Without_stop_on_eos_every_row_runs_to_its_budget_through_the_eos_token()
    {
        const int maxNew = 30;
        using var plain = TinyModels.Create(seed: 1);
        var free = Prompts.Select(p => LoopHarness.Reference(plain, p, maxNew, eos: [])).ToArray();
        int stop = free[1][3]; // a token row 1 produces early: with stopping on, row 1 would end there
        using var target = CausalLM.CreateRandom(TinyModels.Config() with { EosTokenIds = [stop] }, CPU, ScalarType.Float32, 1, 0.2);
        target.eval();
        using var draft = TinyModels.Create(seed: 2, layers: 1);
        var stopping = RunBatched(target, draft, Prompts, maxNew, 3, out _, out _);
        Assert.True(stopping[1].Length < maxNew && stopping[1][^1] == stop);
        var running = RunBatched(target, draft, Prompts, maxNew, 3, out _, out _, stopOnEos: false);
        for (int b = 0; b < Prompts.Length; b++) Assert.Equal(free[b], running[b]);
    }
}
