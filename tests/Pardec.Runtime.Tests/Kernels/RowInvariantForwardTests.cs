using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests.Kernels;

/// <summary>
/// <see cref="CausalLMBase.RowInvariantLinears"/> in float32: a token's logits are the same bits whether it is decoded
/// alone or verified in a chain of 2-16 (what greedy verification needs to reproduce one-token decoding exactly), and
/// they stay within float32 rounding of the compiled forward on torch's kernels. Without the option libtorch's f32
/// linear gives different bits per row count (benchmarks/results/linear-kernels-*.md), so no such test holds for it.
/// </summary>
public sealed class RowInvariantForwardTests
{
    public RowInvariantForwardTests() => Init();

    private static CausalLMBase Llama(bool tied = false) => CausalLM.CreateRandom(new ModelConfig
    {
        ModelType = "llama", VocabSize = 512, HiddenSize = 256, IntermediateSize = 688, NumHiddenLayers = 2,
        NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 32, MaxPositionEmbeddings = 256, EosTokenIds = [511], BosTokenId = 0,
        TieWordEmbeddings = tied,
    }, CPU, ScalarType.Float32, seed: 11, std: 0.05);

    public static TheoryData<bool> Heads => new() { false, true };

    [Theory, MemberData(nameof(Heads))]
    public void F32_logits_of_a_chain_equal_one_token_decoding_bit_for_bit(bool tiedHead)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Llama(tiedHead);
        model.RowInvariantLinears = true;
        Assert.True(model.UsesExplicitAttention);
        const int context = 37, generated = 16;
        using var cache = model.CreateCache(1, 128);
        using var masks = new AttentionMaskBuffer(1, 64, 128, CPU);
        var tokens = randint(0, 512, [1, context + generated], ScalarType.Int64, generator: new Generator(5));
        var positions = Positions(0, context + generated);
        model.Forward(tokens.narrow(1, 0, context), positions.narrow(1, 0, context), masks.Causal(0, context), cache);

        var rows = new List<Tensor>();
        for (int i = 0; i < generated; i++)
            rows.Add(model.Forward(tokens.narrow(1, context + i, 1), positions.narrow(1, context + i, 1), masks.Causal(context + i, 1), cache).Logits.clone());
        var oneByOne = cat(rows, 1);

        for (int chunk = 2; chunk <= 16; chunk++)
        {
            cache.Truncate(context);
            var parts = new List<Tensor>();
            for (int s = 0; s < generated; s += chunk)
            {
                int n = Math.Min(chunk, generated - s);
                parts.Add(model.Forward(tokens.narrow(1, context + s, n), positions.narrow(1, context + s, n), masks.Causal(context + s, n), cache).Logits.clone());
            }
            var chunked = cat(parts, 1);
            Assert.True(chunked.eq(oneByOne).all().item<bool>(), $"chains of {chunk}: max |diff| {MaxAbsDiff(chunked, oneByOne)}");
        }
    }

    [Fact]
    public void F32_logits_stay_within_rounding_of_the_compiled_forward_on_torchs_kernels()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Llama();
        var tokens = randint(0, 512, [1, 24], ScalarType.Int64, generator: new Generator(6));
        using var masks = new AttentionMaskBuffer(1, 64, 128, CPU);
        var torchLogits = model.Forward(tokens, Positions(0, 24), masks.Causal(0, 24), null).Logits.clone();
        model.RowInvariantLinears = true;
        var ours = model.Forward(tokens, Positions(0, 24), masks.Causal(0, 24), null).Logits;
        // Two layers of float32 sums of 256-688 terms: differences of a few ulps of logits of size ~1.
        float diff = MaxAbsDiff(ours, torchLogits);
        Assert.True(diff < 1e-4f, $"max |diff| {diff}");
        Assert.True(diff > 0 || ours.eq(torchLogits).all().item<bool>());
    }

    [Fact]
    public void The_option_leaves_bf16_models_and_autograd_on_torchs_path()
    {
        using var scope = NewDisposeScope();
        using var bf16 = CausalLM.CreateRandom(new ModelConfig
        {
            ModelType = "llama", VocabSize = 64, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 1,
            NumAttentionHeads = 2, NumKeyValueHeads = 2, HeadDim = 32, MaxPositionEmbeddings = 64, EosTokenIds = [63], BosTokenId = 0,
        }, CPU, ScalarType.BFloat16, seed: 1);
        var tokens = randint(0, 64, [1, 5], ScalarType.Int64, generator: new Generator(2));
        using var masks = new AttentionMaskBuffer(1, 8, 64, CPU);
        Tensor before;
        using (no_grad()) before = bf16.Forward(tokens, Positions(0, 5), masks.Causal(0, 5), null).Logits.clone();
        bf16.RowInvariantLinears = true;
        using (no_grad()) Assert.True(bf16.Forward(tokens, Positions(0, 5), masks.Causal(0, 5), null).Logits.eq(before).all().item<bool>());

        using var f32 = Llama();
        f32.RowInvariantLinears = true;
        // Under autograd the kernel (which has no backward) is not used: gradients reach the weights.
        var logits = f32.Forward(randint(0, 512, [1, 4], ScalarType.Int64, generator: new Generator(3)), Positions(0, 4), masks.Causal(0, 4), null).Logits;
        logits.sum().backward();
        Assert.Contains(f32.parameters(), p => p.grad is not null && p.grad.abs().sum().item<float>() > 0);
    }
}
