using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;
using static TorchSharp.torch;

namespace Pardec.Runtime.Tests;

/// <summary>
/// Checkpoints as Hugging Face ships them: sharded weights with <c>model.safetensors.index.json</c>, progress while
/// loading, and the config fields of the real families (rope_scaling, model types) — with our typed errors, naming the
/// file and the tensor or field, for every way they can be broken.
/// </summary>
public sealed class CheckpointLoadingTests
{
    public CheckpointLoadingTests() => Init();

    private static ModelLoadException LoadFails(string dir) =>
        Assert.Throws<ModelLoadException>(() => { using var m = PretrainedModel.Load(dir, torch.CPU); });

    private static TempDir Sharded(string fixture, long maxShardBytes = 40_000)
    {
        var temp = new TempDir();
        using var model = LoadFixtureModel(fixture);
        PretrainedModel.Save(model, temp.Path, maxShardBytes: maxShardBytes);
        return temp;
    }

    [Fact]
    public void A_sharded_checkpoint_loads_the_same_weights_as_the_single_file_and_reports_progress()
    {
        using var temp = Sharded("llama_gqa");
        Assert.False(File.Exists(Path.Combine(temp.Path, "model.safetensors")));
        Assert.True(Directory.GetFiles(temp.Path, "model-*-of-*.safetensors").Length >= 2);
        var reports = new List<LoadProgress>();
        var progress = new SyncProgress(reports.Add);
        using var sharded = PretrainedModel.LoadModel(temp.Path, CPU, ScalarType.Float32, progress);
        using var single = LoadFixtureModel("llama_gqa");
        var expected = single.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in sharded.named_parameters())
            Assert.True(p.eq(expected[name]).all().item<bool>(), name);
        Assert.Equal(expected.Count, reports.Count);
        Assert.Equal(reports[^1].TotalBytes, reports[^1].Bytes);
        Assert.True(reports.Select(r => r.File).Distinct().Count() >= 2);
    }

    [Fact]
    public void A_missing_shard_names_the_shard()
    {
        using var temp = Sharded("llama_gqa");
        string shard = Directory.GetFiles(temp.Path, "model-*-of-*.safetensors").Order().Last();
        File.Delete(shard);
        var e = LoadFails(temp.Path);
        Assert.Contains(Path.GetFileName(shard), e.Message);
        Assert.Contains("shard not found", e.Message);
    }

    [Fact]
    public void An_index_placing_a_tensor_in_a_shard_that_lacks_it_names_the_shard_and_the_tensor()
    {
        using var temp = Sharded("llama_gqa");
        string index = Path.Combine(temp.Path, "model.safetensors.index.json");
        var json = JsonNode.Parse(File.ReadAllText(index))!.AsObject();
        var map = json["weight_map"]!.AsObject();
        var shards = map.Select(kv => kv.Value!.GetValue<string>()).Distinct().Order().ToList();
        string moved = map.First(kv => kv.Value!.GetValue<string>() == shards[0]).Key;
        map[moved] = shards[1];
        File.WriteAllText(index, json.ToJsonString());
        var e = LoadFails(temp.Path);
        Assert.Contains(shards[1], e.Message);
        Assert.Contains(moved, e.Message);
    }

    [Fact]
    public void An_index_without_a_weight_map_names_the_field()
    {
        using var temp = Sharded("llama_gqa");
        File.WriteAllText(Path.Combine(temp.Path, "model.safetensors.index.json"), """{"metadata": {}}""");
        var e = LoadFails(temp.Path);
        Assert.Contains("model.safetensors.index.json", e.Message);
        Assert.Contains("weight_map", e.Message);
    }

    [Fact]
    public void An_unknown_rope_scaling_type_names_the_type_and_the_file()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelConfig.Parse(LlamaConfig("""{"rope_type": "longrope", "factor": 4.0}"""), "dir/config.json"));
        Assert.Contains("dir/config.json", e.Message);
        Assert.Contains("longrope", e.Message);
        Assert.Contains("rope_scaling.rope_type", e.Message);
    }

    [Fact]
    public void The_multimodal_gemma3_model_type_points_to_the_text_models()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelConfig.Parse("""{"model_type": "gemma3"}""", "g/config.json"));
        Assert.Contains("gemma3_text", e.Message);
    }

    [Fact]
    public void Llama3_scaling_keeps_high_frequencies_divides_low_ones_and_blends_between()
    {
        var config = ModelConfig.Parse(LlamaConfig("""{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"""));
        Assert.Equal("llama3", config.RopeScaling!.Type);
        var plain = new RopeScaling { Type = "linear", Factor = 1 }.Compute(128, 500000, 131072).InverseFrequencies;
        var (scaled, attention) = config.RopeScaling.Compute(128, 500000, 131072);
        Assert.Equal(1.0, attention);
        int kept = 0, divided = 0, blended = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 8192 / 4.0) { Assert.Equal(plain[i], scaled[i]); kept++; }
            else if (wavelen > 8192 / 1.0) { Assert.Equal(plain[i] / 8, scaled[i], 1e-6 * plain[i]); divided++; }
            else { Assert.InRange(scaled[i], plain[i] / 8 * 0.999f, plain[i] * 1.001f); blended++; }
        }
        Assert.True(kept > 0 && divided > 0 && blended > 0, $"{kept} kept, {divided} divided, {blended} blended");
    }

    [Fact]
    public void Yarn_extrapolates_fast_dimensions_interpolates_slow_ones_and_scales_attention()
    {
        var yarn = new RopeScaling { Type = "yarn", Factor = 4, OriginalMaxPositionEmbeddings = 32768 };
        var plain = new RopeScaling { Type = "linear", Factor = 1 }.Compute(64, 1_000_000, 131072).InverseFrequencies;
        var (scaled, attention) = yarn.Compute(64, 1_000_000, 131072);
        Assert.Equal(0.1 * Math.Log(4) + 1, attention, 12);
        Assert.Equal(plain[0], scaled[0]);
        Assert.Equal(plain[^1] / 4, scaled[^1], 1e-6 * plain[^1]);
    }

    [Fact]
    public void Linear_scaling_divides_every_frequency()
    {
        var plain = new RopeScaling { Type = "linear", Factor = 1 }.Compute(32, 10000, 4096).InverseFrequencies;
        var scaled = new RopeScaling { Type = "linear", Factor = 2 }.Compute(32, 10000, 4096).InverseFrequencies;
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 2, scaled[i], 1e-7 * plain[i]);
    }

    [Fact]
    public void Gemma3_configs_read_layer_types_or_the_older_sliding_window_pattern()
    {
        string Gemma(string extra) => $$"""
            {"model_type": "gemma3_text", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 6,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "sliding_window": 4, "query_pre_attn_scalar": 16,
             "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0 {{extra}} }
            """;
        var pattern = ModelConfig.Parse(Gemma(""", "sliding_window_pattern": 3"""));
        Assert.Equal([true, true, false, true, true, false], pattern.SlidingLayers);
        var typed = ModelConfig.Parse(Gemma(""", "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"]"""));
        Assert.Equal([false, true, true, true, true, false], typed.SlidingLayers);
        Assert.True(typed.TieWordEmbeddings);
        Assert.Equal("gelu_pytorch_tanh", typed.HiddenAct);
        var e = Assert.Throws<ModelLoadException>(() => ModelConfig.Parse(Gemma(""", "layer_types": ["full_attention"]""")));
        Assert.Contains("layer_types", e.Message);
        // Round trip through config.json.
        Assert.Equal(typed.SlidingLayers, ModelConfig.Parse(typed.ToJson()).SlidingLayers);
    }

    [Fact]
    public void Qwen3_configs_enable_the_qk_norm_and_tie_embeddings_by_default()
    {
        var c = ModelConfig.Parse("""
            {"model_type": "qwen3", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "use_sliding_window": false, "sliding_window": null}
            """);
        Assert.True(c.QkNorm);
        Assert.True(c.TieWordEmbeddings);
        Assert.False(c.AttentionBias);
        Assert.False(c.HasSlidingLayers);
    }

    private static string LlamaConfig(string ropeScaling) => $$"""
        {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 2, "rope_theta": 500000.0, "max_position_embeddings": 131072, "rope_scaling": {{ropeScaling}} }
        """;

    // Progress<T> posts to the thread pool; the test wants the reports in order, on the loading thread.
    private sealed class SyncProgress(Action<LoadProgress> report) : IProgress<LoadProgress>
    {
        public void Report(LoadProgress value) => report(value);
    }
}
