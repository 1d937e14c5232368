using Pardec.Runtime.Loading;
using Pardec.Runtime.Models;
using Pardec.Runtime.Tokenization;
using Xunit;
using static Pardec.Runtime.Tests.TestEnvironment;

namespace Pardec.Runtime.Tests.Tokenization;

/// <summary>tokenizer_config.json, generation_config.json and the BOS/EOS they resolve; typed errors for bad files.</summary>
[Collection(RealTokenizerCollection.Name)]
public sealed class TokenizerFilesTests
{
    [Fact]
    public void Tokenizer_config_reads_special_tokens_as_strings_or_added_token_objects()
    {
        var config = TokenizerConfig.Parse("""
            {"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false}, "eos_token": "</s>",
             "pad_token": null, "add_bos_token": true, "add_eos_token": false, "chat_template": "{{ messages }}",
             "added_tokens_decoder": {"1": {"content": "<s>", "special": true}, "5": {"content": "<x>", "special": false}}}
            """);
        Assert.Equal("<s>", config.BosToken);
        Assert.Equal("</s>", config.EosToken);
        Assert.Null(config.PadToken);
        Assert.True(config.AddBosToken);
        Assert.False(config.AddEosToken);
        Assert.Equal("{{ messages }}", config.ChatTemplate);
        Assert.True(config.AddedTokensDecoder[1].Special);
        Assert.Equal("<x>", config.AddedTokensDecoder[5].Content);
        Assert.False(config.AddedTokensDecoder[5].Special);
    }

    [Fact]
    public void A_chat_template_list_takes_the_one_named_default()
    {
        var config = TokenizerConfig.Parse("""
            {"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}
            """);
        Assert.Equal("D", config.ChatTemplate);
        Assert.Equal("T", config.ChatTemplates["tool_use"]);
    }

    [Theory]
    [InlineData("""{"add_bos_token": "yes"}""", "add_bos_token")]
    [InlineData("""{"bos_token": 1}""", "bos_token")]
    [InlineData("""{"chat_template": 3}""", "chat_template")]
    [InlineData("""{"chat_template": [{"name": "default"}]}""", "chat_template")]
    [InlineData("""{"added_tokens_decoder": {"x": {"content": "a"}}}""", "added_tokens_decoder.x")]
    public void A_tokenizer_config_field_of_the_wrong_type_is_named(string json, string field)
    {
        var e = Assert.Throws<ModelLoadException>(() => TokenizerConfig.Parse(json, "dir/tokenizer_config.json"));
        Assert.Equal("dir/tokenizer_config.json", e.FilePath);
        Assert.Equal(field, e.Item);
    }

    [Fact]
    public void Generation_config_reads_eos_lists_and_sampling_defaults_and_null_as_absent()
    {
        var config = GenerationConfig.Parse("""
            {"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "do_sample": true,
             "temperature": 0.6, "top_p": 0.9, "top_k": null, "max_new_tokens": 256, "transformers_version": "4.45.0"}
            """);
        Assert.Equal(128000, config.BosTokenId);
        Assert.Equal([128001, 128008, 128009], config.EosTokenIds);
        Assert.True(config.DoSample);
        Assert.Equal(0.6, config.Temperature);
        Assert.Equal(0.9, config.TopP);
        Assert.Null(config.TopK);
        Assert.Equal(256, config.MaxNewTokens);
        Assert.Equal([7], GenerationConfig.Parse("""{"eos_token_id": 7}""").EosTokenIds);
    }

