using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Pardec.Generators.Tests;

/// <summary>The Regex generator's incremental tests: what must not run again, and what must.</summary>
public sealed class IncrementalTests
{
    private static readonly string[] OurSteps =
    {
        PdecGenerator.TrackingNames.Compiled, PdecGenerator.TrackingNames.Combined, PdecGenerator.TrackingNames.Registry,
        PdecGenerator.TrackingNames.StrategyClass, PdecGenerator.TrackingNames.CompiledClass,
    };

    [Fact]
    public void An_unrelated_csharp_edit_leaves_every_step_and_output_cached_or_unchanged()
    {
        var texts = new[] { GeneratorHarness.LibraryFile("speculative.pdec"), GeneratorHarness.LibraryFile("lookahead.pdec") };
        var compilation = GeneratorHarness.Compilation(Samples.RepeatLookup, Samples.Unrelated);
        var driver = GeneratorHarness.Driver(texts).RunGenerators(compilation);

        // Edit both files: the unrelated one, and the strategy class's file outside the class.
        var edited = compilation
            .ReplaceSyntaxTree(compilation.SyntaxTrees.ElementAt(1), CSharpSyntaxTree.ParseText(Samples.Unrelated.Replace("42", "43"), GeneratorHarness.ParseOptions, "src/File1.cs"))
            .ReplaceSyntaxTree(compilation.SyntaxTrees.ElementAt(0), CSharpSyntaxTree.ParseText(Samples.RepeatLookup + "\n// a comment\n", GeneratorHarness.ParseOptions, "src/File0.cs"));
        var result = driver.RunGenerators(edited).GetRunResult().Results.Single();

        foreach (string name in OurSteps)
            foreach (var step in result.TrackedSteps[name])
                foreach (var (_, reason) in step.Outputs)
                    Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, name + " was " + reason);
        foreach (var output in result.TrackedOutputSteps.SelectMany(o => o.Value))
            foreach (var (_, reason) in output.Outputs)
                Assert.True(reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, "output was " + reason);
    }

    [Fact]
    public void Editing_one_pdec_file_recompiles_and_reemits_only_that_file()
    {
        var speculative = GeneratorHarness.LibraryFile("speculative.pdec");
        var lookahead = GeneratorHarness.LibraryFile("lookahead.pdec");
        var compilation = GeneratorHarness.Compilation(Samples.Unrelated);
        var driver = GeneratorHarness.Driver(new[] { speculative, lookahead }).RunGenerators(compilation);

        var changed = new InMemoryText(lookahead.Path, lookahead.GetText()!.ToString().Replace("param window: int = 4", "param window: int = 6"));
        Assert.NotEqual(lookahead.GetText()!.ToString(), changed.GetText().ToString());
        var result = driver.ReplaceAdditionalText(lookahead, changed).RunGenerators(compilation).GetRunResult().Results.Single();

        var compiled = result.TrackedSteps[PdecGenerator.TrackingNames.Compiled];
        Assert.Equal(2, compiled.Length);
        Assert.Equal(IncrementalStepRunReason.Cached, Assert.Single(compiled[0].Outputs).Reason);
        Assert.Equal(IncrementalStepRunReason.Modified, Assert.Single(compiled[1].Outputs).Reason);
        var combined = result.TrackedSteps[PdecGenerator.TrackingNames.Combined];
        Assert.Equal(IncrementalStepRunReason.Cached, Assert.Single(combined[0].Outputs).Reason);
        Assert.Equal(IncrementalStepRunReason.Modified, Assert.Single(combined[1].Outputs).Reason);
    }
}
