using System.Text.Json;
using Json.Schema;
using Microsoft.Extensions.AI;
using Pardec.Extensions.AI;
using Pardec.Strategies;
using Xunit;
using Xunit.Abstractions;

namespace Pardec.Constraints.Tests;

/// <summary><see cref="ChatOptions.ResponseFormat"/> through <see cref="PardecChatClient"/>: JSON with a schema, JSON without one.</summary>
public sealed class ChatResponseFormatTests(ShippedModels models, ITestOutputHelper output) : IClassFixture<ShippedModels>
{
    [Fact]
    public async Task A_json_schema_response_format_gives_a_reply_valid_under_the_schema()
    {
        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "SpeculativeGreedy").Create(models.Set, null, 256);
        using var client = new PardecChatClient(decoder, models.Target.Tokenizer!);
        var schema = JsonDocument.Parse(ConstrainedDecodingTests.SmallSchema).RootElement;
        var options = new ChatOptions { MaxOutputTokens = 120, ResponseFormat = ChatResponseFormat.ForJsonSchema(schema, "person") };
        var response = await client.GetResponseAsync("Describe a person of the Bible.", options);
        output.WriteLine(response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.True(JsonSchema.FromText(ConstrainedDecodingTests.SmallSchema).Evaluate(JsonDocument.Parse(response.Text).RootElement).IsValid, response.Text);
        Assert.NotNull(client.MapOptions(options).Constraint);
        Assert.Same(client.MapOptions(options).Constraint, client.MapOptions(options).Constraint); // compiled once
        Assert.Null(client.MapOptions(new ChatOptions { ResponseFormat = ChatResponseFormat.Text }).Constraint);
    }

    [Fact]
    public async Task A_json_response_format_gives_a_json_object()
    {
        using var decoder = GeneratedStrategies.All.Single(s => s.Name == "Greedy").Create(models.Set, null, 256);
        using var client = new PardecChatClient(decoder, models.Target.Tokenizer!);
        var response = await client.GetResponseAsync("And God said", new ChatOptions { MaxOutputTokens = 60, ResponseFormat = ChatResponseFormat.Json });
        output.WriteLine($"{response.FinishReason}: {response.Text}");
        if (response.FinishReason == ChatFinishReason.Stop)
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(response.Text).RootElement.ValueKind);
        else Assert.StartsWith("{", response.Text.TrimStart()); // cut by the token budget: a prefix of an object
    }
}
