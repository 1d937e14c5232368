using System.Text;
using System.Text.Json;
using Json.Schema;
using Pardec.Dsl;
using Pardec.Dsl.Plan;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Strategies.Tests;
using Xunit;
using Xunit.Abstractions;

namespace Pardec.Constraints.Tests;

/// <summary>
/// Strategies that declare their constraint (Composed/declared.pdec: a JSON Schema file next to it, a regex), compiled
/// by the generator and run by the interpreter from the printed plan, on the shipped models: both equal constrained
/// greedy token for token, every JSON output validates with JsonSchema.Net, and the generated loop allocates nothing per step.
/// </summary>
public sealed class DeclaredConstraintTests(ShippedModels models, ITestOutputHelper output) : IClassFixture<ShippedModels>
{
    private static readonly string SchemaFile = Path.Combine(Shipped.RepoRoot(), "tests", "Pardec.Constraints.Tests", "Composed", "person.schema.json");

    private ModelSet Set => new ModelSet().Add("target", models.Target.Model).Add("draft", models.Draft.Model).Add(Shipped.Vocabulary);

    private static GeneratedStrategy Strategy(string name) => Composed.GeneratedStrategies.All.Single(s => s.Name == name);

    private static DecodePlan Plan(GeneratedStrategy s) => PdecCompiler.Compile(s.Plan, readFile: s.ReadFile).Plans.Single();

    [Fact]
    public void A_json_schema_strategy_equals_constrained_greedy_on_both_engines_and_its_outputs_validate()
    {
        var strategy = Strategy("PersonJson");
        using var generated = strategy.Create(Set, null, 256);
        using var interpreted = PlanInterpreter.Create(Plan(strategy), Set, null, 256);
        using var greedy = Pardec.Strategies.GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        string schemaText = File.ReadAllText(SchemaFile);
        var reference = TokenConstraint.FromJsonSchema(schemaText).For(Shipped.Vocabulary);
        var schema = JsonSchema.FromText(schemaText);
        foreach (var prompt in models.Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = 120 };
            var expected = greedy.Generate(prompt, options with { Constraint = reference });
            var a = generated.Generate(prompt, options);
            var b = interpreted.Generate(prompt, options);
            Assert.Equal(expected.Tokens, a.Tokens);
            Assert.Equal(expected.Tokens, b.Tokens);
            Assert.Equal(a.Stats.Steps, b.Stats.Steps);
            Assert.Equal(StopReason.EndOfSequence, a.StopReason);
            string text = Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(a.Tokens));
            Assert.True(schema.Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
            Assert.True(a.Stats.Steps < expected.Stats.Steps, $"{a.Stats.Steps} steps, greedy {expected.Stats.Steps}");
            output.WriteLine($"{text}: {a.Tokens.Count} tokens, {a.Stats.Steps} steps ({a.Stats.MeanAcceptedPerStep:F2}/step), constrained greedy {expected.Stats.Steps} steps");
        }
    }

    [Fact]
    public void A_regex_strategy_equals_constrained_greedy_on_both_engines()
    {
        var strategy = Strategy("LowercaseProse");
        using var generated = strategy.Create(Set, null, 256);
        using var interpreted = PlanInterpreter.Create(Plan(strategy), Set, null, 256);
        using var greedy = Pardec.Strategies.GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        var reference = TokenConstraint.FromRegex("[a-z ,.]{300,900}").For(Shipped.Vocabulary);
        foreach (var prompt in models.Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = 40 };
            var expected = greedy.Generate(prompt, options with { Constraint = reference });
            Assert.Equal(expected.Tokens, generated.Generate(prompt, options).Tokens);
            Assert.Equal(expected.Tokens, interpreted.Generate(prompt, options).Tokens);
            Assert.Matches("^[a-z ,.]*$", Encoding.UTF8.GetString(Shipped.Vocabulary.Concatenate(expected.Tokens)));
        }
    }

    [Fact]
    public void Both_engines_build_the_same_instances_and_the_plan_carries_the_schema_it_was_built_with()
    {
        Assert.Equal(Composed.PersonJsonDecoder.Primitives, string.Join("\n", ((CausalStepPlan)Plan(Strategy("PersonJson")).Step).Instances));
        Assert.Equal(File.ReadAllText(SchemaFile), Composed.PersonJsonDecoder.ReadFile("person.schema.json"));
        Assert.Contains("constrain json(schema: \"person.schema.json\")", Composed.PersonJsonDecoder.Plan);
    }

    [Fact]
    public void A_request_cannot_bring_a_second_constraint_to_a_strategy_that_declares_one()
    {
        using var generated = Strategy("PersonJson").Create(Set, null, 256);
        var other = TokenConstraint.FromRegex("[0-9]+").For(Shipped.Vocabulary);
        var e = Assert.Throws<ArgumentException>(() => generated.Generate(models.Prompts[0], new GenerationOptions { MaxNewTokens = 4, Constraint = other }));
        Assert.Contains("constrain runtime", e.Message);
        // Without the vocabulary the decoder says what it needs.
        var missing = Assert.Throws<ArgumentException>(() => Strategy("PersonJson").Create(models.Set, null, 256));
        Assert.Contains("TokenVocabulary.From", missing.Message);
    }

    /// <summary>The constrained generated loop keeps the allocation bound of AllocationTests: masks are cached per state,
    /// drafts and verification are masked in place, the forced proposer walks preallocated queues.</summary>
    [Fact]
    public void The_constrained_generated_loop_allocates_nothing_per_step()
    {
        using var decoder = Strategy("LowercaseProse").Create(Set, null, 256);
        var prompt = models.Prompts[0];
        var options = new GenerationOptions { MaxNewTokens = 16, StopOnEos = false };
        var (perStep, shortRun, longRun) = StepAllocation.Measure(decoder, prompt, options, longTokens: 64);
        output.WriteLine($"LowercaseProse: {perStep:F1} B/step ({shortRun.Stats.Steps} vs {longRun.Stats.Steps} steps)");
        Assert.True(perStep <= 32, $"{perStep:F0} B allocated per step");
    }
}
