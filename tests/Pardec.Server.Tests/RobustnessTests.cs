using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using Pardec.Server.Generation;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Pardec.Server.Tests;

/// <summary>What the server answers when a request is wrong, when it is full, when a client leaves, and when it shuts down.</summary>
[Collection(ServerCollection.Name)]
public sealed class RobustnessTests(ServerModels models)
{
    private Task<TestServerHost> Start(int concurrency = 2, int maxQueue = 8) => TestServerHost.StartAsync(
        [models.Spec("ar", "Greedy")],
        new ServerOptions { Defaults = new DeploymentOptions { Concurrency = concurrency, MaxQueue = maxQueue }, DrainTimeout = TimeSpan.FromSeconds(30) });

    [Theory]
    [InlineData("{\"model\": \"ar\", \"messages\": [", "messages[0]")]                                     // cut short
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": \"hi}]}", "messages[0].content")] // unterminated string
    [InlineData("{\"model\": \"ar\" \"messages\": []}", "body")]                                           // missing comma
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": \"ten\"}", "max_tokens")]
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content")]
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", "messages[0].content[0].type")]
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", "messages[0].role")]
    [InlineData("{\"model\": \"ar\", \"messages\": \"hi\"}", "messages")]
    [InlineData("{\"messages\": []}", "model")]
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 3}", "temperature")]
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stop\": [\"a\", 1]}", "stop[1]")]
    [InlineData("{\"model\": \"ar\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream_options\": {\"include_usage\": true}}", "stream_options")]
    [InlineData("[1, 2]", "body")]
    public async Task A_malformed_request_is_a_400_naming_the_field(string body, string param)
    {
        await using var server = await Start();
        using var response = await server.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        var error = await Error(response, HttpStatusCode.BadRequest);
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains(param == "body" ? "" : param.Split('[', '.')[0], error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task An_unknown_model_is_a_404_naming_the_served_ones()
    {
        await using var server = await Start();
        var chat = server.OpenAI.GetChatClient("gpt-4o");
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
        Assert.Contains("'ar'", e.Message);
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_a_400_stating_the_limit()
    {
        await using var server = await Start();
        string longPrompt = string.Join(' ', Enumerable.Repeat("And the LORD spake unto Moses.", 60));
        var chat = server.OpenAI.GetChatClient("ar");
        var e = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage(longPrompt)]));
        Assert.Equal(400, e.Status);
        Assert.Contains($"maximum context length is {models.Context} tokens", e.Message);

        using var tooMuch = await server.Http.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt = "Love is", max_tokens = models.Context });
        var error = await Error(tooMuch, HttpStatusCode.BadRequest);
        Assert.Equal("max_tokens", error.GetProperty("param").GetString());
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains($"at most {models.Context - models.Tokenizer.Encode("Love is", true).Length}", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task A_full_queue_is_a_429_with_retry_after_and_the_admitted_requests_finish()
    {
        await using var server = await Start(concurrency: 1, maxQueue: 1);
        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            server.Http.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt = "In the beginning", max_tokens = 120, temperature = 0 })));
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.Equal("1", r.Headers.GetValues("Retry-After").Single()));
        var error = await Error(refused[0], HttpStatusCode.TooManyRequests);
        Assert.Equal("queue_full", error.GetProperty("code").GetString());
        Assert.All(responses.Except(refused), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.NotEmpty(responses.Except(refused)); // one row and one queue slot: at least the first is answered
        foreach (var r in responses) r.Dispose();
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_row()
    {
        await using var server = await Start();
        var engine = server.Deployments.All[0].Engine;
        using var cancel = new CancellationTokenSource();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = JsonContent.Create(new { model = "ar", prompt = "And it came to pass", max_tokens = 200, temperature = 0, stream = true }),
        };
        var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        for (int events = 0; events < 3;)
            if ((await reader.ReadLineAsync(cancel.Token))?.StartsWith("data: ") == true) events++;
        Assert.Equal(1, engine.Running);
        cancel.Cancel();
        response.Dispose();
        await WaitFor(() => engine.Running == 0);
        string scrape = await server.Http.GetStringAsync("/metrics");
        Assert.Contains("reason=\"Cancelled\"", scrape);
        // The row is free for the next request.
        using var next = await server.Http.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt = "Love is", max_tokens = 8, temperature = 0 });
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task Shutdown_stops_admitting_and_drains_the_running_requests()
    {
        var server = await Start();
        var deployment = server.Deployments.All[0];
        var running = server.Http.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt = "In the beginning God created", max_tokens = 60, temperature = 0 });
        await WaitFor(() => deployment.Engine.Running == 1);
        var stopping = server.App.StopAsync();
        await WaitFor(() => !server.Deployments.IsReady);
        var late = new GenerationRequest("late", [1, 2, 3], new Runtime.Decoding.GenerationOptions(), CancellationToken.None);
        Assert.Equal(Admission.Draining, deployment.Engine.Submit(late));
        using var response = await running;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(models.SoloGreedy("In the beginning God created", 60).Text, body.GetProperty("choices")[0].GetProperty("text").GetString());
        await stopping;
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Ready_turns_503_while_draining()
    {
        var server = await Start();
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/ready")).StatusCode);
        await server.Deployments.DrainAsync(CancellationToken.None);
        using var ready = await server.Http.GetAsync("/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        using var refused = await server.Http.PostAsJsonAsync("/v1/completions", new { model = "ar", prompt = "Love is", max_tokens = 4 });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("draining", (await Error(refused, HttpStatusCode.ServiceUnavailable)).GetProperty("code").GetString());
        await server.DisposeAsync();
    }

    [Fact]
    public async Task Every_log_line_about_a_request_names_its_id_on_the_http_and_the_engine_threads()
    {
        var capture = new LogCapture();
        await using var server = await TestServerHost.StartAsync([models.Spec("ar", "Greedy")], configure: b => b.Logging.AddProvider(capture));
        var ids = new[] { "req-a", "req-b", "req-c" };
        await Task.WhenAll(ids.Select(async id =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = JsonContent.Create(new { model = "ar", prompt = "Love is " + id, max_tokens = 6, temperature = 0 }),
            };
            request.Headers.Add("X-Request-Id", id);
            using var response = await server.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }));
        var about = capture.Lines.Where(l => l.Category.StartsWith("Pardec.Server.", StringComparison.Ordinal)
                                             && (l.Message.StartsWith("Queued") || l.Message.StartsWith("Admitted") || l.Message.StartsWith("Finished"))).ToList();
        Assert.Equal(3 * ids.Length, about.Count); // queued (HTTP thread), admitted and finished (engine thread), per request
        Assert.All(about, l => Assert.Single(ids, id => l.Scopes.Contains("RequestId:" + id)));
        foreach (string id in ids) Assert.Equal(3, about.Count(l => l.Scopes.Contains("RequestId:" + id)));
    }

    private static async Task<JsonElement> Error(HttpResponseMessage response, HttpStatusCode status)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("error").Clone();
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in 20 s");
            await Task.Delay(10);
        }
    }
}
