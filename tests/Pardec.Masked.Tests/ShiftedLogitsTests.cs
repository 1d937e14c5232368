using Pardec.Runtime.Decoding;
using Pardec.Runtime.Masked;
using Pardec.Runtime.Masked.Commit;
using Pardec.Runtime.Models;
using Pardec.Runtime.Primitives;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Masked.Tests;

/// <summary>
/// A shifted denoiser (Dream: the logits at position i predict the token at i + 1, <see cref="ModelConfig.ShiftedLogits"/>)
/// against an unshifted one (LLaDA): the canvas reads position p from row p − 1 in every cache mode.
/// </summary>
public sealed class ShiftedLogitsTests
{
    private static readonly int[] Prompt = [0, 5, 17, 5, 17, 33];

    private static CausalLMBase Create(long seed, bool shifted)
    {
        // An EOS id no logit row has, so no decode here ends early (an EOS fills the rest of the canvas).
        var config = TinyMaskedModels.Config() with { ShiftedLogits = shifted, EosTokenIds = [TinyMaskedModels.Vocab + 1] };
        var model = CausalLM.CreateRandom(config, CPU, ScalarType.Float32, seed, 0.2);
        model.eval();
        return model;
    }

    // The greedy tokens of a whole-canvas bidirectional forward at canvas positions [from, to), read from rows shifted by `shift`.
    private static long[] WholeCanvasArgmax(ICausalLM model, ReadOnlySpan<long> canvas, int from, int to, int shift)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int n = canvas.Length;
        var tokens = tensor(canvas.ToArray(), ScalarType.Int64).unsqueeze(0);
        var positions = arange(0, n, ScalarType.Int64).unsqueeze(0);
        var mask = ones(1, 1, n, n, ScalarType.Bool);
        using var output = model.Forward(tokens, positions, mask, null);
        var probabilities = output.Logits[0].narrow(0, from - shift, to - from).to_type(ScalarType.Float64).softmax(-1);
        probabilities.index_fill_(-1, tensor(new long[] { TinyMaskedModels.Mask }), 0.0);
        return probabilities.argmax(-1).data<long>().ToArray();
    }

    [Fact]
    public void The_config_says_which_published_layouts_are_shifted()
    {
        Assert.True(ModelConfig.Parse("""{"model_type":"Dream","vocab_size":97,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"mask_token_id":95,"eos_token_id":96}""").ShiftedLogits);
        Assert.False(ModelConfig.Parse("""{"model_type":"llada","vocab_size":97,"d_model":64,"mlp_hidden_size":128,"n_layers":2,"n_heads":4,"mask_token_id":95,"eos_token_id":96}""").ShiftedLogits);
        Assert.False(ModelConfig.Parse("""{"model_type":"llama","vocab_size":97,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"mask_token_id":95,"eos_token_id":96}""").ShiftedLogits);
        // A Llama-layout denoiser adapted from a causal model says so with llama.cpp's key, and keeps it when saved.
        var adapted = ModelConfig.Parse("""{"model_type":"llama","vocab_size":97,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"mask_token_id":95,"eos_token_id":96,"shift_logits":true}""");
        Assert.True(adapted.ShiftedLogits);
        Assert.True(ModelConfig.Parse(adapted.ToJson()).ShiftedLogits);
        Assert.False(ModelConfig.Parse(TinyMaskedModels.Config().ToJson()).ShiftedLogits);
    }

    [Theory]
    [InlineData(false, MaskedCacheMode.None)]
    [InlineData(true, MaskedCacheMode.None)]
    [InlineData(true, MaskedCacheMode.Prefix)]
    [InlineData(true, MaskedCacheMode.Dual)]
    public void Every_predict_reads_the_rows_a_whole_canvas_forward_gives_each_position(bool shifted, MaskedCacheMode mode)
    {
        using var model = Create(seed: 31, shifted);
        using var session = new MaskedSession(model, 64, 6, mode);
        Assert.Equal(shifted ? 1 : 0, session.Shift);
        using var _ = no_grad();
        session.Start(Prompt, 18, SamplingSettings.Greedy);
        var one = new OneCommit();
        // Into block 1 (a real prefix and suffix); then a refresh forward and a cached forward on the same canvas.
        while (session.BlockIndex == 0)
        {
            session.BeginStep();
            if (session.BlockIndex == 1) break;
            if (!session.HasPredictions) session.Predict();
            if (mode == MaskedCacheMode.None) // the caches are approximate after a commit (stale keys), exact only right after a refresh
                Assert.Equal(WholeCanvasArgmax(model, session.Canvas, session.BlockStart, session.BlockEnd, session.Shift), session.Block.Tokens.ToArray());
            session.Selection.Clear();
            one.Select(session.Block, session.Selection);
            session.Commit();
        }
        var whole = WholeCanvasArgmax(model, session.Canvas, session.BlockStart, session.BlockEnd, session.Shift);
        session.Predict(); // at block start: the refresh forward
        Assert.Equal(whole, session.Block.Tokens.ToArray());
        session.Predict(); // cached (prefix or dual) on the unchanged canvas: the same rows
        Assert.Equal(whole, session.Block.Tokens.ToArray());
    }

    [Fact]
    public void Shifting_changes_what_a_model_decodes()
    {
        using var plain = Create(seed: 32, shifted: false);
        using var shifted = Create(seed: 32, shifted: true);
        var rule = MaskedLoop.Of(new TopKCommit(2));
        Assert.NotEqual(MaskedLoop.Run(plain, Prompt, 16, 8, rule), MaskedLoop.Run(shifted, Prompt, 16, 8, rule));
    }

    [Theory]
    [InlineData(MaskedCacheMode.Prefix)]
    [InlineData(MaskedCacheMode.Dual)]
    public void A_cache_refreshed_every_step_equals_no_cache_for_a_shifted_model(MaskedCacheMode mode)
    {
        using var model = Create(seed: 33, shifted: true);
        var rule = MaskedLoop.Of(new ConfidenceCommit(0.6));
        Assert.Equal(MaskedLoop.Run(model, Prompt, 21, 6, rule), MaskedLoop.Run(model, Prompt, 21, 6, rule, mode, refreshEvery: 1));
    }

    [Fact]
    public void Draft_verify_equals_one_token_per_step_for_a_shifted_model()
    {
        using var model = Create(seed: 34, shifted: true);
        using var reference = new MaskedSession(model, 64, 8);
        using var verified = new MaskedSession(model, 64, 8);
        using var draftVerify = new DraftVerifyCommit(verified, 4);
        var expected = MaskedLoop.Run(reference, Prompt, 20, MaskedLoop.Of(new OneCommit()));
        var actual = MaskedLoop.Run(verified, Prompt, 20, s => draftVerify.Select(s));
        Assert.Equal(expected, actual);
    }
}
