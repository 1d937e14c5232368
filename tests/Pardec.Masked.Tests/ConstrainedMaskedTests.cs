using System.Text;
using System.Text.Json;
using Json.Schema;
using Pardec.Dsl;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using Pardec.Strategies;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Pardec.Masked.Tests;

/// <summary>The shipped English diffusion LM in f32 and its vocabulary, loaded once.</summary>
public sealed class ShippedDiffusion : IDisposable
{
    public ShippedDiffusion()
    {
        torch.set_num_threads(1);
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        Root = dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        Model = PretrainedModel.Load(Path.Combine(Root, "models", "english", "diffusion"), CPU, ScalarType.Float32, requireTokenizer: true);
        Vocabulary = TokenVocabulary.From(Model.Tokenizer!);
        Set = new ModelSet().Add("model", Model.Model);
        Prompts = ["And God said unto Moses,", "The answer, in JSON:"];
    }

    public string Root { get; }
    public PretrainedModel Model { get; }
    public TokenVocabulary Vocabulary { get; }
    public ModelSet Set { get; }
    public string[] Prompts { get; }

    public int[] Encode(string text) => Model.Tokenizer!.Encode(text, addBos: true);

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// DINGO on masked canvases: every library masked strategy, under a regex and a JSON Schema, on the shipped diffusion
/// LM, produces text the constraint accepts (JSON validated by JsonSchema.Net); both engines agree; a constraint the
/// canvas cannot hold ends with <see cref="StopReason.Unsatisfiable"/>.
/// </summary>
public sealed class ConstrainedMaskedTests(ShippedDiffusion shipped, ITestOutputHelper output) : IClassFixture<ShippedDiffusion>
{
    public const string Regex = @"(Yes|No), because [a-z]+( [a-z]+){1,6}\.";
    public const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},"good":{"type":"boolean"}},"required":["name","age","good"]}
        """;

    public static TheoryData<string> MaskedStrategies => new()
    {
        "Llada", "LladaOneByOne", "FastDllmThreshold", "FastDllmFactor", "EarlyCommit", "LocalLeap", "CreditDecoding",
        "AdaBlock", "EotPrediction", "DllmDraftVerify", "DllmSelfSpeculative",
    };

    [Theory]
    [MemberData(nameof(MaskedStrategies))]
    public void Masked_strategies_under_a_constraint_produce_text_it_accepts(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        using var decoder = strategy.Create(shipped.Set, null, 128);
        var regex = TokenConstraint.FromRegex(Regex);
        var schemaConstraint = TokenConstraint.FromJsonSchema(Schema);
        var schema = JsonSchema.FromText(Schema);
        foreach (var (constraint, prompt) in new[] { (regex, shipped.Prompts[0]), (schemaConstraint, shipped.Prompts[1]) })
        {
            var options = new GenerationOptions { MaxNewTokens = 48, Constraint = constraint.For(shipped.Vocabulary) };
            var result = decoder.Generate(shipped.Encode(prompt), options);
            string text = Encoding.UTF8.GetString(shipped.Vocabulary.Concatenate(result.Tokens));
            output.WriteLine($"{name}, {constraint.Description}: {result.StopReason}, {result.Stats.Steps} steps: {text}");
            Assert.Contains(result.StopReason, new[] { StopReason.EndOfSequence, StopReason.MaxNewTokens });
            Assert.True(constraint.Dfa.Matches(text), text);
            if (constraint == schemaConstraint) Assert.True(schema.Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
        }
    }

    [Fact]
    public void Sampled_masked_decoding_under_a_constraint_matches_and_is_reproducible()
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == "FastDllmThreshold");
        using var decoder = strategy.Create(shipped.Set, null, 128);
        var constraint = TokenConstraint.FromJsonSchema(Schema);
        var texts = new HashSet<string>();
        for (int seed = 1; seed <= 3; seed++)
        {
            var options = new GenerationOptions { MaxNewTokens = 48, Temperature = 1.0, Seed = seed, Constraint = constraint.For(shipped.Vocabulary) };
            var a = decoder.Generate(shipped.Encode(shipped.Prompts[1]), options);
            var b = decoder.Generate(shipped.Encode(shipped.Prompts[1]), options);
            Assert.Equal(a.Tokens, b.Tokens);
            string text = Encoding.UTF8.GetString(shipped.Vocabulary.Concatenate(a.Tokens));
            output.WriteLine($"seed {seed}: {text}");
            Assert.True(constraint.Dfa.Matches(text), text);
            texts.Add(text);
        }
        Assert.True(texts.Count > 1, "different seeds should draw different texts");
    }

    [Theory]
    [InlineData("FastDllmThreshold")]
    [InlineData("AdaBlock")]
    public void Both_engines_give_the_same_constrained_tokens(string name)
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = PdecCompiler.Compile(strategy.Plan).Plans.Single();
        using var generated = strategy.Create(shipped.Set, null, 128);
        using var interpreted = PlanInterpreter.Create(plan, shipped.Set, null, 128);
        var options = new GenerationOptions { MaxNewTokens = 48, Constraint = TokenConstraint.FromJsonSchema(Schema).For(shipped.Vocabulary) };
        var prompt = shipped.Encode(shipped.Prompts[1]);
        var a = generated.Generate(prompt, options);
        var b = interpreted.Generate(prompt, options);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Stats.Steps, b.Stats.Steps);
    }

    [Fact]
    public void A_recursive_grammar_on_a_masked_canvas_is_refused_by_name()
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == "FastDllmThreshold");
        using var decoder = strategy.Create(shipped.Set, null, 128);
        var grammar = TokenConstraint.FromGbnf("root ::= \"(\" root \")\" | \"x\"").For(shipped.Vocabulary);
        Assert.False(grammar.IsRegular);
        var e = Assert.Throws<NotSupportedException>(() => decoder.Generate(shipped.Encode(shipped.Prompts[0]), new GenerationOptions { MaxNewTokens = 16, Constraint = grammar }));
        Assert.Contains("regular constraints only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_constraint_the_canvas_cannot_hold_ends_unsatisfiable()
    {
        var strategy = GeneratedStrategies.All.Single(s => s.Name == "FastDllmThreshold");
        using var decoder = strategy.Create(shipped.Set, null, 128);
        // 200 letters cannot be spelled in 16 tokens of this vocabulary.
        var options = new GenerationOptions { MaxNewTokens = 16, Constraint = TokenConstraint.FromRegex("[xyz]{200}").For(shipped.Vocabulary) };
        var result = decoder.Generate(shipped.Encode(shipped.Prompts[0]), options);
        Assert.Equal(StopReason.Unsatisfiable, result.StopReason);
        Assert.Empty(result.Tokens);
        // The same pattern fits a canvas long enough for it (a single-letter token exists for each letter).
        var fits = TokenConstraint.FromRegex("[xyz]{20}").For(shipped.Vocabulary);
        var done = decoder.Generate(shipped.Encode(shipped.Prompts[0]), options with { MaxNewTokens = 24, Constraint = fits });
        Assert.True(fits.Dfa.Matches(shipped.Vocabulary.Concatenate(done.Tokens)));
    }
}
