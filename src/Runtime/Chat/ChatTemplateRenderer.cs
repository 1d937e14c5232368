namespace Pardec.Runtime.Chat;

/// <summary>One message of a conversation, as chat templates see it: <c>message.role</c>, <c>message.content</c>,
/// and any <see cref="Extra"/> fields (e.g. <c>reasoning_content</c>, <c>tool_calls</c>).</summary>
public sealed record ChatTurn(string Role, string Content)
{
    /// <summary>More fields of the message; a template reads them as <c>message.NAME</c>.</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; init; }
}

/// <summary>The variables transformers passes to a chat template besides the messages.</summary>
public sealed record ChatRenderOptions
{
    /// <summary>End with the header of an assistant turn, so the model writes the reply next.</summary>
    public bool AddGenerationPrompt { get; init; } = true;
    /// <summary><c>bos_token</c>: the text of the model's begin-of-sequence token (templates such as Llama 3's and
    /// Gemma's write it themselves, so the prompt is encoded without adding another); none when null.</summary>
    public string? BosToken { get; init; }
    /// <summary><c>eos_token</c>; none when null.</summary>
    public string? EosToken { get; init; }
    /// <summary>Further variables, e.g. <c>enable_thinking</c> (Qwen3), <c>tools</c>, <c>date_string</c>.</summary>
    public IReadOnlyDictionary<string, object?>? Variables { get; init; }
    /// <summary>The clock of <c>strftime_now</c> (Llama 3.x prints today's date); the local time when null.</summary>
    public Func<DateTime>? Now { get; init; }
}

/// <summary>
/// Renders a Hugging Face chat template for a conversation: the entry point of this folder. Parse the template once
/// (the constructor throws <see cref="ChatTemplateSyntaxException"/> naming the line and column of a syntax error),
/// then <see cref="Render(IReadOnlyList{ChatTurn}, ChatRenderOptions?)"/> per request.
/// </summary>
public sealed class ChatTemplateRenderer
{
    /// <param name="sourceName">Named in errors, e.g. the path of the tokenizer_config.json the template came from.</param>
    public ChatTemplateRenderer(string template, string sourceName = "chat_template")
    {
        Template = JinjaTemplate.Parse(template, sourceName);
    }

    public ChatTemplateRenderer(JinjaTemplate template)
    {
        Template = template ?? throw new ArgumentNullException(nameof(template));
    }

    public JinjaTemplate Template { get; }

    /// <summary>One-off render of <paramref name="template"/>.</summary>
    public static string Render(string template, IReadOnlyList<ChatTurn> messages, ChatRenderOptions? options = null) =>
        new ChatTemplateRenderer(template).Render(messages, options);

    /// <exception cref="ChatTemplateRenderException">The template refused the conversation (e.g. Gemma's "Conversation
    /// roles must alternate", <see cref="ChatTemplateRenderException.Raised"/>) or failed.</exception>
    public string Render(IReadOnlyList<ChatTurn> messages, ChatRenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        options ??= new ChatRenderOptions();
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (options.Variables is { } extra) foreach (var (k, v) in extra) variables[k] = v;
        variables["messages"] = messages.Select(Message).ToList();
        variables["add_generation_prompt"] = options.AddGenerationPrompt;
        variables["bos_token"] = options.BosToken;
        variables["eos_token"] = options.EosToken;
        return Template.Render(variables, options.Now);
    }

    private static Dictionary<string, object?> Message(ChatTurn turn)
    {
        var message = new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = turn.Role, ["content"] = turn.Content };
        if (turn.Extra is { } extra) foreach (var (k, v) in extra) message[k] = v;
        return message;
    }
}