    [Fact]
    public void Generation_config_is_null_when_absent_and_a_typed_error_when_malformed()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, GenerationConfig.FileName);
        Assert.Null(GenerationConfig.Load(path));
        File.WriteAllText(path, """{"temperature": "hot"}""");
        var wrongType = Assert.Throws<ModelLoadException>(() => GenerationConfig.Load(path));
        Assert.Equal((path, "temperature"), (wrongType.FilePath, wrongType.Item));
        Assert.Contains("expected a number", wrongType.Message);
        File.WriteAllText(path, """{"eos_token_id": [1, "two"]}""");
        Assert.Equal("eos_token_id", Assert.Throws<ModelLoadException>(() => GenerationConfig.Load(path)).Item);
        File.WriteAllText(path, """{"temperature": 0.7,""");
        var corrupt = Assert.Throws<ModelLoadException>(() => GenerationConfig.Load(path));
        Assert.Equal(path, corrupt.FilePath);
        Assert.Contains("not valid JSON", corrupt.Message);
    }

    [Fact]
    public void Eos_ids_are_the_union_of_config_generation_config_and_tokenizer_config()
    {
        using var dir = new TempDir();
        CopyTokenizer("llama3_1", dir.Path);
        // config.json says <|end_of_text|> only, as Llama 3.1's does; generation_config.json adds <|eom_id|> and
        // <|eot_id|>; tokenizer_config.json's eos_token is <|eot_id|> again.
        File.WriteAllText(Path.Combine(dir.Path, GenerationConfig.FileName), """{"eos_token_id": [128001, 128008, 128009]}""");
        var config = LlamaConfig(eos: 128001, bos: null);
        var tokenizer = TextTokenizer.FromDirectory(dir.Path, config)!;
        Assert.Equal([128001, 128008, 128009], tokenizer.EosIds);
        Assert.True(tokenizer.IsEos(128009));
        // Without config.json and generation_config.json, tokenizer_config.json alone names the EOS and the BOS.
        File.Delete(Path.Combine(dir.Path, GenerationConfig.FileName));
        var alone = TextTokenizer.FromDirectory(dir.Path)!;
        Assert.Equal([128009], alone.EosIds);
        Assert.Equal(128000, alone.BosId);
        Assert.NotNull(alone.ChatTemplate);
        Assert.Same(alone.Config!.ChatTemplate, alone.ChatTemplate);
    }

    [Fact]
    public void Add_bos_token_false_in_tokenizer_config_turns_the_post_processor_bos_off()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(RealTokenizers.DataDirectory("llama2"), "tokenizer.json"), Path.Combine(dir.Path, "tokenizer.json"));
        Assert.Equal(1, TextTokenizer.FromDirectory(dir.Path)!.Encode("Hi", addBos: true)[0]); // from the post-processor
        File.WriteAllText(Path.Combine(dir.Path, TokenizerConfig.FileName), """{"add_bos_token": false, "bos_token": "<s>"}""");
        var tokenizer = TextTokenizer.FromDirectory(dir.Path)!;
        Assert.False(tokenizer.AddsBosByDefault);
        Assert.Equal(1, tokenizer.BosId);
        Assert.NotEqual(1, tokenizer.Encode("Hi", addBos: true)[0]);
    }

    [Fact]
    public void A_tokenizer_config_naming_a_token_the_vocabulary_lacks_is_an_error()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(RealTokenizers.DataDirectory("llama2"), "tokenizer.json"), Path.Combine(dir.Path, "tokenizer.json"));
        string config = Path.Combine(dir.Path, TokenizerConfig.FileName);
        File.WriteAllText(config, """{"eos_token": "<|no_such_token|>"}""");
        var e = Assert.Throws<ModelLoadException>(() => TextTokenizer.FromDirectory(dir.Path));
        Assert.Equal((config, "eos_token"), (e.FilePath, e.Item));
    }

    [Fact]
    public void A_corrupt_tokenizer_config_in_a_model_directory_names_the_file()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(Fixture("spm"), "tokenizer.model"), Path.Combine(dir.Path, "tokenizer.model"));
        string config = Path.Combine(dir.Path, TokenizerConfig.FileName);
        File.WriteAllText(config, """{"bos_token": "<s>" """);
        var e = Assert.Throws<ModelLoadException>(() => TextTokenizer.FromDirectory(dir.Path));
        Assert.Equal(config, e.FilePath);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void From_directory_prefers_tokenizer_json_and_keeps_reading_tokenizer_model()
    {
        using var dir = new TempDir();
        File.Copy(Path.Combine(Fixture("spm"), "tokenizer.model"), Path.Combine(dir.Path, "tokenizer.model"));
        Assert.Equal("tokenizer.model: SentencePiece", TextTokenizer.FromDirectory(dir.Path)!.Kind);
        Assert.NotNull(TextTokenizer.FromDirectory(dir.Path)!.Inner);
        File.Copy(Path.Combine(RealTokenizers.DataDirectory("llama2"), "tokenizer.json"), Path.Combine(dir.Path, "tokenizer.json"));
        var tokenizer = TextTokenizer.FromDirectory(dir.Path)!;
        Assert.Equal("tokenizer.json: BPE with byte fallback", tokenizer.Kind);
        Assert.Equal(Path.Combine(dir.Path, "tokenizer.json"), tokenizer.SourcePath);
    }

    [Fact]
    public void A_corrupt_tokenizer_json_names_the_file()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "tokenizer.json");
        byte[] real = File.ReadAllBytes(Path.Combine(RealTokenizers.DataDirectory("llama2"), "tokenizer.json"));
        File.WriteAllBytes(path, real[..(real.Length / 2)]);
        var e = Assert.Throws<ModelLoadException>(() => TextTokenizer.FromDirectory(dir.Path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Theory]
    [InlineData("WordPiece", """{"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "a": 1}}""")]
    [InlineData("Unigram", """{"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.0]]}""")]
    [InlineData("WordLevel", """{"type": "WordLevel", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 1}}""")]
    public void A_tokenizer_json_of_an_unsupported_model_type_names_the_type(string type, string model)
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "tokenizer.json");
        File.WriteAllText(path, $$$"""{"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null, "model": {{{model}}}}""");
        var e = Assert.Throws<ModelLoadException>(() => TextTokenizer.FromTokenizerJson(path));
        Assert.Equal((path, "model.type"), (e.FilePath, e.Item));
        Assert.Contains($"'{type}'", e.Message);
    }

    [Fact]
    public void A_tokenizer_json_without_a_model_or_that_the_library_rejects_is_a_typed_error()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "tokenizer.json");
        File.WriteAllText(path, """{"version": "1.0", "added_tokens": []}""");
        Assert.Equal("model", Assert.Throws<ModelLoadException>(() => TextTokenizer.FromTokenizerJson(path)).Item);
        // Valid JSON that Pardec reads but the Rust library rejects (a merge of tokens the vocabulary lacks).
        File.WriteAllText(path, """{"version": "1.0", "added_tokens": [], "model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}""");
        var e = Assert.Throws<ModelLoadException>(() => TextTokenizer.FromTokenizerJson(path));
        Assert.Equal(path, e.FilePath);
        Assert.Contains("Hugging Face tokenizers", e.Message);
    }

    [Fact]
    public void A_small_tokenizer_json_encodes_with_its_merges_and_added_tokens()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "tokenizer.json");
        File.WriteAllText(path, """
            {"version": "1.0",
             "added_tokens": [{"id": 5, "content": "<eos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
             "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3, "abc": 4}, "merges": ["a b", "ab c"]}}
            """);
        var tokenizer = TextTokenizer.FromTokenizerJson(path);
        Assert.Equal([4, 5, 2], tokenizer.Encode("abc<eos>ab"));
        Assert.Equal(6, tokenizer.VocabSize);
        Assert.True(tokenizer.IsSpecial(5));
        Assert.Equal("ab", tokenizer.IdToToken(2));
    }

    private static void CopyTokenizer(string name, string to)
    {
        foreach (string file in (string[])["tokenizer.json", "tokenizer_config.json"])
            File.Copy(Path.Combine(RealTokenizers.DataDirectory(name), file), Path.Combine(to, file));
    }

    private static ModelConfig LlamaConfig(int eos, int? bos) => ModelConfig.Parse($$"""
        {"model_type": "llama", "vocab_size": 128256, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
         "num_attention_heads": 4, "num_key_value_heads": 4, "eos_token_id": {{eos}}{{(bos is int b ? $", \"bos_token_id\": {b}" : "")}}}
        """);
}
