namespace Pardec.Runtime.Chat;

/// <summary>
/// A chat template that cannot be parsed or rendered. <see cref="Exception.Message"/> reads
/// <c>SOURCE(LINE,COLUMN): error: MESSAGE</c>, like a compiler diagnostic, so a user sees which file and which spot of the
/// template to fix; <see cref="TemplateMessage"/> is the message alone.
/// </summary>
public abstract class ChatTemplateException : Exception
{
    private protected ChatTemplateException(string source, int line, int column, string templateMessage, Exception? inner = null)
        : base($"{source}({line},{column}): error: {templateMessage}", inner)
    {
        SourceName = source;
        Line = line;
        Column = column;
        TemplateMessage = templateMessage;
    }

    /// <summary>Where the template came from: a file path (<c>…/tokenizer_config.json</c>) or a name given by the caller.</summary>
    public string SourceName { get; }
    /// <summary>1-based line inside the template text (not inside the JSON file that carries it).</summary>
    public int Line { get; }
    /// <summary>1-based column inside the template text, in UTF-16 code units.</summary>
    public int Column { get; }
    /// <summary>What went wrong, without the location.</summary>
    public string TemplateMessage { get; }
}

/// <summary>The template text is not valid Jinja (of the subset chat templates use); raised when it is parsed.</summary>
public sealed class ChatTemplateSyntaxException : ChatTemplateException
{
    internal ChatTemplateSyntaxException(string source, int line, int column, string message)
        : base(source, line, column, message) { }
}

/// <summary>
/// Rendering failed: an unknown function, filter or test, an operation on the wrong types, or the template itself
/// called <c>raise_exception(…)</c> (then <see cref="ChatTemplateException.TemplateMessage"/> is the template's own
/// message and <see cref="Raised"/> is true) — e.g. Gemma's "Conversation roles must alternate user/assistant/…".
/// </summary>
public sealed class ChatTemplateRenderException : ChatTemplateException
{
    internal ChatTemplateRenderException(string source, int line, int column, string message, bool raised)
        : base(source, line, column, message)
    {
        Raised = raised;
    }

    /// <summary>The template raised this error on purpose with <c>raise_exception</c>: the conversation is one the
    /// model does not accept, not a bug of the template or of the engine.</summary>
    public bool Raised { get; }
}
