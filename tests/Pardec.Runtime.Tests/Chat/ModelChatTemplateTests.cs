using Pardec.Runtime.Chat;
using Xunit;

namespace Pardec.Runtime.Tests.Chat;

/// <summary>Where a model's template comes from, the end-of-turn rule, and the few places where we follow Python's
/// Jinja rather than the JavaScript reference.</summary>
public sealed class ModelChatTemplateTests
{
    private static ModelChatTemplate FromFixture(string name)
    {
        using var doc = ChatTemplateFixtureTests.Load(name);
        var root = doc.RootElement;
        return ModelChatTemplate.Create(root.GetProperty("template").GetString()!, root.GetProperty("bos_token").GetString(),
                                        root.GetProperty("eos_token").GetString(), name);
    }

    [Theory]
    [InlineData("qwen3", "<|im_end|>")]
    [InlineData("llama3_1", "<|eot_id|>")]
    [InlineData("llama3_2", "<|eot_id|>")]
    [InlineData("smollm2", "<|im_end|>")]
    [InlineData("gemma3", "<end_of_turn>")]
    [InlineData("deepseek_v3", "<｜end▁of▁sentence｜>")]
    [InlineData("llama2", "</s>")]
    [InlineData("mixtral", "</s>")]
    [InlineData("chatml", "<|im_end|>")]
    [InlineData("zephyr", "</s>")]
    public void The_end_of_turn_is_what_the_template_writes_after_an_assistant_reply(string name, string marker)
    {
        var template = FromFixture(name);
        Assert.Equal(marker, template.EndOfTurn[0]);
        Assert.Equal(template.EndOfTurn.Distinct().Count(), template.EndOfTurn.Count);
        Assert.Contains(template.EosToken!, template.EndOfTurn);
        Assert.False(template.AddBos);
    }

    [Fact]
    public void An_eos_other_than_the_turn_marker_also_ends_the_turn()
    {
        var template = ModelChatTemplate.Create("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
                                                eosToken: "<|endoftext|>");
        Assert.Equal(["<|im_end|>", "<|endoftext|>"], template.EndOfTurn);
    }

    [Fact]
    public void A_template_that_writes_nothing_after_the_reply_ends_turns_at_eos()
    {
        var template = ModelChatTemplate.Create("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}", eosToken: "</s>");
        Assert.Equal(["</s>"], template.EndOfTurn);
    }

    [Fact]
    public void A_template_that_refuses_the_probe_still_ends_turns_at_eos()
    {
        var template = ModelChatTemplate.Create("{% if messages[0].role != 'system' %}{{ raise_exception('system first') }}{% endif %}", eosToken: "<eos>");
        Assert.Equal(["<eos>"], template.EndOfTurn);
    }

    [Fact]
    public void The_template_file_wins_over_tokenizer_config_and_named_templates_use_default()
    {
        using var dir = new TestEnvironment.TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """
            {"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
             "chat_template": [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": "{{ bos_token }}DEFAULT{{ eos_token }}"}]}
            """);
        var fromConfig = ModelChatTemplate.FromDirectory(dir.Path)!;
        Assert.Equal("<s>DEFAULT</s>", fromConfig.Render([new ChatTurn("user", "x")]));
        Assert.Equal(Path.Combine(dir.Path, "tokenizer_config.json"), fromConfig.Template.SourceName);

        File.WriteAllText(Path.Combine(dir.Path, "chat_template.json"), """{"chat_template": "JSON {{ messages[0].content }}"}""");
        Assert.Equal("JSON x", ModelChatTemplate.FromDirectory(dir.Path)!.Render([new ChatTurn("user", "x")]));

