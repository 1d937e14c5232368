using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Acceptance;
using Pardec.Runtime.Primitives.Proposers;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// The primitives composed by hand exactly as a generated loop composes them; every lossless composition must give
/// plain greedy decoding's tokens.
/// </summary>
public sealed class HandComposedLoopTests
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    private static int[] Run(ICausalLM target, int[] prompt, int maxNew, int width, params IProposer[] proposers)
        => Run(target, prompt, maxNew, width, out _, proposers);

    private static int[] Run(ICausalLM target, int[] prompt, int maxNew, int width, out int steps, params IProposer[] proposers)
    {
        var tokens = LoopHarness.RunGreedy(target, prompt, maxNew, width, out var session, proposers);
        steps = session.Steps;
        session.Dispose();
        return tokens;
    }

    private static int[] Reference(ICausalLM model, int[] prompt, int maxNew) => LoopHarness.Reference(model, prompt, maxNew);

    [Fact]
    public void Autoregressive_steps_equal_full_reforward_greedy()
    {
        using var target = TinyModels.Create(seed: 1);
        foreach (var prompt in Prompts)
            Assert.Equal(Reference(target, prompt, 40), Run(target, prompt, 40, width: 1));
    }

    [Theory]
    [InlineData(1, 4)]   // identical draft: everything accepted
    [InlineData(2, 4)]   // unrelated draft: mostly rejected
    [InlineData(3, 7)]
    public void Speculative_greedy_with_a_draft_model_equals_greedy(long draftSeed, int gamma)
    {
        using var target = TinyModels.Create(seed: 1);
        using var draft = TinyModels.Create(seed: draftSeed, layers: 1);
        foreach (var prompt in Prompts)
        {
            var expected = Reference(target, prompt, 50);
            using var sampler = new NodeSampler(gamma + 1);
            using var proposer = new DraftModelProposer(draftSeed == 1 ? target : draft, 256, gamma + 1, gamma, false, 0, sampler);
            Assert.Equal(expected, Run(target, prompt, 50, gamma + 1, out int steps, proposer));
            // A draft identical to the target is always right: every step commits gamma + 1 tokens.
            if (draftSeed == 1) Assert.Equal((expected.Length + gamma) / (gamma + 1), steps);
        }
    }

    /// <summary>
    /// A length state sees a step as a chain: the accepted path, plus the rejected candidate after it only where the
    /// path stopped at a rejection. A tree whose greedy path runs to a leaf was fully accepted, however many sibling
    /// branches it also verified; a chain keeps its old account (its length if all accepted, else accepted + 1).
    /// </summary>
    [Fact]
    public void A_length_state_sees_the_accepted_path_of_a_tree_not_its_sibling_branches()
    {
        using var _ = torch.no_grad();
        using var target = TinyModels.Create(seed: 1);
        int[] prompt = Prompts[0];
        var greedy = Reference(target, prompt, 3);
        int wrong = (greedy[1] + 1) % (int)target.Config.VocabSize, wrongFirst = (greedy[0] + 1) % (int)target.Config.VocabSize;
        using var session = new CausalSession(target, 256, 8);
        session.Start(prompt, new Pardec.Runtime.Decoding.GenerationOptions { MaxNewTokens = 64 });
        int Step(Action<CandidateTree, int> propose)
        {
            session.BeginStep();
            propose(session.Tree, session.Tree.Token(0));
            using (var verified = session.Verify(returnHidden: false))
            {
                GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                session.Commit(verified);
            }
            return session.ProposedLastStep;
        }
        // Step 1: the greedy pair as a branch ending in a leaf, beside a wrong first token and a wrong second token.
        int proposed = Step((tree, _) =>
        {
            tree.AddChild(0, wrongFirst);
            int first = tree.AddChild(0, greedy[0]);
            tree.AddChild(first, wrong);
            tree.AddChild(first, greedy[1]);
        });
        Assert.Equal(2, session.Outcome.AcceptedCount);
        Assert.Equal(2, proposed); // all accepted, although the tree verified 4 candidates
        // Step 2: a chain rejected at its second candidate: accepted + 1.
        var next = Reference(target, [.. prompt, .. session.Context.Generated.ToArray()], 2);
        proposed = Step((tree, _) => tree.AddChain(0, [next[0], (next[1] + 1) % (int)target.Config.VocabSize, next[1]]));
        Assert.Equal(1, session.Outcome.AcceptedCount);
        Assert.Equal(2, proposed);
        // Step 3: nothing proposed.
        Assert.Equal(0, Step((_, _) => { }));
    }

    [Fact]
    public void Prompt_lookup_jacobi_and_ngram_pool_together_equal_greedy()
    {
        using var target = TinyModels.Create(seed: 4);
        foreach (var prompt in Prompts)
        {
            var expected = Reference(target, prompt, 60);
            Assert.Equal(expected, Run(target, prompt, 60, 16, new PromptLookupProposer(3, 1, 5)));
            Assert.Equal(expected, Run(target, prompt, 60, 8, new JacobiProposer(5)));
            Assert.Equal(expected, Run(target, prompt, 60, 24, new JacobiProposer(4), new NgramPoolProposer(3, 4), new PromptLookupProposer(2, 1, 6)));
        }
    }

    [Fact]
    public void Self_speculation_with_skipped_layers_equals_greedy()
    {
        using var target = TinyModels.Create(seed: 5, layers: 3);
        using var sampler = new NodeSampler(5);
        using var proposer = new DraftModelProposer(target, 256, 5, 4, false, 0, sampler, new LayerSkip([1]));
        foreach (var prompt in Prompts)
            Assert.Equal(Reference(target, prompt, 40), Run(target, prompt, 40, 5, proposer));
    }

    [Fact]
    public void A_decode_near_the_end_of_the_models_context_stops_there_instead_of_failing()
    {
        var config = TinyModels.Config() with { MaxPositionEmbeddings = 48 };
        using var target = Pardec.Runtime.Models.CausalLM.CreateRandom(config, CPU, ScalarType.Float32, 3, 0.2);
        using var session = new CausalSession(target, 256, 8);
        var prompt = Enumerable.Range(1, 30).ToArray();
        session.Start(prompt, new Pardec.Runtime.Decoding.GenerationOptions { MaxNewTokens = 100, StopOnEos = false });
        using var jacobi = new JacobiProposer(7);
        jacobi.Reset(session.Context);
        while (!session.Done)
        {
            session.BeginStep();
            jacobi.Propose(session.Context, session.Tree, 0);
            using (var verified = session.Verify(returnHidden: false))
            {
                GreedyAcceptance.Accept(session.Tree, verified.Logits, session.Sampler, session.Outcome);
                session.Commit(verified);
            }
            jacobi.Observe(session.Context, session.Tree, session.Outcome);
        }
        Assert.Equal(Pardec.Runtime.Decoding.StopReason.CacheFull, session.StopReason);
        Assert.True(session.Context.Length + session.Tree.Capacity <= 48 + 1);
        Assert.Throws<ArgumentException>(() => session.Start(Enumerable.Range(1, 48).ToArray(), new Pardec.Runtime.Decoding.GenerationOptions()));
    }

    [Fact]
    public void Prompt_lookup_drafts_a_repeating_tail_past_the_end_of_the_text_as_an_overlapping_copy()
    {
        var context = new Pardec.Runtime.Primitives.CausalContext(32);
        context.Start([9, 1, 2, 7, 1, 2]);          // the suffix [1, 2] last occurred at 1..2; what followed is [7, 1, 2]
        var tree = new Pardec.Runtime.Primitives.CandidateTree(16);
        tree.Reset(context.Root);
        new Pardec.Runtime.Primitives.Proposers.PromptLookupProposer(2, 1, 7).Propose(context, tree, 0);
        // period 3: [7, 1, 2] then its own copy continues [7, 1, 2, 7]
        Assert.Equal(new[] { 7, 1, 2, 7, 1, 2, 7 }, Enumerable.Range(1, tree.Count - 1).Select(tree.Token).ToArray());
    }
}
