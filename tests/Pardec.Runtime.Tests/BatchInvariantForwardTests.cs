using Pardec.Runtime.Decoding;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>
/// In bfloat16 on the CPU a token's logits must not depend on how it reaches the model — alone, in a chain of draft
/// tokens, or as a node of a token tree — or a lossless strategy verified in one forward drifts from greedy decoding
/// (libtorch's fused attention did exactly that, one bf16 step apart; see <see cref="CausalLMBase.UsesExplicitAttention"/>).
/// These compare bit for bit, not within a tolerance.
/// </summary>
public sealed class BatchInvariantForwardTests
{
    public BatchInvariantForwardTests() => Init();

    private static CausalLMBase Llama(ScalarType dtype) => CausalLM.CreateRandom(new ModelConfig
    {
        ModelType = "llama", VocabSize = 512, HiddenSize = 256, IntermediateSize = 688, NumHiddenLayers = 2,
        NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 32, MaxPositionEmbeddings = 256, EosTokenIds = [511], BosTokenId = 0,
    }, CPU, dtype, seed: 11, std: 0.05);

    private static CausalLMBase Gpt2(ScalarType dtype) => CausalLM.CreateRandom(new ModelConfig
    {
        ModelType = "gpt2", VocabSize = 512, HiddenSize = 128, IntermediateSize = 512, NumHiddenLayers = 2,
        NumAttentionHeads = 4, NumKeyValueHeads = 4, HeadDim = 32, MaxPositionEmbeddings = 256, EosTokenIds = [511], BosTokenId = 0,
    }, CPU, dtype, seed: 12, std: 0.05);

    public static TheoryData<string> Architectures => new() { "llama", "gpt2" };

    [Fact]
    public void Explicit_attention_is_chosen_for_bf16_on_the_cpu_only()
    {
        using var bf16 = Llama(ScalarType.BFloat16);
        using var f32 = Llama(ScalarType.Float32);
        Assert.True(bf16.UsesExplicitAttention);
        Assert.False(f32.UsesExplicitAttention);
    }

    [Theory, MemberData(nameof(Architectures))]
    public void Bf16_logits_of_a_chunked_decode_equal_one_token_decoding_bit_for_bit(string architecture)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = architecture == "llama" ? Llama(ScalarType.BFloat16) : Gpt2(ScalarType.BFloat16);
        const int context = 37, generated = 20;
        using var cache = model.CreateCache(1, 128);
        using var masks = new AttentionMaskBuffer(1, 64, 128, CPU);
        var tokens = randint(0, 512, [1, context + generated], ScalarType.Int64, generator: new Generator(5));
        var positions = Positions(0, context + generated);
        model.Forward(tokens.narrow(1, 0, context), positions.narrow(1, 0, context), masks.Causal(0, context), cache);

        var rows = new List<Tensor>();
        for (int i = 0; i < generated; i++)
            rows.Add(model.Forward(tokens.narrow(1, context + i, 1), positions.narrow(1, context + i, 1), masks.Causal(context + i, 1), cache).Logits.clone());
        var oneByOne = cat(rows, 1);

        foreach (int chunk in new[] { 2, 3, 5, 8, 20 })
        {
            cache.Truncate(context);
            var parts = new List<Tensor>();
            for (int s = 0; s < generated; s += chunk)
            {
                int n = Math.Min(chunk, generated - s);
                parts.Add(model.Forward(tokens.narrow(1, context + s, n), positions.narrow(1, context + s, n), masks.Causal(context + s, n), cache).Logits.clone());
            }
            var chunked = cat(parts, 1);
            Assert.True(chunked.eq(oneByOne).all().item<bool>(), $"{architecture}, chunks of {chunk}: max |diff| {MaxAbsDiff(chunked, oneByOne)}");
        }
    }

    [Fact]
    public void Bf16_logits_of_each_tree_node_equal_decoding_its_path_alone()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = Llama(ScalarType.BFloat16);
        const int context = 29;
        int[] parents = [-1, 0, 0, 1, 2, 3, -1, 6, 1, 4];
        int n = parents.Length;
        using var cache = model.CreateCache(1, 128);
        using var masks = new AttentionMaskBuffer(1, 64, 128, CPU);
        var prompt = randint(0, 512, [1, context], ScalarType.Int64, generator: new Generator(8));
        var nodes = randint(0, 512, [n], ScalarType.Int64, generator: new Generator(9)).data<long>().ToArray();
        model.Forward(prompt, Positions(0, context), masks.Causal(0, context), cache);

        var depths = new int[n];
        AttentionMaskBuffer.TreeDepths(parents, depths);
        var treePositions = tensor(depths.Select(d => (long)(context + d)).ToArray(), ScalarType.Int64).unsqueeze(0);
        var tree = model.Forward(tensor(nodes, ScalarType.Int64).unsqueeze(0), treePositions, masks.Tree(context, parents), cache).Logits.clone();

        for (int node = 0; node < n; node++)
        {
            var path = new List<long>();
            for (int at = node; at >= 0; at = parents[at]) path.Insert(0, nodes[at]);
            cache.Truncate(context);
            Tensor last = null!;
            for (int i = 0; i < path.Count; i++)
                last = model.Forward(Tokens(path[i]), Positions(context + i, 1), masks.Causal(context + i, 1), cache).Logits;
            var alone = last.select(1, 0);
            var inTree = tree.select(1, node);
            Assert.True(inTree.eq(alone).all().item<bool>(), $"node {node} (depth {depths[node]}): max |diff| {MaxAbsDiff(inTree, alone)}");
        }
    }
}
