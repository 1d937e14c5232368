using Pardec.Runtime.Loading;
using Pardec.Runtime.Tokenization;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;

namespace Pardec.Runtime.Tests.Tokenization;

/// <summary>A draft must share the target's token ids: a mismatch is refused before decoding, naming both sides.</summary>
[Collection(RealTokenizerCollection.Name)]
public sealed class TokenizerCompatibilityTests(RealTokenizers real)
{
    [Fact]
    public void The_same_tokenizer_loaded_twice_is_compatible()
    {
        var again = TextTokenizer.FromDirectory(RealTokenizers.DataDirectory("qwen3"))!;
        Assert.Null(TokenizerCompatibility.Difference(real.Get("qwen3"), again));
        TokenizerCompatibility.Require(real.Get("qwen3"), "target", again, "draft");
    }

    [Fact]
    public void Vocabularies_of_different_sizes_are_refused_naming_both_directories()
    {
        var e = Assert.Throws<ModelLoadException>(() =>
            TokenizerCompatibility.Require(real.Get("qwen3"), "/models/qwen3", real.Get("llama3_1"), "/models/llama"));
        Assert.Equal("/models/llama", e.FilePath);
        Assert.Contains("/models/qwen3", e.Message);
        Assert.Contains("151669", e.Message);
        Assert.Contains("128256", e.Message);
    }

    [Fact]
    public void Same_size_vocabularies_that_map_an_id_differently_name_the_id()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "a.json"), Tiny("""{"a": 0, "b": 1, "c": 2}"""));
        File.WriteAllText(Path.Combine(dir.Path, "b.json"), Tiny("""{"a": 0, "c": 1, "b": 2}"""));
        var a = TextTokenizer.FromTokenizerJson(Path.Combine(dir.Path, "a.json"));
        var b = TextTokenizer.FromTokenizerJson(Path.Combine(dir.Path, "b.json"));
        string difference = TokenizerCompatibility.Difference(a, b)!;
        Assert.Contains("2 of 3 ids", difference);
        Assert.Contains("id 1 is 'b' vs 'c'", difference);
    }

    [Fact]
    public void A_sentencepiece_model_and_a_tokenizer_json_compare_by_their_tokens()
    {
        var spm = TextTokenizer.FromSentencePiece(Path.Combine(Fixture("spm"), "tokenizer.model"));
        Assert.Null(TokenizerCompatibility.Difference(spm, TextTokenizer.FromSentencePiece(Path.Combine(Fixture("spm"), "tokenizer.model"))));
        Assert.Contains("differ in size", TokenizerCompatibility.Difference(spm, real.Get("llama2")));
    }

    private static string Tiny(string vocab) =>
        $$$"""{"version": "1.0", "added_tokens": [], "model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": []}}""";
}
