using Microsoft.CodeAnalysis;
using Snapshooter;
using Snapshooter.Xunit;

namespace Pardec.Generators.Tests;

/// <summary>
/// Full generated text, so a change to the emitted code is seen in review (the Regex generator's output tests).
/// Run with SNAPSHOOTER_STRICT_MODE=true (as .ci/run does) so a missing snapshot fails instead of being written.
/// </summary>
public sealed class SnapshotTests
{
    [Theory]
    [InlineData("speculative.pdec", "SpeculativeGreedy")]
    [InlineData("medusa.pdec", "MedusaTree")]
    [InlineData("lookahead.pdec", "Lookahead")]
    [InlineData("llada.pdec", "Llada")]
    public void Library_strategy_output_matches_its_snapshot(string file, string strategy)
    {
        var (_, result, _) = GeneratorHarness.Run(new[] { GeneratorHarness.LibraryFile(file) });

        Snapshot.Match(GeneratorHarness.Generated(result, strategy + "Decoder.g.cs"), SnapshotNameExtension.Create(strategy));
    }

    [Fact]
    public void Attributed_class_output_matches_its_snapshot()
    {
        var (_, result, _) = GeneratorHarness.Run(Array.Empty<AdditionalText>(), Samples.RepeatLookup);

        Snapshot.Match(
            GeneratorHarness.Generated(result, "Demo.RepeatLookup.Strategy.g.cs") + "\n// ----\n" + GeneratorHarness.Generated(result, "Demo.RepeatLookupDecoder.g.cs"),
            SnapshotNameExtension.Create("RepeatLookup"));
    }
}
