using System.Text.Json.Nodes;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using TorchSharp;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;

namespace Pardec.Runtime.Tests;

/// <summary>Every broken checkpoint is our exception, and its message names the file and the tensor or field.</summary>
public sealed class LoadingErrorTests
{
    public LoadingErrorTests() => Init();

    private static ModelLoadException LoadFails(string dir) =>
        Assert.Throws<ModelLoadException>(() => { using var m = PretrainedModel.Load(dir, torch.CPU); });

    private static TempDir CopyOf(string fixture)
    {
        var temp = new TempDir();
        CopyDirectory(Fixture(fixture), temp.Path);
        return temp;
    }

    private static void EditConfig(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void A_missing_directory_names_the_directory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "pardec-no-such-model");
        var e = LoadFails(dir);
        Assert.Contains(dir, e.Message);
    }

    [Theory]
    [InlineData("config.json")]
    [InlineData("model.safetensors")]
    public void A_missing_file_names_the_file(string file)
    {
        using var temp = CopyOf("llama_gqa");
        File.Delete(Path.Combine(temp.Path, file));
        var e = LoadFails(temp.Path);
        Assert.Contains(file, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void A_truncated_safetensors_file_names_the_file_and_the_first_tensor_past_the_end()
    {
        using var temp = CopyOf("llama_gqa");
        string path = Path.Combine(temp.Path, "model.safetensors");
        var entries = SafetensorsFile.Open(path).Entries.Values.OrderBy(e => e.End).ToList();
        using (var f = File.OpenWrite(path)) f.SetLength(f.Length / 2);
        var e = LoadFails(temp.Path);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("truncated", e.Message);
        Assert.NotNull(e.Item);
        Assert.Contains(e.Item!, e.Message);
        Assert.Contains(entries, x => x.Name == e.Item);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 })]                                  // shorter than the length prefix
    [InlineData(new byte[] { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 1 })] // header length beyond the file
    [InlineData(new byte[] { 4, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'x', (byte)'y', (byte)'z' })] // invalid JSON
    public void A_corrupt_safetensors_header_names_the_file_instead_of_crashing(byte[] content)
    {
        using var temp = CopyOf("llama_gqa");
        File.WriteAllBytes(Path.Combine(temp.Path, "model.safetensors"), content);
        var e = LoadFails(temp.Path);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void An_unsupported_architecture_names_config_json_and_model_type()
    {
        using var temp = CopyOf("llama_gqa");
        EditConfig(temp.Path, c => c["model_type"] = "bert");
        var e = LoadFails(temp.Path);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("model_type", e.Message);
        Assert.Contains("bert", e.Message);
    }

    [Fact]
    public void A_weight_whose_shape_disagrees_with_the_config_names_the_tensor_and_both_shapes()
    {
        using var temp = CopyOf("llama_gqa");
        EditConfig(temp.Path, c => c["intermediate_size"] = 100);
        var e = LoadFails(temp.Path);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains("[96, 64]", e.Message);
        Assert.Contains("[100, 64]", e.Message);
    }

    [Fact]
    public void A_missing_weight_names_the_tensor()
    {
        using var temp = CopyOf("llama_gqa");
        string path = Path.Combine(temp.Path, "model.safetensors");
        var file = SafetensorsFile.Open(path);
        var kept = file.Entries.Keys.Where(k => k != "model.layers.1.self_attn.v_proj.weight")
            .Select(k => new KeyValuePair<string, torch.Tensor>(k, file.Read(k))).ToList();
        SafetensorsFile.Write(path, kept);
        var e = LoadFails(temp.Path);
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("model.layers.1.self_attn.v_proj.weight", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void A_tokenizer_larger_than_the_embedding_names_the_tokenizer_file_and_vocab_size()
    {
        using var temp = CopyOf("llama_gqa"); // vocab_size 97
        File.Copy(Path.Combine(Fixture("spm"), "tokenizer.model"), Path.Combine(temp.Path, "tokenizer.model")); // 400 pieces
        var e = LoadFails(temp.Path);
        Assert.Contains("tokenizer.model", e.Message);
        Assert.Contains("vocab_size", e.Message);
        Assert.Contains("400", e.Message);
    }

    [Fact]
    public void A_config_field_of_the_wrong_type_names_the_field()
    {
        var e = Assert.Throws<ModelLoadException>(() => ModelConfig.Parse("""{"model_type":"llama","hidden_size":"many"}""", "x/config.json"));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains("hidden_size", e.Message);
    }
}

public sealed class TokenizerLoadingTests
{
    public TokenizerLoadingTests() => TestEnvironment.Init();

    [Fact]
    public void Vocab_json_without_merges_txt_names_the_missing_file()
    {
        using var temp = new TestEnvironment.TempDir();
        File.Copy(Path.Combine(TestEnvironment.Fixture("bpe"), "vocab.json"), Path.Combine(temp.Path, "vocab.json"));
        var e = Assert.Throws<ModelLoadException>(() => Pardec.Runtime.Tokenization.TextTokenizer.FromDirectory(temp.Path));
        Assert.Contains("merges.txt", e.Message);
    }

    [Fact]
    public void A_saved_model_with_a_copied_sentencepiece_tokenizer_loads_as_a_whole()
    {
        using var temp = new TestEnvironment.TempDir();
        using (var model = CausalLM.CreateRandom(SaveLoadTests.TinyConfig(vocab: 400), torch.CPU, torch.ScalarType.Float32, seed: 2))
            PretrainedModel.Save(model, temp.Path, torch.ScalarType.BFloat16, tokenizerSourceDirectory: TestEnvironment.Fixture("spm"));
        using var loaded = PretrainedModel.Load(temp.Path, torch.CPU, torch.ScalarType.Float32, requireTokenizer: true);
        Assert.NotNull(loaded.Tokenizer);
        Assert.Equal(400, loaded.Tokenizer!.VocabSize);
        Assert.Equal("hello world", loaded.Tokenizer.Decode(loaded.Tokenizer.Encode("hello world", addBos: true)));
        Assert.Contains("\"torch_dtype\": \"bfloat16\"", File.ReadAllText(Path.Combine(temp.Path, "config.json")));
    }

    [Fact]
    public void A_model_directory_without_a_tokenizer_fails_only_when_one_is_required()
    {
        var e = Assert.Throws<ModelLoadException>(() => PretrainedModel.Load(TestEnvironment.Fixture("llama_gqa"), torch.CPU, requireTokenizer: true));
        Assert.Contains("tokenizer.model", e.Message);
        using var loaded = PretrainedModel.Load(TestEnvironment.Fixture("llama_gqa"), torch.CPU);
        Assert.Null(loaded.Tokenizer);
    }

    [Fact]
    public void Float16_on_cpu_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => CausalLM.Create(SaveLoadTests.TinyConfig(), torch.CPU, torch.ScalarType.Float16));
        Assert.Contains("BFloat16", e.Message);
    }
}
