using Microsoft.Extensions.AI;
using Xunit;

namespace Pardec.Server.Tests;

/// <summary>Microsoft.Extensions.AI's IChatClient over the official OpenAI client, pointed at the server.</summary>
[Collection(ServerCollection.Name)]
public sealed class ExtensionsAiClientTests(ServerModels models) : IAsyncLifetime
{
    private TestServerHost _server = null!;

    public async Task InitializeAsync() => _server = await TestServerHost.StartAsync([models.Spec("spec", "BatchedSpeculative")]);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task An_IChatClient_gets_the_solo_greedy_reply_whole_and_streamed_with_usage()
    {
        IChatClient client = _server.OpenAI.GetChatClient("spec").AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 32 };
        var response = await client.GetResponseAsync("Who created the heaven?", options);
        var expected = models.SoloGreedy("User: Who created the heaven?\nAssistant:", 32, ["\nUser:", "\nSystem:"]);
        Assert.Equal(expected.Text.TrimStart(), response.Text);
        Assert.Equal(expected.Tokens.Count, response.Usage!.OutputTokenCount);
        var streamed = new System.Text.StringBuilder();
        UsageDetails? usage = null;
        await foreach (var update in client.GetStreamingResponseAsync("Who created the heaven?", options))
        {
            streamed.Append(update.Text);
            usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        }
        Assert.Equal(response.Text, streamed.ToString());
        Assert.Equal(response.Usage.OutputTokenCount, usage?.OutputTokenCount);
    }
}
