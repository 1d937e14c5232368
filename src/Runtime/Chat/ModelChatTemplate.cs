using Pardec.Runtime.Decoding;
using Pardec.Runtime.Loading;
using Pardec.Runtime.Tokenization;

namespace Pardec.Runtime.Chat;

/// <summary>
/// A model's chat format: its Jinja <c>chat_template</c>, the <c>bos_token</c>/<c>eos_token</c> texts the template
/// is rendered with, and the texts that end an assistant turn (where generation stops).
/// </summary>
/// <remarks>
/// <para><b>Where the template comes from</b> (the first that exists in the model directory, as transformers reads
/// them): <c>chat_template.jinja</c>, <c>chat_template.json</c> (<c>{"chat_template": "…"}</c>), then the
/// <c>chat_template</c> of <c>tokenizer_config.json</c> — a string, or a list of <c>{name, template}</c> of which
/// <c>default</c> is used. <c>bos_token</c>/<c>eos_token</c> come from <c>tokenizer_config.json</c> (a string or an
/// AddedToken object's <c>content</c>).</para>
/// <para><b>End of turn</b>: the template is rendered for a probe conversation (a user turn, then an assistant turn
/// whose content is a sentinel); the first run of non-white-space text the template writes after the assistant's
/// content is the end-of-turn marker — <c>&lt;|im_end|&gt;</c> (ChatML, Qwen), <c>&lt;|eot_id|&gt;</c> (Llama 3),
/// <c>&lt;end_of_turn&gt;</c> (Gemma), <c>&lt;｜end▁of▁sentence｜&gt;</c> (DeepSeek), <c>&lt;/s&gt;</c> (Llama 2,
/// Mistral). <see cref="EndOfTurn"/> is that marker, then <c>eos_token</c> when it differs: a model may end its turn
/// either way. If the probe cannot be rendered, or the template writes only white space after the content, the
/// <c>eos_token</c> alone.</para>
/// <para><b>BOS</b>: as transformers' <c>apply_chat_template</c>, the rendered text is the whole prompt: templates that
/// want a BOS write <c>bos_token</c> themselves, so none is added when encoding (<see cref="AddBos"/> is false).</para>
/// </remarks>
public sealed class ModelChatTemplate
{
    private const string Sentinel = "PARDEC_END_OF_TURN_PROBE";

    private ModelChatTemplate(JinjaTemplate template, string? bos, string? eos, IReadOnlyList<string> endOfTurn, bool addBos, bool trimReplyStart)
    {
        Template = template;
        Renderer = new ChatTemplateRenderer(template);
        BosToken = bos;
        EosToken = eos;
        EndOfTurn = endOfTurn;
        AddBos = addBos;
        TrimReplyStart = trimReplyStart;
    }

    public JinjaTemplate Template { get; }
    public ChatTemplateRenderer Renderer { get; }
    public string? BosToken { get; }
    public string? EosToken { get; }
    /// <summary>Texts that end an assistant turn, the template's own marker first (see the remarks for the rule).</summary>
    public IReadOnlyList<string> EndOfTurn { get; }
    /// <summary>Whether a BOS id is prepended when the rendered prompt is encoded.</summary>
    public bool AddBos { get; }
    /// <summary>Whether white space at the start of the reply is dropped (the plain-text format ends with "Assistant:").</summary>
    public bool TrimReplyStart { get; }

    /// <summary>
    /// The plain-text format for base models without a template (such as the ones Pardec ships): <c>System: …</c>,
    /// <c>User: …</c>, <c>Assistant: …</c> one per line, then <c>Assistant:</c>; the turn ends where the model starts
    /// the next one (<c>\nUser:</c>, <c>\nSystem:</c>). The same format as Pardec.Extensions.AI's
    /// <c>ChatTemplate.PlainText</c>.
    /// </summary>
    public static ModelChatTemplate PlainText { get; } = new(
        JinjaTemplate.Parse("{% for message in messages %}{{ message.role | capitalize }}: {{ message.content | trim }}{{ '\\n' }}{% endfor %}"
                            + "{% if add_generation_prompt %}Assistant:{% endif %}", "plain-text chat format"),
        null, null, ["\nUser:", "\nSystem:"], addBos: true, trimReplyStart: true);

    /// <summary>A template given as text (e.g. by a test, or a user's own file).</summary>
    /// <param name="sourceName">Named in errors.</param>
    public static ModelChatTemplate Create(string template, string? bosToken = null, string? eosToken = null, string sourceName = "chat_template")
    {
        var parsed = JinjaTemplate.Parse(template, sourceName);
        return new ModelChatTemplate(parsed, bosToken, eosToken, EndOfTurnOf(parsed, bosToken, eosToken), addBos: false, trimReplyStart: false);
    }

