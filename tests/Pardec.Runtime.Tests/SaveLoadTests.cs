using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

public sealed class SaveLoadTests
{
    public SaveLoadTests() => Init();

    [Theory]
    [InlineData("llama_gqa")]
    [InlineData("qwen2_bf16")]
    [InlineData("gpt2_f16")]
    public void A_saved_model_loads_back_with_identical_logits(string fixture)
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempDir();
        using var model = LoadFixtureModel(fixture);
        PretrainedModel.Save(model, temp.Path, ScalarType.Float32, tokenizerSourceDirectory: Fixture(fixture));
        using var loaded = PretrainedModel.Load(temp.Path, torch.CPU);
        Assert.Equal(model.Config.ModelType, loaded.Config.ModelType);
        Assert.Equal(model.Config.EosTokenIds, loaded.Config.EosTokenIds);
        var tokens = Tokens(1, 2, 3, 50, 60);
        using var a = model.Forward(tokens, Positions(0, 5), CausalMask(0, 5), null);
        using var b = loaded.Model.Forward(tokens, Positions(0, 5), CausalMask(0, 5), null);
        Assert.Equal(0f, MaxAbsDiff(a.Logits, b.Logits));
    }

    [Fact]
    public void A_model_saved_as_bfloat16_writes_bf16_tensors_and_loads_close()
    {
        using var scope = torch.NewDisposeScope();
        using var temp = new TempDir();
        using var model = LoadFixtureModel("llama_gqa");
        PretrainedModel.Save(model, temp.Path, ScalarType.BFloat16);
        var file = SafetensorsFile.Open(Path.Combine(temp.Path, "model.safetensors"));
        Assert.All(file.Entries.Values, e => Assert.Equal(ScalarType.BFloat16, e.DType));
        using var loaded = PretrainedModel.LoadModel(temp.Path, torch.CPU);
        var tokens = Tokens(1, 2, 3, 50, 60);
        using var a = model.Forward(tokens, Positions(0, 5), CausalMask(0, 5), null);
        using var b = loaded.Forward(tokens, Positions(0, 5), CausalMask(0, 5), null);
        Assert.True(MaxAbsDiff(a.Logits, b.Logits) < 0.1f);
    }

    [Fact]
    public void Parameter_names_are_the_hugging_face_keys()
    {
        using var model = LoadFixtureModel("llama_gqa");
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", names);
        Assert.Contains("model.layers.1.mlp.down_proj.weight", names);
        Assert.Contains("model.norm.weight", names);
        Assert.Contains("lm_head.weight", names);
    }

    [Fact]
    public void Forward_without_a_cache_is_differentiable_for_training()
    {
        using var scope = torch.NewDisposeScope();
        using var model = CausalLM.CreateRandom(TinyConfig(), torch.CPU, ScalarType.Float32, seed: 3);
        var tokens = Tokens(1, 2, 3, 4);
        using var output = model.Forward(tokens, Positions(0, 4), CausalMask(0, 4), null);
        var loss = nn.functional.cross_entropy(output.Logits.view(4, -1), torch.tensor(new long[] { 2, 3, 4, 5 }));
        loss.backward();
        var grad = model.named_parameters().First(p => p.name == "model.layers.0.self_attn.q_proj.weight").parameter.grad;
        Assert.NotNull(grad);
        Assert.True(grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Config_json_round_trips_through_write_and_parse()
    {
        var config = TinyConfig() with { EosTokenIds = [2, 7], MaskTokenId = 9, ModelType = "qwen2", AttentionBias = true };
        var parsed = ModelConfig.Parse(config.ToJson());
        Assert.Equal(config.ToJson(), parsed.ToJson());
        Assert.Equal([2, 7], parsed.EosTokenIds);
        Assert.Equal(9, parsed.MaskTokenId);
        var gpt2 = ModelConfig.Parse(File.ReadAllText(Path.Combine(Fixture("gpt2_f16"), "config.json")));
        Assert.Equal(gpt2.ToJson(), ModelConfig.Parse(gpt2.ToJson()).ToJson());
        Assert.Equal(128, gpt2.IntermediateSize);
    }

    internal static ModelConfig TinyConfig(int vocab = 97, int maxPositions = 128) => new()
    {
        ModelType = "llama", VocabSize = vocab, HiddenSize = 32, IntermediateSize = 48, NumHiddenLayers = 2,
        NumAttentionHeads = 4, NumKeyValueHeads = 2, HeadDim = 8, MaxPositionEmbeddings = maxPositions, EosTokenIds = [2], BosTokenId = 1,
    };
}
