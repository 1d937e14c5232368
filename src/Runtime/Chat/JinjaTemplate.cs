namespace Pardec.Runtime.Chat;

/// <summary>
/// A parsed Jinja template (the subset Hugging Face chat templates use, rendered with <c>trim_blocks</c> and
/// <c>lstrip_blocks</c> as transformers renders them). Parse once, render many times; rendering is thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly JinjaSource _source;
    private readonly IReadOnlyList<JinjaNode> _body;

    private JinjaTemplate(JinjaSource source, IReadOnlyList<JinjaNode> body)
    {
        _source = source;
        _body = body;
    }

    /// <summary>The template text.</summary>
    public string Text => _source.Text;
    /// <summary>Where the template came from, as errors name it.</summary>
    public string SourceName => _source.Name;

    /// <param name="sourceName">Named in errors: the file the template came from, or any name that tells the user which template it is.</param>
    /// <exception cref="ChatTemplateSyntaxException">The text is not valid; the exception names the line and column.</exception>
    public static JinjaTemplate Parse(string text, string sourceName = "chat_template")
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(sourceName);
        var source = new JinjaSource(text, sourceName);
        return new JinjaTemplate(source, JinjaParser.Parse(source));
    }

    /// <summary>Renders with these variables: strings, numbers, booleans, null (none), lists, dictionaries
    /// (<see cref="IDictionary{TKey,TValue}"/> with string keys) or <see cref="System.Text.Json.JsonElement"/>s.</summary>
    /// <param name="now">The clock of <c>strftime_now</c>; the local time when null.</param>
    /// <exception cref="ChatTemplateRenderException">The template raised an error or used something that does not exist.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables, Func<DateTime>? now = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = new JinjaScope();
        JinjaBuiltins.AddGlobals(globals, now ?? (() => DateTime.Now));
        var scope = new JinjaScope(globals);
        foreach (var (name, value) in variables) scope.Set(name, JinjaValue.FromDotNet(value));
        return new JinjaInterpreter(_source).Render(_body, scope);
    }
}
