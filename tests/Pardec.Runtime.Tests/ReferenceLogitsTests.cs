using Pardec.Runtime.Loading;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>Logits of tiny seeded random checkpoints against a PyTorch reference (tests/fixtures/make_reference_fixtures.py).</summary>
public sealed class ReferenceLogitsTests
{
    public ReferenceLogitsTests() => Init();

    [Theory]
    [InlineData("llama_gqa")]   // grouped-query attention, untied head, f32 file
    [InlineData("llama_tied")]  // tied head, explicit head_dim != hidden / heads, eos list
    [InlineData("qwen2_bf16")]  // q/k/v bias, one kv head, bf16 file upcast to f32
    [InlineData("gpt2_f16")]    // Conv1D [in, out] weights, learned positions, f16 file
    public void Full_forward_logits_match_the_pytorch_reference_to_1e4(string fixture)
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel(fixture);
        var expected = SafetensorsFile.Open(Path.Combine(Fixture(fixture), "expected.safetensors"));
        var tokens = expected.Read("tokens");          // [2, 8]
        var reference = expected.Read("logits");       // [2, 8, vocab]
        int n = (int)tokens.shape[1];

        using var output = model.Forward(tokens, Positions(0, n, 2), CausalMask(0, n, 2), cache: null);

        Assert.Equal(reference.shape, output.Logits.shape);
        Assert.Equal(ScalarType.Float32, output.Logits.dtype);
        Assert.True(MaxAbsDiff(output.Logits, reference) < 1e-4f, $"max |diff| = {MaxAbsDiff(output.Logits, reference)}");
    }

    [Fact]
    public void Bfloat16_forward_stays_close_to_the_float32_reference()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_gqa", ScalarType.BFloat16);
        var expected = SafetensorsFile.Open(Path.Combine(Fixture("llama_gqa"), "expected.safetensors"));
        var tokens = expected.Read("tokens");
        var reference = expected.Read("logits");
        using var output = model.Forward(tokens, Positions(0, 8, 2), CausalMask(0, 8, 2), cache: null);
        Assert.Equal(ScalarType.Float32, output.Logits.dtype);
        // bf16 keeps ~3 significant digits; the argmax must agree almost everywhere.
        double agree = output.Logits.argmax(-1).eq(reference.argmax(-1)).to_type(ScalarType.Float32).mean().item<float>();
        Assert.True(agree >= 0.85, $"argmax agreement {agree}");
        Assert.True(MaxAbsDiff(output.Logits, reference) < 0.25f, $"max |diff| = {MaxAbsDiff(output.Logits, reference)}");
    }

    [Fact]
    public void Returned_hidden_state_is_the_final_normed_state_the_head_projects()
    {
        using var scope = torch.NewDisposeScope();
        using var model = LoadFixtureModel("llama_tied");
        var tokens = Tokens(3, 14, 15, 92, 65);
        using var output = model.Forward(tokens, Positions(0, 5), CausalMask(0, 5), cache: null, returnHidden: true);
        Assert.NotNull(output.Hidden);
        Assert.Equal(new long[] { 1, 5, 64 }, output.Hidden!.shape);
        var embed = model.named_parameters().First(p => p.name == "model.embed_tokens.weight").parameter;
        var projected = nn.functional.linear(output.Hidden, embed);
        Assert.True(MaxAbsDiff(projected, output.Logits) < 1e-4f);
    }
}
