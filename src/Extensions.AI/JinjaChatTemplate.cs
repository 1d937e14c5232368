using Microsoft.Extensions.AI;
using Pardec.Runtime.Chat;

namespace Pardec.Extensions.AI;

/// <summary>
/// A model's own Jinja chat template (Hugging Face's <c>chat_template</c>), rendered by Pardec's Jinja engine
/// (<see cref="ModelChatTemplate"/>). The reply ends at the template's end-of-turn marker or the EOS token
/// (<see cref="ModelChatTemplate.EndOfTurn"/>); the prompt is encoded without an added BOS, since the template writes
/// its own.
/// </summary>
public sealed class JinjaChatTemplate : ChatTemplate
{
    /// <summary>A model's template, e.g. from <see cref="ModelChatTemplate.FromDirectory"/>.</summary>
    public JinjaChatTemplate(ModelChatTemplate template)
    {
        Model = template ?? throw new ArgumentNullException(nameof(template));
    }

    /// <summary>A template given as text, with the model's special-token texts.</summary>
    public JinjaChatTemplate(string template, string? bosToken = null, string? eosToken = null, string sourceName = "chat_template")
        : this(ModelChatTemplate.Create(template, bosToken, eosToken, sourceName)) { }

    /// <summary>The parsed template with the model's special-token texts and end-of-turn rule.</summary>
    public ModelChatTemplate Model { get; }

    /// <summary>More template variables for every request, e.g. <c>enable_thinking = false</c> for Qwen3.</summary>
    public IReadOnlyDictionary<string, object?>? Variables { get; init; }

    /// <inheritdoc/>
    public override IReadOnlyList<string> StopSequences => Model.EndOfTurn;
    /// <inheritdoc/>
    public override IReadOnlyList<string> EndOfTurnTokens => Model.EndOfTurn;
    /// <inheritdoc/>
    public override bool TrimReplyStart => Model.TrimReplyStart;
    /// <inheritdoc/>
    public override bool AddBos => Model.AddBos;

    /// <exception cref="ChatTemplateRenderException">The template refused the conversation, e.g. Gemma's "Conversation
    /// roles must alternate user/assistant/user/assistant/..." for two user turns in a row.</exception>
    public override string Render(IEnumerable<ChatMessage> messages, string? instructions)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrWhiteSpace(instructions)) turns.Add(new ChatTurn("system", instructions));
        foreach (var message in messages)
            turns.Add(new ChatTurn(message.Role.Value.Length == 0 ? "user" : message.Role.Value, message.Text));
        return Model.Render(turns, addGenerationPrompt: true, Variables);
    }
}
