using Microsoft.Extensions.AI;
using Pardec.Extensions.AI;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Tokenization;
using Pardec.Strategies;
using Xunit;

namespace Pardec.Apps.Tests;

/// <summary>
/// <see cref="PardecChatClient"/> with a model's own Jinja chat template. The shipped and test models carry none, so a
/// model directory here is the test model's SentencePiece tokenizer plus a tokenizer_config.json with a ChatML-style
/// template written in the test; the decoder is scripted where the reply text matters.
/// </summary>
[Collection(nameof(AppCollection))]
public sealed class ChatTemplateClientTests(AppModels models) : IDisposable
{
    private const string ChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.User, "In the beginning"),
        new(ChatRole.Assistant, "God created"),
        new(ChatRole.User, "the heaven"),
    ];

    // Written out by hand: what ChatML means for Conversation with instructions "Be brief.".
    private const string Rendered =
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nIn the beginning<|im_end|>\n"
        + "<|im_start|>assistant\nGod created<|im_end|>\n<|im_start|>user\nthe heaven<|im_end|>\n<|im_start|>assistant\n";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "pardec-chat-" + Guid.NewGuid().ToString("N"));

    private TextTokenizer ModelDirectory(string template, string eos = "<|im_end|>")
    {
        Directory.CreateDirectory(_directory);
        File.Copy(models.Tokenizer.SourcePath, Path.Combine(_directory, "tokenizer.model"), overwrite: true);
        File.WriteAllText(Path.Combine(_directory, "tokenizer_config.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["bos_token"] = "<s>",
            ["eos_token"] = eos,
            ["chat_template"] = template,
        }));
        return TextTokenizer.FromSentencePiece(Path.Combine(_directory, "tokenizer.model"));
    }

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task The_models_own_template_renders_the_prompt_without_an_added_bos()
    {
        var tokenizer = ModelDirectory(ChatMl);
        var decoder = new ScriptedDecoder(tokenizer, "Amen.");
        using var client = new PardecChatClient(decoder, tokenizer);
        Assert.IsType<JinjaChatTemplate>(client.Template);

        var response = await client.GetResponseAsync(Conversation, new ChatOptions { Instructions = "Be brief." });
        Assert.Equal(tokenizer.Encode(Rendered, addBos: false), decoder.Prompt);
        Assert.Equal("Amen.", response.Text);
    }

    [Fact]
    public async Task The_reply_ends_at_the_templates_end_of_turn_marker()
    {
        var tokenizer = ModelDirectory(ChatMl);
        // The model writes its reply, closes its turn and would go on to invent the user's next one.
        var decoder = new ScriptedDecoder(tokenizer, "The earth.<|im_end|>\n<|im_start|>user\nAnd then?");
        using var client = new PardecChatClient(decoder, tokenizer);

        var response = await client.GetResponseAsync(Conversation);
        Assert.Equal("The earth.", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);

        var streamed = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation)) if (update.Text.Length > 0) streamed.Add(update.Text);
        Assert.Equal("The earth.", string.Concat(streamed));
    }

    [Fact]
    public void Options_map_to_the_templates_stops_and_no_bos()
    {
        var tokenizer = ModelDirectory(ChatMl, eos: "<|endoftext|>");
        using var client = new PardecChatClient(new ScriptedDecoder(tokenizer, ""), tokenizer);
        var mapped = client.MapOptions(new ChatOptions { StopSequences = ["###"] });
        Assert.Equal(["<|im_end|>", "<|endoftext|>", "###"], mapped.StopStrings);
        Assert.False(mapped.AddBos);
    }

    [Fact]
    public void The_models_generation_config_supplies_the_sampling_settings_a_request_leaves_unset()
    {
        var tokenizer = ModelDirectory(ChatMl);
        File.WriteAllText(Path.Combine(_directory, "generation_config.json"), """{"do_sample": true, "temperature": 0.6, "top_p": 0.95, "top_k": 20}""");
        using var client = new PardecChatClient(new ScriptedDecoder(tokenizer, ""), tokenizer);
        var defaults = client.MapOptions(null);
        Assert.Equal((0.6, 0.95, 20), (defaults.Temperature, defaults.TopP, defaults.TopK));
        var asked = client.MapOptions(new ChatOptions { Temperature = 0.2f, TopK = 5 });
        Assert.Equal((0.2, 0.95, 5), (Math.Round(asked.Temperature, 6), asked.TopP, asked.TopK));

        // do_sample false: transformers ignores the sampling fields, and so does the client.
        File.WriteAllText(Path.Combine(_directory, "generation_config.json"), """{"do_sample": false, "temperature": 0.6}""");
        using var greedy = new PardecChatClient(new ScriptedDecoder(tokenizer, ""), tokenizer);
        Assert.Equal(0, greedy.MapOptions(null).Temperature);
    }

    [Fact]
    public void An_end_of_turn_token_the_tokenizer_has_as_one_id_stops_the_decode_at_that_id()
    {
        var tokenizer = ModelDirectory(ChatMl);
        // Among the 400 pieces of the fixture vocabulary: a word that is one piece, used as this template's marker.
        string marker = new[] { "the", "and", "of", "in", "that" }.First(w => tokenizer.Encode(w, addBos: false).Length == 1);
        int markerId = tokenizer.Encode(marker, addBos: false)[0];
        var template = new JinjaChatTemplate("{% for m in messages %}{{ m.content }} " + marker + "\n{% endfor %}", eosToken: "</s>");
        Assert.Equal([marker, "</s>"], template.EndOfTurnTokens);

        using var client = new PardecChatClient(new ScriptedDecoder(tokenizer, ""), tokenizer, new() { Template = template });
        var mapped = client.MapOptions(null);
        Assert.Equal([.. tokenizer.EosIds, markerId], mapped.EosTokenIds);
    }

    [Fact]
    public async Task Without_a_template_in_the_directory_the_client_keeps_plain_text_and_an_explicit_template_wins()
    {
        using (var plain = new PardecChatClient(new PromptLookupDecoder(models.Target.Model), models.Tokenizer, new() { OwnsDecoder = true }))
            Assert.Same(ChatTemplate.PlainText, plain.Template);

        var tokenizer = ModelDirectory(ChatMl);
        var decoder = new ScriptedDecoder(tokenizer, "x");
        using var client = new PardecChatClient(decoder, tokenizer, new() { Template = ChatTemplate.PlainText });
        await client.GetResponseAsync(Conversation);
        Assert.Equal(tokenizer.Encode(ChatTemplate.PlainText.Render(Conversation, null), addBos: true), decoder.Prompt);
    }

    [Fact]
    public async Task A_real_decoder_over_the_template_gives_what_the_text_decoder_gives_for_the_rendered_prompt()
    {
        var tokenizer = ModelDirectory(ChatMl);
        using var client = new PardecChatClient(new PromptLookupDecoder(models.Target.Model), tokenizer, new() { OwnsDecoder = true });
        var response = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 24, Instructions = "Be brief." });

        using var reference = new PromptLookupDecoder(models.Target.Model);
        var expected = new TextDecoder(reference, tokenizer).Generate(Rendered,
            AppModels.Greedy(24) with { AddBos = false, StopStrings = ["<|im_end|>"] });
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(tokenizer.Encode(Rendered, addBos: false).Length, response.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task A_conversation_the_template_refuses_is_a_typed_error_with_its_message()
    {
        var tokenizer = ModelDirectory("{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
                                       + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{{ m.content }}{% endfor %}");
        using var client = new PardecChatClient(new ScriptedDecoder(tokenizer, "x"), tokenizer);
        var e = await Assert.ThrowsAsync<ChatTemplateRenderException>(() =>
            client.GetResponseAsync([new ChatMessage(ChatRole.User, "a"), new ChatMessage(ChatRole.User, "b")]));
        Assert.True(e.Raised);
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.TemplateMessage);
        Assert.Equal(Path.Combine(_directory, "tokenizer_config.json"), e.SourceName);
    }

    [Fact]
    public void Template_variables_reach_the_template_and_instructions_become_the_system_turn()
    {
        var template = new JinjaChatTemplate("{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}"
                                             + "{% if add_generation_prompt %}<a>{% if enable_thinking is defined and enable_thinking is false %}<think></think>{% endif %}{% endif %}")
        {
            Variables = new Dictionary<string, object?> { ["enable_thinking"] = false },
        };
        Assert.Equal("[system:Be brief.][user:In the beginning][assistant:God created][user:the heaven]<a><think></think>",
                     template.Render(Conversation, "Be brief."));
        Assert.Equal("[user:In the beginning][assistant:God created][user:the heaven]<a>",
                     new JinjaChatTemplate(template.Model).Render(Conversation, null));
    }

    /// <summary>Commits the tokens of a fixed text one per step and records the prompt it was given.</summary>
    private sealed class ScriptedDecoder(TextTokenizer tokenizer, string reply) : IDecoder
    {
        public int[] Prompt { get; private set; } = [];
        public string Strategy => "Scripted";
        public string PlanText => "strategy Scripted";

        public DecodeResult Generate(ReadOnlySpan<int> prompt, GenerationOptions options, IDecodeObserver? observer = null,
                                     CancellationToken cancellationToken = default)
        {
            Prompt = prompt.ToArray();
            int[] script = tokenizer.Encode(reply, addBos: false);
            var stops = options.StopTokenIds(tokenizer.EosIds);
            var generated = new List<int>();
            var reason = StopReason.MaxNewTokens;
            for (int i = 0; i < script.Length && generated.Count < options.MaxNewTokens; i++)
            {
                if (stops.Contains(script[i])) { reason = StopReason.EndOfSequence; break; }
                generated.Add(script[i]);
                int[] all = generated.ToArray();
                if (observer is not null && !observer.OnStep(new DecodeStepView(i + 1, all.AsSpan(^1), all, [], [], [], [])))
                {
                    reason = StopReason.StopString;
                    break;
                }
                if (i == script.Length - 1) reason = StopReason.EndOfSequence;
            }
            var stats = new DecodeStats { Tokens = generated.Count, PromptTokens = prompt.Length, Steps = generated.Count, TargetForwards = generated.Count + 1 };
            return new DecodeResult(generated, tokenizer.Decode(generated), stats, reason);
        }

        public void Dispose() { }
    }
}