    /// <summary>The chat template of a model directory; null when it has none.</summary>
    /// <exception cref="ModelLoadException">A file that should carry the template is not valid JSON or has the wrong shape.</exception>
    /// <exception cref="ChatTemplateSyntaxException">The template is not valid; names the file, line and column.</exception>
    public static ModelChatTemplate? FromDirectory(string directory)
    {
        // tokenizer_config.json and chat_template.json are read by the tokenizer's own parser (one reader of the format).
        var config = TokenizerConfig.Load(Path.Combine(directory, TokenizerConfig.FileName));
        string? bos = config?.BosToken, eos = config?.EosToken;
        string jinja = Path.Combine(directory, "chat_template.jinja");
        if (File.Exists(jinja)) return Create(File.ReadAllText(jinja), bos, eos, jinja);
        string json = Path.Combine(directory, "chat_template.json");
        if (TokenizerConfig.Load(json) is { } templateFile && DefaultTemplate(templateFile) is { } text) return Create(text, bos, eos, json);
        return config is not null && DefaultTemplate(config) is { } own ? Create(own, bos, eos, config.SourcePath) : null;
    }

    /// <summary>The <c>chat_template</c> of a <c>tokenizer_config.json</c>; null when it has none.</summary>
    public static ModelChatTemplate? FromTokenizerConfig(string path)
    {
        var config = TokenizerConfig.Load(path) ?? throw new ModelLoadException(path, null, "file not found");
        return DefaultTemplate(config) is { } text ? Create(text, config.BosToken, config.EosToken, path) : null;
    }

    private static string? DefaultTemplate(TokenizerConfig config)
    {
        if (config.ChatTemplate is { } text) return text;
        if (config.ChatTemplates.Count > 0)
            throw new ModelLoadException(config.SourcePath, "chat_template", "a list of named templates has none named 'default'");
        return null;
    }

    /// <summary>Renders a conversation with this model's special tokens.</summary>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt = true,
                         IReadOnlyDictionary<string, object?>? variables = null, Func<DateTime>? now = null) =>
        Renderer.Render(messages, new ChatRenderOptions
        {
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = BosToken,
            EosToken = EosToken,
            Variables = variables,
            Now = now,
        });

    /// <summary>
    /// Generation options for a reply in this format: the end-of-turn texts join the stop strings, BOS is added only
    /// when the format wants it, and an end-of-turn text the tokenizer has as a single token also stops the decode at
    /// that id (with the tokenizer's EOS ids).
    /// </summary>
    public GenerationOptions ForReply(GenerationOptions options, TextTokenizer tokenizer)
    {
        var ids = EndOfTurnIds(EndOfTurn, tokenizer);
        return options with
        {
            StopStrings = [.. EndOfTurn, .. options.StopStrings.Where(s => !EndOfTurn.Contains(s))],
            AddBos = AddBos,
            EosTokenIds = ids.Length == 0 ? options.EosTokenIds : [.. options.EosTokenIds ?? tokenizer.EosIds, .. ids],
        };
    }

    /// <summary>The ids of those <paramref name="texts"/> the tokenizer encodes as exactly one token (special tokens
    /// such as <c>&lt;|im_end|&gt;</c>), other than its EOS ids. A text that takes several tokens is matched as text.</summary>
    public static int[] EndOfTurnIds(IEnumerable<string> texts, TextTokenizer tokenizer) =>
        texts.Select(text => tokenizer.Encode(text, addBos: false)).Where(ids => ids.Length == 1)
            .Select(ids => ids[0]).Where(id => !tokenizer.IsEos(id)).Distinct().ToArray();

    private static IReadOnlyList<string> EndOfTurnOf(JinjaTemplate template, string? bos, string? eos)
    {
        var stops = new List<string>();
        try
        {
            string probe = new ChatTemplateRenderer(template).Render(
                [new ChatTurn("user", "Hello."), new ChatTurn("assistant", Sentinel)],
                new ChatRenderOptions { AddGenerationPrompt = false, BosToken = bos, EosToken = eos });
            int at = probe.LastIndexOf(Sentinel, StringComparison.Ordinal);
            if (at >= 0)
            {
                string after = probe[(at + Sentinel.Length)..];
                int start = 0;
                while (start < after.Length && char.IsWhiteSpace(after[start])) start++;
                int end = start;
                while (end < after.Length && !char.IsWhiteSpace(after[end])) end++;
                if (end > start) stops.Add(after[start..end]);
            }
        }
        catch (ChatTemplateRenderException)
        {
            // A template that refuses the probe (say, it requires a system turn) still ends turns with its EOS.
        }
        if (!string.IsNullOrEmpty(eos) && !stops.Contains(eos)) stops.Add(eos);
        return stops;
    }
}
