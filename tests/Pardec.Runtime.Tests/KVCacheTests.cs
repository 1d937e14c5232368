using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>The cache operations strategies rely on must be invisible in the logits.</summary>
public sealed class KVCacheTests
{
    private static readonly long[] Sequence = [5, 17, 42, 8, 96, 33, 1, 70, 12, 64];
    private const float Tolerance = 1e-4f;

    public KVCacheTests() => Init();

    private static Tensor FullLogits(ICausalLM model, long[] ids)
    {
        using var output = model.Forward(Tokens(ids), Positions(0, ids.Length), CausalMask(0, ids.Length), cache: null);
        return output.Logits.clone(); // [1, n, vocab]
    }

    private static Tensor Step(ICausalLM model, KVCache cache, long[] ids)
    {
        using var output = model.Forward(Tokens(ids), Positions(cache.Length, ids.Length), CausalMask(cache.Length, ids.Length), cache);
        return output.Logits.clone();
    }

    [Theory]
    [InlineData("llama_gqa")]
    [InlineData("gpt2_f16")]
    public void Cached_incremental_forward_equals_the_full_forward(string fixture)
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel(fixture);
        using var cache = model.CreateCache(1, 32);
        var full = FullLogits(model, Sequence);
        var parts = new[] { Step(model, cache, Sequence[..3]), Step(model, cache, Sequence[3..4]), Step(model, cache, Sequence[4..]) };
        Assert.Equal(Sequence.Length, cache.Length);
        var incremental = torch.cat(parts, 1);
        Assert.True(MaxAbsDiff(incremental, full) < Tolerance, $"max |diff| = {MaxAbsDiff(incremental, full)}");
    }

    // A token tree after a 3-token prefix: 0 -> {1 -> 3, 2}, and a second root 4.
    private static readonly int[] Parents = [-1, 0, 0, 1, -1];
    private static readonly long[] TreeTokens = [11, 22, 33, 44, 55];

    private static Tensor TreeForward(ICausalLM model, KVCache cache, AttentionMaskBuffer masks)
    {
        int L = cache.Length;
        Span<int> depths = stackalloc int[Parents.Length];
        AttentionMaskBuffer.TreeDepths(Parents, depths);
        var positions = torch.tensor(depths.ToArray().Select(d => (long)(L + d)).ToArray()).unsqueeze(0);
        using var output = model.Forward(Tokens(TreeTokens), positions, masks.Tree(L, Parents), cache);
        return output.Logits.clone(); // [1, 5, vocab]
    }

    [Theory]
    [InlineData("llama_gqa")]
    [InlineData("gpt2_f16")]
    public void Tree_masked_forward_equals_forwarding_each_branch_separately(string fixture)
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel(fixture);
        using var cache = model.CreateCache(1, 32);
        using var masks = new AttentionMaskBuffer(1, 8, 32, torch.CPU);
        long[] prefix = Sequence[..3];
        Step(model, cache, prefix);
        var tree = TreeForward(model, cache, masks);
        for (int node = 0; node < Parents.Length; node++)
        {
            var path = new List<long>();
            for (int i = node; i >= 0; i = Parents[i]) path.Insert(0, TreeTokens[i]);
            var branch = FullLogits(model, [.. prefix, .. path]);
            var expected = branch.select(1, branch.shape[1] - 1);
            Assert.True(MaxAbsDiff(tree.select(1, node), expected) < Tolerance, $"node {node}: max |diff| = {MaxAbsDiff(tree.select(1, node), expected)}");
        }
    }

    [Fact]
    public void Truncate_then_reforward_equals_never_having_forwarded()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_gqa");
        using var cache = model.CreateCache(1, 32);
        Step(model, cache, Sequence[..5]);
        Step(model, cache, [90, 91, 92]); // rejected draft
        cache.Truncate(5);
        var resumed = Step(model, cache, Sequence[5..]);
        var full = FullLogits(model, Sequence).narrow(1, 5, Sequence.Length - 5);
        Assert.True(MaxAbsDiff(resumed, full) < Tolerance);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Compact_of_a_non_contiguous_tree_path_then_continuing_equals_forwarding_that_path_directly(bool offsetsOnDevice)
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_gqa");
        using var cache = model.CreateCache(1, 32);
        using var masks = new AttentionMaskBuffer(1, 8, 32, torch.CPU);
        long[] prefix = Sequence[..3];
        Step(model, cache, prefix);
        TreeForward(model, cache, masks);
        long[] accepted = [0, 1, 3]; // path 11 -> 22 -> 44, slots 3, 4, 6: not contiguous
        if (offsetsOnDevice) cache.Compact(3, torch.tensor(accepted));
        else cache.Compact(3, accepted);
        Assert.Equal(6, cache.Length);
        var next = Step(model, cache, [77, 78]);
        var direct = FullLogits(model, [.. prefix, 11, 22, 44, 77, 78]).narrow(1, 6, 2);
        Assert.True(MaxAbsDiff(next, direct) < Tolerance, $"max |diff| = {MaxAbsDiff(next, direct)}");
    }

    [Fact]
    public void Compact_rejects_offsets_that_are_not_increasing_or_out_of_range()
    {
        using var cache = new KVCache(1, 1, 1, 16, 4, torch.CPU, ScalarType.Float32);
        cache.Advance(6);
        Assert.Throws<ArgumentException>(() => cache.Compact(2, [1L, 0L]));
        Assert.Throws<ArgumentException>(() => cache.Compact(2, [0L, 4L]));
        Assert.Throws<InvalidOperationException>(() => cache.Advance(11));
        cache.Compact(2, [0L, 1L]);
        Assert.Equal(4, cache.Length);
    }

    [Fact]
    public void Skipped_layers_leave_their_cache_slots_untouched_and_change_the_logits()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_gqa");
        using var cache = model.CreateCache(1, 16);
        using var output = model.Forward(Tokens(Sequence[..4]), Positions(0, 4), CausalMask(0, 4), cache, skip: new LayerSkip([1]));
        Assert.Equal(0f, cache.Keys(1).abs().max().item<float>());
        Assert.NotEqual(0f, cache.Keys(0).abs().max().item<float>());
        Assert.True(MaxAbsDiff(output.Logits, FullLogits(model, Sequence[..4])) > 1e-3f);
    }

    [Fact]
    public void Tree_mask_rows_contain_exactly_the_ancestors_and_self()
    {
        var mask = new bool[25];
        AttentionMaskBuffer.FillTreeMask(Parents, mask);
        string rows = string.Join("|", Enumerable.Range(0, 5).Select(i => string.Concat(Enumerable.Range(0, 5).Select(j => mask[i * 5 + j] ? '1' : '0'))));
        Assert.Equal("10000|11000|10100|11010|00001", rows);
    }
}
