using Microsoft.CodeAnalysis;

namespace Pardec.Generators.Tests;

public sealed class LibraryCompilationTests
{
    [Fact]
    public void Every_library_strategy_generates_code_that_compiles_without_errors_or_warnings()
    {
        var (output, result, _) = GeneratorHarness.Run(GeneratorHarness.LibraryFiles(), Samples.RepeatLookup);

        Assert.Empty(GeneratorHarness.Problems(output, result).Select(d => d.ToString()));
        // One decoder per library strategy, the registry, the attributes (and Roslyn's [Embedded]), the attributed class's two files.
        var strategies = GeneratorHarness.LibraryFiles()
            .SelectMany(f => System.Text.RegularExpressions.Regex.Matches(f.GetText()!.ToString(), @"^strategy (\w+)", System.Text.RegularExpressions.RegexOptions.Multiline))
            .Select(m => m.Groups[1].Value + "Decoder.g.cs").ToList();
        var hints = result.Results.Single().GeneratedSources.Select(s => s.HintName).ToList();
        Assert.True(strategies.Count > 20, "found only " + strategies.Count + " library strategies");
        Assert.Empty(strategies.Except(hints));
        Assert.Contains("Demo.RepeatLookupDecoder.g.cs", hints);
        Assert.Contains("GeneratedStrategies.g.cs", hints);
        Assert.Equal(strategies.Count + 1 + 2 + 2, hints.Count);
    }

    [Fact]
    public void The_attributed_class_compiles_into_a_decoder_whose_loop_calls_the_hook()
    {
        var (output, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), Samples.RepeatLookup);

        Assert.Empty(GeneratorHarness.Problems(output, result).Select(d => d.ToString()));
        var decoder = output.GetTypeByMetadataName("Demo.RepeatLookupDecoder");
        Assert.NotNull(decoder);
        Assert.Contains(decoder!.AllInterfaces, i => i.ToDisplayString() == "Pardec.Runtime.Decoding.IDecoder");
        string source = GeneratorHarness.Generated(result, "Demo.RepeatLookupDecoder.g.cs");
        Assert.Contains("_hook0.Propose(s.Context, s.Tree, 1);", source);
        // The runtime length is sized at its range's top (64), plus the hook's 4 → worst-case width 68, 69 tree nodes with the root.
        Assert.Contains("new global::Pardec.Runtime.Primitives.CausalSession(target, maxLength, 69)", source);
        Assert.Contains("verify target tree(max_width: 68)", source);
        // The runtime parameter is on the options record; the build-time one was folded.
        Assert.NotNull(output.GetTypeByMetadataName("Demo.RepeatLookupOptions")!.GetMembers("Length").SingleOrDefault());
        Assert.Empty(output.GetTypeByMetadataName("Demo.RepeatLookupOptions")!.GetMembers("MaxNgram"));
    }
}
