using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pardec.Runtime.Decoding;
using Pardec.Server.Generation;
using Pardec.Server.Metrics;

namespace Pardec.Server.Http;

/// <summary>
/// The OpenAI-compatible surface: <c>/v1/chat/completions</c>, <c>/v1/completions</c> (both streaming as server-sent
/// events, with <c>stream_options.include_usage</c>), <c>/v1/models</c>, and the probes <c>/health</c> (the process
/// is up and no engine has failed) and <c>/ready</c> (every engine admits requests; 503 while draining for shutdown).
/// </summary>
public static class OpenAiEndpoints
{
    public static IEndpointRouteBuilder MapOpenAi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", (HttpContext context) => Complete(context, chat: true));
        app.MapPost("/v1/completions", (HttpContext context) => Complete(context, chat: false));
        app.MapGet("/v1/models", (DeploymentRegistry registry) => Results.Json(new ModelList(registry.All.Select(ModelEntry.Of).ToArray())));
        app.MapGet("/v1/models/{id}", (string id, DeploymentRegistry registry) => Results.Json(ModelEntry.Of(registry.Find(id))));
        app.MapGet("/health", (DeploymentRegistry registry) => registry.All.FirstOrDefault(d => d.Engine.Failed) is { } failed
            ? Results.Json(new { status = "failed", deployment = failed.Name }, statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Json(new { status = "ok" }));
        app.MapGet("/ready", (DeploymentRegistry registry) => registry.IsReady
            ? Results.Json(new { status = "ready" })
            : Results.Json(new { status = "not ready" }, statusCode: StatusCodes.Status503ServiceUnavailable));
        return app;
    }

    private static async Task Complete(HttpContext context, bool chat)
    {
        var registry = context.RequestServices.GetRequiredService<DeploymentRegistry>();
        var metrics = context.RequestServices.GetService<ServerMetrics>();
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Pardec.Server.Http");
        string requestId = RequestIds.Of(context);
        var request = await Read(context, registry, chat).ConfigureAwait(false);
        var generation = new GenerationRequest(requestId, request.Prompt, request.Options, context.RequestAborted);
        switch (request.Deployment.Engine.Submit(generation))
        {
            case Admission.QueueFull:
                logger.LogWarning("Refused: the queue of {Deployment} is full", request.Deployment.Name);
                throw new ApiException(429, $"The server is at capacity: {request.Deployment.Engine.Waiting} requests are waiting for '{request.Deployment.Name}'. Retry shortly.",
                                       type: "rate_limit_error", code: "queue_full") { RetryAfter = 1 };
            case Admission.Draining:
                throw new ApiException(503, "The server is shutting down; retry on another replica.", type: "server_error", code: "draining") { RetryAfter = 1 };
        }
        logger.LogInformation("Queued for {Deployment}: {PromptTokens} prompt tokens, max {MaxTokens}, temperature {Temperature}, stream {Stream}",
                              request.Deployment.Name, request.Prompt.Length, request.Options.MaxNewTokens, request.Options.Temperature, request.Stream);
        var writer = new ResponseWriter(chat, (chat ? "chatcmpl-" : "cmpl-") + requestId, request.Deployment.Name, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var trim = new ReplyTrimmer(request.TrimReplyStart);
        if (request.Stream) await Stream(context, generation, writer, trim, request.IncludeUsage).ConfigureAwait(false);
        else await Whole(context, generation, writer, trim).ConfigureAwait(false);
        if (metrics is not null) metrics.RequestDuration(request.Deployment.Name, System.Diagnostics.Stopwatch.GetElapsedTime(generation.ArrivedAt));
    }

    private static async Task<CompletionRequest> Read(HttpContext context, DeploymentRegistry registry, bool chat)
    {
        if (context.Request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, $"Send the request as application/json, not {type}.", code: "unsupported_media_type");
        // Buffered (request bodies are small) so that invalid JSON can be read again to name the field it breaks in.
        var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted).ConfigureAwait(false);
        JsonDocument document;
        try { document = JsonDocument.Parse(body.GetBuffer().AsMemory(0, (int)body.Length)); }
        catch (JsonException e)
        {
            string path = JsonErrorPath.Of(body.GetBuffer().AsSpan(0, (int)body.Length));
            throw ApiException.Invalid(path.Length > 0 ? path : "body",
                                       $"The request body is not valid JSON{(path.Length > 0 ? $" in '{path}'" : "")} "
                                       + $"(line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {FirstSentence(e.Message)}");
        }
        using (document)
            return chat ? CompletionRequest.Chat(document.RootElement, registry) : CompletionRequest.Text(document.RootElement, registry);
    }

