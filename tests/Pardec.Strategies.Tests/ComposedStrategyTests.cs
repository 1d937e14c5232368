using Pardec.Dsl;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Xunit;

namespace Pardec.Strategies.Tests;

/// <summary>
/// A user's new combination of primitives — prompt lookup and a draft model's chain verified together as one token
/// tree — declared in <c>Composed/lookup_plus_draft.pdec</c>, compiled by the generator into this test assembly, and
/// run without any runtime change: it must equal plain greedy decoding and the interpreter, token for token.
/// </summary>
public sealed class ComposedStrategyTests
{
    private static readonly int[][] Prompts = [[0, 5, 17, 5, 17, 33, 5, 17], [0, 42], [0, 7, 8, 9, 10, 11, 12, 7, 8, 9]];

    [Theory]
    [InlineData(21L, 22L)]
    [InlineData(23L, 23L)] // the draft is the target itself: its chain is always right
    public void Lookup_and_draft_candidates_in_one_tree_are_lossless(long targetSeed, long draftSeed)
    {
        using var target = TinyModels.Create(targetSeed, layers: 2);
        using var draft = targetSeed == draftSeed ? null : TinyModels.Create(draftSeed, layers: 1);
        var models = new ModelSet().Add("target", target).Add("draft", (Pardec.Runtime.Models.ICausalLM?)draft ?? target);
        using var greedy = Pardec.Strategies.GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models, null, 160);
        using var generated = new Composed.LookupPlusDraftDecoder(target, (Pardec.Runtime.Models.ICausalLM?)draft ?? target, maxLength: 160);
        using var interpreted = PlanInterpreter.Create(PdecCompiler.Compile(Composed.LookupPlusDraftDecoder.Plan).Plans.Single(), models, null, 160);
        int steps = 0, tokens = 0;
        foreach (var prompt in Prompts)
        {
            var options = new GenerationOptions { MaxNewTokens = 40 };
            var expected = greedy.Generate(prompt, options).Tokens;
            var result = generated.Generate(prompt, options);
            Assert.Equal(expected, result.Tokens);
            Assert.Equal(expected, interpreted.Generate(prompt, options).Tokens);
            steps += result.Stats.Steps;
            tokens += result.Stats.Tokens;
        }
        if (targetSeed == draftSeed) Assert.True(steps * 4 <= tokens, $"{tokens} tokens took {steps} steps; an exact draft should commit 5 per step");
    }
}
