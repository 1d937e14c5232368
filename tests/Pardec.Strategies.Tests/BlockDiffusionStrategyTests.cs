using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Models;
using Pardec.Strategies;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// strategies/fast_dllm_v2.pdec ("Fast-dLLM v2: Efficient Block-Diffusion LLM"): on a seeded block-causal denoiser its
/// finished-block cache (<c>cache prefix</c>) decodes what recomputing everything (<c>cache none</c>) decodes, token for
/// token, greedy and sampled, generated and interpreted; and a decoder refuses a model that is not the denoiser its
/// strategy declares, naming the model's directory and config field.
/// </summary>
public sealed class BlockDiffusionStrategyTests : IDisposable
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33, 5, 17], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12, 7, 8, 9, 10, 11, 12, 7, 8]];
    private const int MaxNew = 72, MaxLength = 160;

    private readonly CausalLMBase _blockCausal, _bidirectional;

    public BlockDiffusionStrategyTests()
    {
        torch.set_num_threads(1);
        var config = TinyModels.Config(layers: 2) with { MaskTokenId = 95, ShiftedLogits = true };
        _blockCausal = CausalLM.CreateRandom(config with { DenoiserBlock = 32, SourcePath = "/models/fast-dllm-v2-tiny/config.json" }, CPU, ScalarType.Float32, 15, 0.2);
        _bidirectional = CausalLM.CreateRandom(config with { SourcePath = "/models/dream-tiny/config.json" }, CPU, ScalarType.Float32, 15, 0.2);
    }

    public void Dispose() { _blockCausal.Dispose(); _bidirectional.Dispose(); }

    [Theory]
    [InlineData("FastDllmV2")]
    [InlineData("FastDllmV2OneByOne")]
    public void The_finished_block_cache_decodes_what_recomputing_everything_decodes_in_both_engines(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = EngineEquivalenceTests.Parse(strategy.Plan);
        Assert.Equal(CacheMode.Prefix, plan.Canvas.Cache);
        var recompute = plan with { Canvas = plan.Canvas with { Cache = CacheMode.None } };
        var models = new ModelSet().Add("model", _blockCausal);
        // A threshold the tiny random model's confidences reach, so that steps commit several tokens.
        var parameters = name == "FastDllmV2" ? new Dictionary<string, string> { ["threshold"] = "0.2" } : null;
        using var generated = strategy.Create(models, parameters, MaxLength);
        using var interpreted = PlanInterpreter.Create(plan, models, parameters, MaxLength);
        using var reference = PlanInterpreter.Create(recompute, models, parameters, MaxLength);
        int tokens = 0, steps = 0;
        foreach (var prompt in Prompts)
            foreach (var options in new[] { new GenerationOptions { MaxNewTokens = MaxNew, StopOnEos = false }, new GenerationOptions { MaxNewTokens = MaxNew, StopOnEos = false, Temperature = 0.8, Seed = 3 } })
            {
                var expected = reference.Generate(prompt, options);
                var a = generated.Generate(prompt, options);
                var b = interpreted.Generate(prompt, options);
                Assert.Equal(expected.Tokens, b.Tokens);
                Assert.Equal(expected.Tokens, a.Tokens);
                Assert.Equal(expected.Stats.Steps, a.Stats.Steps);
                tokens += a.Tokens.Count;
                steps += a.Stats.Steps;
            }
        Assert.True(tokens > 100, $"{tokens} tokens");
        if (name == "FastDllmV2") Assert.True(steps < tokens, $"{steps} steps for {tokens} tokens: the threshold never committed two at once");
    }

    [Fact]
    public void A_decoder_refuses_a_model_that_is_not_the_denoiser_its_strategy_declares()
    {
        var v2 = GeneratedStrategies.All.Single(s => s.Name == "FastDllmV2");
        var llada = GeneratedStrategies.All.Single(s => s.Name == "LladaOneByOne");
        var bidirectional = new ModelSet().Add("model", _bidirectional);
        var blockCausal = new ModelSet().Add("model", _blockCausal);

        foreach (var create in new Func<ModelSet, IDecoder>[] { m => v2.Create(m, null, MaxLength), m => PlanInterpreter.Create(EngineEquivalenceTests.Parse(v2.Plan), m, null, MaxLength) })
        {
            var e = Assert.Throws<ArgumentException>(() => create(bidirectional));
            Assert.Contains("FastDllmV2", e.Message);
            Assert.Contains("/models/dream-tiny", e.Message);
            Assert.Contains("bd_size", e.Message);
        }
        foreach (var create in new Func<ModelSet, IDecoder>[] { m => llada.Create(m, null, MaxLength), m => PlanInterpreter.Create(EngineEquivalenceTests.Parse(llada.Plan), m, null, MaxLength) })
        {
            var e = Assert.Throws<ArgumentException>(() => create(blockCausal));
            Assert.Contains("/models/fast-dllm-v2-tiny", e.Message);
            Assert.Contains("masked(block_causal: 32)", e.Message);
        }

        // The block and the shift are checked too.
        var other = EngineEquivalenceTests.Parse(v2.Plan.Replace("param block: int = 32", "param block: int = 16"));
        Assert.Contains("bd_size 32", Assert.Throws<ArgumentException>(() => PlanInterpreter.Create(other, blockCausal, null, MaxLength)).Message);
        var unshifted = EngineEquivalenceTests.Parse(v2.Plan.Replace("shifted: true", "shifted: false"));
        Assert.Contains("shifted: false", Assert.Throws<ArgumentException>(() => PlanInterpreter.Create(unshifted, blockCausal, null, MaxLength)).Message);
    }
}
