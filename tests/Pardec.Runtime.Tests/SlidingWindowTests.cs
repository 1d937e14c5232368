using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>
/// Sliding-window attention (Mistral, Gemma 3's local layers): a query at position p sees keys at positions
/// (p - window, p]. The window is applied in the mask, by positions the cache records, so it holds for a whole-prompt
/// prefill, token-by-token decoding and a token tree compacted to its accepted path alike.
/// </summary>
public sealed class SlidingWindowTests
{
    public SlidingWindowTests() => Init();

    private static ModelConfig Mistral(int? window) => new()
    {
        ModelType = "mistral", VocabSize = 200, HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2,
        NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 16, MaxPositionEmbeddings = 128, SlidingWindow = window,
    };

    private static CausalLMBase Model(ModelConfig config, bool compiled)
    {
        var model = CausalLM.CreateRandom(config, CPU, ScalarType.Float32, seed: 5, std: 0.2);
        model.CompiledForwardEnabled = compiled;
        return model;
    }

    private static Tensor Prefill(CausalLMBase model, Tensor tokens)
    {
        int n = (int)tokens.size(1);
        return model.Forward(tokens, Positions(0, n), CausalMask(0, n), null).Logits;
    }

    public static TheoryData<bool> Paths => new() { true, false };

    [Theory, MemberData(nameof(Paths))]
    public void A_window_at_least_as_long_as_the_sequence_changes_nothing_and_a_short_one_only_positions_past_it(bool compiled)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tokens = randint(0, 200, [1, 24], ScalarType.Int64, generator: new Generator(1));
        using var full = Model(Mistral(null), compiled);
        using var wide = Model(Mistral(24), compiled);
        using var narrow = Model(Mistral(6), compiled);
        var a = Prefill(full, tokens);
        Assert.True(a.eq(Prefill(wide, tokens)).all().item<bool>());
        var c = Prefill(narrow, tokens);
        // Positions 0..5 see at most 6 keys either way; from position 6 on the window cuts keys off.
        Assert.True(a.narrow(1, 0, 6).eq(c.narrow(1, 0, 6)).all().item<bool>());
        Assert.True(MaxAbsDiff(a.narrow(1, 6, 18), c.narrow(1, 6, 18)) > 1e-4);
    }

    [Theory, MemberData(nameof(Paths))]
    public void Token_by_token_decoding_on_the_cache_equals_one_prefill(bool compiled)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tokens = randint(0, 200, [1, 20], ScalarType.Int64, generator: new Generator(2));
        using var model = Model(Mistral(5), compiled);
        var whole = Prefill(model, tokens);
        using var cache = model.CreateCache(1, 32);
        model.Forward(tokens.narrow(1, 0, 4), Positions(0, 4), CausalMask(0, 4), cache);
        for (int i = 4; i < 20; i++)
        {
            var step = model.Forward(tokens.narrow(1, i, 1), Positions(i, 1), CausalMask(i, 1), cache).Logits;
            Assert.True(MaxAbsDiff(whole.narrow(1, i, 1), step) < 1e-4, $"position {i}: {MaxAbsDiff(whole.narrow(1, i, 1), step)}");
        }
    }

    [Theory, MemberData(nameof(Paths))]
    public void After_a_token_tree_is_compacted_to_a_path_the_window_counts_positions_not_slots(bool compiled)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var tokens = randint(0, 200, [1, 16], ScalarType.Int64, generator: new Generator(3));
        using var model = Model(Mistral(4), compiled);
        using var masks = new AttentionMaskBuffer(1, 16, 32, CPU);

        // Reference: the path decoded straight, then 4 more tokens.
        var path = cat([tokens.narrow(1, 0, 8), tokens.narrow(1, 9, 1), tokens.narrow(1, 11, 1), tokens.narrow(1, 12, 4)], 1); // 14 tokens
        var reference = Prefill(model, path);

        // Prefill 8, then a tree over slots 8..11 whose accepted path is nodes 1 and 3 (positions 8 and 9), compacted;
        // the next tokens sit at positions 10.. in slots 10.. — but the tree put keys at slots 8..11 with positions 8,8,9,9.
        using var cache = model.CreateCache(1, 32);
        model.Forward(tokens.narrow(1, 0, 8), Positions(0, 8), masks.Causal(0, 8), cache);
        int[] parents = [-1, -1, 0, 1];               // nodes: 0 (pos 8), 1 (pos 8), 2 child of 0 (pos 9), 3 child of 1 (pos 9)
        var treeTokens = cat([tokens.narrow(1, 8, 1), tokens.narrow(1, 9, 1), tokens.narrow(1, 10, 1), tokens.narrow(1, 11, 1)], 1);
        var tree = model.Forward(treeTokens, tensor(new long[] { 8, 8, 9, 9 }).unsqueeze(0), masks.Tree(8, parents), cache).Logits;
        Assert.True(MaxAbsDiff(reference.narrow(1, 8, 1), tree.narrow(1, 1, 1)) < 1e-4);
        Assert.True(MaxAbsDiff(reference.narrow(1, 9, 1), tree.narrow(1, 3, 1)) < 1e-4);
        cache.Compact(8, [1L, 3L]);
        var rest = model.Forward(tokens.narrow(1, 12, 4), Positions(10, 4), masks.Causal(10, 4), cache).Logits;
        Assert.True(MaxAbsDiff(reference.narrow(1, 10, 4), rest) < 1e-4, $"{MaxAbsDiff(reference.narrow(1, 10, 4), rest)}");
    }
}
