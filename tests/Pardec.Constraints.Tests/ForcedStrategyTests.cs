using Pardec.Dsl;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Xunit;
using Xunit.Abstractions;

namespace Pardec.Constraints.Tests;

/// <summary>
/// The <c>forced</c> proposer as a language primitive: strategies in Composed/constrained.pdec, compiled by the generator
/// and run by the plan interpreter, give constrained greedy token for token under a request's constraint, and plain
/// greedy without one.
/// </summary>
public sealed class ForcedStrategyTests(ShippedModels models, ITestOutputHelper output) : IClassFixture<ShippedModels>
{
    [Theory]
    [InlineData("JumpForward")]
    [InlineData("JumpForwardSpeculative")]
    public void Jump_forward_strategies_give_constrained_greedy_on_both_engines(string name)
    {
        var strategy = Composed.GeneratedStrategies.All.Single(s => s.Name == name);
        var plan = PdecCompiler.Compile(strategy.Plan).Plans.Single();
        using var generated = strategy.Create(models.Set, null, 256);
        using var interpreted = PlanInterpreter.Create(plan, models.Set, null, 256);
        using var greedy = Pardec.Strategies.GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        var matchers = new[]
        {
            TokenConstraint.FromJsonSchema(ConstrainedDecodingTests.SmallSchema).For(Shipped.Vocabulary),
            TokenConstraint.FromRegex(ConstrainedDecodingTests.Regexes[1]).For(Shipped.Vocabulary),
            null,
        };
        foreach (var matcher in matchers)
            foreach (var prompt in models.Prompts)
            {
                var options = new GenerationOptions { MaxNewTokens = 80, Constraint = matcher };
                var reference = greedy.Generate(prompt, options);
                var a = generated.Generate(prompt, options);
                var b = interpreted.Generate(prompt, options);
                Assert.Equal(reference.Tokens, a.Tokens);
                Assert.Equal(reference.Tokens, b.Tokens);
                Assert.Equal(a.Stats.Steps, b.Stats.Steps);
                output.WriteLine($"{name}, {matcher?.Description ?? "unconstrained"}: {reference.Tokens.Count} tokens, greedy {reference.Stats.Steps} steps, {name} {a.Stats.Steps} steps ({a.Stats.MeanAcceptedPerStep:F2}/step)");
                if (matcher is not null && name == "JumpForward") Assert.True(a.Stats.Steps < reference.Stats.Steps);
            }
    }
}
