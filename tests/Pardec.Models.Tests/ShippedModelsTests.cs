using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Models.Tests;

/// <summary>
/// Every model under models/ loads with the runtime, agrees with its config and the shared tokenizer, and still
/// scores what its model card and training.json say on the committed held-out slices (models/eval/*.valid.txt,
/// first 2048 tokens, measured the same way the training tool measured it after saving).
/// </summary>
public sealed class ShippedModelsTests
{
    public ShippedModelsTests() => Repo.OneThread();

    /// <summary>The language models (causal and masked-diffusion) shipped in HF layout.</summary>
    public static TheoryData<string> LanguageModels => new() { "english/target", "english/draft", "english/diffusion", "code/target", "code/draft" };

    /// <summary>Draft/target pairs and the floor their greedy (teacher-forced) agreement must clear.</summary>
    public static TheoryData<string, double> Domains => new() { { "english", 0.45 }, { "code", 0.40 } };

    private static string Dir(string model) => Repo.Path(["models", .. model.Split('/')]);

    private static JsonObject TrainingJson(string model) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Dir(model), "training.json")))!.AsObject();

    private static int[] SliceTokens(string domain)
    {
        var tok = TokenizerFile.Load(Repo.Tokenizer);
        var ids = SpecialIds.From(tok, Repo.Tokenizer);
        return Corpus.LoadTokens(Repo.Path("models", "eval", $"{domain}.valid.txt"), tok, Repo.Tokenizer, ids.Bos, ids.Eos);
    }

    [Theory]
    [MemberData(nameof(LanguageModels))]
    public void Config_weights_and_tokenizer_agree(string model)
    {
        string dir = Dir(model);
        using var loaded = PretrainedModel.Load(dir, CPU, ScalarType.Float32, requireTokenizer: true);
        var tokenizer = loaded.Tokenizer!;
        // Same family: byte-identical to the shared tokenizer, and exactly as many ids as embedding rows.
        Assert.Equal(File.ReadAllBytes(Repo.Tokenizer), File.ReadAllBytes(Path.Combine(dir, "tokenizer.model")));
        Assert.Equal(loaded.Config.VocabSize, tokenizer.VocabSize);
        Assert.Equal(1, loaded.Config.BosTokenId);
        Assert.Equal([2], loaded.Config.EosTokenIds);
        Assert.Equal(model.EndsWith("diffusion", StringComparison.Ordinal) ? 4 : null, loaded.Config.MaskTokenId);
        // Shipped in bf16 (half the size of f32; the CPU's fast dtype).
        var file = SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        Assert.All(file.Entries.Values, e => Assert.Equal(ScalarType.BFloat16, e.DType));
        Assert.Equal(TrainingJson(model)["parameters"]!.GetValue<long>(), ModelIO.ParameterCount(loaded.Model));
    }

    [Theory]
    [MemberData(nameof(LanguageModels))]
    public void Held_out_perplexity_matches_the_recorded_figure(string model)
    {
        var slice = TrainingJson(model)["slice"]!.AsObject();
        double recorded = slice["ppl"]!.GetValue<double>();
        string domain = model.Split('/')[0];
        using var m = ModelIO.LoadHf(Dir(model), ScalarType.Float32);
        bool masked = m.Config.MaskTokenId is not null;
        var (nll, _) = Program.Measure(m, SliceTokens(domain), m.Config.MaxPositionEmbeddings, Program.SliceTokens, masked, 4);
        double ppl = Math.Exp(nll);
        Assert.InRange(ppl, recorded * 0.95, recorded * 1.05);
        // And it learned something: far below a uniform guess over 4096 ids. The diffusion figure is the LLaDA
        // upper bound (averaged over mask ratios up to 0.95), so its ceiling is looser.
        double ceiling = masked ? 1000 : 250;
        Assert.True(ppl < ceiling, $"{model}: held-out perplexity {ppl:F1}");
    }

    [Theory]
    [MemberData(nameof(Domains))]
    public void Draft_agrees_with_its_target(string domain, double floor)
    {
        using var target = ModelIO.LoadHf(Dir($"{domain}/target"), ScalarType.Float32);
        using var draft = ModelIO.LoadHf(Dir($"{domain}/draft"), ScalarType.Float32);
        Assert.True(ModelIO.ParameterCount(draft) * 5 <= ModelIO.ParameterCount(target), "the draft must be at least 5x smaller");
        double agreement = Evaluation.GreedyAgreement(draft, target, SliceTokens(domain), target.Config.MaxPositionEmbeddings, Program.SliceTokens);
        Assert.True(agreement >= floor, $"{domain}: draft-vs-target top-1 agreement {agreement:F3} < {floor}");
    }

    [Theory]
    [MemberData(nameof(Domains))]
    public void Medusa_heads_load_and_match_their_recorded_accuracy(string domain, double _)
    {
        using var target = ModelIO.LoadHf(Dir($"{domain}/target"), ScalarType.Float32);
        using var heads = Program.LoadMedusa(Dir($"{domain}/medusa"), target.Config);
        Assert.Equal(4, heads.Count);
        var acc = Evaluation.MedusaAccuracy(target, heads, ModelIO.LmHeadWeight(target), SliceTokens(domain),
                                            target.Config.MaxPositionEmbeddings, Program.SliceTokens);
        var recorded = TrainingJson($"{domain}/medusa")["slice"]!["head_top1"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        Assert.Equal(recorded.Length, acc.Length);
        for (int k = 0; k < acc.Length; k++)
            Assert.InRange(acc[k], recorded[k] - 0.01, recorded[k] + 0.01);
        // Head 0 (two tokens ahead) must beat chance (1/4096) and a most-frequent-token guess; heads further out are no better.
        Assert.True(acc[0] > 0.05, $"{domain}: head 0 top-1 {acc[0]:F3}");
        Assert.True(acc[3] <= acc[0]);
    }

    /// <summary>
    /// The diffusion LM's quality bars (models/README.md) were measured by <c>pardec-train bars</c> into
    /// models/english/diffusion/bars.json; re-measuring the first prompts reproduces its texts exactly (greedy and seeded
    /// sampling are deterministic), so the recorded figures still describe the shipped weights.
    /// </summary>
    [Fact]
    public void Diffusion_model_reproduces_its_recorded_bars_on_the_first_prompts()
    {
        var bars = JsonNode.Parse(File.ReadAllText(Path.Combine(Dir("english/diffusion"), "bars.json")))!.AsObject();
        using var diffusion = PretrainedModel.Load(Dir("english/diffusion"), CPU, ScalarType.Float32, requireTokenizer: true);
        using var causal = ModelIO.LoadHf(Dir("english/target"), ScalarType.Float32);
        var prompts = DiffusionBars.LoadPrompts([Repo.Path("models", "eval", "prompts.english.jsonl")], diffusion.Tokenizer!,
                                                bars["prompt_tokens"]!.GetValue<int>()).Take(2).ToArray();
        var measured = DiffusionBars.Measure(diffusion, causal, prompts, Repo.Path("strategies"), bars["length"]!.GetValue<int>(),
                                             bars["bar2_causal_sample_temperature"]!.GetValue<double>(), bars["seed"]!.GetValue<int>());
        var recorded = bars["per_prompt"]!.AsArray();
        for (int i = 0; i < prompts.Length; i++)
            foreach (var key in new[] { "one_by_one", "one_by_one_sampled", "fast_dllm_threshold", "causal_sample" })
                Assert.Equal(recorded[i]![key]!.GetValue<string>(), measured["per_prompt"]![i]![key]!.GetValue<string>());
        // Not the comma runs of the first shipped model (71-97 % one token, 2 distinct ids).
        Assert.True(bars["bar1_sampled_distinct_tokens"]!.GetValue<int>() > 50);
    }

    [Fact]
    public void Shipped_models_fit_the_size_budget()
    {
        long bytes = new DirectoryInfo(Repo.Path("models")).EnumerateFiles("*", SearchOption.AllDirectories)
            .Where(f => !f.FullName.Contains($"{Path.DirectorySeparatorChar}checkpoint{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Sum(f => f.Length);
        Assert.True(bytes < 80L << 20, $"models/ holds {bytes / (1 << 20)} MB; the budget is 80 MB");
    }
}
