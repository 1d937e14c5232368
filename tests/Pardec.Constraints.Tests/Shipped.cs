using Pardec.Runtime.Constraints;
using Pardec.Runtime.Tokenization;

namespace Pardec.Constraints.Tests;

/// <summary>The repository's shipped English models and their tokenizer (loaded once per test run).</summary>
internal static class Shipped
{
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }

    public static string English(string role) => Path.Combine(RepoRoot(), "models", "english", role);

    private static readonly Lazy<TextTokenizer> LazyTokenizer = new(() => TextTokenizer.FromDirectory(English("target"))!);
    private static readonly Lazy<TokenVocabulary> LazyVocabulary = new(() => TokenVocabulary.From(Tokenizer));

    public static TextTokenizer Tokenizer => LazyTokenizer.Value;
    public static TokenVocabulary Vocabulary => LazyVocabulary.Value;
}
