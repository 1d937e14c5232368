using System.Text;
using System.Text.Json;
using Json.Schema;
using Pardec.Dsl;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pardec.Constraints.Tests;

/// <summary>
/// <c>constrain</c> on a masked canvas (Composed/masked.pdec): the generated decoder and the plan interpreter both follow
/// the declared schema through DINGO on the shipped diffusion LM, give the same tokens, and every reply validates.
/// </summary>
public sealed class DeclaredMaskedConstraintTests(ITestOutputHelper output)
{
    [Fact]
    public void A_declared_schema_on_a_masked_canvas_is_followed_by_both_engines()
    {
        torch.set_num_threads(1);
        using var diffusion = PretrainedModel.Load(Path.Combine(Shipped.RepoRoot(), "models", "english", "diffusion"), CPU, ScalarType.Float32, requireTokenizer: true);
        var vocabulary = TokenVocabulary.From(diffusion.Tokenizer!);
        var models = new ModelSet().Add("model", diffusion.Model).Add(vocabulary);
        var strategy = Composed.GeneratedStrategies.All.Single(s => s.Name == "PersonJsonDiffusion");
        var plan = PdecCompiler.Compile(strategy.Plan, readFile: strategy.ReadFile).Plans.Single();
        using var generated = strategy.Create(models, null, 128);
        using var interpreted = PlanInterpreter.Create(plan, models, null, 128);
        var schema = JsonSchema.FromText(File.ReadAllText(Path.Combine(Shipped.RepoRoot(), "tests", "Pardec.Constraints.Tests", "Composed", "person.schema.json")));
        foreach (string prompt in new[] { "The answer, in JSON:", "And God said unto Moses," })
        {
            var ids = diffusion.Tokenizer!.Encode(prompt, addBos: true);
            var options = new GenerationOptions { MaxNewTokens = 48 };
            var a = generated.Generate(ids, options);
            var b = interpreted.Generate(ids, options);
            Assert.Equal(a.Tokens, b.Tokens);
            string text = Encoding.UTF8.GetString(vocabulary.Concatenate(a.Tokens));
            output.WriteLine($"{a.StopReason}: {text}");
            Assert.True(schema.Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
        }
    }
}
