using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;

namespace Pardec.Cli.Tests;

/// <summary><c>pardec inspect</c> describes a checkpoint without loading it; <c>pardec run</c> reads sharded real layouts.</summary>
public sealed class InspectAndLoadTests
{
    private static string Shipped(string role) => Path.Combine(ListAndCheckTests.RepoRoot(), "models", "english", role);

    [Fact]
    public void Inspect_names_the_architecture_size_dtype_context_tokenizer_and_special_tokens()
    {
        var r = CliDriver.Run("inspect", Shipped("target"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("llama", r.Out);
        Assert.Matches(@"parameters\s+│\s+\d+(\.\d)?M in \d+ tensors, 1 file", r.Out);
        Assert.Contains("stored bf16", r.Out);
        Assert.Contains("256 positions", r.Out);
        Assert.Contains("sentencepiece", r.Out.ToLowerInvariant());
        Assert.Contains("BOS 1", r.Out);
        Assert.Matches(@"chat template\s+│\s+no", r.Out);
    }

    [Fact]
    public void Inspect_and_run_read_a_sharded_gemma3_directory_with_a_chat_template()
    {
        torch.set_num_threads(1);
        string dir = Path.Combine(Path.GetTempPath(), "pardec-inspect-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = new ModelConfig
            {
                ModelType = "gemma3_text", VocabSize = 4096, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 3,
                NumAttentionHeads = 2, NumKeyValueHeads = 1, HeadDim = 16, MaxPositionEmbeddings = 512, QkNorm = true,
                HiddenAct = "gelu_pytorch_tanh", TieWordEmbeddings = true, SlidingWindow = 8, SlidingLayers = [true, true, false],
                RopeTheta = 1_000_000, RopeLocalTheta = 10000, QueryPreAttnScalar = 16, BosTokenId = 1, EosTokenIds = [2],
            };
            using (var model = CausalLM.CreateRandom(config, torch.CPU, torch.ScalarType.Float32, seed: 3))
                PretrainedModel.Save(model, dir, torch.ScalarType.BFloat16, Shipped("target"), maxShardBytes: 100_000);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
                """{"bos_token": "<s>", "eos_token": "</s>", "chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"}""");

            var r = CliDriver.Run("inspect", dir);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("gemma3_text", r.Out);
            Assert.Contains("sliding window 8 on 2 of 3 layers", r.Out);
            Assert.Contains("local theta 10000", r.Out);
            Assert.Matches(@"in \d+ tensors, [2-9]\d* file\(s\), tied embeddings", r.Out);
            Assert.Matches(@"chat template\s+│\s+yes \(\d+ characters\), a turn ends with </s>", r.Out);

            var run = CliDriver.Run("run", "Greedy", "--model", dir, "--max-tokens", "8", "--prompt", "And it came to pass");
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Contains("[Greedy] 8 tokens", run.Out);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Inspect_of_a_broken_directory_is_the_loaders_error_naming_the_file()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pardec-inspect-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), """{"model_type": "llama", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}""");
            var r = CliDriver.Run("inspect", dir);
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("config.json", r.Err);
            Assert.Contains("'dynamic'", r.Err);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void A_chat_template_that_does_not_parse_is_one_error_line_naming_the_file_and_position()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pardec-inspect-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(dir);
            foreach (var f in Directory.GetFiles(Shipped("target"))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"chat_template": "{% for m in messages %}{{ m.content }"}""");
            var r = CliDriver.Run("inspect", dir);
            Assert.Equal(1, r.ExitCode);
            Assert.StartsWith("error: ", r.Err);
            Assert.Contains("tokenizer_config.json(1,", r.Err);
            Assert.DoesNotContain("   at ", r.Err);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }
}
