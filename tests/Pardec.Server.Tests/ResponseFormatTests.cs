using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using OpenAI.Chat;
using Pardec.Runtime.Constraints;
using Pardec.Runtime.Decoding;
using Pardec.Runtime.Interpretation;
using Pardec.Runtime.Loading;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Pardec.Server.Tests;

/// <summary>
/// <c>response_format</c> through the official OpenAI client: JSON Schema and JSON object replies validate (JsonSchema.Net),
/// a batched row under a constraint equals its solo constrained greedy decode while differently constrained and
/// unconstrained requests share the batch, the decoder pool and a masked (diffusion, DINGO) deployment honour it too, a
/// schema that cannot be lowered is a 400 naming the field, and a constraint a masked canvas cannot hold finishes with
/// <c>stop_reason: constraint_unsatisfiable</c>.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ResponseFormatTests(ServerModels models) : IAsyncLifetime
{
    private const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},"good":{"type":"boolean"}},"required":["name","age","good"]}
        """;
    private const string Prompt = "System: Answer in JSON.\nUser: Who was the first man?\nAssistant:";
    private TestServerHost _server = null!;
    private PretrainedModel _diffusion = null!;

    public async Task InitializeAsync()
    {
        _diffusion = PretrainedModel.Load(Path.Combine(ServerModels.RepoRoot(), "models", "english", "diffusion"), CPU, ScalarType.Float32, requireTokenizer: true);
        var diffusionModels = new ModelSet().Add("model", _diffusion.Model);
        var masked = new DeploymentSpec("diffusion", ServerModels.Plan("FastDllmThreshold"), diffusionModels, _diffusion.Model, _diffusion.Tokenizer!,
                                        maxLength => ServerModels.Strategy("FastDllmThreshold").Create(diffusionModels, null, maxLength));
        _server = await TestServerHost.StartAsync(
        [
            models.Spec("ar", "Greedy"),
            models.Spec("spec", "BatchedSpeculative"),
            models.Spec("lookup", "PromptLookup"),
            masked,
        ], new ServerOptions { Defaults = new DeploymentOptions { Concurrency = 4 } });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _diffusion.Dispose();
    }

    private static ChatMessage[] Messages => [new SystemChatMessage("Answer in JSON."), new UserChatMessage("Who was the first man?")];

    private DecodeResult SoloConstrained(TokenConstraint constraint, int maxTokens)
    {
        using var decoder = ServerModels.Strategy("Greedy").Create(models.Models, null, models.Context);
        var options = new GenerationOptions
        {
            MaxNewTokens = maxTokens,
            StopStrings = ["\nUser:", "\nSystem:"],
            Constraint = constraint.For(TokenVocabulary.From(models.Tokenizer)),
        };
        return new TextDecoder(decoder, models.Tokenizer).Generate(Prompt, options);
    }

    [Theory]
    [InlineData("ar")]
    [InlineData("spec")]
    [InlineData("lookup")]
    public async Task A_json_schema_reply_validates_and_equals_solo_constrained_greedy(string deployment)
    {
        var chat = _server.OpenAI.GetChatClient(deployment);
        var options = new ChatCompletionOptions
        {
            Temperature = 0,
            MaxOutputTokenCount = 80,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Schema)),
        };
        ChatCompletion reply = await chat.CompleteChatAsync(Messages, options);
        string text = reply.Content[0].Text;
        var solo = SoloConstrained(TokenConstraint.FromJsonSchema(Schema), 80);
        Assert.Equal(solo.Text.TrimStart(), text);
        Assert.True(JsonSchema.FromText(Schema).Evaluate(JsonDocument.Parse(text).RootElement).IsValid, $"{reply.FinishReason}: {text}");
        Assert.Equal(solo.StopReason == StopReason.EndOfSequence ? ChatFinishReason.Stop : ChatFinishReason.Length, reply.FinishReason);
    }

    [Fact]
    public async Task Requests_with_different_formats_share_the_batch_and_each_keeps_its_own()
    {
        var chat = _server.OpenAI.GetChatClient("ar");
        var schema = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 80, ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Schema)) };
        var json = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 60, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() };
        var plain = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 40 };
        var replies = await Task.WhenAll(chat.CompleteChatAsync(Messages, schema), chat.CompleteChatAsync(Messages, json), chat.CompleteChatAsync(Messages, plain));
        Assert.Equal(SoloConstrained(TokenConstraint.FromJsonSchema(Schema), 80).Text.TrimStart(), replies[0].Value.Content[0].Text);
        var soloJson = SoloConstrained(TokenConstraint.AnyJson(), 60);
        Assert.Equal(soloJson.Text.TrimStart(), replies[1].Value.Content[0].Text);
        if (soloJson.StopReason == StopReason.EndOfSequence) Assert.IsType<JsonObject>(JsonNode.Parse(replies[1].Value.Content[0].Text));
        Assert.Equal(models.SoloGreedy(Prompt, 40, ["\nUser:", "\nSystem:"]).Text.TrimStart(), replies[2].Value.Content[0].Text);
    }

    [Fact]
    public async Task A_streamed_sampled_reply_under_a_regex_extension_matches_it()
    {
        const string pattern = @"(Yes|No), because [a-z]+( [a-z]+){1,5}\.";
        var body = new
        {
            model = "ar", prompt = "Is it good?", max_tokens = 60, temperature = 0.9, seed = 5, stream = true,
            response_format = new { type = "regex", regex = pattern },
        };
        using var response = await _server.Http.PostAsJsonAsync("/v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var text = new StringBuilder();
        foreach (var line in (await response.Content.ReadAsStringAsync()).Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            var chunk = JsonNode.Parse(line[6..])!;
            if (chunk["choices"]!.AsArray() is [var choice, ..]) text.Append(choice!["text"]!.GetValue<string>());
        }
        Assert.Matches("^" + pattern + "$", text.ToString().TrimStart());
    }

    [Fact]
    public async Task A_masked_deployment_applies_the_schema_through_dingo()
    {
        var chat = _server.OpenAI.GetChatClient("diffusion");
        var options = new ChatCompletionOptions
        {
            Temperature = 0,
            MaxOutputTokenCount = 48,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Schema)),
        };
        ChatCompletion reply = await chat.CompleteChatAsync(Messages, options);
        string text = reply.Content[0].Text;
        Assert.True(JsonSchema.FromText(Schema).Evaluate(JsonDocument.Parse(text).RootElement).IsValid, text);
    }

    [Fact]
    public async Task A_constraint_the_canvas_cannot_hold_finishes_with_a_clear_stop_reason()
    {
        var body = new { model = "diffusion", prompt = "Letters:", max_tokens = 16, response_format = new { type = "regex", regex = "[xyz]{200}" } };
        using var response = await _server.Http.PostAsJsonAsync("/v1/completions", body);
        string raw = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var choice = JsonNode.Parse(raw)!["choices"]![0]!;
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
        Assert.Equal("constraint_unsatisfiable", choice["stop_reason"]!.GetValue<string>());
        Assert.Equal("", choice["text"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_recursive_grammar_for_a_masked_deployment_is_a_400()
    {
        var body = new { model = "diffusion", prompt = "Brackets:", max_tokens = 16, response_format = new { type = "grammar", grammar = "root ::= \"(\" root \")\" | \"x\"" } };
        using var response = await _server.Http.PostAsJsonAsync("/v1/completions", body);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("response_format.grammar", error["param"]!.GetValue<string>());
        Assert.Contains("regular constraints only", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        // The same grammar constrains a causal deployment.
        using var causal = await _server.Http.PostAsJsonAsync("/v1/completions", body with { model = "ar" });
        Assert.Equal(HttpStatusCode.OK, causal.StatusCode);
    }

    [Theory]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"string","format":"uuid-ish"}}}}}""", "response_format.json_schema.schema", "format")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x"}}""", "response_format.json_schema.schema", "required")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":"not a schema"}}""", "response_format.json_schema.schema", "JSON Schema object")]
    [InlineData("""{"type":"regex","regex":"(a|b"}""", "response_format.regex", "line 1, column")]
    [InlineData("""{"type":"xml"}""", "response_format.type", "json_schema")]
    public async Task A_format_that_cannot_be_used_is_a_400_naming_the_field(string format, string param, string says)
    {
        string body = $$"""{"model":"ar","messages":[{"role":"user","content":"Hi"}],"response_format":{{format}}}""";
        using var response = await _server.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        string raw = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(raw)!["error"]!;
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Contains(says, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
        // The official client surfaces the same 400.
        var chat = _server.OpenAI.GetChatClient("ar");
        if (format.Contains("uuid-ish", StringComparison.Ordinal))
        {
            var options = new ChatCompletionOptions { ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("x", BinaryData.FromString("""{"type":"object","properties":{"a":{"type":"string","format":"uuid-ish"}}}""")) };
            var e = await Assert.ThrowsAsync<System.ClientModel.ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("Hi")], options));
            Assert.Equal(400, e.Status);
        }
    }
}
