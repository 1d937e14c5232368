using Pardec.Runtime.Primitives;
using Pardec.Runtime.Primitives.Proposers;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>Tree speculative decoding (SpecInfer / Sequoia / EAGLE-2 style) with a draft LM, and Sequoia's shape builder.</summary>
public sealed class DraftTreeTests
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    // A hand-written static tree: root's top-3; under rank 0 its top-2; under rank 1 its argmax; one depth-3 node.
    private static DraftTreeShape HandShape() => new(
        parents: [-1, 0, 0, 0, 1, 1, 2, 4],
        choices: [-1, 0, 1, 2, 0, 1, 0, 0]);

    [Theory]
    [InlineData(1L, 2L)]
    [InlineData(3L, 4L)]
    [InlineData(5L, 6L)]
    public void Static_tree_equals_greedy(long targetSeed, long draftSeed)
    {
        using var target = TinyModels.Create(seed: targetSeed);
        using var draft = TinyModels.Create(seed: draftSeed, layers: 1);
        var shape = HandShape();
        foreach (var prompt in Prompts)
        {
            using var proposer = new DraftTreeProposer(draft, 256, shape);
            var expected = LoopHarness.Reference(target, prompt, 40);
            var actual = LoopHarness.RunGreedy(target, prompt, 40, proposer.Capacity, out var session, proposer);
            session.Dispose();
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [InlineData(1L, 2L, 3, 2)]
    [InlineData(3L, 4L, 4, 3)]
    [InlineData(5L, 6L, 2, 4)]
    public void Dynamic_tree_equals_greedy(long targetSeed, long draftSeed, int depth, int topK)
    {
        using var target = TinyModels.Create(seed: targetSeed);
        using var draft = TinyModels.Create(seed: draftSeed, layers: 1);
        foreach (var prompt in Prompts)
        {
            using var proposer = new DraftTreeProposer(draft, 256, depth, topK);
            Assert.Equal(1 + depth * topK, proposer.Capacity);
            var expected = LoopHarness.Reference(target, prompt, 40);
            var actual = LoopHarness.RunGreedy(target, prompt, 40, proposer.Capacity, out var session, proposer);
            session.Dispose();
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Identical_draft_with_a_chain_shape_accepts_everything()
    {
        using var target = TinyModels.Create(seed: 7);
        const int gamma = 4;
        foreach (var prompt in Prompts)
        {
            var expected = LoopHarness.Reference(target, prompt, 50);
            // Chain shape: every step commits gamma + 1 tokens (only the last step may be cut by the budget or EOS).
            using (var chain = new DraftTreeProposer(target, 256, DraftTreeShape.Chain(gamma)))
            {
                var actual = LoopHarness.RunGreedy(target, prompt, 50, chain.Capacity, out var session, chain);
                Assert.Equal(expected, actual);
                Assert.Equal((expected.Length + gamma) / (gamma + 1), session.Steps);
                session.Dispose();
            }
            // Dynamic mode with k = 1 is the argmax chain, so it too accepts everything. (With k > 1 EAGLE-2's beam may
            // drop the argmax path for a sibling with a higher cumulative score, so no such guarantee holds there.)
            using (var tree = new DraftTreeProposer(target, 256, depth: gamma, topK: 1))
            {
                var actual = LoopHarness.RunGreedy(target, prompt, 50, tree.Capacity, out var session, tree);
                Assert.Equal(expected, actual);
                Assert.Equal((expected.Length + gamma) / (gamma + 1), session.Steps);
                session.Dispose();
            }
            // The hand shape's rank-0 path is nodes 1 → 4 → 7 (depth 3), so every step commits 4 tokens, and the
            // accepted path is not the contiguous nodes 1..3: this exercises the target's and the draft's compaction.
            using (var branching = new DraftTreeProposer(target, 256, HandShape()))
            {
                var actual = LoopHarness.RunGreedy(target, prompt, 50, branching.Capacity, out var session, branching);
                Assert.Equal(expected, actual);
                Assert.Equal((expected.Length + 3) / 4, session.Steps);
                session.Dispose();
            }
        }
    }

    [Fact]
    public void Tree_from_measured_acceptance_is_lossless_and_accepts_at_least_as_much_as_a_chain_of_equal_size()
    {
        using var target = TinyModels.Create(seed: 1);
        using var draft = TinyModels.Create(seed: 2, layers: 1);
        // Sample text: the target's own greedy continuation, the text the draft will be verified against.
        var text = Prompts[0].Concat(LoopHarness.Reference(target, Prompts[0], 80)).ToArray();
        var p = SequoiaTreeBuilder.MeasureAcceptanceByRank(target, draft, text, maxRank: 4);
        Assert.Equal(4, p.Length);
        double sum = 0;
        foreach (var v in p) { Assert.InRange(v, 0, 1); sum += v; }
        Assert.InRange(sum, 0, 1 + 1e-9); // ranks are mutually exclusive events
        var shape = SequoiaTreeBuilder.Build(p, budget: 8, maxDepth: 5);
        Assert.True(shape.ExpectedAccepted(p) >= DraftTreeShape.Chain(8).ExpectedAccepted(p) - 1e-12);
        foreach (var prompt in Prompts)
        {
            using var proposer = new DraftTreeProposer(draft, 256, shape);
            var actual = LoopHarness.RunGreedy(target, prompt, 40, proposer.Capacity, out var session, proposer);
            session.Dispose();
            Assert.Equal(LoopHarness.Reference(target, prompt, 40), actual);
        }
    }

    [Fact]
    public void Measured_acceptance_of_a_model_against_itself_is_all_rank_zero()
    {
        using var target = TinyModels.Create(seed: 3);
        var text = new[] { 0, 5, 9, 14, 3, 3, 50, 61, 2, 8, 8, 8 };
        var p = SequoiaTreeBuilder.MeasureAcceptanceByRank(target, target, text, maxRank: 3);
        Assert.Equal(new[] { 1.0, 0.0, 0.0 }, p);
    }

    [Theory]
    [InlineData(1L, 2L)]
    [InlineData(3L, 4L)]
    [InlineData(7L, 7L)] // the draft is the target: every rank-0 node is accepted
    public void Replaying_measured_ranks_gives_the_decoders_own_step_count(long targetSeed, long draftSeed)
    {
        // The measurement (teacher-forced draft rank of the target's greedy token) must be the event greedy tree
        // verification decides: replayed over the decoder's own output it reproduces every step's accepted length.
        using var target = TinyModels.Create(seed: targetSeed);
        using var draft = targetSeed == draftSeed ? null : TinyModels.Create(seed: draftSeed, layers: 1);
        var draftModel = draft ?? target;
        DraftTreeShape[] shapes =
        [
            HandShape(), DraftTreeShape.Chain(4), new DraftTreeShape([-1, 0, 0, 0], [-1, 0, 1, 3]),
            SequoiaTreeBuilder.Build([0.5, 0.2, 0.1], budget: 10, maxDepth: 4),
        ];
        int accepted = 0;
        foreach (var shape in shapes)
            foreach (var prompt in Prompts)
            {
                using var proposer = new DraftTreeProposer(draftModel, 256, shape);
                var output = LoopHarness.RunGreedy(target, prompt, 40, proposer.Capacity, out var session, proposer);
                int decoderSteps = session.Steps;
                session.Dispose();
                var ranks = SequoiaTreeBuilder.TargetRankUnderDraft(target, draftModel, [.. prompt, .. output], shape.MaxRank);
                var (steps, tokens) = SequoiaTreeBuilder.ReplayGreedy(shape, ranks, prompt.Length - 1);
                Assert.Equal(output.Length, tokens);
                Assert.Equal(decoderSteps, steps);
                accepted += tokens - steps;
            }
        Assert.True(accepted > 0, "no step accepted a draft token: the comparison would not test acceptance");
    }

    [Theory]
    [InlineData(new[] { 0.5, 0.3 }, 6, 4)]
    [InlineData(new[] { 0.64, 0.07, 0.03, 0.03, 0.03 }, 16, 6)]
    [InlineData(new[] { 0.3, 0.25, 0.2, 0.1 }, 12, 3)]
    public void Expected_accepted_length_is_what_greedy_verification_accepts_when_ranks_hit_independently(double[] p, int budget, int maxDepth)
    {
        // Positions where the target's token is the draft's rank r with probability p[r] (disjoint events: the plain
        // per-rank rate), independently of each other — Sequoia's positional acceptance. Replaying greedy verification
        // must then accept what the builder's objective says, and measuring must give back p. Were the builder to read
        // p as rates conditioned on the lower ranks missing, its objective would overstate every rank above 0.
        var random = new Random(17);
        var ranks = new int[300_000];
        for (int i = 0; i < ranks.Length; i++)
        {
            double u = random.NextDouble(), cumulative = 0;
            ranks[i] = -1;
            for (int r = 0; r < p.Length; r++)
                if (u < (cumulative += p[r])) { ranks[i] = r; break; }
        }
        var measured = SequoiaTreeBuilder.AcceptanceByRank(ranks, p.Length);
        for (int r = 0; r < p.Length; r++) Assert.InRange(measured[r], p[r] - 0.005, p[r] + 0.005);

        var shape = SequoiaTreeBuilder.Build(p, budget, maxDepth);
        var (steps, tokens) = SequoiaTreeBuilder.ReplayGreedy(shape, ranks, 0);
        double acceptedPerStep = (tokens - steps) / (double)steps;
        double predicted = shape.ExpectedAccepted(p);
        Assert.InRange(acceptedPerStep, predicted - 0.02, predicted + 0.02);
        // The conditional reading predicts something else here, by more than the tolerance.
        var conditional = new double[p.Length];
        double missed = 1;
        for (int r = 0; r < p.Length; r++) { conditional[r] = p[r] / missed; missed -= p[r]; }
        Assert.True(Math.Abs(shape.ExpectedAccepted(conditional) - acceptedPerStep) > 0.05);
    }

    [Fact]
    public void Sequoia_builder_leaves_out_nodes_that_can_never_be_accepted()
    {
        // A draft that always agrees on rank 0 and never on rank 1 or 2: the best tree is the argmax chain; the
        // zero-probability siblings would only widen the verify.
        var shape = SequoiaTreeBuilder.Build([1.0, 0.0, 0.0], budget: 16, maxDepth: 6);
        var chain = DraftTreeShape.Chain(6);
        Assert.Equal(chain.Parents.ToArray(), shape.Parents.ToArray());
        Assert.Equal(chain.Choices.ToArray(), shape.Choices.ToArray());
        Assert.Empty(SequoiaTreeBuilder.Build([0.0, 0.0], budget: 4).Parents[1..].ToArray());
    }

    [Fact]
    public void Measuring_more_tokens_than_the_models_positions_is_refused()
    {
        using var target = TinyModels.Create(seed: 1);
        var tokens = new int[target.Config.MaxPositionEmbeddings + 1];
        var e = Assert.Throws<ArgumentException>(() => SequoiaTreeBuilder.TargetRankUnderDraft(target, target, tokens, maxRank: 2));
        Assert.Contains("windows", e.Message);
    }

    [Fact]
    public void Sequoia_builder_matches_hand_optimum_on_a_small_case()
    {
        // p = [0.6, 0.3], 3 nodes. Path weights: r0 = 0.6, r0r0 = 0.36, r1 = 0.3, r0r0r0 = 0.216, r0r1 = 0.18, ...
        // The best 3-node tree takes 0.6, 0.36, 0.3: E = 1.26 (a 3-chain gives 0.6 + 0.36 + 0.216 = 1.176).
        var shape = SequoiaTreeBuilder.Build([0.6, 0.3], budget: 3);
        Assert.Equal(new[] { -1, 0, 0, 1 }, shape.Parents.ToArray());
        Assert.Equal(new[] { -1, 0, 1, 0 }, shape.Choices.ToArray());
        Assert.Equal(1.26, shape.ExpectedAccepted([0.6, 0.3]), 12);
        // With a depth limit of 1 the tree is a fan: both ranks, then nothing more fits.
        var fan = SequoiaTreeBuilder.Build([0.6, 0.3], budget: 3, maxDepth: 1);
        Assert.Equal(new[] { -1, 0, 0 }, fan.Parents.ToArray());
    }

    [Theory]
    [InlineData(new[] { 0.8, 0.15, 0.05 }, 6, 4)]
    [InlineData(new[] { 0.5, 0.3, 0.1 }, 7, 3)]
    [InlineData(new[] { 0.4, 0.35, 0.2 }, 9, 5)]
    [InlineData(new[] { 0.2, 0.5, 0.25 }, 6, 6)] // a noisy measurement: rank 1 beats rank 0
    public void Sequoia_builder_is_prefix_closed_within_budget_and_matches_an_exhaustive_dp(double[] p, int budget, int maxDepth)
    {
        var shape = SequoiaTreeBuilder.Build(p, budget, maxDepth);
        Assert.Equal(Math.Min(budget + 1, shape.Count), shape.Count);
        Assert.True(shape.Count - 1 <= budget);
        Assert.True(shape.MaxDepth <= maxDepth);
        for (int i = 1; i < shape.Count; i++)
        {
            Assert.InRange(shape.Parents[i], 0, i - 1); // prefix-closed: every parent is in the tree, before its child
            Assert.InRange(shape.Choices[i], 0, p.Length - 1);
        }
        Assert.Equal(ExhaustiveOptimum(p, budget, maxDepth), shape.ExpectedAccepted(p), 9);
    }

    // Independent check: a DP over "a forest of n nodes hung under one parent using ranks >= r, depth budget d"
    // (Sequoia's recursion, with rank skipping allowed). best(n, r, d) = max(skip rank r, put m nodes under rank r).
    private static double ExhaustiveOptimum(double[] p, int budget, int maxDepth)
    {
        var memo = new Dictionary<(int, int, int), double>();
        double Best(int n, int r, int d)
        {
            if (n == 0 || r == p.Length || d == 0) return 0;
            if (memo.TryGetValue((n, r, d), out var v)) return v;
            double best = Best(n, r + 1, d);
            for (int m = 1; m <= n; m++)
                best = Math.Max(best, p[r] * (1 + Best(m - 1, 0, d - 1)) + Best(n - m, r + 1, d));
            return memo[(n, r, d)] = best;
        }
        return Best(budget, 0, maxDepth);
    }

    [Fact]
    public void Shape_rejects_malformed_arrays()
    {
        Assert.Throws<ArgumentException>(() => new DraftTreeShape([-1, 0, 2], [-1, 0, 0]));      // parent after child
        Assert.Throws<ArgumentException>(() => new DraftTreeShape([-1, 0, 0], [-1, 1, 1]));      // duplicate rank
        Assert.Throws<ArgumentException>(() => new DraftTreeShape([-1, 0, 1, 0], [-1, 0, 0, 1])); // not level order
    }
}
