using System.Text.Json;
using Pardec.Runtime.Chat;
using Xunit;

namespace Pardec.Runtime.Tests.Chat;

/// <summary>
/// Our Jinja engine against Hugging Face's own (@huggingface/jinja 0.5.11): every case of
/// tests/fixtures/chat-templates (made by tools/make-chat-template-fixtures.mjs) renders byte for byte what the
/// reference rendered, or raises the error the reference raised.
/// </summary>
public sealed class ChatTemplateFixtureTests
{
    public static string RepositoryRoot { get; } = FindRoot();

    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static string Show(string? text) => JsonSerializer.Serialize(text, Readable);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (Directory.Exists(Path.Combine(dir.FullName, "tests", "fixtures", "chat-templates"))) return dir.FullName;
        throw new DirectoryNotFoundException("tests/fixtures/chat-templates not found above " + AppContext.BaseDirectory);
    }

    public static string FixtureDirectory => Path.Combine(RepositoryRoot, "tests", "fixtures", "chat-templates");

    public static readonly string[] Templates = ["qwen3", "llama3_1", "llama3_2", "llama3_2_generation", "gemma3", "deepseek_v3", "llama2", "mixtral", "chatml", "smollm2", "zephyr"];

    public static TheoryData<string> TemplateNames() => new(Templates);

    public static JsonDocument Load(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureDirectory, name + ".json")));

    [Fact]
    public void Every_fixture_file_is_covered_and_has_cases_of_every_kind()
    {
        var files = Directory.GetFiles(FixtureDirectory, "*.json").Select(Path.GetFileNameWithoutExtension).Order().ToArray();
        Assert.Equal(Templates.Append("features").Order().ToArray(), files);
        int total = 0, errors = 0;
        foreach (var name in Templates)
        {
            using var doc = Load(name);
            var cases = doc.RootElement.GetProperty("cases").EnumerateArray().ToArray();
            Assert.True(cases.Length >= 20, $"{name}: only {cases.Length} cases");
            total += cases.Length;
            errors += cases.Count(c => c.TryGetProperty("expected_error", out _));
        }
        Assert.True(errors > 0, "no case records an expected error");
        Assert.True(total - errors > 150, $"only {total - errors} rendered cases");
    }

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void Renders_equal_the_reference_byte_for_byte(string name)
    {
        using var doc = Load(name);
        var root = doc.RootElement;
        var template = JinjaTemplate.Parse(root.GetProperty("template").GetString()!, name);
        var failures = new List<string>();
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            string caseName = c.GetProperty("name").GetString()!;
            var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["messages"] = c.GetProperty("messages").Clone(),
            };
            foreach (var option in c.GetProperty("options").EnumerateObject()) variables[option.Name] = option.Value.Clone();
            variables["bos_token"] = c.GetProperty("bos_token").GetString();
            variables["eos_token"] = c.GetProperty("eos_token").GetString();
            string? actual = null;
            ChatTemplateRenderException? error = null;
            try { actual = template.Render(variables); }
            catch (ChatTemplateRenderException e) { error = e; }

            if (c.TryGetProperty("expected", out var expected))
            {
                if (error is not null) failures.Add($"{caseName}: raised {error.Message}");
                else if (actual != expected.GetString()) failures.Add($"{caseName}:\n  expected {Show(expected.GetString())}\n  actual   {Show(actual)}");
            }
            else CheckError(failures, caseName, template.Text, c.GetProperty("expected_error").GetString()!, actual, error);
        }
        Assert.True(failures.Count == 0, $"{name}: {failures.Count} case(s) differ from @huggingface/jinja:\n" + string.Join("\n", failures));
    }

    /// <summary>A template that calls raise_exception must fail with exactly its message; any other failure of the
    /// reference must be a render error of ours too (the wording of engine errors is our own).</summary>
    private static void CheckError(List<string> failures, string caseName, string templateText, string message, string? actual, ChatTemplateRenderException? error)
    {
        if (error is null) failures.Add($"{caseName}: rendered {Show(actual)} but the reference raised '{message}'");
        else if (templateText.Contains("raise_exception(", StringComparison.Ordinal) && (!error.Raised || error.TemplateMessage != message))
            failures.Add($"{caseName}: raised '{error.TemplateMessage}' (raised={error.Raised}), reference '{message}'");
    }

    /// <summary>features.json: one construct per template (loops, macros, filters, tests, slicing, whitespace
    /// control, tojson…), each rendered on its own by the reference.</summary>
    [Fact]
    public void Each_construct_renders_as_the_reference_renders_it()
    {
        using var doc = Load("features");
        var failures = new List<string>();
        int count = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            count++;
            string caseName = c.GetProperty("name").GetString()!, text = c.GetProperty("template").GetString()!;
            var variables = c.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
            string? actual = null;
            ChatTemplateRenderException? error = null;
            try { actual = JinjaTemplate.Parse(text, caseName).Render(variables); }
            catch (ChatTemplateRenderException e) { error = e; }
            catch (ChatTemplateSyntaxException e) { failures.Add($"{caseName}: does not parse: {e.Message}"); continue; }
            if (c.TryGetProperty("expected", out var expected))
            {
                if (error is not null) failures.Add($"{caseName}: raised {error.Message}");
                else if (actual != expected.GetString()) failures.Add($"{caseName}:\n  expected {Show(expected.GetString())}\n  actual   {Show(actual)}");
            }
            else CheckError(failures, caseName, text, c.GetProperty("expected_error").GetString()!, actual, error);
        }
        Assert.True(count >= 30, $"only {count} feature cases");
        Assert.True(failures.Count == 0, $"{failures.Count} construct(s) differ from @huggingface/jinja:\n" + string.Join("\n", failures));
    }

    /// <summary>The same cases through the chat-level entry point (role/content turns and options), for every case
    /// whose options are the ones <see cref="ChatRenderOptions"/> carries.</summary>
    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void The_chat_renderer_gives_the_same_text(string name)
    {
        using var doc = Load(name);
        var root = doc.RootElement;
        var renderer = new ChatTemplateRenderer(root.GetProperty("template").GetString()!, name);
        int checkedCases = 0;
        foreach (var c in root.GetProperty("cases").EnumerateArray())
        {
            if (!c.TryGetProperty("expected", out var expected)) continue;
            var options = c.GetProperty("options");
            if (!options.TryGetProperty("add_generation_prompt", out var add)) continue;
            // Turns carry role and content; tool calls and structured content go through JinjaTemplate (above).
            if (c.GetProperty("messages").EnumerateArray().Any(m => m.EnumerateObject().Any(p => p.Name is not ("role" or "content"))
                                                                    || m.GetProperty("content").ValueKind != JsonValueKind.String)) continue;
            var turns = c.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatTurn(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
            var extra = options.EnumerateObject().Where(p => p.Name != "add_generation_prompt")
                .ToDictionary(p => p.Name, p => (object?)p.Value.Clone());
            string actual = renderer.Render(turns, new ChatRenderOptions
            {
                AddGenerationPrompt = add.GetBoolean(),
                BosToken = c.GetProperty("bos_token").GetString(),
                EosToken = c.GetProperty("eos_token").GetString(),
                Variables = extra,
            });
            Assert.Equal(expected.GetString(), actual);
            checkedCases++;
        }
        Assert.True(checkedCases > 10);
    }

    /// <summary>The committed template text is the one the fetched tokenizer_config.json carries (tools/fetch-tokenizers.sh).</summary>
    [Theory]
    [InlineData("qwen3")]
    [InlineData("llama3_1")]
    [InlineData("gemma3")]
    [InlineData("deepseek_v3")]
    public void Fixture_templates_are_the_real_tokenizer_configs_templates(string name)
    {
        string config = Path.Combine(RepositoryRoot, "artifacts", "reference", "tokenizers", name, "tokenizer_config.json");
        Assert.True(File.Exists(config), $"{config} is missing: run tools/fetch-tokenizers.sh");
        var fromConfig = ModelChatTemplate.FromTokenizerConfig(config);
        Assert.NotNull(fromConfig);
        using var doc = Load(name);
        Assert.Equal(doc.RootElement.GetProperty("template").GetString(), fromConfig.Template.Text);
        Assert.Equal(doc.RootElement.GetProperty("bos_token").GetString(), fromConfig.BosToken);
        Assert.Equal(doc.RootElement.GetProperty("eos_token").GetString(), fromConfig.EosToken);
    }
}
