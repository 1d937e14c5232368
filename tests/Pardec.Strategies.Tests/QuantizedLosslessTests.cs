using System.Text.Json;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Quantization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Strategies.Tests;

/// <summary>
/// The lossless claim on quantized weights: with the shipped target and draft quantized as they load (int8 per channel,
/// int4 group 32), every library strategy that declares <c>guarantee lossless</c> reproduces greedy decoding <em>of the
/// same quantized model</em> token for token. It holds because libtorch's int8 and int4 CPU kernels give a row the same
/// bits however many rows share the call (docs/quantization.md), as the f32/bf16 paths do.
/// </summary>
public sealed class QuantizedLosslessTests
{
    private const int MaxNew = 32;

    public static TheoryData<string> Kinds => new() { "int8", "int4" };

    [Theory, MemberData(nameof(Kinds))]
    public void Lossless_strategies_reproduce_greedy_decoding_of_the_quantized_model(string kind)
    {
        torch.set_num_threads(1);
        var quantization = kind == "int8" ? WeightQuantization.Int8 : WeightQuantization.Int4();
        string family = Path.Combine(EngineEquivalenceTests.RepoRoot(), "models", "english");
        using var target = PretrainedModel.Load(Path.Combine(family, "target"), CPU, ScalarType.Float32, requireTokenizer: true, quantization: quantization);
        using var draft = PretrainedModel.Load(Path.Combine(family, "draft"), CPU, ScalarType.Float32, quantization: quantization);
        Assert.NotEmpty(QuantizedCheckpoint.Linears(target.Model));
        using var heads = MedusaHeads.Load(Path.Combine(family, "medusa"), target.Config, CPU, ScalarType.Float32);
        var models = new ModelSet().Add("target", target.Model).Add("draft", draft.Model).Add("heads", heads);
        var prompts = File.ReadLines(Path.Combine(EngineEquivalenceTests.RepoRoot(), "models", "eval", "prompts.english.jsonl"))
            .Take(2).Select(l => target.Tokenizer!.Encode(JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!, addBos: true))
            .Select(p => p.Length > 80 ? p[^80..] : p)
            .ToArray();
        var options = new GenerationOptions { MaxNewTokens = MaxNew, StopOnEos = false };
        using var greedy = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models, null, 256);
        var reference = prompts.Select(p => greedy.Generate(p, options).Tokens.ToArray()).ToArray();

        var checkedStrategies = new List<string>();
        foreach (var strategy in GeneratedStrategies.All)
        {
            var plan = EngineEquivalenceTests.Parse(strategy.Plan);
            if (plan.Guarantee != Pardec.Dsl.Plan.Guarantee.Lossless || plan.Canvas.Kind != CanvasKind.Causal || plan.Canvas.Batch is not null) continue;
            using var decoder = strategy.Create(models, null, 256);
            for (int i = 0; i < prompts.Length; i++)
            {
                var tokens = decoder.Generate(prompts[i], options).Tokens.ToArray();
                int at = Enumerable.Range(0, Math.Min(tokens.Length, reference[i].Length)).FirstOrDefault(k => tokens[k] != reference[i][k], -1);
                Assert.True(tokens.SequenceEqual(reference[i]), $"{strategy.Name} ({kind}), prompt {i}: differs from greedy at token {at}");
            }
            checkedStrategies.Add(strategy.Name);
        }
        Assert.Contains("SequoiaTree", checkedStrategies);
        Assert.True(checkedStrategies.Count >= 10, string.Join(", ", checkedStrategies));
    }
}
