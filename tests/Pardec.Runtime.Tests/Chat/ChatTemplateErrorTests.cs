using Pardec.Runtime.Chat;
using Xunit;

namespace Pardec.Runtime.Tests.Chat;

/// <summary>A broken template names its source and the line and column inside the template; a template's own
/// raise_exception surfaces with exactly its message.</summary>
public sealed class ChatTemplateErrorTests
{
    private static ChatTemplateSyntaxException SyntaxError(string template) =>
        Assert.Throws<ChatTemplateSyntaxException>(() => JinjaTemplate.Parse(template, "my/tokenizer_config.json"));

    [Theory]
    // an if that is never closed: points at the if
    [InlineData("hello\n  {% if x %}\n  text", 2, 6, "'if' is not closed")]
    // an unknown statement
    [InlineData("{{ a }}\n{% frobnicate %}", 2, 4, "unknown statement 'frobnicate'")]
    // an endfor with no for open
    [InlineData("a{% endfor %}", 1, 5, "closes nothing")]
    // a character Jinja does not know
    [InlineData("x\ny\n{{ a @ b }}", 3, 6, "unexpected character '@'")]
    // a string that never ends: points at its opening quote
    [InlineData("{{ 'abc }}", 1, 4, "not closed")]
    // a missing closing tag
    [InlineData("{% for m in messages %}{{ m.content }{% endfor %}", 1, 37, "expected '}}'")]
    // a filter name that is not a name
    [InlineData("{{ x | 'upper' }}", 1, 6, "expected a filter name")]
    // an unclosed parenthesis inside an expression
    [InlineData("{{ f(1, 2 }}", 1, 11, "expected ',' or ')'")]
    public void A_syntax_error_names_the_source_line_and_column(string template, int line, int column, string message)
    {
        var e = SyntaxError(template);
        Assert.Equal("my/tokenizer_config.json", e.SourceName);
        Assert.Contains(message, e.TemplateMessage);
        Assert.Equal((line, column), (e.Line, e.Column));
        Assert.StartsWith($"my/tokenizer_config.json({line},{column}): error: ", e.Message);
    }

    [Fact]
    public void Positions_are_in_the_text_as_written_not_after_whitespace_control()
    {
        // lstrip_blocks removes the indentation before {% and trim_blocks the newline after %}: the column still
        // counts them, as the user sees the file.
        var e = SyntaxError("{% if a %}\n        {% set %}\n{% endif %}");
        Assert.Equal((2, 16), (e.Line, e.Column)); // the '%}' where set's target should be
    }

    [Fact]
    public void Raise_exception_surfaces_the_templates_message_and_where_it_was_raised()
    {
        var template = JinjaTemplate.Parse("{% if messages[0].role != 'user' %}\n  {{ raise_exception('First message must be from the user, got ' + messages[0].role) }}\n{% endif %}", "gemma");
        var e = Assert.Throws<ChatTemplateRenderException>(() => template.Render(new Dictionary<string, object?>
        {
            ["messages"] = new[] { new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "hi" } },
        }));
        Assert.True(e.Raised);
        Assert.Equal("First message must be from the user, got assistant", e.TemplateMessage);
        Assert.Equal(("gemma", 2, 6), (e.SourceName, e.Line, e.Column));
    }

    [Fact]
    public void An_undefined_function_is_a_render_error_naming_it()
    {
        var template = JinjaTemplate.Parse("ok {{ messages | length }}\n{{ format_tools(tools) }}", "custom.jinja");
        var e = Assert.Throws<ChatTemplateRenderException>(() => template.Render(new Dictionary<string, object?> { ["messages"] = Array.Empty<object>() }));
        Assert.False(e.Raised);
        Assert.Contains("'format_tools' is undefined", e.TemplateMessage);
        Assert.Equal((2, 4), (e.Line, e.Column));
    }

    [Theory]
    [InlineData("{{ 'a' | no_such_filter }}", "filter 'no_such_filter'")]
    [InlineData("{{ x is no_such_test }}", "unknown test 'no_such_test'")]
    [InlineData("{{ missing + 1 }}", "undefined")]
    [InlineData("{% for x in 5 %}{% endfor %}", "for expects a list or a mapping")]
    [InlineData("{% set d = {} %}{% set d.x = 1 %}", "not a namespace")]
    [InlineData("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nests deeper than 100 calls")]
    public void Type_errors_and_unknown_names_are_render_errors(string text, string message)
    {
        var e = Assert.Throws<ChatTemplateRenderException>(() => JinjaTemplate.Parse(text).Render(new Dictionary<string, object?>()));
        Assert.False(e.Raised);
        Assert.Contains(message, e.TemplateMessage);
    }

    [Fact]
    public void A_broken_template_in_tokenizer_config_names_that_file()
    {
        using var dir = new TestEnvironment.TempDir();
        string config = Path.Combine(dir.Path, "tokenizer_config.json");
        File.WriteAllText(config, """{"eos_token": "</s>", "chat_template": "{% for m in messages %}\n{{ m.content }"}""");
        var e = Assert.Throws<ChatTemplateSyntaxException>(() => ModelChatTemplate.FromDirectory(dir.Path));
        Assert.Equal(config, e.SourceName);
        Assert.Equal(2, e.Line);
        Assert.Contains(config, e.Message);
    }

    [Fact]
    public void A_tokenizer_config_that_is_not_json_is_a_load_error_naming_the_file()
    {
        using var dir = new TestEnvironment.TempDir();
        string config = Path.Combine(dir.Path, "tokenizer_config.json");
        File.WriteAllText(config, "{\"chat_template\": ");
        var e = Assert.Throws<Pardec.Runtime.Loading.ModelLoadException>(() => ModelChatTemplate.FromDirectory(dir.Path));
        Assert.Equal(config, e.FilePath);
    }

    /// <summary>Every prefix of a real template either parses or fails with our typed error — never another exception.</summary>
    [Fact]
    public void Every_prefix_of_a_real_template_parses_or_fails_with_a_syntax_error()
    {
        using var doc = ChatTemplateFixtureTests.Load("qwen3");
        string text = doc.RootElement.GetProperty("template").GetString()!;
        int failures = 0;
        for (int length = 0; length <= text.Length; length += 7)
        {
            try { JinjaTemplate.Parse(text[..length]); }
            catch (ChatTemplateSyntaxException e)
            {
                failures++;
                Assert.InRange(e.Line, 1, text[..length].Count(c => c == '\n') + 2);
            }
        }
        Assert.True(failures > 0);
    }
}
