using System.Text.Json;
using Pardec.Runtime.Chat;
using Pardec.Runtime.Decoding;

namespace Pardec.Server.Http;

/// <summary>A chat or text completion request, read and checked: the deployment, the prompt ids and the options.</summary>
internal sealed record CompletionRequest(Deployment Deployment, int[] Prompt, GenerationOptions Options, bool Stream, bool IncludeUsage,
                                         bool TrimReplyStart)
{
    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    /// <summary><c>POST /v1/chat/completions</c>: messages rendered with the deployment's chat template.</summary>
    public static CompletionRequest Chat(JsonElement body, DeploymentRegistry deployments)
    {
        var fields = new JsonFields(body, "");
        var deployment = deployments.Find(fields.RequiredString("model"));
        if (!fields.TryGet("messages", out var messages)) throw ApiException.Invalid("messages", "'messages' is required.");
        if (messages.ValueKind != JsonValueKind.Array) throw fields.Expected("messages", "an array of messages", messages);
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var m = new JsonFields(message, $"messages[{i}]");
            string role = m.RequiredString("role");
            if (!Roles.Contains(role))
                throw ApiException.Invalid(m.Path("role"), $"'{m.Path("role")}' must be one of {string.Join(", ", Roles)}; got '{role}'.");
            turns.Add(new ChatTurn(role == "developer" ? "system" : role, Content(m)));
            i++;
        }
        if (turns.Count == 0) throw ApiException.Invalid("messages", "'messages' must hold at least one message.");
        string prompt;
        try { prompt = deployment.Chat.Render(turns); }
        catch (ChatTemplateException e) { throw ApiException.Invalid("messages", $"The model's chat template refused these messages: {e.Message}"); }
        var ids = deployment.Tokenizer.Encode(prompt, deployment.Chat.AddBos);
        int? maxTokens = fields.OptionalInt("max_completion_tokens", 1) ?? fields.OptionalInt("max_tokens", 1);
        var options = ReadOptions(fields, deployment, ids.Length, maxTokens, "messages") with
        {
            StopStrings = [.. deployment.Chat.EndOfTurn, .. fields.StringOrStrings("stop", 4)],
            EosTokenIds = deployment.EndOfTurnIds.Count == 0 ? null : [.. EosOf(deployment), .. deployment.EndOfTurnIds],
            Constraint = ResponseFormat.Read(fields, deployment, chat: true),
        };
        var (stream, usage) = Streaming(fields);
        return new CompletionRequest(deployment, ids, options, stream, usage, deployment.Chat.TrimReplyStart);
    }

    /// <summary><c>POST /v1/completions</c>: the prompt text continued as it is (BOS added as the tokenizer wants).</summary>
    public static CompletionRequest Text(JsonElement body, DeploymentRegistry deployments)
    {
        var fields = new JsonFields(body, "");
        var deployment = deployments.Find(fields.RequiredString("model"));
        if (!fields.TryGet("prompt", out var p)) throw ApiException.Invalid("prompt", "'prompt' is required.");
        string prompt = p.ValueKind switch
        {
            JsonValueKind.String => p.GetString()!,
            JsonValueKind.Array when p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String => p[0].GetString()!,
            JsonValueKind.Array => throw ApiException.Invalid("prompt", "'prompt' as an array must hold exactly one string (batch prompts are not supported; send one request each, they are batched on the server)."),
            _ => throw fields.Expected("prompt", "a string", p),
        };
        if (fields.OptionalBool("echo") == true) throw ApiException.Invalid("echo", "'echo' is not supported.");
        var ids = deployment.Tokenizer.Encode(prompt, addBos: true);
        if (ids.Length == 0) throw ApiException.Invalid("prompt", "'prompt' encodes to no tokens.");
        var options = ReadOptions(fields, deployment, ids.Length, fields.OptionalInt("max_tokens", 1) ?? 16, "prompt") with
        {
            StopStrings = fields.StringOrStrings("stop", 4),
            Constraint = ResponseFormat.Read(fields, deployment, chat: false),
        };
        var (stream, usage) = Streaming(fields);
        return new CompletionRequest(deployment, ids, options, stream, usage, TrimReplyStart: false);
    }

    private static IReadOnlyList<int> EosOf(Deployment deployment) => deployment.Tokenizer.EosIds;

    private static GenerationOptions ReadOptions(JsonFields fields, Deployment deployment, int promptTokens, int? maxTokens, string promptField)
    {
        int context = deployment.ContextLength;
        if (promptTokens >= context)
            throw new ApiException(400, $"This model's maximum context length is {context} tokens; the prompt has {promptTokens} tokens, leaving no room for a reply.",
                                   promptField, code: "context_length_exceeded");
        if (maxTokens is { } asked && promptTokens + asked > context)
            throw new ApiException(400, $"This model's maximum context length is {context} tokens; the prompt has {promptTokens} tokens and max_tokens asks for {asked} more "
                                        + $"(at most {context - promptTokens}).", fields.TryGet("max_completion_tokens", out _) ? "max_completion_tokens" : "max_tokens",
                                   code: "context_length_exceeded");
        if (fields.OptionalInt("n", 1) is > 1) throw ApiException.Invalid("n", "'n' must be 1: send one request per completion (they are batched on the server).");
        if (fields.OptionalBool("logprobs") == true) throw ApiException.Invalid("logprobs", "'logprobs' is not supported.");
        double temperature = fields.OptionalNumber("temperature", 0, 2) ?? 1.0;
        double topP = fields.OptionalNumber("top_p", 0, 1, minExclusive: true) ?? 1.0;
        long seed = fields.OptionalLong("seed") ?? Random.Shared.NextInt64();
        return new GenerationOptions
        {
            MaxNewTokens = maxTokens ?? context - promptTokens,
            Temperature = temperature,
            TopP = topP,
            Seed = seed,
        };
    }

    private static (bool Stream, bool IncludeUsage) Streaming(JsonFields fields)
    {
        bool stream = fields.OptionalBool("stream") ?? false;
        bool usage = false;
        if (fields.TryGet("stream_options", out var so))
        {
            if (!stream) throw ApiException.Invalid("stream_options", "'stream_options' is only allowed when 'stream' is true.");
            usage = new JsonFields(so, "stream_options").OptionalBool("include_usage") ?? false;
        }
        return (stream, usage);
    }

    private static string Content(JsonFields message)
    {
        if (!message.TryGet("content", out var content)) return "";
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw message.Expected("content", "a string or an array of content parts", content);
        var text = new System.Text.StringBuilder();
        int i = 0;
        foreach (var part in content.EnumerateArray())
        {
            var p = new JsonFields(part, message.Path("content") + $"[{i}]");
            string type = p.RequiredString("type");
            if (type != "text") throw ApiException.Invalid(p.Path("type"), $"'{p.Path("type")}' must be 'text' (this server reads text only); got '{type}'.");
            text.Append(p.RequiredString("text"));
            i++;
        }
        return text.ToString();
    }
}
