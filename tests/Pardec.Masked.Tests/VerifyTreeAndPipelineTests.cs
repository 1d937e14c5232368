using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using Pardec.Strategies;
using Pardec.Dsl;
using Pardec.Runtime.Primitives;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Masked.Tests;

/// <summary>
/// SSD's verification tree (<see cref="VerifyTreeCommit"/>) reproduces one-token-per-step decoding token for token, on
/// seeded models and on the shipped diffusion LM; D2F's pipelined blocks (<see cref="PipelinedCommit"/>) start the next
/// block before the current one is finished, and without that are the threshold rule.
/// </summary>
public sealed class VerifyTreeAndPipelineTests(ShippedDiffusion shipped) : IClassFixture<ShippedDiffusion>
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    [Theory]
    [InlineData(1, 24, 8, 4, 2)]
    [InlineData(2, 20, 5, 3, 3)]
    [InlineData(3, 32, 32, 6, 2)]
    [InlineData(4, 17, 6, 8, 1)]
    [InlineData(5, 40, 16, 5, 4)]
    public void The_verification_tree_equals_one_token_per_step_token_for_token(long seed, int length, int block, int depth, int width)
    {
        using var model = TinyMaskedModels.Create(seed, std: seed == 5 ? 0.02 : 0.2);
        foreach (var prompt in Prompts)
        {
            using var reference = new MaskedSession(model, 128, block);
            var expected = MaskedLoop.Run(reference, prompt, length, MaskedLoop.Of(new OneCommit()));
            using var session = new MaskedSession(model, 128, block);
            using var tree = new VerifyTreeCommit(session, depth, width);
            Assert.Equal(expected, MaskedLoop.Run(session, prompt, length, tree.Select));
            Assert.Equal(reference.Canvas.ToArray(), session.Canvas.ToArray());
            Assert.True(session.Forwards <= reference.Forwards, $"{session.Forwards} > {reference.Forwards}");
        }
    }

    [Fact]
    public void A_tree_of_width_one_is_the_draft_and_verify_chain_and_siblings_never_accept_less_per_step()
    {
        // Stable predictions (small init): the one-by-one order changes rarely, so drafts are accepted in runs.
        using var model = TinyMaskedModels.Create(seed: 5, std: 0.02);
        using var chain = new MaskedSession(model, 128, 16);
        using var dv = new DraftVerifyCommit(chain, 6);
        var expected = MaskedLoop.Run(chain, Prompts[0], 32, dv.Select);
        using var session = new MaskedSession(model, 128, 16);
        using var tree = new VerifyTreeCommit(session, 6, 1);
        Assert.Equal(expected, MaskedLoop.Run(session, Prompts[0], 32, tree.Select));
        Assert.Equal(chain.CommitHistory.ToArray(), session.CommitHistory.ToArray());
        Assert.True(session.Forwards < 32, $"{session.Forwards} forwards for 32 tokens");
        Assert.Equal(6, tree.Nodes);
        using var wide = new VerifyTreeCommit(new MaskedSession(model, 128, 16), 6, 3);
        Assert.Equal(16, wide.Nodes); // 1 + (6 - 1) * 3
    }

    [Fact]
    public void The_verification_tree_refuses_an_approximate_cache_and_sampling()
    {
        using var model = TinyMaskedModels.Create(seed: 1);
        using var cached = new MaskedSession(model, 64, 8, MaskedCacheMode.Prefix);
        Assert.Throws<ArgumentException>(() => new VerifyTreeCommit(cached, 4, 2));
        using var session = new MaskedSession(model, 64, 8);
        using var tree = new VerifyTreeCommit(session, 4, 2);
        var sampling = SamplingSettings.From(new GenerationOptions { Temperature = 0.8, Seed = 1 });
        Assert.Throws<InvalidOperationException>(() => MaskedLoop.Run(session, Prompts[0], 8, tree.Select, sampling: sampling));
    }

    [Fact]
    public void SSD_on_the_shipped_diffusion_LM_equals_one_by_one_in_both_engines_in_fewer_steps()
    {
        var reference = GeneratedStrategies.All.Single(s => s.Name == "LladaOneByOne");
        var ssd = GeneratedStrategies.All.Single(s => s.Name == "DllmSelfSpeculative");
        using var one = reference.Create(shipped.Set, null, 128);
        using var generated = ssd.Create(shipped.Set, null, 128);
        using var interpreted = PlanInterpreter.Create(PdecCompiler.Compile(ssd.Plan).Plans.Single(), shipped.Set, null, 128);
        int oneSteps = 0, ssdSteps = 0;
        foreach (var text in shipped.Prompts)
        {
            var prompt = shipped.Encode(text);
            var options = new GenerationOptions { MaxNewTokens = 40 };
            var a = one.Generate(prompt, options);
            var b = generated.Generate(prompt, options);
            var c = interpreted.Generate(prompt, options);
            Assert.Equal(a.Tokens, b.Tokens);
            Assert.Equal(b.Tokens, c.Tokens);
            Assert.Equal(b.Stats.Steps, c.Stats.Steps);
            oneSteps += a.Stats.Steps;
            ssdSteps += b.Stats.Steps;
        }
        Assert.True(ssdSteps < oneSteps, $"SSD {ssdSteps} steps, one-by-one {oneSteps}");
    }

    [Theory]
    [InlineData(MaskedCacheMode.None)]
    [InlineData(MaskedCacheMode.Prefix)]
    public void Pipelined_blocks_that_never_start_early_are_the_threshold_rule(MaskedCacheMode cache)
    {
        using var model = TinyMaskedModels.Create(seed: 3);
        foreach (var prompt in Prompts)
        {
            var expected = MaskedLoop.Run(model, prompt, 30, 8, MaskedLoop.Of(new ConfidenceCommit(0.3)), cache);
            using var session = new MaskedSession(model, 128, 8, cache);
            // add = 1: the next block would start only once the current one is complete, when it is no longer next.
            var rule = new PipelinedCommit(0.3, add: 1, ahead: 2);
            Assert.Equal(expected, MaskedLoop.Run(session, prompt, 30, rule.Select));
        }
    }

    [Fact]
    public void Pipelined_blocks_commit_in_the_next_block_before_the_current_one_is_finished()
    {
        using var model = TinyMaskedModels.Create(seed: 3);
        using var session = new MaskedSession(model, 128, 8, MaskedCacheMode.Prefix);
        // The threshold: the median confidence of the first prediction, so about half of every active block passes it.
        double median;
        using (no_grad())
        {
            session.Start(Prompts[1], 40, Runtime.Primitives.SamplingSettings.Greedy);
            session.BeginStep();
            session.Predict();
            var first = session.PredictionsAt(session.BlockStart, 40).Confidence.ToArray();
            Array.Sort(first);
            median = first[first.Length / 2];
        }
        var rule = new PipelinedCommit(median, add: 0.0, ahead: 2); // add 0: the next two blocks are active at once
        bool early = false;
        int[] output = MaskedLoop.Run(session, Prompts[1], 40, s =>
        {
            int blockEnd = s.BlockEnd, maskedInBlock = s.Block.MaskedCount;
            rule.Select(s);
            if (rule.LastAhead > 0 && maskedInBlock > s.Selection.Count) early = true; // the block stays unfinished
            Assert.True(s.Ahead!.Offsets.ToArray().All(o => blockEnd + o < s.End));
        });
        Assert.True(early, "no step committed after an unfinished block");
        Assert.True(session.Steps < 40 / 8 * 8, $"{session.Steps} steps");
        Assert.NotEmpty(output);
    }

    [Fact]
    public void Pipelined_blocks_refuse_the_dual_cache_and_a_request_constraint()
    {
        using var model = TinyMaskedModels.Create(seed: 1);
        using var dual = new MaskedSession(model, 64, 8, MaskedCacheMode.Dual);
        Assert.Throws<InvalidOperationException>(() => MaskedLoop.Run(dual, Prompts[0], 16, new PipelinedCommit(0.9).Select));
        var d2f = GeneratedStrategies.All.Single(s => s.Name == "D2fPipelined");
        using var decoder = d2f.Create(shipped.Set, null, 128);
        var constraint = Pardec.Runtime.Constraints.TokenConstraint.FromRegex("[a-z ]+").For(shipped.Vocabulary);
        Assert.Throws<NotSupportedException>(() => decoder.Generate(shipped.Encode(shipped.Prompts[0]), new GenerationOptions { MaxNewTokens = 16, Constraint = constraint }));
    }
}
