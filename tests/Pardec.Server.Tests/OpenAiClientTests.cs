using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using OpenAI.Chat;
using Xunit;

#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental in the client

namespace Pardec.Server.Tests;

/// <summary>
/// The official OpenAI .NET client against the server on an in-process host: plain decoding ("ar"), draft-model
/// speculation batched with the other rows ("spec"), and a strategy the row engine cannot run, served by its decoder
/// pool ("lookup").
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class OpenAiClientTests(ServerModels models) : IAsyncLifetime
{
    private TestServerHost _server = null!;

    public async Task InitializeAsync() => _server = await TestServerHost.StartAsync(
    [
        models.Spec("ar", "Greedy"),
        models.Spec("spec", "BatchedSpeculative"),
        models.Spec("lookup", "PromptLookup"),
    ], new ServerOptions { Defaults = new DeploymentOptions { Concurrency = 4 } });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    [Fact]
    public async Task A_chat_completion_answers_with_the_plain_text_template_and_reports_usage()
    {
        var chat = _server.OpenAI.GetChatClient("ar");
        ChatCompletion reply = await chat.CompleteChatAsync([new SystemChatMessage("You are terse."), new UserChatMessage("Who created the heaven?")], Greedy(24));
        // The shipped models have no chat template: the plain-text format, and the reply continues after "Assistant:".
        var expected = models.SoloGreedy("System: You are terse.\nUser: Who created the heaven?\nAssistant:", 24, ["\nUser:", "\nSystem:"]);
        Assert.Equal(expected.Text.TrimStart(), reply.Content[0].Text);
        Assert.Equal(ChatMessageRole.Assistant, reply.Role);
        Assert.Equal("ar", reply.Model);
        Assert.Equal(models.Tokenizer.Encode("System: You are terse.\nUser: Who created the heaven?\nAssistant:", true).Length, reply.Usage.InputTokenCount);
        Assert.Equal(expected.Tokens.Count, reply.Usage.OutputTokenCount);
        Assert.Equal(reply.Usage.InputTokenCount + reply.Usage.OutputTokenCount, reply.Usage.TotalTokenCount);
        Assert.Equal(expected.StopReason == Runtime.Decoding.StopReason.MaxNewTokens ? ChatFinishReason.Length : ChatFinishReason.Stop, reply.FinishReason);
    }

    [Fact]
    public async Task A_streamed_chat_adds_up_to_the_whole_reply_and_ends_with_a_usage_chunk()
    {
        var chat = _server.OpenAI.GetChatClient("spec");
        List<ChatMessage> messages = [new UserChatMessage("Tell me of the beginning.")];
        ChatCompletion whole = await chat.CompleteChatAsync(messages, Greedy(40));
        var text = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, Greedy(40)))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
            updates++;
        }
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.True(updates > 3, $"expected a stream of deltas, got {updates} updates");
        Assert.NotNull(usage); // the client asks for stream_options.include_usage
        Assert.Equal(whole.Usage.OutputTokenCount, usage!.OutputTokenCount);
        Assert.Equal(whole.FinishReason, finish);
    }

    [Theory]
    [InlineData("ar")]
    [InlineData("spec")]
    [InlineData("lookup")]
    public async Task Concurrent_completions_each_equal_their_solo_greedy_decode(string deployment)
    {
        string[] prompts =
        [
            "In the beginning God created", "And the LORD spake unto Moses, saying,", "A fool and his money",
            "The hacker culture began at MIT where", "Blessed are the meek:", "And it came to pass, when men began to multiply",
        ];
        var replies = await Task.WhenAll(prompts.Select(async (prompt, i) =>
        {
            await Task.Delay(7 * i); // arrivals spread over the first steps: rows join a running batch
            return await Complete(new { model = deployment, prompt, max_tokens = 20 + 4 * i, temperature = 0 });
        }));
        for (int i = 0; i < prompts.Length; i++)
        {
            var expected = models.SoloGreedy(prompts[i], 20 + 4 * i);
            var choice = replies[i].GetProperty("choices")[0];
            Assert.Equal(expected.Text, choice.GetProperty("text").GetString());
            Assert.Equal(expected.Tokens.Count, replies[i].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        }
    }

    [Fact]
    public async Task Speculative_usage_counts_drafted_and_accepted_tokens_where_OpenAI_clients_read_predictions()
    {
        var chat = _server.OpenAI.GetChatClient("spec");
        ChatCompletion reply = await chat.CompleteChatAsync([new UserChatMessage("And God said")], Greedy(48));
        var details = reply.Usage.OutputTokenDetails;
        Assert.True(details.AcceptedPredictionTokenCount > 0, "the draft should be accepted sometimes");
        var raw = await Complete(new { model = "spec", prompt = "And God said", max_tokens = 48, temperature = 0 });
        var pardec = raw.GetProperty("usage").GetProperty("pardec");
        int drafted = pardec.GetProperty("drafted_tokens").GetInt32(), accepted = pardec.GetProperty("accepted_tokens").GetInt32();
        int steps = pardec.GetProperty("steps").GetInt32(), tokens = raw.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
        Assert.InRange(accepted, 1, drafted);
        Assert.Equal(drafted - accepted, raw.GetProperty("usage").GetProperty("completion_tokens_details").GetProperty("rejected_prediction_tokens").GetInt32());
        Assert.True(steps < tokens, $"{tokens} tokens in {steps} steps");
        Assert.True(pardec.GetProperty("time_to_first_token_ms").GetDouble() > 0);
    }

    [Fact]
    public async Task A_stop_sequence_cuts_the_reply_before_it()
    {
        var full = await Complete(new { model = "ar", prompt = "In the beginning God created", max_tokens = 30, temperature = 0 });
        string text = full.GetProperty("choices")[0].GetProperty("text").GetString()!;
        string stop = text.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        var cut = await Complete(new { model = "ar", prompt = "In the beginning God created", max_tokens = 30, temperature = 0, stop = new[] { stop } });
        var choice = cut.GetProperty("choices")[0];
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Max_tokens_ends_the_reply_with_finish_reason_length()
    {
        var reply = await Complete(new { model = "spec", prompt = "And the LORD said", max_tokens = 5, temperature = 0 });
        Assert.Equal("length", reply.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(5, reply.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task The_same_seed_reproduces_a_sampled_reply_and_another_seed_changes_it()
    {
        var chat = _server.OpenAI.GetChatClient("spec");
        ChatCompletionOptions Sampled(long seed) => new() { Temperature = 1.0f, TopP = 0.95f, Seed = seed, MaxOutputTokenCount = 40 };
        List<ChatMessage> messages = [new UserChatMessage("Sing me a song.")];
        var replies = await Task.WhenAll(new long[] { 7, 7, 8 }.Select(async s => (await chat.CompleteChatAsync(messages, Sampled(s))).Value.Content[0].Text));
        Assert.Equal(replies[0], replies[1]);
        Assert.NotEqual(replies[0], replies[2]);
    }

    [Fact]
    public async Task Models_lists_every_deployment_with_its_strategy_and_engine()
    {
        var models = await _server.Http.GetFromJsonAsync<JsonElement>("/v1/models");
        var data = models.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        Assert.Equal(["ar", "lookup", "spec"], data.Keys.Order());
        Assert.Equal("continuous-batching", data["spec"].GetProperty("pardec").GetProperty("engine").GetString());
        Assert.Equal("BatchedSpeculative", data["spec"].GetProperty("pardec").GetProperty("strategy").GetString());
        Assert.Equal("decoder-pool", data["lookup"].GetProperty("pardec").GetProperty("engine").GetString());
        Assert.Equal("lossless", data["lookup"].GetProperty("pardec").GetProperty("guarantee").GetString());
        var client = _server.OpenAI.GetOpenAIModelClient();
        Assert.Equal(3, (await client.GetModelsAsync()).Value.Count);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await _server.Http.GetAsync("/health")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await _server.Http.GetAsync("/ready")).StatusCode);
    }

    [Fact]
    public async Task Metrics_are_scraped_in_Prometheus_format()
    {
        await Complete(new { model = "spec", prompt = "And God said", max_tokens = 16, temperature = 0 });
        string scrape = await _server.Http.GetStringAsync("/metrics");
        foreach (string name in new[]
                 {
                     "pardec_time_to_first_token_seconds_bucket", "pardec_inter_token_latency_seconds_bucket", "pardec_queue_time_seconds_bucket",
                     "pardec_requests_running", "pardec_requests_waiting", "pardec_draft_tokens_total", "pardec_accepted_tokens_total", "pardec_requests_total",
                 })
            Assert.Contains(name, scrape);
        Assert.Contains("deployment=\"spec\"", scrape);
        Assert.Contains("position=\"1\"", scrape);
    }

    [Fact]
    public async Task Every_response_carries_a_request_id_and_keeps_the_callers()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = JsonContent.Create(new { model = "ar", prompt = "Love is", max_tokens = 3 }),
        };
        request.Headers.Add("X-Request-Id", "trace-42");
        using var response = await _server.Http.SendAsync(request);
        Assert.Equal("trace-42", response.Headers.GetValues("X-Request-Id").Single());
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("cmpl-trace-42", body.GetProperty("id").GetString());
    }

    private async Task<JsonElement> Complete(object body)
    {
        using var response = await _server.Http.PostAsJsonAsync("/v1/completions", body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
