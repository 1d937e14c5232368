using System.Text;
using Microsoft.Extensions.AI;
using Pardec.Runtime.Chat;

namespace Pardec.Extensions.AI;

/// <summary>
/// Turns chat messages into the prompt text a model continues, and names the text that means "the assistant's turn is
/// over" (added to the caller's stop sequences).
/// </summary>
public abstract class ChatTemplate
{
    /// <summary>
    /// The plain-text template for base (not instruction-tuned) models such as the ones Pardec ships: one line per
    /// message, <c>System: …</c>, <c>User: …</c>, <c>Assistant: …</c> (any other role by its name), then
    /// <c>Assistant:</c> for the model to continue. Generation ends where the model starts the next turn
    /// (<c>\nUser:</c> or <c>\nSystem:</c>).
    /// </summary>
    public static ChatTemplate PlainText { get; } = new PlainTextChatTemplate();

    /// <summary>The prompt for <paramref name="messages"/>; <paramref name="instructions"/> (from
    /// <see cref="ChatOptions.Instructions"/>) comes first, as a system message.</summary>
    public abstract string Render(IEnumerable<ChatMessage> messages, string? instructions);

    /// <summary>Text that ends the assistant's reply (cut from the output, like any stop sequence).</summary>
    public virtual IReadOnlyList<string> StopSequences => [];

    /// <summary>Whether leading white space of the reply is dropped (the template ends without a trailing space).</summary>
    public virtual bool TrimReplyStart => false;

    /// <summary>Whether a BOS id is prepended when the rendered prompt is encoded. Plain text: yes. A model's Jinja
    /// template: no — it writes <c>bos_token</c> itself where the model wants it, as transformers'
    /// <c>apply_chat_template</c> assumes.</summary>
    public virtual bool AddBos => true;

    /// <summary>Texts of special tokens that end a turn (e.g. <c>&lt;|im_end|&gt;</c>). Each one the tokenizer encodes
    /// as a single id also stops the decode at that id, besides the model's EOS ids.</summary>
    public virtual IReadOnlyList<string> EndOfTurnTokens => [];

    /// <summary>The chat template of a model directory (<c>chat_template.jinja</c>, <c>chat_template.json</c>, or the
    /// <c>chat_template</c> of <c>tokenizer_config.json</c>, see <see cref="ModelChatTemplate"/>), or
    /// <see cref="PlainText"/> when it has none.</summary>
    /// <exception cref="ChatTemplateSyntaxException">The model's template is not valid (names the file, line and column).</exception>
    public static ChatTemplate ForModel(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return ModelChatTemplate.FromDirectory(directory) is { } template ? new JinjaChatTemplate(template) : PlainText;
    }

    private sealed class PlainTextChatTemplate : ChatTemplate
    {
        private static readonly string[] Stops = ["\nUser:", "\nSystem:"];

        public override IReadOnlyList<string> StopSequences => Stops;
        public override bool TrimReplyStart => true;

        public override string Render(IEnumerable<ChatMessage> messages, string? instructions)
        {
            var text = new StringBuilder();
            if (!string.IsNullOrWhiteSpace(instructions)) Line(text, "System", instructions);
            foreach (var message in messages) Line(text, RoleName(message.Role), message.Text);
            text.Append("Assistant:");
            return text.ToString();
        }

        private static void Line(StringBuilder text, string role, string content) =>
            text.Append(role).Append(": ").Append(content.Trim()).Append('\n');

        private static string RoleName(ChatRole role) =>
            role == ChatRole.System ? "System"
            : role == ChatRole.User ? "User"
            : role == ChatRole.Assistant ? "Assistant"
            : role == ChatRole.Tool ? "Tool"
            : role.Value.Length == 0 ? "User" : char.ToUpperInvariant(role.Value[0]) + role.Value[1..];
    }
}