    private static async Task Whole(HttpContext context, GenerationRequest generation, ResponseWriter writer, ReplyTrimmer trim)
    {
        Finished? finished = null;
        try
        {
            await foreach (var e in generation.Events.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
                if (e is Finished f) finished = f;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested) { return; } // the client left; its row is freed
        catch (ArgumentException e) { throw ApiException.Invalid("messages", e.Message); }
        if (finished is null || finished.Reason == StopReason.Cancelled)
            throw new ApiException(503, "The request was cancelled by a server shutdown.", type: "server_error", code: "cancelled");
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        writer.Whole(json, trim.Trim(finished.Text), finished);
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task Stream(HttpContext context, GenerationRequest generation, ResponseWriter writer, ReplyTrimmer trim, bool includeUsage)
    {
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // proxies (nginx) must not buffer the stream
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        async Task Send(Action<Utf8JsonWriter> write)
        {
            buffer.Clear();
            using (var json = new Utf8JsonWriter(buffer)) write(json);
            await response.Body.WriteAsync("data: "u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
            await response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
            await response.Body.WriteAsync("\n\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
            await response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
        try
        {
            await response.StartAsync(context.RequestAborted).ConfigureAwait(false);
            await Send(json => writer.Chunk(json, role: true, text: "", finish: null)).ConfigureAwait(false);
            try
            {
                await foreach (var e in generation.Events.ReadAllAsync(context.RequestAborted).ConfigureAwait(false))
                {
                    if (e is TextDelta delta && trim.Trim(delta.Text) is { Length: > 0 } text)
                        await Send(json => writer.Chunk(json, role: false, text, finish: null)).ConfigureAwait(false);
                    else if (e is Finished f)
                    {
                        if (f.Reason == StopReason.Cancelled)
                            throw new ApiException(503, "The request was cancelled by a server shutdown.", type: "server_error", code: "cancelled");
                        await Send(json => writer.Chunk(json, role: false, text: null, finish: f)).ConfigureAwait(false);
                        if (includeUsage) await Send(json => writer.UsageChunk(json, f)).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e) when (e is ApiException or ArgumentException or InvalidOperationException && !context.RequestAborted.IsCancellationRequested)
            {
                var error = e as ApiException ?? new ApiException(500, e.Message, type: "server_error");
                await Send(error.WriteBody).ConfigureAwait(false);
            }
            await response.Body.WriteAsync("data: [DONE]\n\n"u8.ToArray(), context.RequestAborted).ConfigureAwait(false);
            await response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
        {
            // The client went away mid-stream: the engine sees the same token and frees the row at its next step.
        }
    }

    private static string FirstSentence(string message)
    {
        int at = message.IndexOf(" Path:", StringComparison.Ordinal);
        return at > 0 ? message[..at] : message;
    }

    private sealed record ModelList(IReadOnlyList<ModelEntry> data)
    {
        public string @object => "list";
    }

    private sealed record ModelEntry(string id, long created, PardecModelInfo pardec)
    {
        public string @object => "model";
        public string owned_by => "pardec";

        public static ModelEntry Of(Deployment d) => new(d.Name, d.Created.ToUnixTimeSeconds(), new PardecModelInfo(
            d.Strategy, d.Plan.Guarantee.ToString().ToLowerInvariant(), d.Engine.Kind, d.Engine.Capacity, d.ContextLength, d.WhyNotBatched));
    }

    private sealed record PardecModelInfo(string strategy, string guarantee, string engine, int capacity, int context_length, string? not_batched_because);

    /// <summary>Drops white space at the start of a reply (the plain-text chat format ends with "Assistant:").</summary>
    private sealed class ReplyTrimmer(bool enabled)
    {
        private bool _started = !enabled;

        public string Trim(string piece)
        {
            if (_started) return piece;
            string trimmed = piece.TrimStart();
            if (trimmed.Length > 0) _started = true;
            return trimmed;
        }
    }
}
