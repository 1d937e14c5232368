using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Strategies;
using Xunit;

namespace Pardec.Apps.Tests;

/// <summary>One loaded model shared by several decoders, each with its own KV cache and buffers.</summary>
[Collection(nameof(AppCollection))]
public sealed class ConcurrencyTests(AppModels models)
{
    private static readonly string[] Prompts =
    [
        "In the beginning God created the heaven and the earth.",
        "And the earth was without form, and void; and darkness was upon the face of the deep.",
        "And God said, Let there be light: and there was light.",
        "And God saw the light, that it was good.",
    ];

    private const int MaxNew = 48;

    /// <summary>The strategies an app would run side by side: generated decoders and the plan interpreter.</summary>
    public static TheoryData<string> Kinds => ["PromptLookup", "SpeculativeGreedy", "Interpreted:AdaptiveNgram"];

    private IDecoder Create(string kind)
    {
        var set = new ModelSet().Add("target", models.Target.Model).Add("draft", models.Draft.Model);
        if (kind.StartsWith("Interpreted:", StringComparison.Ordinal))
        {
            string name = kind["Interpreted:".Length..];
            var plan = GeneratedStrategies.All.Single(s => s.Name == name).Plan;
            return PlanInterpreter.Create(Pardec.Dsl.PdecCompiler.Compile(plan).Plans.Single(), set, null, 512);
        }
        return GeneratedStrategies.All.Single(s => s.Name == kind).Create(set, null, 512);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Four_parallel_generations_equal_the_sequential_ones_and_leak_nothing(string kind)
    {
        long baseline = AppModels.Baseline();
        var prompts = Prompts.Select(p => models.Tokenizer.Encode(p, addBos: true)).ToArray();

        var sequential = new int[Prompts.Length][];
        using (var decoder = Create(kind))
            for (int i = 0; i < prompts.Length; i++)
                sequential[i] = decoder.Generate(prompts[i], AppModels.Greedy(MaxNew)).Tokens.ToArray();
        Assert.True(sequential.Select(s => string.Join(",", s)).Distinct().Count() > 1, "different prompts must give different outputs");

        var decoders = prompts.Select(_ => Create(kind)).ToArray();
        try
        {
            using var start = new Barrier(prompts.Length);
            var parallel = await Task.WhenAll(prompts.Select((prompt, i) => Task.Run(() =>
            {
                start.SignalAndWait(TimeSpan.FromSeconds(30));
                return decoders[i].Generate(prompt, AppModels.Greedy(MaxNew)).Tokens.ToArray();
            })));
            for (int i = 0; i < prompts.Length; i++) Assert.Equal(sequential[i], parallel[i]);
        }
        finally
        {
            foreach (var d in decoders) d.Dispose();
        }

        Assert.Equal(baseline, AppModels.Live());
    }
}
