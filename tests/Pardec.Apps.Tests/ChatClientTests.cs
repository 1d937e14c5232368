using Microsoft.Extensions.AI;
using Pardec.Extensions.AI;
using Pardec.Runtime.Decoding;
using Pardec.Strategies;
using Xunit;

namespace Pardec.Apps.Tests;

/// <summary>The chat client, used only through <see cref="IChatClient"/>, against the decoder it wraps.</summary>
[Collection(nameof(AppCollection))]
public sealed class ChatClientTests(AppModels models)
{
    private static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You answer briefly."),
        new(ChatRole.User, "In the beginning God created the heaven and the earth."),
    ];

    private const string RenderedConversation =
        "System: You answer briefly.\nUser: In the beginning God created the heaven and the earth.\nAssistant:";

    private IChatClient Client(IDecoder? decoder = null) =>
        new PardecChatClient(decoder ?? new PromptLookupDecoder(models.Target.Model), models.Tokenizer, new() { OwnsDecoder = true });

    /// <summary>What the wrapped decoder gives for the rendered prompt, the reference for every reply.</summary>
    private DecodeResult Reference(GenerationOptions options)
    {
        using var decoder = new PromptLookupDecoder(models.Target.Model);
        return new TextDecoder(decoder, models.Tokenizer).Generate(RenderedConversation, options with { StopStrings = ["\nUser:", "\nSystem:", .. options.StopStrings] });
    }

    [Fact]
    public void Plain_text_template_renders_roles_one_per_line_and_ends_with_the_assistant_prompt()
    {
        Assert.Equal(RenderedConversation, ChatTemplate.PlainText.Render(Conversation, null));
        Assert.Equal("System: Be kind.\n" + RenderedConversation, ChatTemplate.PlainText.Render(Conversation, "Be kind."));
    }

    [Fact]
    public async Task Response_is_the_decoders_text_with_usage_statistics_and_finish_reason()
    {
        var reference = Reference(AppModels.Greedy(40));
        using var client = Client();
        var response = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 40 });

        Assert.Equal(reference.Text.TrimStart(), response.Text);
        Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
        Assert.Equal(PardecChatClient.MapFinishReason(reference.StopReason), response.FinishReason);

        int promptTokens = models.Tokenizer.Encode(RenderedConversation, addBos: true).Length;
        Assert.NotNull(response.Usage);
        Assert.Equal(promptTokens, response.Usage.InputTokenCount);
        Assert.Equal(reference.Tokens.Count, response.Usage.OutputTokenCount);
        Assert.Equal(promptTokens + reference.Tokens.Count, response.Usage.TotalTokenCount);

        var stats = response.AdditionalProperties!;
        Assert.Equal("PromptLookup", stats[PardecChatClient.PropertyNames.Strategy]);
        Assert.Equal(reference.Stats.Steps, stats[PardecChatClient.PropertyNames.Steps]);
        Assert.Equal(reference.Stats.TargetForwards, stats[PardecChatClient.PropertyNames.TargetForwards]);
        Assert.True((double)stats[PardecChatClient.PropertyNames.MeanAcceptedPerStep]! >= 1.0);
        Assert.True((double)stats[PardecChatClient.PropertyNames.TokensPerSecond]! > 0);
        Assert.Equal("PromptLookup", client.GetService<ChatClientMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task Token_budget_ends_with_Length()
    {
        // Three tokens: the random model does not say EOS or "\nUser:" that fast for this prompt (checked by the reference).
        var reference = Reference(AppModels.Greedy(3));
        Assert.Equal(StopReason.MaxNewTokens, reference.StopReason);
        using var client = Client();
        var response = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 3 });
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(3, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Streaming_concatenates_to_the_response_and_ends_with_usage_and_finish_reason()
    {
        using var client = Client();
        var options = new ChatOptions { MaxOutputTokens = 40 };
        var whole = await client.GetResponseAsync(Conversation, options);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, options)) updates.Add(update);

        Assert.True(updates.Count >= 2, "text arrives in pieces, then a closing update");
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.All(updates.Take(updates.Count - 1), u => Assert.Null(u.FinishReason));
        var last = updates[^1];
        Assert.Equal(whole.FinishReason, last.FinishReason);
        var usage = Assert.Single(last.Contents.OfType<UsageContent>()).Details;
        Assert.Equal(whole.Usage!.TotalTokenCount, usage.TotalTokenCount);
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());

        var combined = updates.ToChatResponse();
        Assert.Equal(whole.Text, combined.Text);
    }

    [Fact]
    public async Task Stop_sequence_cuts_the_reply_before_it_and_ends_with_Stop()
    {
        var full = Reference(AppModels.Greedy(40)).Text.TrimStart();
        Assert.True(full.Length >= 12, $"reply too short to pick a stop sequence from: '{full}'");
        string stop = full.Substring(6, 3);
        string expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        using var client = Client();
        var response = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 40, StopSequences = [stop] });
        Assert.Equal(expected, response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public void Chat_options_map_onto_generation_options()
    {
        using var client = new PardecChatClient(new GreedyDecoder(models.Target.Model), models.Tokenizer, new() { OwnsDecoder = true, DefaultMaxOutputTokens = 99 });
        var mapped = client.MapOptions(new ChatOptions
        {
            MaxOutputTokens = 17, Temperature = 0.7f, TopP = 0.9f, TopK = 40, Seed = 123, StopSequences = ["###"],
        });
        Assert.Equal(17, mapped.MaxNewTokens);
        Assert.Equal(0.7, mapped.Temperature, 6);
        Assert.Equal(0.9, mapped.TopP, 6);
        Assert.Equal(40, mapped.TopK);
        Assert.Equal(123, mapped.Seed);
        Assert.Equal(["\nUser:", "\nSystem:", "###"], mapped.StopStrings);

        var defaults = client.MapOptions(null);
        Assert.Equal(99, defaults.MaxNewTokens);
        Assert.True(defaults.IsGreedy);
        Assert.Equal(1.0, defaults.TopP);
        Assert.Equal(0, defaults.TopK);

        Assert.Throws<ArgumentOutOfRangeException>(() => client.MapOptions(new ChatOptions { TopP = 0 }));
    }

    [Fact]
    public async Task Sampled_replies_are_reproducible_by_seed()
    {
        using var client = Client(new SamplingDecoder(models.Target.Model));
        var a = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 24, Seed = 7 });
        var b = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 24, Seed = 7 });
        var c = await client.GetResponseAsync(Conversation, new ChatOptions { MaxOutputTokens = 24, Seed = 8 });
        Assert.False(string.IsNullOrEmpty(a.Text));
        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Text, c.Text);
    }
}
