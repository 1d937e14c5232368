using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pardec.Server.Generation;

namespace Pardec.Server.Http;

/// <summary>
/// Gives every request an id — the caller's <c>X-Request-Id</c> when it is a sensible token (so a proxy's id carries
/// through), else a new one — returned in the <c>X-Request-Id</c> response header, used in the completion's id, and
/// put in a logging scope so every log line about the request names it (the engine threads open the same scope).
/// Also turns <see cref="ApiException"/>s into OpenAI-shaped error responses.
/// </summary>
public static class RequestIds
{
    public const string Header = "X-Request-Id";
    private const string Key = "pardec.request_id";

    public static string Of(HttpContext context) => context.Items[Key] as string ?? context.TraceIdentifier;

    public static IApplicationBuilder UseRequestIdsAndErrors(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        string id = context.Request.Headers[Header].ToString() is { Length: > 0 and <= 64 } given && given.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? given
            : Guid.NewGuid().ToString("N");
        context.Items[Key] = id;
        context.Response.Headers[Header] = id;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Pardec.Server.Http");
        using var scope = RequestScope.Begin(logger, id);
        try
        {
            await next(context);
        }
        catch (ApiException e) when (!context.Response.HasStarted)
        {
            logger.Log(e.Status >= 500 ? LogLevel.Warning : LogLevel.Information, "{Method} {Path} -> {Status}: {Message}",
                       context.Request.Method, context.Request.Path, e.Status, e.Message);
            await e.WriteAsync(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            logger.LogError(e, "{Method} {Path} failed", context.Request.Method, context.Request.Path);
            await new ApiException(500, "The server failed on this request: " + e.Message, type: "server_error").WriteAsync(context);
        }
    });
}
