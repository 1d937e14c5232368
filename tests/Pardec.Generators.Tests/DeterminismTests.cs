using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Tests;

public sealed class DeterminismTests
{
    [Fact]
    public void The_same_inputs_in_another_order_generate_identical_sources()
    {
        var files = GeneratorHarness.LibraryFiles();
        var forward = Sources(files);
        var backward = Sources(files.Reverse().ToList());

        Assert.Equal(forward.Count, backward.Count);
        Assert.Equal(forward.Keys.Order(StringComparer.Ordinal), backward.Keys.Order(StringComparer.Ordinal));
        foreach (var (hint, text) in forward) Assert.Equal(text, backward[hint]);
        Assert.Contains("GeneratedStrategies.g.cs", forward.Keys);
    }

    private static Dictionary<string, string> Sources(IReadOnlyList<AdditionalText> files)
    {
        var (_, result, _) = GeneratorHarness.Run(files, Samples.RepeatLookup);
        return result.Results.Single().GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
    }
}
