using Pardec.Dsl.Diagnostics;

namespace Pardec.Dsl.Tests;

public class LanguageDocTests
{
    private static string Doc => File.ReadAllText(Path.Combine(StrategyLibraryTests.RepoRoot, "docs", "language.md")).Replace("\r\n", "\n");

    [Fact]
    public void The_language_doc_lists_every_diagnostic()
    {
        Assert.All(DiagnosticDescriptors.All, d => Assert.Contains("| " + d.Id + " |", Doc, StringComparison.Ordinal));
    }

    [Fact]
    public void The_language_doc_reproduces_every_library_file_verbatim()
    {
        Assert.All(StrategyLibraryTests.StrategyFiles, file =>
            Assert.Contains(File.ReadAllText(file).Replace("\r\n", "\n").TrimEnd(), Doc, StringComparison.Ordinal));
    }
}