        File.WriteAllText(Path.Combine(dir.Path, "chat_template.jinja"), "JINJA {{ messages[0].content }}{{ eos_token }}\n");
        var fromFile = ModelChatTemplate.FromDirectory(dir.Path)!;
        Assert.Equal("JINJA x</s>", fromFile.Render([new ChatTurn("user", "x")]));
        Assert.Equal(Path.Combine(dir.Path, "chat_template.jinja"), fromFile.Template.SourceName);
    }

    [Fact]
    public void A_directory_without_a_template_has_none()
    {
        using var dir = new TestEnvironment.TempDir();
        Assert.Null(ModelChatTemplate.FromDirectory(dir.Path));
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """{"eos_token": "</s>"}""");
        Assert.Null(ModelChatTemplate.FromDirectory(dir.Path));
    }

    [Fact]
    public void The_plain_text_format_is_one_line_per_turn_then_the_assistant_label()
    {
        var plain = ModelChatTemplate.PlainText;
        Assert.Equal("System: Be brief.\nUser: Hi there\nAssistant: Hello!\nUser: Bye\nAssistant:",
            plain.Render([new("system", "Be brief."), new("user", "  Hi there "), new("assistant", "Hello!"), new("user", "Bye")]));
        Assert.Equal(["\nUser:", "\nSystem:"], plain.EndOfTurn);
        Assert.True(plain.AddBos);
        Assert.True(plain.TrimReplyStart);
    }

    /// <summary>Python's strip(chars) strips only those characters. The JavaScript reference ignores the argument;
    /// transformers renders with Python, and Qwen3's template calls lstrip('\n') on assistant text, so Python's rule
    /// is the one we keep (a space after &lt;/think&gt; survives).</summary>
    [Fact]
    public void Strip_with_characters_strips_only_those_as_python_does()
    {
        var template = JinjaTemplate.Parse("[{{ s.lstrip('\\n') }}][{{ s.rstrip('\\n') }}][{{ s.strip('\\n ') }}][{{ s.strip() }}]");
        Assert.Equal("[ a \n][\n\n a ][a][a]", template.Render(new Dictionary<string, object?> { ["s"] = "\n\n a \n" }));

        using var doc = ChatTemplateFixtureTests.Load("qwen3");
        var qwen = ModelChatTemplate.Create(doc.RootElement.GetProperty("template").GetString()!, null, "<|im_end|>");
        string rendered = qwen.Render([new("user", "q"), new("assistant", "<think>\nwhy\n</think>\n\n two spaces kept")], addGenerationPrompt: false);
        Assert.EndsWith("<|im_start|>assistant\n<think>\nwhy\n</think>\n\n two spaces kept<|im_end|>\n", rendered);
    }

    [Fact]
    public void Strftime_now_uses_the_given_clock()
    {
        var template = new ChatTemplateRenderer("Today Date: {{ strftime_now('%d %b %Y') }} ({{ strftime_now('%B %m/%d %H:%M %%') }})");
        string text = template.Render([], new ChatRenderOptions { Now = () => new DateTime(2026, 7, 4, 9, 5, 0) });
        Assert.Equal("Today Date: 04 Jul 2026 (July 07/04 09:05 %)", text);
    }

    [Fact]
    public void Extra_message_fields_and_variables_reach_the_template()
    {
        var renderer = new ChatTemplateRenderer("{% for m in messages %}{{ m.role }}:{{ m.content }}:{{ m.reasoning_content | default('-') }};{% endfor %}{{ date_string }}|{{ enable_thinking }}");
        string text = renderer.Render(
            [new ChatTurn("user", "u"), new ChatTurn("assistant", "a") { Extra = new Dictionary<string, object?> { ["reasoning_content"] = "r" } }],
            new ChatRenderOptions { Variables = new Dictionary<string, object?> { ["date_string"] = "26 Jul 2024", ["enable_thinking"] = false } });
        Assert.Equal("user:u:-;assistant:a:r;26 Jul 2024|false", text);
    }

    [Fact]
    public void One_parsed_template_renders_concurrently()
    {
        var template = FromFixture("qwen3");
        var results = Enumerable.Range(0, 16).AsParallel().Select(i => template.Render([new("user", "message " + i)])).ToArray();
        for (int i = 0; i < results.Length; i++) Assert.Equal($"<|im_start|>user\nmessage {i}<|im_end|>\n<|im_start|>assistant\n", results[i]);
    }

    /// <summary>Python's Jinja keeps what an iteration printed before <c>continue</c> (the reference drops it).</summary>
    [Fact]
    public void Continue_keeps_the_output_of_the_iteration_so_far()
    {
        var template = JinjaTemplate.Parse("{% for x in [1, 2, 3] %}<{{ x }}{% if x == 2 %}{% continue %}{% endif %}>{% endfor %}");
        Assert.Equal("<1><2<3>", template.Render(new Dictionary<string, object?>()));
    }

    [Fact]
    public void For_reply_adds_the_end_of_turn_stops_before_the_callers_and_drops_the_bos()
    {
        var template = FromFixture("chatml");
        var tokenizer = Pardec.Runtime.Tokenization.TextTokenizer.FromSentencePiece(TestEnvironment.Fixture("spm/tokenizer.model"));
        var options = template.ForReply(new Pardec.Runtime.Decoding.GenerationOptions { StopStrings = ["###", "<|im_end|>"] }, tokenizer);
        Assert.Equal(["<|im_end|>", "###"], options.StopStrings);
        Assert.False(options.AddBos);
        Assert.Null(options.EosTokenIds); // "<|im_end|>" is several pieces in this vocabulary: matched as text
        Assert.True(ModelChatTemplate.PlainText.ForReply(new(), tokenizer).AddBos);
    }
}
