using Pardec.Runtime.Decoding;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

public sealed class AttentionMaskTests
{
    public AttentionMaskTests() => Init();

    [Fact]
    public void Causal_fill_is_offset_causal_even_after_a_tree_fill_dirtied_the_buffer()
    {
        using var scope = torch.NewDisposeScope();
        using var masks = new AttentionMaskBuffer(2, 8, 32, torch.CPU);
        masks.Tree(5, [-1, -1, 0, 2]);
        masks.Bidirectional(9, 6);
        var causal = masks.Causal(3, 4);
        Assert.Equal(new long[] { 2, 1, 4, 7 }, causal.shape);
        Assert.True(causal.eq(CausalMask(3, 4, 2)).all().item<bool>());
    }

    [Fact]
    public void Under_a_bidirectional_mask_the_first_token_depends_on_later_tokens_and_under_a_causal_mask_it_does_not()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_gqa");
        using var masks = new AttentionMaskBuffer(1, 8, 16, torch.CPU);
        var a = Tokens(4, 8, 15, 16, 23, 42);
        var b = Tokens(4, 8, 15, 16, 23, 7); // only the last token differs
        Tensor FirstRow(Tensor tokens, bool bidirectional)
        {
            var mask = bidirectional ? masks.Bidirectional(0, 6) : masks.Causal(0, 6);
            using var output = model.Forward(tokens, Positions(0, 6), mask, null);
            return output.Logits.select(1, 0).clone();
        }
        Assert.True(MaxAbsDiff(FirstRow(a, false), FirstRow(b, false)) < 1e-6f);
        Assert.True(MaxAbsDiff(FirstRow(a, true), FirstRow(b, true)) > 1e-4f);
    }

    [Fact]
    public void Tree_depths_give_each_node_its_distance_from_the_cache()
    {
        Span<int> depths = stackalloc int[5];
        AttentionMaskBuffer.TreeDepths([-1, 0, 0, 1, -1], depths);
        Assert.Equal([0, 1, 1, 2, 0], depths.ToArray());
        Assert.Throws<ArgumentException>(() => AttentionMaskBuffer.TreeDepths([1, -1], new int[2]));
    }
}
