using System.Security.Cryptography;
using Pardec.Training;
using Xunit;

namespace Pardec.Models.Tests;

/// <summary>
/// The training tool end to end on a tiny model: clear errors for bad inputs, determinism from the seed, and an
/// interrupted + resumed run equal to an uninterrupted one. Each run is a few milliseconds of training.
/// </summary>
public sealed class TrainingToolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pardec-train-").FullName;
    private static readonly string Corpus = Repo.Path("models", "eval", "english.valid.txt");

    public TrainingToolTests() => Repo.OneThread();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs the CLI in-process and returns its exit code and stderr.</summary>
    private static (int Code, string Stderr) Run(params string[] args)
    {
        var saved = Console.Error;
        using var err = new StringWriter();
        Console.SetError(err);
        try { return (Program.Main(args), err.ToString()); }
        finally { Console.SetError(saved); }
    }

    private string[] TinyCausal(string outDir, params string[] extra) =>
    [
        "causal", "--corpus", Corpus, "--valid", Corpus, "--out", outDir, "--tokenizer", Repo.Tokenizer,
        "--hidden", "32", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--intermediate", "64", "--context", "32",
        "--batch", "2", "--warmup", "2", "--checkpoint-every", "3", "--valid-tokens", "256", "--seed", "7", .. extra,
    ];

    [Fact]
    public void Missing_corpus_is_a_one_line_error_naming_the_file()
    {
        var missing = Path.Combine(_dir, "nope.txt");
        var (code, stderr) = Run(TinyCausal(Path.Combine(_dir, "out"), "--steps", "2") is var a
            ? a.Select(x => x == Corpus ? missing : x).ToArray() : a);
        Assert.NotEqual(0, code);
        Assert.Contains(missing, stderr);
        Assert.Contains("not found", stderr);
        Assert.DoesNotContain("   at ", stderr); // no stack trace
    }

    [Fact]
    public void Empty_corpus_is_an_error_naming_the_file()
    {
        var empty = Path.Combine(_dir, "empty.txt");
        File.WriteAllText(empty, "");
        var ex = Assert.Throws<TrainingException>(() =>
            Pardec.Training.Corpus.LoadTokens(empty, TokenizerFile.Load(Repo.Tokenizer), Repo.Tokenizer, 1, 2));
        Assert.Contains(empty, ex.Message);
        Assert.Contains("empty", ex.Message);

        var (code, stderr) = Run(TinyCausal(Path.Combine(_dir, "out"), "--steps", "2").Select(x => x == Corpus ? empty : x).ToArray());
        Assert.Equal(2, code);
        Assert.Contains(empty, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Tokenizer_that_does_not_match_the_model_config_is_an_error_naming_the_tokenizer()
    {
        // A config written for a different vocabulary: the tool must refuse it rather than index past the embedding.
        var config = """{"model_type":"llama","vocab_size":32000,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"max_position_embeddings":32}""";
        var configPath = Path.Combine(_dir, "config.json");
        File.WriteAllText(configPath, config);
        var (code, stderr) = Run("causal", "--corpus", Corpus, "--valid", Corpus, "--out", Path.Combine(_dir, "out"),
                                 "--tokenizer", Repo.Tokenizer, "--config", configPath, "--steps", "1");
        Assert.Equal(2, code);
        Assert.Contains(Repo.Tokenizer, stderr);
        Assert.Contains("32000", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Medusa_on_a_target_with_another_vocabulary_is_an_error_naming_the_tokenizer()
    {
        var target = Path.Combine(_dir, "target");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "config.json"),
            """{"model_type":"llama","vocab_size":100,"hidden_size":32,"intermediate_size":64,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"max_position_embeddings":32}""");
        using (var model = Pardec.Runtime.Models.CausalLM.CreateRandom(
                   Pardec.Runtime.Models.ModelConfig.Load(Path.Combine(target, "config.json")), TorchSharp.torch.CPU, TorchSharp.torch.ScalarType.Float32, 1))
            ModelIO.SaveSafetensors(ModelIO.StateDictForSave(model), Path.Combine(target, "model.safetensors"), TorchSharp.torch.ScalarType.BFloat16);
        var (code, stderr) = Run("medusa", "--target", target, "--corpus", Corpus, "--valid", Corpus, "--out", Path.Combine(_dir, "m"),
                                 "--tokenizer", Repo.Tokenizer, "--steps", "1");
        Assert.Equal(2, code);
        Assert.Contains(Repo.Tokenizer, stderr);
    }

    [Fact]
    public void Unknown_option_is_rejected()
    {
        var (code, stderr) = Run(TinyCausal(Path.Combine(_dir, "out"), "--steps", "1", "--hiden", "64"));
        Assert.Equal(2, code);
        Assert.Contains("--hiden", stderr);
    }

    [Fact]
    public void Same_seed_gives_the_same_weights_and_a_resumed_run_equals_an_uninterrupted_one()
    {
        string a = Path.Combine(_dir, "a"), b = Path.Combine(_dir, "b"), c = Path.Combine(_dir, "c");
        Assert.Equal(0, Run(TinyCausal(a, "--steps", "6")).Code);
        Assert.Equal(0, Run(TinyCausal(b, "--steps", "6")).Code);
        var (stopCode, stopErr) = Run(TinyCausal(c, "--steps", "6", "--stop-after", "3"));
        Assert.Equal(0, stopCode);
        Assert.Contains("stopped at step 3", stopErr);
        Assert.False(File.Exists(Path.Combine(c, "model.safetensors")));
        var (resumeCode, resumeErr) = Run(TinyCausal(c, "--steps", "6", "--resume"));
        Assert.Equal(0, resumeCode);
        Assert.Contains("resumed", resumeErr);

        string Hash(string dir) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "model.safetensors"))));
        Assert.Equal(Hash(a), Hash(b));
        Assert.Equal(Hash(a), Hash(c));
        foreach (var f in new[] { "config.json", "tokenizer.model", "training.json" })
            Assert.True(File.Exists(Path.Combine(a, f)), f);
    }

    [Fact]
    public void Masked_diffusion_run_writes_the_mask_token_into_the_config()
    {
        string d = Path.Combine(_dir, "d");
        var args = TinyCausal(d, "--steps", "2");
        args[0] = "masked";
        Assert.Equal(0, Run(args).Code);
        var config = Pardec.Runtime.Models.ModelConfig.Load(Path.Combine(d, "config.json"));
        Assert.Equal(4, config.MaskTokenId);
    }

    [Fact]
    public void Masked_run_initialised_from_a_causal_model_starts_from_its_weights_and_shifts_its_logits()
    {
        // Dream-style adaptation: --init copies the causal model's weights (and shape); at learning rate 0 the shipped
        // weights are the initial ones, bit for bit (bf16 -> f32 -> bf16 is exact).
        string causal = Path.Combine(_dir, "causal"), masked = Path.Combine(_dir, "masked");
        Assert.Equal(0, Run(TinyCausal(causal, "--steps", "2")).Code);
        var (code, stderr) = Run("masked", "--corpus", Corpus, "--valid", Corpus, "--out", masked, "--tokenizer", Repo.Tokenizer,
                                 "--init", causal, "--shift-logits", "1", "--batch", "2", "--lr", "0", "--weight-decay", "0",
                                 "--warmup", "2", "--steps", "2", "--checkpoint-every", "1", "--valid-tokens", "256", "--seed", "7");
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(causal, "model.safetensors")), File.ReadAllBytes(Path.Combine(masked, "model.safetensors")));
        var config = Pardec.Runtime.Models.ModelConfig.Load(Path.Combine(masked, "config.json"));
        Assert.Equal(4, config.MaskTokenId);
        Assert.True(config.ShiftedLogits);
        Assert.Equal(32, config.HiddenSize);
        Assert.Contains("\"shift_logits\": true", File.ReadAllText(Path.Combine(masked, "config.json")));
        // Every checkpoint leaves a loadable model behind.
        Assert.True(Pardec.Runtime.Models.ModelConfig.Load(Path.Combine(masked, "checkpoint", "model", "config.json")).ShiftedLogits);
    }

    [Fact]
    public void Init_takes_the_shape_from_the_initial_model_so_shape_options_are_rejected()
    {
        string causal = Path.Combine(_dir, "causal");
        Assert.Equal(0, Run(TinyCausal(causal, "--steps", "1")).Code);
        var (code, stderr) = Run("masked", "--corpus", Corpus, "--valid", Corpus, "--out", Path.Combine(_dir, "m"), "--tokenizer", Repo.Tokenizer,
                                 "--init", causal, "--hidden", "64", "--steps", "1");
        Assert.Equal(2, code);
        Assert.Contains("--hidden", stderr);
        (code, stderr) = Run(TinyCausal(Path.Combine(_dir, "c2"), "--steps", "1", "--shift-logits", "1"));
        Assert.Equal(2, code);
        Assert.Contains("--shift-logits", stderr);
    }

    [Fact]
    public void Learning_rate_warms_up_linearly_then_decays_to_the_floor()
    {
        var t = new Trainer(null!, [], new LoopSettings { LearningRate = 1e-3, Warmup = 10, MinLrRatio = 0.1 }, _dir);
        Assert.Equal(1e-4, t.LearningRate(0, 100), 12);
        Assert.Equal(1e-3, t.LearningRate(9, 100), 12);
        Assert.Equal(1e-3, t.LearningRate(10, 100), 12);
        Assert.Equal(1e-4, t.LearningRate(100, 100), 12);
        Assert.True(t.LearningRate(50, 100) < t.LearningRate(30, 100));
    }
}
