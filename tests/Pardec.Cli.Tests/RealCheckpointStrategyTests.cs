using System.Text.Json.Nodes;
using Pardec.Runtime.Tests.RealLayouts;

namespace Pardec.Cli.Tests;

/// <summary>
/// <c>pardec run</c> on checkpoints in the published layouts (seeded weights, real config fields, real tokenizer.json —
/// the checkpoints the llama.cpp cross-check uses): speculative decoding with a smaller draft of the same family is
/// lossless, and a draft whose tokenizer differs is refused before decoding.
/// </summary>
public sealed class RealCheckpointStrategyTests
{
    private static readonly string Root = ListAndCheckTests.RepoRoot();
    private static string Tokenizers => Path.Combine(Root, "artifacts", "reference", "tokenizers");

    // The family's fixture checkpoint, and a draft: the same seed with one layer, so its embedding and first layer are
    // the target's (names, not positions, seed the values) and it agrees with the target often enough to be accepted.
    private static (string Target, string Draft) Checkpoints(string family, string temp)
    {
        Assert.True(Directory.Exists(Tokenizers), $"{Tokenizers} is missing: the build runs tools/fetch-tokenizers.sh");
        string spec = Path.Combine(Root, "tests", "fixtures", "peer-models", family, "checkpoint.json");
        string target = Path.Combine(temp, family + "-target"), draft = Path.Combine(temp, family + "-draft");
        SeededCheckpoints.Write(spec, target, Tokenizers);
        var draftSpec = JsonNode.Parse(File.ReadAllText(spec))!.AsObject();
        var config = draftSpec["config"]!.AsObject();
        config["num_hidden_layers"] = 1;
        if (config["layer_types"] is JsonArray types) config["layer_types"] = new JsonArray(types[0]!.DeepClone());
        string draftSpecPath = Path.Combine(temp, family + "-draft.json");
        File.WriteAllText(draftSpecPath, draftSpec.ToJsonString());
        SeededCheckpoints.Write(draftSpecPath, draft, Tokenizers);
        return (target, draft);
    }

    private static string Generated(CliResult r) => r.Out[..r.Out.LastIndexOf('[')];

    [Theory]
    [InlineData("qwen3", "The capital of France is")]
    [InlineData("llama3", "Once upon a time, in a small village")]
    [InlineData("gemma3", "我想在苹果公司工作，因为")]
    public void Speculative_decoding_with_a_smaller_draft_of_the_family_equals_greedy_decoding(string family, string prompt)
    {
        string temp = Path.Combine(Path.GetTempPath(), "pardec-real-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (target, draft) = Checkpoints(family, temp);
            var greedy = CliDriver.Run("run", "Greedy", "--model", target, "--max-tokens", "40", "--prompt", prompt, "--dtype", "f32");
            Assert.True(greedy.ExitCode == 0, greedy.ToString());
            var speculative = CliDriver.Run("run", "SpeculativeGreedy", "--model", target, "--draft", draft, "--max-tokens", "40", "--prompt", prompt, "--dtype", "f32");
            Assert.True(speculative.ExitCode == 0, speculative.ToString());
            Assert.Equal(Generated(greedy), Generated(speculative));
            Assert.Matches(@"\[SpeculativeGreedy\] 40 tokens, .* [1-9]\d* draft forwards", speculative.Out);
        }
        finally { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); }
    }

    [Fact]
    public void A_draft_with_another_familys_tokenizer_is_refused_naming_both_directories()
    {
        string temp = Path.Combine(Path.GetTempPath(), "pardec-real-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (target, _) = Checkpoints("qwen3", temp);
            var (other, _) = Checkpoints("llama3", temp);
            var r = CliDriver.Run("run", "SpeculativeGreedy", "--model", target, "--draft", other, "--max-tokens", "4");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains(target, r.Err);
            Assert.Contains(other, r.Err);
        }
        finally { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); }
    }
}
