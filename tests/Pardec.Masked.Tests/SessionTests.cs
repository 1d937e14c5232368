using Pardec.Runtime.Decoding;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using Pardec.Runtime.Primitives;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Masked.Tests;

/// <summary>The masked session and its rules composed as a generated loop composes them, on seeded random models.</summary>
public sealed class SessionTests
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    [Theory]
    [InlineData(1, 24, 8, 4)]
    [InlineData(2, 20, 5, 3)]
    [InlineData(3, 32, 32, 6)]
    [InlineData(4, 17, 6, 8)]
    public void Draft_verify_equals_one_token_per_step_token_for_token(long seed, int length, int block, int drafts)
    {
        using var model = TinyMaskedModels.Create(seed);
        foreach (var prompt in Prompts)
        {
            using var reference = new MaskedSession(model, 128, block);
            var expected = MaskedLoop.Run(reference, prompt, length, MaskedLoop.Of(new OneCommit()));
            using var session = new MaskedSession(model, 128, block);
            using var dv = new DraftVerifyCommit(session, drafts);
            var actual = MaskedLoop.Run(session, prompt, length, dv.Select);
            Assert.Equal(expected, actual);
            Assert.Equal(reference.Canvas.ToArray(), session.Canvas.ToArray());
            Assert.True(session.Forwards <= reference.Forwards, $"{session.Forwards} > {reference.Forwards}");
            Assert.True(session.CanvasForwards >= session.Forwards);
        }
    }

    [Fact]
    public void Draft_verify_takes_fewer_forward_steps_when_predictions_are_stable()
    {
        // A small init std gives flat, stable predictions: the one-per-step order rarely changes after a commit.
        using var model = TinyMaskedModels.Create(seed: 5, std: 0.02);
        using var reference = new MaskedSession(model, 128, 16);
        var expected = MaskedLoop.Run(reference, Prompts[0], 32, MaskedLoop.Of(new OneCommit()));
        using var session = new MaskedSession(model, 128, 16);
        using var dv = new DraftVerifyCommit(session, 8);
        Assert.Equal(expected, MaskedLoop.Run(session, Prompts[0], 32, dv.Select));
        Assert.True(session.Forwards < reference.Forwards, $"draft-verify {session.Forwards} vs one-per-step {reference.Forwards}");
        Assert.Equal(32, reference.Forwards);
    }

    [Fact]
    public void Confidence_threshold_one_commits_exactly_one_token_per_step_and_equals_OneCommit()
    {
        using var model = TinyMaskedModels.Create(seed: 1);
        foreach (var prompt in Prompts)
        {
            var expected = MaskedLoop.Run(model, prompt, 20, 8, MaskedLoop.Of(new OneCommit()));
            using var session = new MaskedSession(model, 128, 8);
            var actual = MaskedLoop.Run(session, prompt, 20, MaskedLoop.Of(new ConfidenceCommit(1.0)));
            Assert.Equal(expected, actual);
            Assert.All(session.CommitHistory.ToArray(), n => Assert.True(n == 1 || session.StopReason == StopReason.EndOfSequence));
        }
    }

    [Fact]
    public void TopK_with_k_one_equals_OneCommit_and_k_four_takes_a_quarter_of_the_steps()
    {
        using var model = TinyMaskedModels.Create(seed: 2);
        foreach (var prompt in Prompts)
            Assert.Equal(MaskedLoop.Run(model, prompt, 20, 8, MaskedLoop.Of(new OneCommit())),
                         MaskedLoop.Run(model, prompt, 20, 8, MaskedLoop.Of(new TopKCommit(1))));
        using var session = new MaskedSession(model, 128, 8);
        MaskedLoop.Run(session, [0, 3], 24, MaskedLoop.Of(new TopKCommit(4)));
        if (session.StopReason == StopReason.MaxNewTokens) Assert.Equal(6, session.Steps);
    }

    [Fact]
    public void Once_eos_is_committed_everything_after_it_is_eos_and_the_text_ends_there()
    {
        using var model = TinyMaskedModels.Create(seed: 3);
        using var session = new MaskedSession(model, 64, 8);
        using var _ = no_grad();
        session.Start([0, 4, 5], 20, SamplingSettings.Greedy);
        session.BeginStep();
        session.Predict();
        session.Selection.Clear();
        session.Selection.Add(3, TinyMaskedModels.Eos);
        session.Commit();
        var canvas = session.Canvas.ToArray();
        for (int p = 3 + 4; p < canvas.Length; p++) Assert.Equal(TinyMaskedModels.Eos, canvas[p]);
        Assert.Equal(3, session.MaskedRemaining); // offsets 0..2 are still to decode
        Assert.Equal(20 - 3, session.LastCommitted);
        Assert.False(session.Done);
        var one = new OneCommit();
        while (!session.Done)
        {
            session.BeginStep();
            if (!session.HasPredictions) session.Predict();
            session.Selection.Clear();
            one.Select(session.Block, session.Selection);
            session.Commit();
        }
        var text = session.Generated.ToArray();
        Assert.Equal(StopReason.EndOfSequence, session.StopReason);
        Assert.Equal(TinyMaskedModels.Eos, text[^1]);
        Assert.True(text.Length <= 4);
        Assert.Equal(1, text.Count(t => t == TinyMaskedModels.Eos));
    }

    [Fact]
    public void Nothing_after_the_current_block_is_committed_before_the_block_completes()
    {
        using var model = TinyMaskedModels.Create(seed: 4);
        using var session = new MaskedSession(model, 128, 5);
        var rule = new ConfidenceCommit(0.3);
        MaskedLoop.Run(session, Prompts[2], 23, MaskedLoop.Of(rule), afterCommit: s =>
        {
            var canvas = s.Canvas;
            bool eos = false;
            for (int p = s.PromptLength; p < s.BlockEnd; p++) eos |= canvas[p] == TinyMaskedModels.Eos;
            for (int p = s.BlockEnd; p < s.End; p++)
                Assert.True(s.IsMasked(p) || (eos && canvas[p] == TinyMaskedModels.Eos), $"position {p} committed early");
            Assert.True(s.BlockLength <= 5);
        });
        Assert.True(session.BlockIndex >= 4 || session.StopReason == StopReason.EndOfSequence);
    }

    [Theory]
    [InlineData(MaskedCacheMode.Prefix)]
    [InlineData(MaskedCacheMode.Dual)]
    public void A_cache_refreshed_every_step_equals_no_cache(MaskedCacheMode mode)
    {
        using var model = TinyMaskedModels.Create(seed: 6);
        foreach (var prompt in Prompts)
        {
            var rule = MaskedLoop.Of(new ConfidenceCommit(0.6));
            Assert.Equal(MaskedLoop.Run(model, prompt, 21, 6, rule),
                         MaskedLoop.Run(model, prompt, 21, 6, rule, mode, refreshEvery: 1));
        }
    }

    [Theory]
    [InlineData(MaskedCacheMode.Prefix)]
    [InlineData(MaskedCacheMode.Dual)]
    public void A_cached_forward_on_an_unchanged_canvas_reproduces_the_refresh_forwards_predictions(MaskedCacheMode mode)
    {
        using var model = TinyMaskedModels.Create(seed: 7);
        using var session = new MaskedSession(model, 64, 6, mode);
        using var _ = no_grad();
        session.Start(Prompts[0], 20, SamplingSettings.Greedy);
        var one = new OneCommit();
        // Finish block 0 one token per step, so block 1 has a real prefix (prompt + block 0) and suffix.
        while (session.BlockIndex == 0 || session.AtBlockStart == false)
        {
            session.BeginStep();
            if (session.BlockIndex == 1) break;
            if (!session.HasPredictions) session.Predict();
            session.Selection.Clear();
            one.Select(session.Block, session.Selection);
            session.Commit();
        }
        Assert.Equal(1, session.BlockIndex);
        session.Predict(); // refresh: full forward, cache rebuilt
        var refreshed = session.Block;
        var confidence = refreshed.Confidence.ToArray();
        var tokens = refreshed.Tokens.ToArray();
        var logits = session.BlockLogits.clone();
        session.Predict(); // cached: prefix (+ suffix) from the cache, block (+ suffix) forwarded
        var cached = session.Block;
        Assert.Equal(tokens, cached.Tokens.ToArray());
        for (int i = 0; i < confidence.Length; i++) Assert.Equal(confidence[i], cached.Confidence[i], 5);
        Assert.True(logits.allclose(session.BlockLogits, rtol: 1e-4, atol: 1e-4));
    }

    [Theory]
    [InlineData(MaskedCacheMode.Prefix)]
    [InlineData(MaskedCacheMode.Dual)]
    public void Approximate_caches_decode_to_the_end_with_one_forward_per_step(MaskedCacheMode mode)
    {
        using var model = TinyMaskedModels.Create(seed: 8);
        using var session = new MaskedSession(model, 128, 8, mode);
        var text = MaskedLoop.Run(session, Prompts[1], 24, MaskedLoop.Of(new ConfidenceCommit(0.9)));
        Assert.True(session.Done);
        Assert.Equal(session.Steps, session.Forwards);
        Assert.NotEmpty(text);
        Assert.Equal(0, session.MaskedRemaining);
    }

    [Fact]
    public void Credits_decay_and_accumulate_the_predicted_tokens_probability()
    {
        using var model = TinyMaskedModels.Create(seed: 9);
        using var session = new MaskedSession(model, 64, 6);
        using var credits = new CreditState(session, decay: 0.5, gamma: 2.0, alpha: 1.0);
        using var _ = no_grad();
        session.Start(Prompts[0], 12, SamplingSettings.Greedy);
        session.BeginStep();
        session.Predict();
        var fused = credits.Fuse(session); // no credit yet: the fused prediction is the raw one
        Assert.Equal(session.Block.Tokens.ToArray(), fused.Tokens.ToArray());
        for (int i = 0; i < 6; i++) Assert.Equal(session.Block.Confidence[i], fused.Confidence[i], 9);
        var c1 = session.Block.Confidence.ToArray();
        var t1 = session.Block.Tokens.ToArray();
        session.Selection.Clear();
        session.Selection.Add(0, t1[0]);
        session.Commit();
        credits.Update(session);
        var expected = new double[6, TinyMaskedModels.Vocab];
        for (int i = 1; i < 6; i++) expected[i, t1[i]] += c1[i] * c1[i];
        AssertCredits(expected, credits);

        session.BeginStep();
        session.Predict();
        var c2 = session.Block.Confidence.ToArray();
        var t2 = session.Block.Tokens.ToArray();
        session.Selection.Clear();
        session.Selection.Add(1, t2[1]);
        session.Commit();
        credits.Update(session);
        for (int i = 0; i < 6; i++) for (int v = 0; v < TinyMaskedModels.Vocab; v++) expected[i, v] *= 0.5;
        for (int i = 2; i < 6; i++) expected[i, t2[i]] += c2[i] * c2[i];
        AssertCredits(expected, credits);
    }

    private static void AssertCredits(double[,] expected, CreditState credits)
    {
        var actual = credits.Credits.narrow(0, 0, 6).to_type(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < 6; i++)
            for (int v = 0; v < TinyMaskedModels.Vocab; v++)
                Assert.Equal(expected[i, v], actual[i * TinyMaskedModels.Vocab + v], 5);
    }

    [Fact]
    public void Credit_commit_decodes_with_credits_and_commits_at_least_one_per_step()
    {
        using var model = TinyMaskedModels.Create(seed: 10);
        using var session = new MaskedSession(model, 128, 8);
        using var credits = new CreditState(session);
        var rule = new CreditCommit(credits, 0.9);
        MaskedLoop.Run(session, Prompts[0], 24, rule.Select, afterCommit: credits.Update);
        Assert.True(session.Done);
        Assert.All(session.CommitHistory.ToArray(), n => Assert.True(n >= 1));
    }

    [Fact]
    public void Adaptive_block_ends_a_block_at_a_confident_predicted_delimiter()
    {
        using var model = TinyMaskedModels.Create(seed: 11);
        using var session = new MaskedSession(model, 64, 4, maxBlockSize: 12);
        using var _ = no_grad();
        session.Start(Prompts[0], 16, SamplingSettings.Greedy);
        session.BeginStep();
        session.Predict();
        // The delimiter is whatever the model predicts at offset 6; with threshold 0 that offset (or an earlier one
        // with the same token and at least its confidence) ends the block.
        long delimiter = session.Block.Tokens.Length > 0 ? session.PredictionsAt(session.BlockStart + 6, 1).Tokens[0] : -1;
        var ada = new AdaptiveBlock(min: 2, max: 12, delimiter, threshold: 0.0);
        int size = ada.Size(session);
        Assert.InRange(size, 2, 12);
        Assert.Equal(delimiter, session.PredictionsAt(session.BlockStart + size - 1, 1).Tokens[0]);
        ada.Apply(session);
        Assert.Equal(size, session.BlockLength);
        var none = new AdaptiveBlock(min: 2, max: 12, delimiter: TinyMaskedModels.Mask, threshold: 0.0);
        Assert.Equal(4, none.Size(session)); // never predicted: the default size
    }

    [Fact]
    public void End_of_text_fills_the_rest_with_eos_and_stops()
    {
        using var model = TinyMaskedModels.Create(seed: 12);
        using var session = new MaskedSession(model, 64, 4);
        using var _ = no_grad();
        session.Start(Prompts[1], 10, SamplingSettings.Greedy);
        session.BeginStep();
        session.Predict();
        session.CommitEndOfText();
        Assert.True(session.Done);
        Assert.Equal(StopReason.EndOfSequence, session.StopReason);
        Assert.Equal([TinyMaskedModels.Eos], session.Generated.ToArray());
    }

    [Fact]
    public void Seeded_sampling_is_reproducible()
    {
        using var model = TinyMaskedModels.Create(seed: 13);
        var sampling = new SamplingSettings(Temperature: 0.8, Seed: 42);
        using var a = new MaskedSession(model, 64, 8);
        using var b = new MaskedSession(model, 64, 8);
        var rule = MaskedLoop.Of(new ConfidenceCommit(0.5));
        Assert.Equal(MaskedLoop.Run(a, Prompts[0], 16, rule, sampling: sampling), MaskedLoop.Run(b, Prompts[0], 16, rule, sampling: sampling));
    }

    [Theory]
    [InlineData(MaskedCacheMode.None)]
    [InlineData(MaskedCacheMode.Dual)]
    public void Live_native_tensors_stay_flat_over_many_steps(MaskedCacheMode mode)
    {
        using var model = TinyMaskedModels.Create(seed: 14, layers: 1);
        using var session = new MaskedSession(model, 128, 8, mode);
        using var credits = new CreditState(session);
        var rule = new CreditCommit(credits, 1.0);
        var live = new List<long>();
        MaskedLoop.Run(session, Prompts[0], 16, rule.Select, credits.Update); // warm up
        for (int run = 0; run < 3; run++)
        {
            MaskedLoop.Run(session, Prompts[0], 48, rule.Select, s =>
            {
                credits.Update(s);
                if (s.Steps % 8 == 0) live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
            });
        }
        Assert.True(live.Count >= 6);
        Assert.Equal(live[0], live.Max());
        Assert.Equal(live[0], live.Min());
    }
}
